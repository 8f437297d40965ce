//! Ganeti's intent file, fenced: while an upgrade of ours runs, no other
//! upgrade process may act on the cluster, and ours never acts beside one.
//!
//! Our intent tags its target (`ganeti-upgrade:3.1`, see [`crate::intent`]),
//! so Ganeti's own `gnt-cluster upgrade --resume` (its cron @reboot line)
//! finds no version in it and exits before it acts, and Ganeti's `--to`
//! refuses (from 2.10.8, 2.11.6 and 2.12 on). What the tag cannot stop (an
//! older `--to`, one that started first) is caught by re-reading the
//! intent before each step ([`intruder`], [`appeared_intent`]).

use ganeti_layout::node::durable::DurableError;

use crate::cluster::{same_host, Cluster};
use crate::context::{Ctx, Mode};
use crate::error::{chain, Stale, UpgradeError};
use crate::ganeti::GanetiCmd;
use crate::intent::{Intent, OUR_TARGET_PREFIX};
use crate::journal::{Record, State};
use crate::queue::tool_filters;
use crate::settings;
use crate::step_id::StepId;
use crate::transition::{config_at, config_unchanged, ConfigAt};

/// Ganeti's intent file for this upgrade, with this process's pid.
pub fn write_our_intent(ctx: &Ctx<'_>) -> Result<(), DurableError> {
    Intent::ours(&ctx.header.from_release, &ctx.header.to.to_string()).write(ctx.paths)
}

/// The master this run acts for must stay the master: ssconf naming
/// another one means a `gnt-cluster master-failover` happened during the
/// run (it is not a job, so our filter does not hold it), and "master"
/// commands would run on the wrong node. The new master's name, if so.
pub fn master_moved(ctx: &Ctx<'_>, me: &str) -> Option<String> {
    Cluster::read(ctx.paths)
        .ok()
        .filter(|c| !same_host(me, &c.master))
        .map(|c| c.master)
}

/// Whether the upgrade a copy of another master's journal describes
/// (`state`) is still pending on the cluster: not rolled back, and its
/// filter is there (or the queue cannot be asked: luxid is down, as while
/// an upgrade has the daemons stopped), or the configuration is at its
/// target. Such a copy is what a new master takes over; any other is over
/// (a rollback or an upgrade that ended while this node was unreachable).
pub fn copy_pending(ctx: &Ctx<'_>, state: &State) -> bool {
    let h = &state.header;
    let filter = tool_filters(ctx).map_or(true, |fs| fs.iter().any(|f| f.id == h.id));
    !state.rolled_back && (filter || config_at(ctx.paths, &h.from_dir, &h.to) == ConfigAt::Target)
}

/// Once our intent file is written, it must stay ours: Ganeti's own
/// `gnt-cluster upgrade` rewrites its pid (or removes it when it rolls
/// back). What happened, if it did.
pub fn intruder(ctx: &Ctx<'_>, intent_ours: bool) -> Option<String> {
    if !intent_ours {
        return None;
    }
    match Intent::read(ctx.paths) {
        Ok(Some(i)) if i.pid == std::process::id().to_string() => None,
        Ok(Some(i)) => Some(format!(
            "pid {} ({}) rewrote the intent file",
            i.pid,
            process_name(&i.pid)
        )),
        Ok(None) => Some(format!(
            "the intent file {} was removed",
            ctx.paths.intent_file().display()
        )),
        Err(e) => Some(format!("the intent file cannot be read: {e}")),
    }
}

