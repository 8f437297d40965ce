//! The views, built from the journal, the cluster and the step table, and
//! emitted as events ([`crate::events`]) so that text and JSON come from
//! the same values: `--status`, `--dry-run` (the preflight and the plan),
//! and the report at the end of a run.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use ganeti_layout::node::{DirVersion, InstallPaths, Node};
use ganeti_switch::NodeLock;

use crate::clock::{epoch_secs, format_date};
use crate::cluster::Cluster;
use crate::context::{Ctx, Mode, Options};
use crate::error::{chain, skip_hint, Done, UpgradeError};
use crate::events::{done_text, End, Event, Events, Output, PlanStep, Report};
use crate::exec::Exec;
use crate::fence::copy_pending;
use crate::gate::{self, Pending};
use crate::intent::Intent;
use crate::journal::{Header, Journal, JournalError, State, JOURNAL_FORMAT};
use crate::preflight::preflight;
use crate::queue::orphan_filters;
use crate::step_id::StepId;
use crate::steps::{point_of_no_return, row, steps_for};
use crate::transition::transition_name;
use crate::view::{
    render_verdict, CurrentStep, FailureView, JournalStatus, NodeInStep, PendingView, StatusView,
    StepState,
};

/// The step a pending upgrade stands at (the first one of its table not
/// done) and each node's state in it: the cluster's nodes from ssconf
/// (`cluster`), plus skipped nodes ssconf no longer names. `None` when
/// every step is done, or while a rollback is under way (its undo failures
/// are not recorded per node; `--resume` finishes it). Pure: reads the
/// journal's state only.
pub fn current_step(s: &State, cluster: Option<&Cluster>) -> Option<(StepId, Vec<NodeInStep>)> {
    if s.rolling_back {
        return None;
    }
    let step = steps_for(s.header.transition)
        .into_iter()
        .find(|id| !s.is_done(*id))?;
    let mut names: Vec<String> = cluster.map(|c| c.nodes.clone()).unwrap_or_default();
    for n in &s.skipped {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let failed: &[String] = match &s.last_failure {
        Some((at, nodes, _)) if *at == step => nodes,
        _ => &[],
    };
    let message = s
        .last_failure
        .as_ref()
        .map(|(_, _, m)| m.as_str())
        .unwrap_or("");
    let nodes = names
        .into_iter()
        .map(|node| {
            let (state, detail) = if s.skipped.contains(&node) {
                (
                    "skipped",
                    "left out with --skip-node; the run's end report lists the commands that bring it up to date".to_string(),
                )
            } else if cluster.is_some_and(|c| c.offline.contains(&node)) {
                ("offline", String::new())
            } else if failed.contains(&node) {
                // One line per failed node, each naming its node first.
                let own = message
                    .lines()
                    .find_map(|l| l.strip_prefix(node.as_str())?.strip_prefix(": "))
                    .or_else(|| message.lines().next())
                    .unwrap_or("");
                ("failed", own.to_string())
            } else {
                ("no-failure", String::new())
            };
            NodeInStep {
                node,
                state,
                detail,
            }
        })
        .collect();
    Some((step, nodes))
}

/// The journal's upgrade as `--status` shows it.
fn pending_view(s: &State, cluster: Option<&Cluster>) -> PendingView {
    let state_of = |id: StepId| {
        if s.is_done(id) {
            "done"
        } else if s.has_started(id) {
            "started"
        } else {
            "pending"
        }
    };
    PendingView {
        id: s.header.id.clone(),
        from: s.header.from_dir.clone(),
        from_release: s.header.from_release.clone(),
        to: s.header.to.clone(),
        transition: s.header.transition,
        started_at: format_date(s.header.started_at),
        rolling_back: s.rolling_back,
        rolled_back: s.rolled_back,
        // A rollback under way may have released the queue already.
        held_since: s
            .held_since
            .filter(|_| !s.rolled_back && !s.rolling_back)
            .map(format_date),
        last_failure: s
            .last_failure
            .as_ref()
            .map(|(step, nodes, message)| FailureView {
                step: *step,
                nodes: nodes.clone(),
                message: message.clone(),
            }),
        steps: steps_for(s.header.transition)
            .into_iter()
            .map(|step| StepState {
                step,
                state: state_of(step),
            })
            .collect(),
        facts: s.facts.clone(),
        settings: s.header.settings.clone(),
        skipped_nodes: s.skipped.clone(),
        current_step: current_step(s, cluster).map(|(step, nodes)| CurrentStep {
            step,
            nodes,
            started: s.has_started(step),
        }),
        point_of_no_return_started: s.has_started(point_of_no_return(s.header.transition)),
    }
}

/// `--status`: one JSON document, or text. Reads only.
pub fn status(
    paths: &InstallPaths,
    exec: &dyn Exec,
    opts: &Options,
    journal: &Journal,
    events: &Events<'_>,
) -> Result<Done, UpgradeError> {
    let mut state = journal.load();
    let active = exec.active_here();
    let cluster = Cluster::read(paths).ok();
    // No journal, but another master's copy of one whose upgrade is still
    // pending: shown, as what --resume here would take over.
    let mut copy_of = None;
    // A context for the checks only (no run, no signal).
    let never = AtomicBool::new(false);
    let checks = |v: &DirVersion| {
        Ctx::new(
            paths,
            exec,
            journal,
            opts,
            events,
            &never,
            Header::for_checks(v.clone()),
        )
    };
    if let (Ok(None), Some(v)) = (&state, &active) {
        let copy = Journal::at(&Node::new(paths).upgrade_journal_copy_path());
        if let Ok(Some(s)) = copy.load() {
            if copy_pending(&checks(v), &s) {
                copy_of = Some(
                    s.header
                        .master
                        .clone()
                        .unwrap_or_else(|| "another node".into()),
                );
                state = Ok(Some(s));
            }
        }
    }
    let orphans = match (&state, &active) {
        (Ok(None), Some(v)) => orphan_filters(&checks(v), &exec.this_host(), false).0,
        _ => 0,
    };
    let view = StatusView {
        active,
        intent: Intent::read(paths).ok().flatten(),
        journal: match &state {
            Ok(Some(s)) => Some(JournalStatus::Pending(Box::new(pending_view(
                s,
                cluster.as_ref(),
            )))),
            Ok(None) => None,
            Err(e) => Some(JournalStatus::Unreadable { error: chain(e) }),
        },
        // Only a held lock has a holder worth naming; looking takes nothing.
        lock_holder: NodeLock::held_by(paths),
        offline_nodes: cluster.map(|c| c.offline).unwrap_or_default(),
        orphan_filters: orphans,
        copy_of,
    };
    events.emit(&Event::Status(&view));
    Ok(Done::Shown)
}

/// `--dry-run`: what the real run would check and do, and whether it would
/// be refused. Changes nothing. It asks the run's own preconditions
/// ([`crate::gate`]: the lock, the master, what is pending, the versions),
/// so it refuses exactly what the run refuses, with the same error and
/// exit code; then every online node, as the run's first step does (exit 1
/// naming each node that is not ready, with its own fix). With an upgrade
/// pending that the run would resume, it shows what the resume continues.
pub fn dry_run(
    paths: &InstallPaths,
    opts: &Options,
    exec: &dyn Exec,
    journal: &Journal,
    events: &Events<'_>,
    cluster: &Cluster,
) -> Result<Done, UpgradeError> {
    let to = match &opts.mode {
        Mode::Resume => {
            events.line("Dry run: nothing is changed. A resume would continue this:");
            return status(paths, exec, opts, journal, events);
        }
        Mode::Abort => {
            gate::master(exec, cluster)?;
            events.line("Dry run: nothing is changed. An abort would roll this back:");
            return status(paths, exec, opts, journal, events);
        }
        Mode::To(to) => to.clone(),
        Mode::Status => return Ok(Done::Shown),
    };
    // The run's own preconditions, in its order.
    gate::unlocked(paths)?;
    gate::master(exec, cluster)?;
    let state = match journal.load() {
        Ok(s) => s,
        // Created but never written: nothing had started (the run removes it).
        Err(JournalError::Empty { .. }) => None,
        Err(e) => return Err(UpgradeError::Journal(chain(&e))),
    };
    let intent = Intent::read(paths).ok().flatten();
    match gate::pending(paths, &to, state, intent)? {
        Pending::SameTarget(_) => {
            events.line(format!(
                "Dry run: nothing is changed. An upgrade to {to} is pending; the run would resume it:"
            ));
            return status(paths, exec, opts, journal, events);
        }
        Pending::RolledBack(_) | Pending::Nothing => {}
    }
    let (from_dir, transition, from_release) = gate::versions(paths, exec.active_here(), &to)?;
    let never = AtomicBool::new(false);
    let header = Header {
        format: JOURNAL_FORMAT,
        id: "ID".into(),
        from_release,
        from_dir,
        to,
        transition,
        started_at: epoch_secs(),
        settings: None,
        cluster: None,
        master: None,
    };
    let ctx = Ctx::new(paths, exec, journal, opts, events, &never, header);
    let checks = preflight(&ctx, cluster);
    events.line(format!(
        "Dry run: {} of cluster {} from {} ({}) to {} on {}; nothing is changed.",
        transition_name(transition),
        cluster.name,
        ctx.header.from_dir,
        ctx.header.from_release,
        ctx.header.to,
        cluster.online_phrase(),
    ));
    events.emit(&Event::Preflight(&checks));
    plan_steps(&ctx, cluster);
    for line in render_verdict(&checks) {
        events.line(line);
    }
    if checks.refusals.is_empty() {
        Ok(Done::Shown)
    } else {
        Err(UpgradeError::PlanRefused {
            refusals: checks.refusals,
        })
    }
}

/// Every step `transition` runs, with the commands it would run where.
fn plan_steps(ctx: &Ctx<'_>, cluster: &Cluster) {
    let transition = ctx.header.transition;
    ctx.events.line("Steps:");
    let ponr = point_of_no_return(transition);
    for (i, id) in steps_for(transition).into_iter().enumerate() {
        let step = row(id);
        ctx.events.emit(&Event::PlanStep(PlanStep {
            index: i + 1,
            step: id,
            title: step.title,
            commands: (step.plan)(ctx, cluster),
            point_of_no_return: id == ponr,
        }));
    }
}

/// The end-of-run report: each step's wall time in this run (`timings`),
/// the steps that ran while new jobs were held, and how long they were
/// held (from stop-new-work to resume-work), or that they still are
/// (`still_held`); printed and written to commands.log. `held_at_start`:
/// the run found new jobs held (a resume). `held_since_first`: when this
/// run let the queue run again, how long it had been held since the first
/// run's stop-new-work, in whole seconds (a resume's own steps are only
/// part of the hold).
pub fn report(
    ctx: &Ctx<'_>,
    took: Duration,
    result: &Result<Done, UpgradeError>,
    timings: &[(StepId, Duration)],
    (still_held, held_at_start): (bool, bool),
    held_since_first: Option<u64>,
) {
    if timings.is_empty() {
        return;
    }
    let at = |id: StepId| timings.iter().position(|(s, _)| *s == id);
    let (held_seconds, held) = match (
        at(StepId::StopNewWork),
        at(StepId::ResumeWork),
        held_since_first,
    ) {
        // This run's own hold, unless an earlier run's (a redo keeps the
        // queue held across the crash) makes it longer.
        (Some(a), Some(b), first)
            if first.is_none_or(|f| {
                f as f64
                    <= timings[a..=b]
                        .iter()
                        .map(|(_, d)| d.as_secs_f64())
                        .sum::<f64>()
                        + 1.0
            }) =>
        {
            let s: f64 = timings[a..=b].iter().map(|(_, d)| d.as_secs_f64()).sum();
            (
                Some(s),
                Some(format!(
                    "new jobs held for {s:.1} s (stop-new-work to resume-work)"
                )),
            )
        }
        (_, Some(_), Some(s)) => (
            Some(s as f64),
            Some(format!(
                "new jobs held for {s} s (from the first run's stop-new-work to resume-work)"
            )),
        ),
        (_, None, _) if still_held && !matches!(result, Err(UpgradeError::RolledBack { .. })) => {
            (None, Some("new jobs are still held".to_string()))
        }
        _ => (None, None),
    };
    // The hold window in this run: from stop-new-work, or from its start
    // when an earlier run held the queue, to resume-work (or the end).
    let from = at(StepId::StopNewWork).or_else(|| held_at_start.then_some(0));
    let held_steps = match from {
        Some(a) => {
            let b = at(StepId::ResumeWork).unwrap_or(timings.len().saturating_sub(1));
            timings
                .get(a..=b)
                .unwrap_or_default()
                .iter()
                .map(|(id, _)| *id)
                .collect()
        }
        None => Vec::new(),
    };
    let end = match result {
        Ok(Done::Upgraded { to, .. }) => format!("on {to}"),
        Ok(_) => "done".to_string(),
        Err(e) if e.leaves_pending() => "still pending".to_string(),
        Err(UpgradeError::VerifyErrors { .. }) => {
            format!("on {}, with problems not there before", ctx.header.to)
        }
        Err(UpgradeError::RolledBack {
            from,
            changed: true,
            ..
        }) => format!("rolled back to {from}"),
        Err(UpgradeError::RolledBack { from, .. }) => {
            format!("stopped before any change, on {from}")
        }
        Err(_) => "failed".to_string(),
    };
    let report = Report {
        seconds: took.as_secs_f64(),
        head: format!(
            "report: {} step(s) in {:.1} s, {end}{}",
            timings.len(),
            took.as_secs_f64(),
            held.map(|h| format!("; {h}")).unwrap_or_default()
        ),
        end,
        held_seconds,
        held_steps,
        steps: timings
            .iter()
            .map(|(id, d)| (*id, d.as_secs_f64()))
            .collect(),
    };
    ctx.exec.log_line(&report.head);
    for line in report.step_lines() {
        ctx.exec.log_line(&format!("report: {line}"));
    }
    ctx.events.emit(&Event::Report(&report));
}

/// How a run ends on the terminal: the `end` event (not after `--status
/// --json`, which prints one document), and the error on standard error
/// (but for Ganeti's quiet "not the master" of `--resume`). Returns the
/// exit code.
pub fn closing(
    opts: &Options,
    paths: &InstallPaths,
    result: &Result<Done, UpgradeError>,
    log: &dyn Exec,
    out: &dyn Output,
    err: &dyn Output,
) -> u8 {
    let exit_code = result.as_ref().map_or_else(UpgradeError::exit_code, |_| 0);
    if !(opts.json && opts.mode == Mode::Status) {
        // What --resume would find, read after the run (not on a node that
        // is not the master: --resume has nothing to do there, whatever
        // file is left).
        let pending = paths.fs().exists(&paths.upgrade_journal())
            && !matches!(result, Err(UpgradeError::NotMasterResume { .. }));
        let events = Events {
            json: opts.json,
            out,
        };
        events.emit(&Event::End(End {
            result,
            exit_code,
            pending,
        }));
    }
    if let Err(e) = result {
        let quiet = matches!(
            e,
            UpgradeError::NotMasterResume {
                removed_intent: false
            }
        );
        if !quiet {
            // Not failures of this tool: verify's findings, not the
            // master, an upgrade of Ganeti's own pending.
            let prefix = match exit_code {
                3 | 11 | 12 => "ganeti-upgrade",
                _ => "ganeti-upgrade: error",
            };
            let backup = Journal::of(paths)
                .load()
                .ok()
                .flatten()
                .and_then(|s| s.facts.backup);
            let text = format!("{prefix}: {}", final_words(e, backup.as_deref()));
            err.line(&text);
            log_end(log, exit_code, &text);
        }
    }
    if let Ok(done) = result {
        // Nothing pending is no event for the log (a --resume that finds
        // nothing, a boot without an upgrade); --status changes nothing.
        if !matches!(done, Done::NothingPending | Done::Shown) {
            log_end(log, exit_code, &done_text(done).join(" | "));
        }
    }
    exit_code
}

/// How the run ended, in commands.log as `end (exit N): TEXT` (the line it
/// printed), so that the log of a boot-time resume says how it ended, as
/// its journal does.
fn log_end(log: &dyn Exec, exit_code: u8, text: &str) {
    log.log_line(&format!(
        "end (exit {exit_code}): {}",
        text.replace('\n', " | ")
    ));
}

/// The error as the run's last line on standard error: whole, but for the
/// failures a run has already printed as it happened (the step's `FAILED:`
/// line with each node's), which it only names, with what is true now and
/// the way forward; a pending upgrade also names the backup the journal
/// records (after a failed configuration step, the old configuration is
/// there).
fn final_words(e: &UpgradeError, backup: Option<&std::path::Path>) -> String {
    // "STEP failed: DETAIL" was printed above as it happened (FAILED: ...):
    // named by its step. A reason of the engine's own (a signal, the hold
    // budget) by its first line.
    let step_of = |reason: &str| {
        let first = reason.lines().next().unwrap_or("");
        match first.split_once(": ") {
            Some((head, _)) if head.contains(" failed") => head.to_string(),
            _ => first.to_string(),
        }
    };
    // The hint lines of such a reason, which nothing above printed.
    let hints = |reason: &str| -> String {
        let first = reason.lines().next().unwrap_or("");
        if first
            .split_once(": ")
            .is_some_and(|(head, _)| head.contains(" failed"))
        {
            return String::new();
        }
        reason.lines().skip(1).map(|l| format!("\n{l}")).collect()
    };
    match e {
        UpgradeError::RolledBack {
            reason,
            from,
            backup,
            changed,
        } => format!(
            "{} (see above); {}{}",
            step_of(reason),
            if *changed {
                format!("everything done so far was rolled back, the cluster runs {from} again{backup}")
            } else {
                format!("nothing had been changed yet, the cluster runs {from} as before{backup}")
            },
            hints(reason)
        ),
        UpgradeError::Pending {
            step, to, nodes, ..
        } => format!(
            "step {step} failed after the configuration change (see above); the upgrade to {to} is still pending (the intent file and the journal are kept{}). Fix the cause, then run: ganeti-upgrade --resume{}",
            backup
                .map(|b| format!("; the configuration from before the upgrade is in the backup {}", b.display()))
                .unwrap_or_default(),
            skip_hint(nodes)
        ),
        UpgradeError::RollbackIncomplete { reason, failures } => format!(
            "{} (see above); the rollback did not complete:\n  {}\nThe upgrade is still pending as a rollback (the intent file and the journal are kept). Fix the cause, then run: ganeti-upgrade --resume (it finishes the rollback)",
            step_of(reason),
            failures.join("\n  ")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run has printed the failure as it happened (FAILED: ..., each
    /// node's line): the last line on stderr names it, says what is true
    /// and the way forward, once; a pending upgrade names its backup.
    /// The hold budget's reason is the engine's own, with a hint: its
    /// first line and its hint end the run, not a cut at "hint: ".
    #[test]
    fn a_rollback_for_the_hold_budget_keeps_its_words_and_hint() {
        let rolled = UpgradeError::RolledBack {
            reason: "new jobs have been held for 9 s, longer than --max-hold allows before the configuration change (4 s), at backup\nhint: run again when the queue is quieter".into(),
            from: "3.0".parse().expect("v"),
            backup: String::new(),
            changed: true,
        };
        assert_eq!(
            final_words(&rolled, None),
            "new jobs have been held for 9 s, longer than --max-hold allows before the configuration change (4 s), at backup (see above); everything done so far was rolled back, the cluster runs 3.0 again\nhint: run again when the queue is quieter"
        );
    }

    #[test]
    fn the_last_line_names_the_failure_once() {
        let v = |s: &str| s.parse().expect("v");
        let detail = "node3.example: `/usr/sbin/ganeti-switch to 3.1` failed (exit 1): refused";
        let rolled = UpgradeError::RolledBack {
            reason: format!("switch-version failed: {detail}"),
            from: v("3.0"),
            backup: " (the backup /var/backups/ganeti-upgrade-1.tar is kept)".into(),
            changed: true,
        };
        let text = final_words(&rolled, None);
        assert!(!text.contains(detail), "{text}");
        assert_eq!(
            text,
            "switch-version failed (see above); everything done so far was rolled back, the cluster runs 3.0 again (the backup /var/backups/ganeti-upgrade-1.tar is kept)"
        );
        let pending = UpgradeError::Pending {
            step: "upgrade-config",
            to: v("3.1"),
            message: "node1.example: `cfgupgrade -f` failed (exit 1)".into(),
            nodes: vec!["node3.example".into()],
        };
        let text = final_words(
            &pending,
            Some(std::path::Path::new("/var/backups/ganeti-upgrade-7.tar")),
        );
        assert!(!text.contains("cfgupgrade -f"), "{text}");
        assert!(
            text.contains("the configuration from before the upgrade is in the backup /var/backups/ganeti-upgrade-7.tar"),
            "{text}"
        );
        assert!(text.contains("--skip-node node3.example"), "{text}");
    }
}
