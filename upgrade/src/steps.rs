//! The upgrade, step by step, in the order of the design document
//! ("gnt-cluster upgrade" in design-upgrade.md): [`STEPS`] is the whole
//! procedure, one row per step with its id, title, what it does, how it is
//! undone and what the plan says it runs. Read it next to the document; the
//! step functions follow it. The engine runs the table and knows nothing
//! of what a step does.
//!
//! Every step is idempotent: a resumed run may redo any of them. Every undo
//! is idempotent too, so a rollback undoes every step that *started*, not
//! only those that finished (a switch that failed on one node has switched
//! the others).
//!
//! Where this differs from the document, and why:
//! * the job queue is paused with a filter of our own where the cluster has
//!   filters (the document's stated intent once filters exist), drained
//!   otherwise; a drain, filter or watcher pause that was there before stays;
//! * the watcher is paused too (upstream's fix for watcher restarts);
//! * daemons are brought to a known state: a start that finds a daemon
//!   already running (the watcher, a reboot, a half-finished stop) stops
//!   them all and starts them again, as the fault matrix's manual fix does;
//! * a switch that a node refuses because daemons run there stops them and
//!   tries once more;
//! * the first daemon round ("all daemons are started") starts only what
//!   redist-conf uses: noded everywhere, wconfd and luxid on the master; the
//!   second ("restart all") starts every daemon, so the outcome is the
//!   document's (every daemon runs a process started after the
//!   redistribution) with a third of the first round's work in the hold;
//! * a redist-conf whose copies did not reach a node (Ganeti only warns, and
//!   the job succeeds) fails for that node;
//! * the document's `ensure-dirs --full-run` is split: plain `ensure-dirs`
//!   (what `gnt-cluster upgrade` runs) before the daemons start, and the
//!   full run's walk of the job archive after `resume-work` and
//!   `unpause-watcher`, out of the time new jobs are held (no daemon needs
//!   the archive to start);
//! * the intent file (and our journal) are removed last, after the
//!   post-upgrade hooks and the verify, so a crash there is still resumable
//!   (upstream loses the hooks and leaves the watcher paused).

use std::time::{Duration, Instant};

use ganeti_layout::node::DirVersion;

use crate::backup::backup;
use crate::cluster::Cluster;
use crate::context::{Ctx, Outcome};
use crate::error::StepError;
use crate::events::{PlanCommand, Where};
use crate::fence::write_our_intent;
use crate::ganeti::{
    copies_failed, pause_predicates, Daemons, Filter, GanetiCmd, Queue, Switch, Watcher,
    REDIST_MASTER_DAEMONS, REDIST_NODE_DAEMONS,
};
use crate::intent::Intent;
use crate::journal::Facts;
use crate::luxi::Luxi;
use crate::queue::{
    busy_jobs, filter_reason, has_filters, list_jobs, new_filter_reason, our_filters,
    queue_drained, remove_our_filters, settled_filters,
};
use crate::ran::Ran;
pub use crate::step_id::StepId;
use crate::transition::Transition;
use crate::watcher::{
    node_pause_value, pause_watcher_on_nodes, set_watcher_pause, unpause_watcher_on_nodes,
    watcher_paused_until, WATCHER_PAUSE,
};

/// Which transitions run a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// Upgrades and re-applies of the same version.
    NotDowngrading,
    Downgrading,
}