/// Before our intent file is written: one that appeared since the run
/// started (checked then) is another upgrade's, begun meanwhile (a
/// `gnt-cluster upgrade --to`); writing ours over it would let both run.
/// A resume takes an intent over as at its start ([`take_intent`]):
/// refused only while Ganeti's `gnt-cluster upgrade` holds it.
pub fn appeared_intent(ctx: &Ctx<'_>, id: StepId, intent_ours: bool) -> Option<String> {
    if id != StepId::WriteIntent || intent_ours {
        return None;
    }
    if !matches!(ctx.opts.mode, Mode::To(_)) {
        return gnt_cluster_holds_intent(ctx);
    }
    match Intent::read(ctx.paths) {
        // Ours, from a run of this journal killed inside write-intent.
        Ok(Some(i)) if i.target.starts_with(OUR_TARGET_PREFIX) => None,
        Ok(Some(i)) => Some(format!(
            "pid {} ({}) wrote the intent file {} after this run started",
            i.pid,
            process_name(&i.pid),
            ctx.paths.intent_file().display()
        )),
        _ => None,
    }
}

/// A process's command line, for messages ("gone" if it has ended).
fn process_name(pid: &str) -> String {
    fs_err::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter(|w| !w.is_empty())
                .take(4)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "gone".into())
}

/// A running `gnt-cluster upgrade` whose pid is in the intent file, if any.
pub fn gnt_cluster_holds_intent(ctx: &Ctx<'_>) -> Option<String> {
    let i = Intent::read(ctx.paths).ok().flatten()?;
    if i.target.starts_with(OUR_TARGET_PREFIX) {
        return None;
    }
    let name = process_name(&i.pid);
    (i.pid != std::process::id().to_string() && name.contains("gnt-cluster"))
        .then(|| format!("pid {} ({name}) holds the intent file", i.pid))
}

/// A resume of an upgrade that never wrote its intent: another upgrade's
/// intent is there, and that one is running now (gnt-cluster holds it) or
/// has changed the configuration since (Ganeti's upgrade got past its
/// configuration step). Going on would run two upgrades on one cluster;
/// ours has changed nothing but its own journal.
pub fn foreign_intent_before_ours(ctx: &Ctx<'_>, state: &State) -> Option<String> {
    let i = Intent::read(ctx.paths).ok().flatten()?;
    if i.is_ours(&state.header.from_release, state.header.to.as_str()) {
        return None;
    }
    if let Some(holder) = gnt_cluster_holds_intent(ctx) {
        return Some(holder);
    }
    (!config_unchanged(ctx.paths, &ctx.header.from_dir)).then(|| {
        format!(
            "pid {} ({}) wrote the intent file {} ({} to {}) and the configuration has changed since, while this upgrade had changed nothing but its journal; finish that upgrade (gnt-cluster upgrade --resume), then remove {} and {}",
            i.pid,
            process_name(&i.pid),
            ctx.paths.intent_file().display(),
            i.running,
            i.target,
            ctx.journal().path().display(),
            ctx.paths.pending_marker().display(),
        )
    })
}

/// Makes the intent file ours again at the start of a resume (the crashed
/// run's pid is in it), unless Ganeti's own upgrade is running on it now.
/// From then on the intent is ours (see [`intruder`]).
pub fn take_intent(ctx: &Ctx<'_>) -> Result<(), UpgradeError> {
    if let Some(holder) = gnt_cluster_holds_intent(ctx) {
        return Err(UpgradeError::AnotherProcess {
            detail: holder,
            step: "resume",
        });
    }
    write_our_intent(ctx).map_err(|e| UpgradeError::Journal(chain(&e)))?;
    Ok(())
}

/// Copies the journal to the other master candidates (best effort),
/// so that whichever becomes master can show and take over the
/// upgrade; `drop`: removes those copies (the upgrade is over).
pub fn copy_journal(ctx: &Ctx<'_>, drop: bool) {
    let Ok(c) = ctx.cluster() else {
        return;
    };
    let nodes = c.other_candidates();
    if nodes.is_empty() {
        return;
    }
    let cmd = if drop {
        GanetiCmd::DropJournalCopy
    } else {
        match fs_err::read_to_string(ctx.journal().path()) {
            Ok(text) => GanetiCmd::JournalCopy { text },
            Err(_) => return,
        }
    };
    let call = ctx.call(cmd);
    let failed: Vec<String> = ctx
        .exec
        .fan_out(&c, &nodes, &|_| call.clone(), &|_| {})
        .into_iter()
        .filter(|r| !r.ok())
        .map(|r| r.node)
        .collect();
    if !failed.is_empty() {
        ctx.exec.log_line(&format!(
            "the copy of the journal could not be {} on {}",
            if drop { "removed" } else { "written" },
            failed.join(", ")
        ));
    }
}

