//! The upgrade, step by step, in the order of the design document
//! ("gnt-cluster upgrade" in design-upgrade.md): [`STEPS`] is the whole
//! procedure, one row per step with its id, title, what it does, how it is
//! undone and what the plan says it runs. Read it next to the document; the
//! step functions follow it. The engine ([`crate::engine`]) runs the table
//! and knows nothing of what a step does.
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
//! * the intent file (and our journal) are removed last, after the
//!   post-upgrade hooks and the verify, so a crash there is still resumable
//!   (upstream loses the hooks and leaves the watcher paused).

use std::time::{Duration, Instant};

use crate::transition::Transition;
use ganeti_layout::DirVersion;

use crate::cluster::Cluster;
use crate::context::Ctx;
use crate::error::StepError;
use crate::intent::Intent;
use crate::journal::Facts;
use crate::luxi::Luxi;
use crate::queue::{
    busy_jobs, filter_predicates, filter_reason, has_filters, our_filters, queue_drained,
    remove_our_filters,
};
use crate::ran::Ran;
pub use crate::step_id::StepId;
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

type Run = fn(&mut Ctx<'_>) -> Result<Facts, StepError>;
type Undo = fn(&mut Ctx<'_>) -> Result<(), StepError>;
type Plan = fn(&Ctx<'_>, &Cluster) -> Vec<String>;

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
        plan: plan_verify_installed,
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
        run: crate::backup::backup,
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
        title: "Starting daemons everywhere",
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

fn verify_installed(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let c = ctx.cluster()?;
    let to = ctx.header.to.clone();
    let argv = ctx.switch_argv(&["installed", to.as_str()]);
    let mut missing = Vec::new();
    let mut no_switch = Vec::new();
    for ran in ctx.each_node(&c, &c.others(), &|_| argv.clone()) {
        if ran.ok() {
            continue;
        }
        if ran.code == Some(127) || ran.code == Some(126) {
            no_switch.push(ran.node.clone());
            continue;
        }
        missing.push(format!(
            "{} ({})",
            ran.node,
            ran.stdout
                .trim()
                .lines()
                .chain(ran.stderr.trim().lines())
                .next()
                .unwrap_or("unreachable")
        ));
    }
    if c.online.contains(&c.master) {
        let problems = ctx.exec.missing_here(&to).map_err(StepError::Io)?;
        if !problems.is_empty() {
            missing.push(format!("{} ({})", c.master, problems.join("; ")));
        }
    }
    if !no_switch.is_empty() {
        return Err(StepError::Refused(format!(
            "{} is not installed (or not executable) on: {}\nhint: install this toolkit's package there, or give its path with --switch-command",
            ctx.opts.switch_command,
            no_switch.join(", ")
        )));
    }
    if missing.is_empty() {
        Ok(Facts::default())
    } else {
        Err(StepError::Refused(format!(
            "Ganeti version {to} is not (completely) installed on nodes: {}\nhint: install it there first (its packages, or ganeti-layout install)",
            missing.join(", ")
        )))
    }
}

fn write_intent(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    write_our_intent(ctx).map_err(StepError::io)?;
    Ok(Facts::default())
}

/// Ganeti's intent file for this upgrade, with this process's pid.
pub fn write_our_intent(ctx: &Ctx<'_>) -> Result<(), ganeti_layout::durable::DurableError> {
    Intent::ours(&ctx.header.from_release, &ctx.header.to.to_string())
        .write(&ctx.paths.host(&ctx.paths.intent_file()))
}

/// Pauses every job with a filter of ours (or drains, before filters
/// existed). Idempotent: a filter of ours already there is kept.
fn stop_new_work(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    if has_filters(ctx) && ctx.facts.drained_by_us.is_none() {
        if let Ok(existing) = our_filters(ctx) {
            if let Some(uuid) = existing.into_iter().next() {
                return Ok(Facts {
                    filter_uuid: Some(uuid),
                    ..Facts::default()
                });
            }
        }
        let reason = filter_reason(ctx);
        // A repeat after a lost answer may add a second filter with our
        // reason; resume-work removes them all.
        let added = ctx.by_luxi("ReplaceFilter (add)", |l| {
            l.add_filter(0, filter_predicates(), "PAUSE", &reason)
        });
        if let Some(uuid) = added {
            return Ok(Facts {
                filter_uuid: Some(uuid),
                ..Facts::default()
            });
        }
        let argv = ctx.tool(
            ctx.paths.gnt("gnt-filter"),
            &[
                "add",
                "--action=PAUSE",
                "--priority=0",
                &format!("--predicates={}", filter_predicates()),
                &format!("--reason={reason}"),
            ],
        );
        let ran = ctx.exec.local(&ctx.master_name(), &argv);
        if ran.ok() {
            return match ran.stdout.split_whitespace().last() {
                Some(uuid) => Ok(Facts {
                    filter_uuid: Some(uuid.to_string()),
                    ..Facts::default()
                }),
                None => Err(StepError::Refused(format!(
                    "gnt-filter add printed no uuid: {}",
                    ran.stdout.trim()
                ))),
            };
        }
        ctx.message(&format!(
            "cannot add a job filter ({}); draining the queue instead",
            ran.summary()
        ));
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
        ctx.local(&ctx.tool(ctx.paths.gnt("gnt-cluster"), &["queue", "drain"]))?;
    }
    Ok(Facts::default())
}

fn wait_for_jobs(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let paused_by_filter = ctx.facts.filter_uuid.is_some();
    let start = Instant::now();
    let argv = ctx.tool(
        ctx.paths.gnt("gnt-job"),
        &["list", "--no-headers", "-o", "id,status"],
    );
    let mut last_report: Option<Instant> = None;
    loop {
        let statuses: Vec<String> = match ctx.by_luxi("QueryJobs", Luxi::jobs) {
            Some(jobs) => jobs.into_iter().map(|(_, status)| status).collect(),
            None => ctx
                .local(&argv)?
                .stdout
                .lines()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
                .collect(),
        };
        let busy = busy_jobs(&statuses, paused_by_filter);
        if busy.is_empty() {
            return Ok(Facts::default());
        }
        if start.elapsed() > ctx.opts.queue_timeout {
            return Err(StepError::Refused(format!(
                "{} job(s) still running after {}s; the queue did not empty\nhint: wait for them or cancel them (gnt-job list), then run again; --queue-timeout sets the limit",
                busy.len(),
                ctx.opts.queue_timeout.as_secs()
            )));
        }
        if last_report.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            ctx.message(&format!(
                "{} job(s) still running, waiting ({}s so far)",
                busy.len(),
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
fn pause_watcher(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let now = crate::clock::epoch_secs();
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
    Ok(Facts::default())
}

/// Ends the watcher pause we set, or gives back the admin's shorter one.
fn unpause_watcher(ctx: &mut Ctx<'_>) -> Result<(), StepError> {
    unpause_watcher_on_nodes(ctx)?;
    if ctx.facts.watcher_paused_by_us != Some(true) {
        return Ok(());
    }
    let admin = ctx
        .facts
        .watcher_admin_until
        .filter(|t| *t > crate::clock::epoch_secs());
    set_watcher_pause(ctx, admin)
}

fn unpause_watcher_step(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    unpause_watcher(ctx)?;
    Ok(Facts::default())
}

fn stop_master_daemons(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let c = ctx.cluster()?;
    ctx.on_nodes(&c, std::slice::from_ref(&c.master), &|_| {
        ctx.daemon_util("stop-all")
    })?;
    Ok(Facts::default())
}

fn start_master_daemons(ctx: &mut Ctx<'_>) -> Result<(), StepError> {
    // The undo of stop-daemons, when it ran, started them everywhere.
    if ctx.undone.contains(&StepId::StopDaemons) {
        return Ok(());
    }
    let c = ctx.cluster()?;
    ensure_running(ctx, &c, std::slice::from_ref(&c.master))
}

fn stop_daemons(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let c = ctx.cluster()?;
    ctx.on_nodes(&c, &c.online, &|_| ctx.daemon_util("stop-all"))?;
    Ok(Facts::default())
}

fn start_daemons_everywhere(ctx: &mut Ctx<'_>) -> Result<(), StepError> {
    let c = ctx.cluster()?;
    ensure_running(ctx, &c, &c.online)
}

/// Starts Ganeti's daemons on `nodes` and leaves them all running: where
/// `daemon-util start-all` fails (it aborts at the first daemon already
/// running), every daemon is stopped and started again.
pub fn ensure_running(ctx: &Ctx<'_>, c: &Cluster, nodes: &[String]) -> Result<(), StepError> {
    let start = ctx.daemon_util("start-all");
    let stop = ctx.daemon_util("stop-all");
    let failed: Vec<String> = ctx
        .each_node(c, nodes, &|_| start.clone())
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
    ctx.on_nodes(c, &failed, &|_| stop.clone())?;
    ctx.on_nodes(c, &failed, &|_| start.clone())?;
    Ok(())
}

fn downgrade_config(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let argv = ctx.tool(ctx.paths.cfgupgrade(), &["--downgrade", "-f"]);
    ctx.local(&argv)?;
    Ok(Facts::default())
}

fn switch_version(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let to = ctx.header.to.clone();
    switch_all(ctx, &to)?;
    Ok(Facts::default())
}

fn switch_back(ctx: &mut Ctx<'_>) -> Result<(), StepError> {
    let from = ctx.header.from_dir.clone();
    switch_all(ctx, &from)
}

/// Switches every online node to `to`: the others in parallel, the master
/// last and in-process (we hold its lock). A node that refuses (its
/// daemons run: the watcher, a reboot) has them stopped and is tried once
/// more; nodes already on `to` answer "already active".
fn switch_all(ctx: &mut Ctx<'_>, to: &DirVersion) -> Result<(), StepError> {
    let c = ctx.cluster()?;
    let argv = ctx.switch_argv(&["to", to.as_str()]);
    let first: Vec<Ran> = ctx
        .each_node(&c, &c.others(), &|_| argv.clone())
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
        let stop = ctx.daemon_util("stop-all");
        ctx.each_node(&c, &nodes, &|_| stop.clone());
        failed.extend(
            ctx.each_node(&c, &nodes, &|_| argv.clone())
                .into_iter()
                .filter(|r| !r.ok()),
        );
    }
    if c.online.contains(&c.master) {
        let mut result = ctx.exec.switch_here(to);
        if result.is_err() {
            ctx.local(&ctx.daemon_util("stop-all"))?;
            result = ctx.exec.switch_here(to);
        }
        match result {
            Ok(changed) => {
                ctx.exec.log_line(&format!(
                    "{}: ganeti-switch to {to}: {}",
                    c.master,
                    if changed {
                        "switched"
                    } else {
                        "already active"
                    }
                ));
                ctx.message(&format!("{}: {to} active", c.master));
            }
            Err(e) => failed.push(Ran {
                node: c.master.clone(),
                command: format!("ganeti-switch to {to} (in-process)"),
                code: Some(1),
                stdout: String::new(),
                stderr: e,
            }),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(StepError::Commands(failed))
    }
}

fn upgrade_config(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let argv = ctx.tool(ctx.paths.cfgupgrade(), &["-f"]);
    ctx.local(&argv)?;
    Ok(Facts::default())
}

fn ensure_dirs(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let c = ctx.cluster()?;
    let argv = ctx.tool(ctx.paths.ensure_dirs(), &["--full-run"]);
    ctx.on_nodes(&c, &c.online, &|_| argv.clone())?;
    Ok(Facts::default())
}

fn start_daemons(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    start_daemons_everywhere(ctx)?;
    Ok(Facts::default())
}

fn redist_conf(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let argv = ctx.tool(
        ctx.paths.gnt("gnt-cluster"),
        &["redist-conf", "--yes-do-it"],
    );
    ctx.local(&argv)?;
    Ok(Facts::default())
}

fn restart_daemons(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let c = ctx.cluster()?;
    ctx.on_nodes(&c, &c.online, &|_| ctx.daemon_util("stop-all"))?;
    ensure_running(ctx, &c, &c.online)?;
    Ok(Facts::default())
}

fn resume_work_step(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    resume_work(ctx)?;
    Ok(Facts::default())
}

/// Removes every filter with our reason (looked up, so a filter whose
/// answer was lost is found too) and undrains what we drained.
fn resume_work(ctx: &mut Ctx<'_>) -> Result<(), StepError> {
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
        ctx.local(&ctx.tool(ctx.paths.gnt("gnt-cluster"), &["queue", "undrain"]))?;
    }
    Ok(())
}

fn post_upgrade(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let from = ctx.header.from_release.clone();
    let argv = ctx.tool(ctx.paths.post_upgrade(), &[&from]);
    ctx.local(&argv)?;
    Ok(Facts::default())
}

fn verify_cluster(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let mut args: Vec<String> = vec!["verify".into()];
    for code in &ctx.opts.verify_ignore {
        args.push("-I".into());
        args.push(code.clone());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let argv = ctx.tool(ctx.paths.gnt("gnt-cluster"), &refs);
    let ran = ctx.exec.local(&ctx.master_name(), &argv);
    ctx.events.node(ctx.current, &ran);
    if !ran.ok() {
        let errors: Vec<String> = ran
            .stdout
            .lines()
            .chain(ran.stderr.lines())
            .filter(|l| l.contains("ERROR"))
            .map(String::from)
            .collect();
        if errors.is_empty()
            && ran.stderr.contains("drained")
            && ctx.facts.drained_by_us != Some(true)
        {
            // The admin's own drain (kept, as promised) stops verify's job.
            ctx.message("gnt-cluster verify could not run: the job queue is drained (it was before the upgrade, so it stays drained); run gnt-cluster verify after gnt-cluster queue undrain");
        } else if errors.is_empty() {
            ctx.verify_failed = Some(format!(
                "gnt-cluster verify failed without reporting errors: {}",
                ran.summary()
            ));
        } else {
            ctx.verify_failed = Some(errors.join("\n"));
        }
    }
    Ok(Facts::default())
}

/// The intent file first, then the journal: an intent without our journal
/// would be taken for Ganeti's own upgrade.
fn finish(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    ganeti_layout::durable::remove_file(&ctx.paths.host(&ctx.paths.intent_file()))
        .map_err(StepError::io)?;
    ctx.journal.remove().map_err(StepError::io)?;
    // Stale without its journal anyway; removed for tidiness.
    let _ = crate::settings::remove_marker(ctx.paths.root());
    Ok(Facts::default())
}

// --- the plan: what each step runs, and where ----------------------------------

/// "NODES: COMMAND", the command as the step runs it.
fn runs_on(who: &str, argv: &[String]) -> Vec<String> {
    vec![format!("{who}: {}", crate::ran::join_argv(argv))]
}

fn all(c: &Cluster) -> String {
    c.online.join(", ")
}

fn plan_verify_installed(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    vec![format!(
        "{}: {} installed {}",
        all(c),
        ctx.opts.switch_command,
        ctx.header.to
    )]
}
fn plan_write_intent(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    vec![format!(
        "{}: write {}",
        c.master,
        ctx.paths.intent_file().display()
    )]
}
fn plan_stop_new_work(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    vec![format!(
        "{}: LUXI ReplaceFilter or {} add --action=PAUSE --reason=ganeti-upgrade:ID (or {} queue drain)",
        c.master,
        ctx.paths.gnt("gnt-filter").display(),
        ctx.paths.gnt("gnt-cluster").display()
    )]
}
fn plan_wait_for_jobs(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    vec![format!(
        "{}: LUXI QueryJobs or {} list (until no job runs or waits)",
        c.master,
        ctx.paths.gnt("gnt-job").display()
    )]
}
fn plan_pause_watcher(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    vec![
        format!(
            "{}: LUXI SetWatcherPause or {} watcher pause (6 h, unless paused longer already)",
            c.master,
            ctx.paths.gnt("gnt-cluster").display()
        ),
        format!(
            "{}: write {} where there is none or it has run out (luxid writes it on the master candidates only)",
            all(c),
            ctx.paths.datadir().join("watcher.pause").display()
        ),
    ]
}
fn plan_stop_master_daemons(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    runs_on(&c.master.clone(), &ctx.daemon_util("stop-all"))
}
fn plan_stop_daemons(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    runs_on(&all(c), &ctx.daemon_util("stop-all"))
}
fn plan_backup(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    let p = ctx.paths;
    vec![format!(
        "{}: tar of {} and {} into {}",
        c.master,
        p.datadir().display(),
        p.confdir().display(),
        p.backupdir().display()
    )]
}
fn plan_downgrade_config(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    runs_on(
        &c.master.clone(),
        &ctx.tool(ctx.paths.cfgupgrade(), &["--downgrade", "-f"]),
    )
}
fn plan_switch_version(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    vec![format!(
        "{}: {} to {} (master last)",
        all(c),
        ctx.opts.switch_command,
        ctx.header.to
    )]
}
fn plan_upgrade_config(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    runs_on(
        &c.master.clone(),
        &ctx.tool(ctx.paths.cfgupgrade(), &["-f"]),
    )
}
fn plan_ensure_dirs(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    runs_on(&all(c), &ctx.tool(ctx.paths.ensure_dirs(), &["--full-run"]))
}
fn plan_start_daemons(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    vec![format!(
        "{}: {} start-all (stop-all and start-all where one already runs)",
        all(c),
        ctx.paths.daemon_util().display()
    )]
}
fn plan_redist_conf(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    runs_on(
        &c.master.clone(),
        &ctx.tool(
            ctx.paths.gnt("gnt-cluster"),
            &["redist-conf", "--yes-do-it"],
        ),
    )
}
fn plan_restart_daemons(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    let du = ctx.paths.daemon_util().display().to_string();
    vec![
        format!("{}: {du} stop-all", all(c)),
        format!("{}: {du} start-all", all(c)),
    ]
}
fn plan_resume_work(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    vec![format!(
        "{}: delete our filters, LUXI DeleteFilter or gnt-filter delete (or {} queue undrain, if we drained)",
        c.master,
        ctx.paths.gnt("gnt-cluster").display()
    )]
}
fn plan_unpause_watcher(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    vec![
        format!(
            "{}: LUXI SetWatcherPause or {} watcher continue (if we paused it)",
            c.master,
            ctx.paths.gnt("gnt-cluster").display()
        ),
        format!("{}: remove the watcher pauses we wrote", all(c)),
    ]
}
fn plan_post_upgrade(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    vec![format!(
        "{}: {} {}",
        c.master,
        ctx.paths.post_upgrade().display(),
        ctx.header.from_release
    )]
}
fn plan_verify_cluster(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    vec![format!(
        "{}: {} verify{}",
        c.master,
        ctx.paths.gnt("gnt-cluster").display(),
        ctx.opts
            .verify_ignore
            .iter()
            .map(|c| format!(" -I {c}"))
            .collect::<String>()
    )]
}
fn plan_finish(ctx: &Ctx<'_>, c: &Cluster) -> Vec<String> {
    vec![format!(
        "{}: remove {}, then the journal",
        c.master,
        ctx.paths.intent_file().display()
    )]
}
