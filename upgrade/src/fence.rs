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
use crate::error::{chain, UpgradeError};
use crate::intent::{Intent, OUR_TARGET_PREFIX};
use crate::journal::State;
use crate::queue::tool_filters;
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