/// `before_ponr`: the steps before the point of no return, when it has not
/// started (else none): each counts as started once taken over.
/// The copy of another master's journal on this node (a master
/// candidate, now the master), if its upgrade is still pending on the
/// cluster: our filter of that upgrade is there, or the configuration
/// is at its target. It becomes this node's journal; every step before
/// the point of no return counts as started (the old master may have
/// begun one after its last copy, and every undo is idempotent). A
/// copy of an upgrade that is over is set aside.
pub fn take_over(
    ctx: &Ctx<'_>,
    state: State,
    me: &str,
    before_ponr: &[StepId],
) -> Result<Option<State>, UpgradeError> {
    let paths = ctx.paths;
    let fs = paths.fs();
    let copy_path = paths.upgrade_journal_copy();
    let h = &state.header;
    if !copy_pending(ctx, &state) {
        let aside = copy_path.with_extension(format!("copy.stale-{}", h.id));
        let _ = fs.rename(&copy_path, &aside);
        return Ok(None);
    }
    let journal_err = |e: &dyn std::error::Error| UpgradeError::Journal(chain(e));
    fs.rename(&copy_path, &paths.upgrade_journal())
        .map_err(|e| journal_err(&e))?;
    let from = h.master.clone().unwrap_or_else(|| "another node".into());
    let at = ctx.now();
    ctx.journal()
        .append(&Record::TakenOver {
            at,
            by: me.to_string(),
            from: h.master.clone(),
        })
        .map_err(|e| journal_err(&e))?;
    {
        for step in before_ponr
            .iter()
            .copied()
            .filter(|s| !state.has_started(*s))
        {
            ctx.journal()
                .append(&Record::Started { step, at })
                .map_err(|e| journal_err(&e))?;
        }
    }
    if let Some(settings) = &h.settings {
        let _ = settings::write_marker(paths, settings);
    }
    ctx.events.message(&format!(
        "this node is the master now: taking over upgrade {} from {from} ({} to {}), from the copy of its journal that {from} kept here",
        h.id, h.from_dir, h.to
    ));
    ctx.journal().load().map_err(|e| journal_err(&e))
}

/// Where the configuration stands, unless the cluster has moved on
/// since the journal was written (a stale journal: kept by a node that
/// was not the master, or left by an upgrade finished elsewhere): then
/// nothing may be run on its word.
pub fn not_stale(
    ctx: &Ctx<'_>,
    cluster: &Cluster,
    state: &State,
) -> Result<ConfigAt, UpgradeError> {
    let h = &state.header;
    let config = config_at(ctx.paths, &h.from_dir, &h.to);
    let found = match (config, &h.cluster, ctx.exec.active_here()) {
        (ConfigAt::Elsewhere(v), _, _) => Some(format!("config.data is at {v}")),
        (_, Some(c), _) if *c != cluster.name => Some(format!(
            "this node is in cluster {}, the journal's upgrade ran on cluster {c}",
            cluster.name
        )),
        (_, _, Some(v)) if v != h.from_dir && v != h.to => Some(format!("this node runs {v}")),
        _ => None,
    };
    match found {
        Some(found) => Err(UpgradeError::StaleJournal(Box::new(Stale {
            journal: ctx.paths.fs().shown(&ctx.paths.upgrade_journal()),
            marker: ctx.paths.fs().shown(&ctx.paths.pending_marker()),
            id: h.id.clone(),
            from: h.from_dir.clone(),
            to: h.to.clone(),
            found,
        }))),
        None => Ok(config),
    }
}