/// A step: what it found, or why it failed.
type Run = fn(&mut Ctx<'_>) -> Result<Outcome, StepError>;
/// An undo, told how the rollback has gone so far.
type Undo = fn(&mut Ctx<'_>, &Rollback) -> Result<(), StepError>;

/// A rollback so far, for the undos that follow.
#[derive(Debug, Clone, Default)]
pub struct Rollback {
    /// The steps undone so far.
    pub undone: Vec<StepId>,
    /// Nodes where an undo failed: they stay as they are (a node that
    /// could not be switched back must not start the other version's
    /// daemons on this configuration).
    pub failed_nodes: Vec<String>,
}
type Plan = fn(&Ctx<'_>, &Cluster) -> Vec<PlanCommand>;

/// One row of the procedure.
pub struct Step {
    pub id: StepId,
    pub title: &'static str,
    pub when: When,
    /// The configuration change: once it has started there is no going back.
    pub point_of_no_return: bool,
    pub run: Run,
    /// How a rollback undoes it (before the point of no return); `None`:
    /// nothing to undo. The intent file is removed by the rollback itself,
    /// last, once every undo has succeeded.
    pub undo: Option<Undo>,
    /// What it runs, where, for `--dry-run`.
    pub plan: Plan,
}

/// The whole procedure, in order.
pub const STEPS: &[Step] = &[
    Step {
        id: StepId::VerifyInstalled,
        title: "Verifying the target version is installed on all online nodes",
        when: When::Always,
        point_of_no_return: false,
        run: verify_installed,
        undo: None,
        plan: plan_verify_installed,
    },
    Step {
        id: StepId::CheckTargetRuns,
        title: "Checking that the target version runs on all online nodes",
        when: When::Always,
        point_of_no_return: false,
        run: check_target_runs,
        undo: None,
        plan: plan_check_target_runs,
    },
    Step {
        id: StepId::RehearseConfig,
        title: "Rehearsing the configuration change on a copy",
        when: When::Always,
        point_of_no_return: false,
        run: rehearse_config,
        undo: None,
        plan: plan_rehearse_config,
    },
    Step {
        id: StepId::RecordHealth,
        title: "Recording the cluster's health (gnt-cluster verify, instance states)",
        when: When::Always,
        point_of_no_return: false,
        run: record_health,
        undo: None,
        plan: plan_record_health,
    },
    Step {
        id: StepId::WriteIntent,
        title: "Writing the intent-to-upgrade file",
        when: When::Always,
        point_of_no_return: false,
        run: write_intent,
        undo: None,
        plan: plan_write_intent,
    },
    Step {
        id: StepId::StopNewWork,
        title: "Stopping new work on the job queue",
        when: When::Always,
        point_of_no_return: false,
        run: stop_new_work,
        undo: Some(resume_work),
        plan: plan_stop_new_work,
    },
    Step {
        id: StepId::WaitForJobs,
        title: "Waiting until no job is running",
        when: When::Always,
        point_of_no_return: false,
        run: wait_for_jobs,
        undo: None,
        plan: plan_wait_for_jobs,
    },
    Step {
        id: StepId::PauseWatcher,
        title: "Pausing the watcher",
        when: When::Always,
        point_of_no_return: false,
        run: pause_watcher,
        undo: Some(unpause_watcher),
        plan: plan_pause_watcher,
    },
    Step {
        id: StepId::StopMasterDaemons,
        title: "Stopping daemons on the master node",
        when: When::Always,
        point_of_no_return: false,
        run: stop_master_daemons,
        undo: Some(start_master_daemons),
        plan: plan_stop_master_daemons,
    },
    Step {
        id: StepId::ReverifyInstalled,
        title: "Verifying again on the nodes online now",
        when: When::Always,
        point_of_no_return: false,
        run: verify_installed,
        undo: None,
        plan: plan_reverify_installed,
    },
    Step {
        id: StepId::StopDaemons,
        title: "Stopping daemons everywhere",
        when: When::Always,
        point_of_no_return: false,
        run: stop_daemons,
        undo: Some(start_daemons_everywhere),
        plan: plan_stop_daemons,
    },
    Step {
        id: StepId::Backup,
        title: "Backing up the configuration",
        when: When::Always,
        point_of_no_return: false,
        run: backup,
        undo: None,
        plan: plan_backup,
    },
    Step {
        id: StepId::DowngradeConfig,
        title: "Downgrading the configuration",
        when: When::Downgrading,
        point_of_no_return: true,
        run: downgrade_config,
        undo: None,
        plan: plan_downgrade_config,
    },
    Step {
        id: StepId::SwitchVersion,
        title: "Switching the version on all nodes",
        when: When::Always,
        point_of_no_return: false,
        run: switch_version,
        undo: Some(switch_back),
        plan: plan_switch_version,
    },
    Step {
        id: StepId::UpgradeConfig,
        title: "Upgrading the configuration",
        when: When::NotDowngrading,
        point_of_no_return: true,
        run: upgrade_config,
        undo: None,
        plan: plan_upgrade_config,
    },
    Step {
        id: StepId::EnsureDirs,
        title: "Ensuring directories everywhere",
        when: When::Always,
        point_of_no_return: false,
        run: ensure_dirs,
        undo: None,
        plan: plan_ensure_dirs,
    },
    Step {
        id: StepId::StartDaemons,
        title: "Starting the daemons redist-conf needs (noded everywhere, wconfd and luxid on the master)",
        when: When::Always,
        point_of_no_return: false,
        run: start_daemons,
        undo: None,
        plan: plan_start_daemons,
    },
    Step {
        id: StepId::RedistConf,
        title: "Redistributing the configuration",
        when: When::Always,
        point_of_no_return: false,
        run: redist_conf,
        undo: None,
        plan: plan_redist_conf,
    },
    Step {
        id: StepId::RestartDaemons,
        title: "Restarting daemons everywhere",
        when: When::Always,
        point_of_no_return: false,
        run: restart_daemons,
        undo: None,
        plan: plan_restart_daemons,
    },
    Step {
        id: StepId::CheckStaleCode,
        title: "Checking that no process runs another version's code",
        when: When::Always,
        point_of_no_return: false,
        run: check_stale_code,
        undo: None,
        plan: plan_check_stale_code,
    },
    Step {
        id: StepId::ResumeWork,
        title: "Letting the job queue run again",
        when: When::Always,
        point_of_no_return: false,
        run: resume_work_step,
        undo: None,
        plan: plan_resume_work,
    },
    Step {
        id: StepId::UnpauseWatcher,
        title: "Unpausing the watcher",
        when: When::Always,
        point_of_no_return: false,
        run: unpause_watcher_step,
        undo: None,
        plan: plan_unpause_watcher,
    },
    // The design runs `ensure-dirs --full-run` before the daemons start.
    // Its one part beyond plain `ensure-dirs` (which `ensure-dirs` above
    // runs, as `gnt-cluster upgrade` and every `daemon-util start` do) is
    // the walk over the job archive, which no daemon needs to start or
    // to run jobs: archived jobs are only read, by queries of old jobs.
    // The archive is on the master candidates (the job queue's copies),
    // so the walk runs there only, once jobs run again and the watcher is
    // back: a failure here (a node's disk) keeps the upgrade pending but
    // holds neither the jobs nor the watcher. The watcher's archiving and
    // ganeti-cleaner may add and remove archived jobs meanwhile;
    // ensure-dirs sets what it finds and passes over what is gone.
    Step {
        id: StepId::EnsureJobArchive,
        title: "Ensuring the job archive's owners and modes (ensure-dirs --full-run)",
        when: When::Always,
        point_of_no_return: false,
        run: ensure_job_archive,
        undo: None,
        plan: plan_ensure_job_archive,
    },
    Step {
        id: StepId::PostUpgrade,
        title: "Running post-upgrade hooks",
        when: When::Always,
        point_of_no_return: false,
        run: post_upgrade,
        undo: None,
        plan: plan_post_upgrade,
    },
    Step {
        id: StepId::VerifyCluster,
        title: "Verifying the cluster",
        when: When::Always,
        point_of_no_return: false,
        run: verify_cluster,
        undo: None,
        plan: plan_verify_cluster,
    },
    Step {
        id: StepId::Finish,
        title: "Removing the intent file and the journal",
        when: When::Always,
        point_of_no_return: false,
        run: finish,
        undo: None,
        plan: plan_finish,
    },
];

/// Its row in [`STEPS`].
pub fn row(id: StepId) -> &'static Step {
    // Every id has exactly one row (tests/model.rs checks it).
    STEPS
        .iter()
        .find(|s| s.id == id)
        .unwrap_or(&STEPS[STEPS.len() - 1])
}

impl When {
    pub fn applies(self, transition: Transition) -> bool {
        match self {
            When::Always => true,
            When::NotDowngrading => transition != Transition::Downgrade,
            When::Downgrading => transition == Transition::Downgrade,
        }
    }
}

/// The steps of a transition, in order.
pub fn steps_for(transition: Transition) -> Vec<StepId> {
    STEPS
        .iter()
        .filter(|s| s.when.applies(transition))
        .map(|s| s.id)
        .collect()
}

/// The configuration step of a transition.
pub fn point_of_no_return(transition: Transition) -> StepId {
    STEPS
        .iter()
        .find(|s| s.point_of_no_return && s.when.applies(transition))
        .map(|s| s.id)
        .unwrap_or(StepId::UpgradeConfig)
}

// --- the steps, in the table's order ----------------------------------------

fn stop_all() -> GanetiCmd {
    GanetiCmd::DaemonUtil(Daemons::StopAll)
}

fn start_all() -> GanetiCmd {
    GanetiCmd::DaemonUtil(Daemons::StartAll)
}

fn verify_installed(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    let c = ctx.cluster()?;
    if let Some(refusal) = crate::gate::dsa_keys_here(ctx) {
        return Err(StepError::Refused(refusal));
    }
    // Here, before new jobs are held, not when the backup is written.
    if let Some(refusal) = crate::backup::room(ctx.paths).refusal(&c.master, ctx.paths) {
        return Err(StepError::Refused(refusal));
    }
    let weak = crate::gate::weak_certificates_everywhere(ctx, &c);
    if !weak.is_empty() {
        return Err(StepError::Refused(weak.join("\n")));
    }
    let to = ctx.header.to.clone();
    let from = ctx.header.from_dir.clone();
    // The target on every node, and the way back: a rollback before the
    // configuration change switches every node back to the version it
    // runs now, so that must be possible too (R3-5: a running version
    // without a manifest or dpkg list counts, as the switch back to it is
    // allowed).
    let target = asked_everywhere(ctx, &c, Switch::Installed(to.clone()))?;
    let source = if from == to {
        Asked::default()
    } else {
        asked_everywhere(ctx, &c, Switch::Returnable(from.clone()))?
    };
    // A node ssh does not reach is named once, with the dry run's fix.
    let mut unreached = target.unreached;
    unreached.extend(
        source
            .unreached
            .into_iter()
            .filter(|n| !unreached.iter().any(|u| u.node == n.node))
            .collect::<Vec<_>>(),
    );
    if !unreached.is_empty() {
        return Err(StepError::Refused(format!(
            "nodes not reached as Ganeti reaches them (ssh):\n{}",
            crate::gate::node_refusals(&unreached, &to).join("\n")
        )));
    }
    let mut no_switch = target.no_switch;
    no_switch.extend(source.no_switch);
    no_switch.sort();
    no_switch.dedup();
    if !no_switch.is_empty() {
        return Err(StepError::Refused(format!(
            "{} is not installed (or not executable) on: {}\nhint: install this toolkit's package there, or give its path with --switch-command",
            ctx.opts.run.switch_command,
            no_switch.join(", ")
        )));
    }
    if !source.too_old.is_empty() {
        return Err(StepError::Refused(format!(
            "{} on {} is older than this ganeti-upgrade (it has no `installed --or-active`, and its switch does not keep the way back open)\nhint: install this toolkit's version ({}) on every node first",
            ctx.opts.run.switch_command,
            source.too_old.join(", "),
            env!("CARGO_PKG_VERSION")
        )));
    }
    if !target.missing.is_empty() {
        return Err(StepError::Refused(format!(
            "Ganeti version {to} is not (completely) installed on nodes: {}\nhint: install it there first (its packages, or ganeti-layout install)",
            target.missing.join(", ")
        )));
    }
    if !source.missing.is_empty() {
        return Err(StepError::Refused(format!(
            "the version the cluster runs now, {from}, could not be switched back to on nodes: {}; a rollback would be impossible\nhint: reinstall {from} there (its packages, or ganeti-layout install) before upgrading",
            source.missing.join(", ")
        )));
    }
    Ok(Outcome::default())
}

/// What one `ganeti-switch installed` question found on the nodes.
#[derive(Default)]
struct Asked {
    /// "NODE (first line of the answer)" where the version falls short.
    missing: Vec<String>,
    /// Nodes without a working `ganeti-switch`.
    no_switch: Vec<String>,
    /// Nodes whose `ganeti-switch` does not know the question.
    too_old: Vec<String>,
    /// Nodes ssh did not reach (or that refused us), classified as the dry
    /// run classifies them, each with its own fix.
    unreached: Vec<crate::view::NodeCheck>,
}

/// Asks every online node (the master in-process) about a version.
fn asked_everywhere(ctx: &Ctx<'_>, c: &Cluster, action: Switch) -> Result<Asked, StepError> {
    let question = ctx.switch(action);
    let mut asked = Asked::default();
    for ran in ctx.each_node(c, &c.others(), &|_| question.clone()) {
        match ran.code {
            Some(0) => {}
            Some(126 | 127) => asked.no_switch.push(ran.node.clone()),
            // clap's "unexpected argument": an older ganeti-switch.
            Some(2) if ran.stderr.contains("unexpected argument") => {
                asked.too_old.push(ran.node.clone())
            }
            Some(255) | None => asked.unreached.push(crate::gate::classify(
                &ran,
                &ctx.opts.run.switch_command,
                &ctx.header.to,
            )),
            _ => asked.missing.push(format!(
                "{} ({})",
                ran.node,
                first_line(&ran, "unreachable")
            )),
        }
    }
    if c.online.contains(&c.master) {
        // The same question, answered in-process (we hold the node lock).
        let ran = ctx.exec.here(&ctx.call(question));
        match ran.code {
            Some(0) => {}
            Some(_) => asked
                .missing
                .push(format!("{} ({})", c.master, ran.stdout.trim())),
            None => return Err(StepError::Io(ran.stderr)),
        }
    }
    Ok(asked)
}

/// Whether the target would start on every online node (the master
/// in-process): its interpreters, Python imports and shared libraries
/// there (`ganeti-switch runs`). A node where it would not is refused
/// with every file and what it misses, before anything changes.
fn check_target_runs(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    let c = ctx.cluster()?;
    let to = ctx.header.to.clone();
    let question = ctx.switch(Switch::Runs(to.clone()));
    let mut answers = ctx.each_node(&c, &c.others(), &|_| question.clone());
    if c.online.contains(&c.master) {
        let ran = ctx.exec.here(&ctx.call(question));
        if ran.code.is_none() {
            return Err(StepError::Io(ran.stderr));
        }
        answers.push(ran);
    }
    let mut too_old = Vec::new();
    let mut refused = Vec::new();
    for ran in answers {
        match ran.code {
            Some(0) => {}
            // clap's "unrecognized subcommand": an older ganeti-switch.
            Some(2) if ran.stderr.contains("unrecognized subcommand") => too_old.push(ran.node),
            Some(255) => refused.push(format!(
                "{}: not reached: {}",
                ran.node,
                first_line(&ran, "no answer")
            )),
            None => refused.push(format!(
                "{}: no answer within --command-timeout ({})",
                ran.node,
                first_line(&ran, "killed")
            )),
            _ => {
                let mut found = crate::gate::runs_findings(&ran);
                if found.is_empty() {
                    found.push(format!(
                        "{} runs {to} ended with exit {} and said nothing",
                        ctx.opts.run.switch_command,
                        ran.code.map_or("?".into(), |c| c.to_string())
                    ));
                }
                let shown = found.len().min(RUNS_LINES);
                let mut text = format!("{}:\n    {}", ran.node, found[..shown].join("\n    "));
                if found.len() > shown {
                    text.push_str(&format!(
                        "\n    ... and {} more ({} runs {to} there lists them)",
                        found.len() - shown,
                        ctx.opts.run.switch_command
                    ));
                }
                refused.push(text);
            }
        }
    }
    if !too_old.is_empty() {
        return Err(StepError::Refused(format!(
            "{} on {} is older than this ganeti-upgrade (it has no `runs`)\nhint: install this toolkit's version ({}) on every node first",
            ctx.opts.run.switch_command,
            too_old.join(", "),
            env!("CARGO_PKG_VERSION")
        )));
    }
    if !refused.is_empty() {
        return Err(StepError::Refused(format!(
            "Ganeti {to} would not run on these nodes (nothing has been changed):\n  {}\nhint: install what is named on each node (the interpreter, Python modules or libraries, from the packages Ganeti {to} depends on there), then run again; {} runs {to} on a node checks it there",
            refused.join("\n  "),
            ctx.opts.run.switch_command
        )));
    }
    Ok(Outcome::default())
}

/// How many of a node's missing pieces a refusal quotes.
const RUNS_LINES: usize = 8;

/// The first line a command printed (stdout, then stderr), or `otherwise`.
fn first_line<'r>(ran: &'r Ran, otherwise: &'r str) -> &'r str {
    ran.stdout
        .trim()
        .lines()
        .chain(ran.stderr.trim().lines())
        .next()
        .unwrap_or(otherwise)
}

/// The target's converter on a private copy of the configuration: a
/// rejection refuses the upgrade before anything changed
/// ([`crate::rehearsal`]).
fn rehearse_config(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    crate::rehearsal::rehearse(ctx)?;
    Ok(Outcome::default())
}

/// The health baseline ([`crate::health`]): refuses on what an upgrade
/// should not start on; lists what verify reports now, which the end will
/// not count against the upgrade.
fn record_health(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    let health = crate::baseline::judged(ctx).map_err(StepError::Refused)?;
    crate::baseline::save(ctx.paths, &health).map_err(StepError::io)?;
    Ok(Outcome::default())
}

fn write_intent(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    write_our_intent(ctx).map_err(StepError::io)?;
    Ok(Outcome::default())
}

/// Pauses every job with a filter of ours (or drains, before filters
/// existed). Idempotent: a filter of ours already there is kept.
fn stop_new_work(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    if has_filters(ctx) && ctx.facts.drained_by_us.is_none() {
        if let Some(uuid) = add_our_filter(ctx)? {
            return Ok(Facts {
                filter_uuid: Some(uuid),
                ..Facts::default()
            }
            .into());
        }
    }
    let already = match ctx.facts.drained_by_us {
        Some(by_us) => !by_us,
        None => queue_drained(ctx),
    };
    // Recorded before draining: a crash right after the drain must not make
    // a resumed run believe the admin had drained the queue.
    ctx.remember(Facts {
        drained_by_us: Some(!already),
        ..Facts::default()
    })?;
    if !already
        && !queue_drained(ctx)
        && ctx
            .by_luxi("SetDrainFlag(true)", |l| l.set_drain_flag(true))
            .is_none()
    {
        ctx.local(GanetiCmd::Queue(Queue::Drain))?;
    }
    Ok(Outcome::default())
}

/// Our PAUSE filter: the one already there, or a new one over LUXI, or by
/// `gnt-filter add`. `None`: no filter could be added (the caller drains).
fn add_our_filter(ctx: &Ctx<'_>) -> Result<Option<String>, StepError> {
    if let Ok(existing) = our_filters(ctx) {
        if let Some(uuid) = existing.into_iter().next() {
            return Ok(Some(uuid));
        }
    }
    let reason = new_filter_reason(ctx);
    // A repeat after a lost answer may add a second filter with our
    // reason; resume-work removes them all.
    let added = ctx.by_luxi("ReplaceFilter (add)", |l| {
        l.add_filter(0, pause_predicates(), "PAUSE", &reason)
    });
    if let Some(uuid) = added {
        return kept_filter(ctx, uuid).map(Some);
    }
    let ran = ctx.run_local(GanetiCmd::Filter(Filter::Add { reason }));
    if ran.ok() {
        return match ran.stdout.split_whitespace().last() {
            Some(uuid) => kept_filter(ctx, uuid.to_string()).map(Some),
            None => Err(StepError::Refused(format!(
                "gnt-filter add printed no uuid: {}",
                ran.stdout.trim()
            ))),
        };
    }
    // The LUXI add may have been carried out with its answer lost: a
    // filter of ours that is there holds the queue all the same, and the
    // wait must know it (R3-11).
    if let Some(uuid) = our_filters(ctx).ok().and_then(|f| f.into_iter().next()) {
        return Ok(Some(uuid));
    }
    ctx.message(&format!(
        "cannot add a job filter ({}); draining the queue instead",
        ran.summary()
    ));
    Ok(None)
}

/// The filter Ganeti said it added, if Ganeti lists it: luxid answers an
/// addition that wconfd cannot write to `config.data` (a full
/// `/var/lib/ganeti`) with its uuid and keeps nothing, and the queue would
/// not be held at all.
fn kept_filter(ctx: &Ctx<'_>, uuid: String) -> Result<String, StepError> {
    let listed = settled_filters(ctx, &filter_reason(ctx), |listed| {
        let there = listed.contains(&uuid);
        (there, there)
    })?;
    if listed {
        return Ok(uuid);
    }
    Err(StepError::Refused(format!(
        "Ganeti accepted this upgrade's job filter {uuid} but does not list it, so nothing holds the job queue: Ganeti could not keep the change (is the file system of {} full? df {}). Once there is room, restart Ganeti's daemons on the master first (wconfd writes no configuration again after a failed write): {} stop-all; {} start-all",
        ctx.paths.datadir().display(),
        ctx.paths.datadir().display(),
        ctx.paths.daemon_util().display(),
        ctx.paths.daemon_util().display()
    )))
}

/// How many polls in a row the job queue may fail to answer (a luxid
/// restart) before the wait gives up: a minute at the default poll.
const QUERY_RETRIES: u32 = 60;

fn wait_for_jobs(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    let paused_by_filter = ctx.facts.filter_uuid.is_some();
    let start = Instant::now();
    let mut unanswered = 0;
    let mut last_report: Option<Instant> = None;
    loop {
        // A hiccup of luxid (a restart, a slow answer) during an hours-long
        // wait is asked again until the queue timeout, not a failure of
        // the upgrade (R3-12).
        let statuses = match ctx.by_luxi("QueryJobs", Luxi::jobs) {
            Some(jobs) => Some(jobs.into_iter().map(|(_, status)| status).collect()),
            None => {
                let ran = ctx.run_local(GanetiCmd::ListJobs);
                ran.ok()
                    .then(|| list_jobs(&ran))
                    .ok_or(ran)
                    .map_err(|ran| {
                        ctx.exec.log_line(&format!(
                            "the job queue did not answer ({}); asking again",
                            ran.summary()
                        ))
                    })
                    .ok()
            }
        };
        let limit = ctx.opts.run.queue_timeout();
        match &statuses {
            Some(s) if busy_jobs(s, paused_by_filter).is_empty() => {
                return Ok(Outcome::default())
            }
            Some(_) => unanswered = 0,
            None if unanswered >= QUERY_RETRIES => {
                return Err(StepError::Refused(format!(
                    "the job queue did not answer {} times in a row (gnt-job list fails)\nhint: check the master daemon (luxid), then run again",
                    unanswered + 1
                )))
            }
            None => unanswered += 1,
        }
        // Unknown while the queue does not answer.
        let busy = statuses
            .as_ref()
            .map(|s| busy_jobs(s, paused_by_filter).len().to_string())
            .unwrap_or_else(|| "some".into());
        if let Some(reason) = ctx.hold_budget_spent(StepId::WaitForJobs) {
            return Err(StepError::Refused(format!(
                "{busy} job(s) still running: {reason}"
            )));
        }
        if start.elapsed() > limit {
            return Err(StepError::Refused(format!(
                "{busy} job(s) still running after {}s; the queue did not empty\nhint: wait for them or cancel them (gnt-job list), then run again; --queue-timeout sets the limit",
                limit.as_secs()
            )));
        }
        if last_report.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            let budget = match (ctx.opts.run.max_hold(), ctx.held_for()) {
                (Some(max), Some(held)) => {
                    format!("; new jobs held {held} s of --max-hold {max} s")
                }
                _ => String::new(),
            };
            ctx.message(&format!(
                "{busy} job(s) still running, waiting ({}s so far{budget})",
                start.elapsed().as_secs()
            ));
            last_report = Some(Instant::now());
        }
        if ctx.interrupted() {
            return Err(StepError::Interrupted("waiting for jobs"));
        }
        std::thread::sleep(ctx.opts.poll_interval);
    }
}

/// Pauses the watcher until now + 6 h, unless the admin's own pause lasts
/// longer; an admin's shorter pause is extended and restored at the end.
fn pause_watcher(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    let now = ctx.now();
    let until = now + WATCHER_PAUSE.as_secs();
    let by_us = match ctx.facts.watcher_paused_by_us {
        // A redo keeps what the first attempt learned.
        Some(by_us) => by_us,
        None => {
            let admin = watcher_paused_until(ctx).filter(|t| *t > now);
            let by_us = admin.is_none_or(|t| t < until);
            ctx.remember(Facts {
                watcher_paused_by_us: Some(by_us),
                watcher_admin_until: admin,
                ..Facts::default()
            })?;
            by_us
        }
    };
    if by_us {
        set_watcher_pause(ctx, Some(until))?;
        // luxid writes its own value on the master and the candidates (not
        // always exactly ours): remembered, so that the unpause, and the
        // commands printed for a candidate left out, find it too.
        if let Some(written) = watcher_paused_until(ctx).filter(|w| *w != until) {
            ctx.remember(Facts {
                watcher_node_values: vec![written],
                ..Facts::default()
            })?;
        }
    }
    // A redo writes the value the first attempt chose (and remembered), so
    // that the unpause finds every pause this upgrade wrote; if that pause
    // has run out, it is removed and a new one written.
    let value = match ctx.facts.watcher_node_until {
        Some(v) if v > now => v,
        Some(_) => {
            unpause_watcher_on_nodes(ctx)?;
            node_pause_value(ctx, until)
        }
        None => node_pause_value(ctx, until),
    };
    pause_watcher_on_nodes(ctx, value)?;
    Ok(Outcome::default())
}

/// Ends the watcher pause we set, or gives back the admin's shorter one.
fn unpause_watcher(ctx: &mut Ctx<'_>, _rollback: &Rollback) -> Result<(), StepError> {
    unpause_watcher_on_nodes(ctx)?;
    if ctx.facts.watcher_paused_by_us != Some(true) {
        return Ok(());
    }
    let admin = ctx.facts.watcher_admin_until.filter(|t| *t > ctx.now());
    set_watcher_pause(ctx, admin)
}

fn unpause_watcher_step(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    unpause_watcher(ctx, &Rollback::default())?;
    Ok(Outcome::default())
}

fn stop_master_daemons(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    let c = ctx.cluster()?;
    ctx.on_nodes(&c, std::slice::from_ref(&c.master), &|_| stop_all())?;
    Ok(Outcome::default())
}

fn start_master_daemons(ctx: &mut Ctx<'_>, rollback: &Rollback) -> Result<(), StepError> {
    // The undo of stop-daemons, when it ran, started them everywhere.
    if rollback.undone.contains(&StepId::StopDaemons) {
        return Ok(());
    }
    let c = ctx.cluster()?;
    if rollback.failed_nodes.contains(&c.master) {
        return Err(StepError::Refused(format!(
            "the daemons of {} are left stopped: an earlier undo failed there",
            c.master
        )));
    }
    ensure_running(ctx, &c, std::slice::from_ref(&c.master))
}

fn stop_daemons(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    let c = ctx.cluster()?;
    ctx.on_nodes(&c, &c.online, &|_| stop_all())?;
    Ok(Outcome::default())
}

fn start_daemons_everywhere(ctx: &mut Ctx<'_>, rollback: &Rollback) -> Result<(), StepError> {
    let c = ctx.cluster()?;
    let (left, start): (Vec<String>, Vec<String>) = c
        .online
        .iter()
        .cloned()
        .partition(|n| rollback.failed_nodes.contains(n));
    ensure_running(ctx, &c, &start)?;
    if left.is_empty() {
        Ok(())
    } else {
        Err(StepError::Refused(format!(
            "the daemons of {} are left stopped: an earlier undo failed there",
            left.join(", ")
        )))
    }
}

/// Starts Ganeti's daemons on `nodes` and leaves them all running: where
/// `daemon-util start-all` fails (it aborts at the first daemon already
/// running), every daemon is stopped and started again.
pub fn ensure_running(ctx: &Ctx<'_>, c: &Cluster, nodes: &[String]) -> Result<(), StepError> {
    let failed: Vec<String> = ctx
        .each_node(c, nodes, &|_| start_all())
        .into_iter()
        .filter(|r| !r.ok())
        .map(|r| r.node)
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    ctx.message(&format!(
        "starting the daemons failed on {}: stopping them all there and starting them again",
        failed.join(", ")
    ));
    ctx.on_nodes(c, &failed, &|_| stop_all())?;
    ctx.on_nodes(c, &failed, &|_| start_all())?;
    Ok(())
}

fn downgrade_config(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    ctx.local(GanetiCmd::Cfgupgrade { downgrade: true })?;
    Ok(Outcome::default())
}

fn switch_version(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    let to = ctx.header.to.clone();
    switch_all(ctx, &to)?;
    Ok(Outcome::default())
}

fn switch_back(ctx: &mut Ctx<'_>, _rollback: &Rollback) -> Result<(), StepError> {
    let from = ctx.header.from_dir.clone();
    switch_all(ctx, &from)
}

/// Switches every online node to `to`: the others in parallel, the master
/// last and in-process (we hold its lock). A node that refuses (its
/// daemons run: the watcher, a reboot) has them stopped and is tried once
/// more; nodes already on `to` answer "already active".
fn switch_all(ctx: &mut Ctx<'_>, to: &DirVersion) -> Result<(), StepError> {
    let c = ctx.cluster()?;
    let switch = ctx.switch(Switch::To(to.clone()));
    let first: Vec<Ran> = ctx
        .each_node(&c, &c.others(), &|_| switch.clone())
        .into_iter()
        .filter(|r| !r.ok())
        .collect();
    // Unreachable (255), no ganeti-switch (127), killed (no code): a second
    // try would fail the same way.
    let (retry, mut failed): (Vec<Ran>, Vec<Ran>) = first
        .into_iter()
        .partition(|r| !matches!(r.code, None | Some(127) | Some(255)));
    if !retry.is_empty() {
        let nodes: Vec<String> = retry.iter().map(|r| r.node.clone()).collect();
        ctx.message(&format!(
            "the switch failed on {}: stopping the daemons there and trying once more",
            nodes.join(", ")
        ));
        ctx.each_node(&c, &nodes, &|_| stop_all());
        failed.extend(
            ctx.each_node(&c, &nodes, &|_| switch.clone())
                .into_iter()
                .filter(|r| !r.ok()),
        );
    }
    if c.online.contains(&c.master) {
        let here = ctx.call(switch.clone());
        let mut ran = ctx.exec.here(&here);
        if !ran.ok() {
            ctx.local(stop_all())?;
            ran = ctx.exec.here(&here);
        }
        if ran.ok() {
            ctx.exec.log_line(&format!(
                "{}: ganeti-switch to {to}: {}",
                c.master,
                ran.stdout.trim()
            ));
            ctx.message(&format!("{}: {to} active", c.master));
        } else {
            failed.push(Ran {
                node: c.master.clone(),
                ..ran
            });
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(StepError::Commands(failed))
    }
}

fn upgrade_config(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    ctx.local(GanetiCmd::Cfgupgrade { downgrade: false })?;
    Ok(Outcome::default())
}

fn ensure_dirs(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    let c = ctx.cluster()?;
    ctx.on_nodes(&c, &c.online, &|_| GanetiCmd::EnsureDirs {
        full_run: false,
    })?;
    Ok(Outcome::default())
}

fn ensure_job_archive(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    let c = ctx.cluster()?;
    let candidates = c.online_candidates();
    ctx.on_nodes(&c, &candidates, &|_| GanetiCmd::EnsureDirs {
        full_run: true,
    })?;
    Ok(Outcome::default())
}

/// The first daemon round starts only what redist-conf uses
/// ([`REDIST_NODE_DAEMONS`] on every online node, the master's at the same
/// time as the others', then [`REDIST_MASTER_DAEMONS`] on the master), each
/// by daemon-util's own `start`; restart-daemons then starts every daemon.
/// The design's outcome holds (redist-conf finds what it needs, and every
/// daemon afterwards was started after it) at a third of the work inside
/// the hold. wconfd and luxid start only once every noded answers: each
/// holds Ganeti's master vote at start-up, asking the other nodes' noded,
/// and waits 10 s per round that too few answer.
fn start_daemons(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    let c = ctx.cluster()?;
    let ctx = &*ctx;
    let others = c.others();
    let (master, nodes) = std::thread::scope(|s| {
        let master = s.spawn(|| {
            REDIST_NODE_DAEMONS
                .iter()
                .try_for_each(|d| ctx.local(start_one(d)).map(|ran| ctx.show(&ran)))
        });
        let nodes = REDIST_NODE_DAEMONS
            .iter()
            .try_for_each(|d| ctx.on_nodes(&c, &others, &|_| start_one(d)).map(|_| ()));
        // A panic on the master's side (a test's simulated kill) goes on up.
        let master = master
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (master, nodes)
    });
    match (nodes, master) {
        (Ok(()), Ok(())) => {}
        (Err(StepError::Commands(mut a)), Err(StepError::Commands(b))) => {
            a.extend(b);
            return Err(StepError::Commands(a));
        }
        (Err(e), _) | (Ok(()), Err(e)) => return Err(e),
    }
    for daemon in REDIST_MASTER_DAEMONS {
        let ran = ctx.local(start_one(daemon))?;
        ctx.show(&ran);
    }
    Ok(Outcome::default())
}

fn start_one(daemon: &'static str) -> GanetiCmd {
    GanetiCmd::DaemonUtil(Daemons::Start(daemon))
}

/// `gnt-cluster redist-conf`. A node its copies did not reach (its noded
/// down or the node rebooting: Ganeti only warns, and the job succeeds)
/// has its noded started (waited for while it does not answer, as every
/// step does) and the redistribution is run once more; a node still
/// missed fails the step, so no node is left with the old version's files.
fn redist_conf(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    let c = ctx.cluster()?;
    let (_, missed) = redistribute(ctx)?;
    if missed.is_empty() {
        return Ok(Outcome::default());
    }
    let nodes = nodes_of(&missed);
    ctx.message(&format!(
        "redist-conf's copies did not reach {}: starting ganeti-noded there and redistributing again",
        nodes.join(", ")
    ));
    let mut failed: Vec<Ran> = Vec::new();
    for daemon in REDIST_NODE_DAEMONS {
        failed.extend(
            ctx.each_node(&c, &nodes, &|_| start_one(daemon))
                .into_iter()
                .filter(|r| !r.ok()),
        );
    }
    // Again, for the nodes whose noded did start.
    let (ran, missed) = redistribute(ctx)?;
    if missed.is_empty() {
        return Ok(Outcome::default());
    }
    ctx.show(&ran);
    // With why its noded is not there, where its start failed.
    let missed = missed
        .into_iter()
        .map(|(node, line)| {
            let why = failed
                .iter()
                .find(|r| r.node == node)
                .map(|r| format!("; and starting its noded failed: {}", r.summary()))
                .unwrap_or_default();
            (node, format!("{line}{why}"))
        })
        .collect();
    Err(StepError::NotReached {
        command: ctx.call(GanetiCmd::RedistConf).shown(),
        missed,
    })
}

/// One `gnt-cluster redist-conf`, and the nodes its copies missed (node,
/// Ganeti's line), but the skipped ones: Ganeti still counts a skipped
/// node online, so its copies fail, and what brings it up to date later
/// is said at the end. (Ganeti names nodes as ssconf does; a name it gives
/// that is not one of ours counts as missed, never as skipped.)
fn redistribute(ctx: &Ctx<'_>) -> Result<(Ran, Vec<(String, String)>), StepError> {
    let ran = ctx.local(GanetiCmd::RedistConf)?;
    let skipped = ctx.skipped();
    let (left, missed): (Vec<_>, Vec<_>) =
        copies_failed(&format!("{}\n{}", ran.stdout, ran.stderr))
            .into_iter()
            .partition(|(node, _)| skipped.contains(node));
    if !left.is_empty() {
        ctx.message(&format!(
            "redist-conf's copies did not reach {} (left out of this upgrade)",
            nodes_of(&left).join(", ")
        ));
    }
    Ok((ran, missed))
}

/// The nodes of [`copies_failed`]'s lines (each node once already).
fn nodes_of(lines: &[(String, String)]) -> Vec<String> {
    lines.iter().map(|(n, _)| n.clone()).collect()
}

fn restart_daemons(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    let c = ctx.cluster()?;
    ctx.on_nodes(&c, &c.online, &|_| stop_all())?;
    ensure_running(ctx, &c, &c.online)?;
    Ok(Outcome::default())
}

/// Before the queue reopens, no Ganeti daemon runs another version's code
/// (restarted where one does) and every other such process is named
/// ([`crate::stale_code`]).
fn check_stale_code(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    crate::stale_code::check_stale_code(ctx)?;
    Ok(Outcome::default())
}

fn resume_work_step(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    resume_work(ctx, &Rollback::default())?;
    Ok(Outcome::default())
}

/// Removes every filter with our reason (looked up, so a filter whose
/// answer was lost is found too) and undrains what we drained.
fn resume_work(ctx: &mut Ctx<'_>, _rollback: &Rollback) -> Result<(), StepError> {
    if has_filters(ctx) {
        remove_our_filters(ctx, &filter_reason(ctx))?;
    }
    // Only while still drained, checked again before the fallback: on a
    // redo (resume), or after an undrain whose answer was lost, it may
    // already be off, and real Ganeti's luxid never answers an undrain then.
    if ctx.facts.drained_by_us == Some(true)
        && queue_drained(ctx)
        && ctx
            .by_luxi("SetDrainFlag(false)", |l| l.set_drain_flag(false))
            .is_none()
        && queue_drained(ctx)
    {
        ctx.local(GanetiCmd::Queue(Queue::Undrain))?;
    }
    Ok(())
}

fn post_upgrade(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    let from_release = ctx.header.from_release.clone();
    ctx.local(GanetiCmd::PostUpgrade { from_release })?;
    Ok(Outcome::default())
}

/// `gnt-cluster verify`'s errors do not stop the run: the new ones are
/// what it ends with (exit 3), with every instance the upgrade left in an
/// error state; the errors that were there before ([`crate::health`]) are
/// listed, and every instance whose state changed is named.
fn verify_cluster(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    // One after the other here: verify waits for the jobs that hold locks
    // (those the hold released a moment ago), and an instance a released
    // job is rebooting or moving would look harmed in a list taken meanwhile.
    let (ran, found) = crate::baseline::verify_now(ctx);
    ctx.show(&ran);
    let instances = crate::baseline::instances_now(ctx);
    let before = crate::baseline::load(ctx.paths, &ctx.header.id);
    match &before {
        None => ctx.message("no health baseline of this upgrade on this master (record-health kept it on the master it ran on): every error verify reports counts"),
        Some(h) if h.errors.is_none() => ctx.message("gnt-cluster verify could not run before the upgrade: every error it reports now counts"),
        Some(_) => {}
    }
    let instances = instances
        .map_err(|why| {
            ctx.message(&format!(
                "could not list the instances' states ({why}): they are not compared"
            ))
        })
        .ok();
    // Errors now: `None` when verify did not run (then only the instances
    // are compared, and nothing is said to be gone).
    let mut problems: Vec<String> = Vec::new();
    let now = match found {
        Ok(now) => Some(now),
        Err(_) if ran.stderr.contains("drained") && ctx.facts.drained_by_us != Some(true) => {
            // The admin's own drain (kept, as promised) stops verify's job.
            ctx.message("gnt-cluster verify could not run: the job queue is drained (it was before the upgrade, so it stays drained); run gnt-cluster verify after gnt-cluster queue undrain");
            None
        }
        Err(why) => {
            problems.push(format!(
                "gnt-cluster verify failed without reporting errors: {why}"
            ));
            None
        }
    };
    let verdict = crate::health::verdict(
        before.as_ref(),
        now.as_deref().unwrap_or_default(),
        instances.as_ref(),
    );
    if now.is_some() {
        if let Some(line) = crate::health::pre_existing_line(&verdict.old, true) {
            ctx.message(&line);
        }
        if !verdict.gone.is_empty() {
            ctx.message(&format!(
                "gone since the upgrade began: {}",
                verdict
                    .gone
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    for (name, was, is) in &verdict.changed {
        ctx.message(&format!(
            "instance {name}: {was} before the upgrade, {is} now"
        ));
    }
    problems.extend(verdict.new.iter().map(|f| format!("ERROR: {f}")));
    problems.extend(verdict.harmed().iter().map(|(name, was, is)| {
        format!(
            "instance {name} was {was} before the upgrade and is {is} now; hint: {}",
            crate::health::instance_hint(name, is)
        )
    }));
    Ok(Outcome {
        facts: Facts::default(),
        verify_errors: (!problems.is_empty()).then(|| problems.join("\n")),
    })
}

/// The intent file first, then the journal: an intent without our journal
/// would be taken for Ganeti's own upgrade.
fn finish(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    Intent::remove(ctx.paths).map_err(StepError::io)?;
    ctx.journal().remove().map_err(StepError::io)?;
    crate::baseline::remove(ctx.paths);
    // The master candidates' copies of the journal (best effort: a copy
    // left behind is set aside by the next --resume there, its upgrade
    // being over).
    if let Ok(c) = ctx.cluster() {
        let drop = ctx.call(GanetiCmd::DropJournalCopy);
        ctx.exec
            .fan_out(&c, &c.other_candidates(), &|_| drop.clone(), &|_| {});
    }
    // Stale without its journal anyway; removed for tidiness.
    let _ = crate::settings::remove_marker(ctx.paths);
    Ok(Outcome::default())
}

// --- the plan: what each step runs, and where ----------------------------------

/// The command as the step runs it, on the master or on every online node.
fn runs_on(ctx: &Ctx<'_>, c: &Cluster, on: Where, cmd: GanetiCmd) -> PlanCommand {
    let call = ctx.call(cmd);
    PlanCommand::run(on, &nodes(c, on), &call.argv, call.shown())
}

/// What a step does that is not one command, in words.
fn does(c: &Cluster, on: Where, text: String) -> PlanCommand {
    PlanCommand::words(on, &nodes(c, on), text)
}

fn nodes(c: &Cluster, on: Where) -> Vec<String> {
    match on {
        Where::Master => vec![c.master.clone()],
        Where::AllOnline | Where::AllOnlineAtOnce => c.online.clone(),
        Where::OnlineCandidates => c.online_candidates(),
    }
}

fn plan_verify_installed(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    plan_installed(ctx, c, &|dir| {
        format!("check that {dir} has room for the backup (before new jobs are held)")
    })
}
/// The same checks as verify-installed's, once new jobs are held and the
/// master's daemons stopped: a node that changed meanwhile, or a job
/// queue that grew past the backup's room, stops the run before every
/// node's daemons stop.
fn plan_reverify_installed(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    plan_installed(ctx, c, &|dir| {
        format!("check again that {dir} has room for the backup")
    })
}
/// verify-installed's checks; `room`: the backup's room check in words,
/// given the backup directory.
fn plan_installed(
    ctx: &Ctx<'_>,
    c: &Cluster,
    room: &dyn Fn(std::path::Display<'_>) -> String,
) -> Vec<PlanCommand> {
    let h = &ctx.header;
    let installed = ctx.switch(Switch::Installed(h.to.clone()));
    let mut plan = vec![runs_on(ctx, c, Where::AllOnline, installed)];
    if h.from_dir != h.to {
        let back = ctx.switch(Switch::Returnable(h.from_dir.clone()));
        let mut way_back = runs_on(ctx, c, Where::AllOnline, back);
        way_back.text.push_str(" (the way back)");
        plan.push(way_back);
    }
    plan.push(does(
        c,
        Where::Master,
        room(ctx.paths.backupdir().display()),
    ));
    plan
}
fn plan_check_target_runs(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    let runs = ctx.switch(Switch::Runs(ctx.header.to.clone()));
    vec![runs_on(ctx, c, Where::AllOnline, runs)]
}
fn plan_check_stale_code(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    let stale = ctx.switch(Switch::Stale(ctx.header.to.clone()));
    vec![
        runs_on(ctx, c, Where::AllOnline, stale),
        does(
            c,
            Where::AllOnline,
            "a Ganeti daemon found running another version's code is ended and started again (daemon-util start); any other such process is named".into(),
        ),
    ]
}
fn plan_record_health(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    vec![
        runs_on(ctx, c, Where::Master, crate::baseline::verify_cmd(ctx)),
        runs_on(ctx, c, Where::Master, GanetiCmd::InstanceStates),
    ]
}
fn plan_rehearse_config(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    let dir = crate::rehearsal::scratch_dir(ctx);
    match crate::rehearsal::converters(ctx) {
        Ok(converters) => converters
            .into_iter()
            .map(|conv| {
                let mut plan = runs_on(
                    ctx,
                    c,
                    Where::Master,
                    GanetiCmd::Rehearse {
                        tool: conv.tool,
                        dir: dir.clone(),
                        downgrade: conv.downgrade,
                    },
                );
                plan.text
                    .push_str(" (on a copy of the data directory, removed afterwards)");
                plan
            })
            .collect(),
        Err(e) => vec![does(c, Where::Master, e.to_string())],
    }
}
fn plan_write_intent(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    vec![does(
        c,
        Where::Master,
        format!("write {}", ctx.paths.intent_file().display()),
    )]
}
fn plan_stop_new_work(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    let add = GanetiCmd::Filter(Filter::Add {
        reason: format!("{}ID@{}", crate::queue::FILTER_REASON_PREFIX, c.master),
    });
    vec![does(
        c,
        Where::Master,
        format!(
            "LUXI ReplaceFilter or {} (or {})",
            ctx.call(add).shown(),
            ctx.call(GanetiCmd::Queue(Queue::Drain)).shown()
        ),
    )]
}
fn plan_wait_for_jobs(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    let budget = ctx
        .opts
        .run
        .max_hold()
        .map(|s| format!("; new jobs held longer than --max-hold {s} s before the configuration change roll the upgrade back"))
        .unwrap_or_default();
    vec![does(
        c,
        Where::Master,
        format!(
            "LUXI QueryJobs or {} (until no job runs or waits{budget})",
            ctx.call(GanetiCmd::ListJobs).shown()
        ),
    )]
}
fn plan_pause_watcher(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    let pause = GanetiCmd::Watcher(Watcher::Pause {
        seconds: WATCHER_PAUSE.as_secs(),
    });
    vec![
        does(
            c,
            Where::Master,
            format!(
                "LUXI SetWatcherPause or {} (6 h, unless paused longer already)",
                ctx.call(pause).shown()
            ),
        ),
        does(
            c,
            Where::AllOnline,
            format!(
                "write {} where there is none or it has run out (luxid writes it on the master candidates only)",
                ctx.paths.watcher_pause().display()
            ),
        ),
    ]
}
fn plan_stop_master_daemons(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    vec![runs_on(ctx, c, Where::Master, stop_all())]
}
fn plan_stop_daemons(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    vec![runs_on(ctx, c, Where::AllOnline, stop_all())]
}
fn plan_backup(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    let p = ctx.paths;
    vec![does(
        c,
        Where::Master,
        format!(
            "tar of {} and {} into {}",
            p.datadir().display(),
            p.confdir().display(),
            p.backupdir().display()
        ),
    )]
}
fn plan_downgrade_config(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    vec![runs_on(
        ctx,
        c,
        Where::Master,
        GanetiCmd::Cfgupgrade { downgrade: true },
    )]
}
fn plan_switch_version(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    let to = ctx.switch(Switch::To(ctx.header.to.clone()));
    vec![runs_on(ctx, c, Where::AllOnline, to)]
}
fn plan_upgrade_config(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    vec![runs_on(
        ctx,
        c,
        Where::Master,
        GanetiCmd::Cfgupgrade { downgrade: false },
    )]
}
fn plan_ensure_dirs(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    vec![runs_on(
        ctx,
        c,
        Where::AllOnline,
        GanetiCmd::EnsureDirs { full_run: false },
    )]
}
fn plan_ensure_job_archive(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    vec![runs_on(
        ctx,
        c,
        Where::OnlineCandidates,
        GanetiCmd::EnsureDirs { full_run: true },
    )]
}
fn plan_start_daemons(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    let node = REDIST_NODE_DAEMONS
        .iter()
        .map(|d| runs_on(ctx, c, Where::AllOnlineAtOnce, start_one(d)));
    let master = REDIST_MASTER_DAEMONS
        .iter()
        .map(|d| runs_on(ctx, c, Where::Master, start_one(d)));
    node.chain(master).collect()
}
fn plan_redist_conf(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    vec![runs_on(ctx, c, Where::Master, GanetiCmd::RedistConf)]
}
fn plan_restart_daemons(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    vec![
        runs_on(ctx, c, Where::AllOnline, stop_all()),
        runs_on(ctx, c, Where::AllOnline, start_all()),
    ]
}
fn plan_resume_work(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    vec![does(
        c,
        Where::Master,
        format!(
            "delete our filters, LUXI DeleteFilter or gnt-filter delete (or {}, if we drained)",
            ctx.call(GanetiCmd::Queue(Queue::Undrain)).shown()
        ),
    )]
}
fn plan_unpause_watcher(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    vec![
        does(
            c,
            Where::Master,
            format!(
                "LUXI SetWatcherPause or {} (if we paused it)",
                ctx.call(GanetiCmd::Watcher(Watcher::Continue)).shown()
            ),
        ),
        does(
            c,
            Where::AllOnline,
            "remove the watcher pauses we wrote".to_string(),
        ),
    ]
}
fn plan_post_upgrade(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    let from_release = ctx.header.from_release.clone();
    vec![runs_on(
        ctx,
        c,
        Where::Master,
        GanetiCmd::PostUpgrade { from_release },
    )]
}
fn plan_verify_cluster(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    vec![
        runs_on(ctx, c, Where::Master, crate::baseline::verify_cmd(ctx)),
        runs_on(ctx, c, Where::Master, GanetiCmd::InstanceStates),
        does(
            c,
            Where::Master,
            "compared with record-health: only new errors, and instances running before and in an error state now, fail the run (exit 3)".into(),
        ),
    ]
}
fn plan_finish(ctx: &Ctx<'_>, c: &Cluster) -> Vec<PlanCommand> {
    vec![does(
        c,
        Where::Master,
        format!(
            "remove {}, then the journal",
            ctx.paths.intent_file().display()
        ),
    )]
}
