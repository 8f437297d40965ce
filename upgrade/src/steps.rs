//! The upgrade, step by step, in the order of the design document
//! ("gnt-cluster upgrade" in design-upgrade.md). Read [`STEPS`] next to the
//! document; each step's function follows, then how it is undone.
//!
//! Every step is idempotent: a resumed run may redo any of them.
//! Where this differs from the document, and why:
//! * the job queue is paused with a filter of our own where the cluster has
//!   filters (the document's stated intent once filters exist), drained
//!   otherwise; a drain, filter or watcher pause that was there before stays;
//! * the watcher is paused too (upstream's fix for watcher restarts);
//! * the intent file (and our journal) are removed last, after the
//!   post-upgrade hooks and the verify, so a crash there is still resumable
//!   (upstream loses the hooks and leaves the watcher paused).

use std::time::{Duration, Instant};

use ganeti_layout::inspect;
use ganeti_layout::version::Transition;
use ganeti_switch::SwitchOptions;

use crate::cluster::Cluster;
use crate::engine::{Ctx, StepError};
use crate::exec::Ran;
use crate::intent::Intent;
use crate::journal::Facts;
use crate::luxi::{Luxi, LuxiError};

/// Step ids: stable kebab-case strings, never renamed, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepId {
    VerifyInstalled,
    WriteIntent,
    StopNewWork,
    WaitForJobs,
    PauseWatcher,
    StopMasterDaemons,
    ReverifyInstalled,
    StopDaemons,
    Backup,
    DowngradeConfig,
    SwitchVersion,
    UpgradeConfig,
    EnsureDirs,
    StartDaemons,
    RedistConf,
    RestartDaemons,
    ResumeWork,
    UnpauseWatcher,
    PostUpgrade,
    VerifyCluster,
    Finish,
}

/// The whole procedure, in order. Steps that do not apply to a transition
/// are skipped by [`applies`].
pub const STEPS: &[StepId] = &[
    StepId::VerifyInstalled,   // the target is installed on every online node
    StepId::WriteIntent,       // intent-to-upgrade, persisted
    StepId::StopNewWork,       // pause jobs with our filter (or drain)
    StepId::WaitForJobs,       // until no job runs
    StepId::PauseWatcher,      // so it restarts nothing meanwhile
    StepId::StopMasterDaemons, // all daemons on the master
    StepId::ReverifyInstalled, // again, on the nodes online now
    StepId::StopDaemons,       // all daemons on all nodes
    StepId::Backup,            // of all Ganeti state, for manual rollbacks
    StepId::DowngradeConfig,   // downgrade: by the newer version, before the switch
    StepId::SwitchVersion,     // ${sysconfdir}/ganeti/{lib,share} on every node
    StepId::UpgradeConfig,     // upgrade: by the newer version, after the switch
    StepId::EnsureDirs,        // ensure-dirs --full-run on every node
    StepId::StartDaemons,      // on every node
    StepId::RedistConf,        // gnt-cluster redist-conf on the master
    StepId::RestartDaemons,    // on every node
    StepId::ResumeWork,        // remove our filter (or undrain what we drained)
    StepId::UnpauseWatcher,    // if we paused it
    StepId::PostUpgrade,       // post-upgrade with the original version
    StepId::VerifyCluster,     // gnt-cluster verify, reported
    StepId::Finish,            // remove the intent file and the journal
];

impl StepId {
    pub fn as_str(self) -> &'static str {
        match self {
            StepId::VerifyInstalled => "verify-installed",
            StepId::WriteIntent => "write-intent",
            StepId::StopNewWork => "stop-new-work",
            StepId::WaitForJobs => "wait-for-jobs",
            StepId::PauseWatcher => "pause-watcher",
            StepId::StopMasterDaemons => "stop-master-daemons",
            StepId::ReverifyInstalled => "reverify-installed",
            StepId::StopDaemons => "stop-daemons",
            StepId::Backup => "backup",
            StepId::DowngradeConfig => "downgrade-config",
            StepId::SwitchVersion => "switch-version",
            StepId::UpgradeConfig => "upgrade-config",
            StepId::EnsureDirs => "ensure-dirs",
            StepId::StartDaemons => "start-daemons",
            StepId::RedistConf => "redist-conf",
            StepId::RestartDaemons => "restart-daemons",
            StepId::ResumeWork => "resume-work",
            StepId::UnpauseWatcher => "unpause-watcher",
            StepId::PostUpgrade => "post-upgrade",
            StepId::VerifyCluster => "verify-cluster",
            StepId::Finish => "finish",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            StepId::VerifyInstalled => {
                "Verifying the target version is installed on all online nodes"
            }
            StepId::WriteIntent => "Writing the intent-to-upgrade file",
            StepId::StopNewWork => "Stopping new work on the job queue",
            StepId::WaitForJobs => "Waiting until no job is running",
            StepId::PauseWatcher => "Pausing the watcher",
            StepId::StopMasterDaemons => "Stopping daemons on the master node",
            StepId::ReverifyInstalled => "Verifying again on the nodes online now",
            StepId::StopDaemons => "Stopping daemons everywhere",
            StepId::Backup => "Backing up the configuration",
            StepId::DowngradeConfig => "Downgrading the configuration",
            StepId::SwitchVersion => "Switching the version on all nodes",
            StepId::UpgradeConfig => "Upgrading the configuration",
            StepId::EnsureDirs => "Ensuring directories everywhere",
            StepId::StartDaemons => "Starting daemons everywhere",
            StepId::RedistConf => "Redistributing the configuration",
            StepId::RestartDaemons => "Restarting daemons everywhere",
            StepId::ResumeWork => "Letting the job queue run again",
            StepId::UnpauseWatcher => "Unpausing the watcher",
            StepId::PostUpgrade => "Running post-upgrade hooks",
            StepId::VerifyCluster => "Verifying the cluster",
            StepId::Finish => "Removing the intent file and the journal",
        }
    }
}

/// Does `step` run for this transition?
pub fn applies(step: StepId, transition: Transition) -> bool {
    match step {
        StepId::DowngradeConfig => transition == Transition::Downgrade,
        StepId::UpgradeConfig => transition != Transition::Downgrade,
        _ => true,
    }
}

/// The configuration step: once it has started, there is no going back.
pub fn point_of_no_return(transition: Transition) -> StepId {
    if transition == Transition::Downgrade {
        StepId::DowngradeConfig
    } else {
        StepId::UpgradeConfig
    }
}

/// The steps of a transition, in order.
pub fn steps_for(transition: Transition) -> Vec<StepId> {
    STEPS
        .iter()
        .copied()
        .filter(|s| applies(*s, transition))
        .collect()
}

/// Carries out one step.
pub fn run(ctx: &mut Ctx<'_>, step: StepId) -> Result<Facts, StepError> {
    match step {
        StepId::VerifyInstalled | StepId::ReverifyInstalled => verify_installed(ctx),
        StepId::WriteIntent => write_intent(ctx),
        StepId::StopNewWork => stop_new_work(ctx),
        StepId::WaitForJobs => wait_for_jobs(ctx),
        StepId::PauseWatcher => pause_watcher(ctx),
        StepId::StopMasterDaemons => {
            let c = ctx.cluster()?;
            ctx.on_nodes(&c, std::slice::from_ref(&c.master), &|_| {
                ctx.daemon_util("stop-all")
            })?;
            Ok(Facts::default())
        }
        StepId::StopDaemons => {
            let c = ctx.cluster()?;
            ctx.on_nodes(&c, &c.online, &|_| ctx.daemon_util("stop-all"))?;
            Ok(Facts::default())
        }
        StepId::Backup => crate::backup::backup(ctx),
        StepId::DowngradeConfig => {
            let argv = ctx.tool(ctx.paths.cfgupgrade(), &["--downgrade", "-f"]);
            ctx.local(&argv)?;
            Ok(Facts::default())
        }
        StepId::SwitchVersion => {
            let to = ctx.header.to.clone();
            switch_all(ctx, &to)?;
            Ok(Facts::default())
        }
        StepId::UpgradeConfig => {
            let argv = ctx.tool(ctx.paths.cfgupgrade(), &["-f"]);
            ctx.local(&argv)?;
            Ok(Facts::default())
        }
        StepId::EnsureDirs => {
            let c = ctx.cluster()?;
            let argv = ctx.tool(ctx.paths.ensure_dirs(), &["--full-run"]);
            ctx.on_nodes(&c, &c.online, &|_| argv.clone())?;
            Ok(Facts::default())
        }
        StepId::StartDaemons => {
            start_everywhere(ctx)?;
            Ok(Facts::default())
        }
        StepId::RedistConf => {
            let argv = ctx.tool(
                ctx.paths.gnt("gnt-cluster"),
                &["redist-conf", "--yes-do-it"],
            );
            ctx.local(&argv)?;
            Ok(Facts::default())
        }
        StepId::RestartDaemons => {
            let c = ctx.cluster()?;
            ctx.on_nodes(&c, &c.online, &|_| ctx.daemon_util("stop-all"))?;
            start_everywhere(ctx)?;
            Ok(Facts::default())
        }
        StepId::ResumeWork => {
            resume_work(ctx)?;
            Ok(Facts::default())
        }
        StepId::UnpauseWatcher => {
            unpause_watcher(ctx)?;
            Ok(Facts::default())
        }
        StepId::PostUpgrade => {
            let from = ctx.header.from_release.clone();
            let argv = ctx.tool(ctx.paths.post_upgrade(), &[&from]);
            ctx.local(&argv)?;
            Ok(Facts::default())
        }
        StepId::VerifyCluster => verify_cluster(ctx),
        StepId::Finish => {
            ganeti_layout::durable::remove_file(&ctx.paths.host(&ctx.paths.intent_file()))
                .map_err(StepError::from_display)?;
            Ok(Facts::default())
        }
    }
}

/// Undoes a step done before the point of no return (rollback, in reverse).
pub fn undo(ctx: &mut Ctx<'_>, step: StepId) -> Result<(), StepError> {
    match step {
        StepId::SwitchVersion => {
            let from = ctx.header.from_dir.clone();
            switch_all(ctx, &from)
        }
        StepId::StopDaemons | StepId::StopMasterDaemons => start_everywhere(ctx),
        StepId::PauseWatcher => unpause_watcher(ctx),
        StepId::StopNewWork => resume_work(ctx),
        StepId::WriteIntent => {
            ganeti_layout::durable::remove_file(&ctx.paths.host(&ctx.paths.intent_file()))
                .map_err(StepError::from_display)
        }
        // Nothing to undo: checks, waiting, and the backup (kept for the admin).
        _ => Ok(()),
    }
}

fn verify_installed(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let c = ctx.cluster()?;
    let to = ctx.header.to.clone();
    let mut missing = Vec::new();
    let others: Vec<String> = c.others();
    let argv = ctx.switch_argv(&["installed", to.as_str()]);
    for ran in ctx.runner.fan_out(&c, &others, &|_| argv.clone()) {
        ctx.node_event(&ran);
        if !ran.ok() {
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
    }
    let problems = inspect::check_complete(ctx.paths, &to).map_err(StepError::from_display)?;
    if !problems.is_empty() {
        missing.push(format!("{} ({})", c.master, problems.join("; ")));
    }
    if missing.is_empty() {
        Ok(Facts::default())
    } else {
        Err(StepError::msg(format!(
            "Ganeti version {to} is not (completely) installed on nodes: {}\nhint: install it there first (its packages, or ganeti-layout install)",
            missing.join(", ")
        )))
    }
}

fn write_intent(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let intent = Intent {
        running: ctx.header.from_release.clone(),
        target: ctx.header.to.to_string(),
        pid: std::process::id().to_string(),
    };
    intent
        .write(&ctx.paths.host(&ctx.paths.intent_file()))
        .map_err(StepError::from_display)?;
    Ok(Facts::default())
}

fn filter_reason(ctx: &Ctx<'_>) -> String {
    format!("ganeti-upgrade:{}", ctx.header.id)
}

/// The job filter of an upgrade: pauses every job but the one the upgrade
/// itself submits while the filter is in place (redist-conf), which would
/// wait forever.
fn filter_predicates() -> serde_json::Value {
    serde_json::json!([["opcode", ["!", ["=", "OP_ID", "OP_CLUSTER_REDIST_CONF"]]]])
}

/// Runs `call` over LUXI (what Ganeti's own upgrade does: no Python start-up
/// per call). `None`, logged, means: use the command-line tool instead, as
/// when luxid is not there or refuses (see [`crate::luxi`]).
fn by_luxi<T>(
    ctx: &Ctx<'_>,
    what: &str,
    call: impl FnOnce(&Luxi) -> Result<T, LuxiError>,
) -> Option<T> {
    luxi_attempt(ctx, what, call).ok()
}

/// As [`by_luxi`], keeping the error: the caller must know whether the call
/// may have been carried out (its answer lost) before it repeats it.
fn luxi_attempt<T>(
    ctx: &Ctx<'_>,
    what: &str,
    call: impl FnOnce(&Luxi) -> Result<T, LuxiError>,
) -> Result<T, Option<LuxiError>> {
    if crate::env::matches(crate::env::NO_LUXI, "1") {
        return Err(None);
    }
    let luxi = Luxi::new(ctx.paths.host(&ctx.paths.query_socket()));
    let start = Instant::now();
    let master = ctx.master_name();
    match call(&luxi) {
        Ok(v) => {
            ctx.runner.log_line(&format!(
                "{master}: LUXI {what} -> ok ({} ms)",
                start.elapsed().as_millis()
            ));
            Ok(v)
        }
        Err(e) => {
            ctx.runner
                .log_line(&format!("{master}: {e}; using the command-line tool"));
            Err(Some(e))
        }
    }
}

/// Every filter with our reason (a redo may have added more than one).
fn our_filters(ctx: &mut Ctx<'_>) -> Result<Vec<String>, Ran> {
    let reason = filter_reason(ctx);
    if let Some(filters) = by_luxi(ctx, "QueryFilters", Luxi::filters) {
        return Ok(filters
            .into_iter()
            .filter(|(_, reasons)| reasons.contains(&reason))
            .map(|(uuid, _)| uuid)
            .collect());
    }
    let argv = ctx.tool(
        ctx.paths.gnt("gnt-filter"),
        &["list", "--no-headers", "-o", "uuid,reason_trail"],
    );
    let ran = ctx.runner.local(&ctx.master_name(), &argv);
    if !ran.ok() {
        return Err(ran);
    }
    Ok(ran
        .stdout
        .lines()
        .filter(|l| l.contains(&reason))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect())
}

fn stop_new_work(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    if ctx.paths.host(&ctx.paths.gnt("gnt-filter")).exists() && ctx.facts.drained_by_us.is_none() {
        // No look for an earlier filter of ours first: a redo may add a
        // second one, and resume-work removes every filter with our reason.
        let reason = filter_reason(ctx);
        // A repeat after a lost answer adds a second filter with our
        // reason; resume-work removes them all.
        let added = by_luxi(ctx, "ReplaceFilter (add)", |l| {
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
        let ran = ctx.runner.local(&ctx.master_name(), &argv);
        if ran.ok() {
            return match ran.stdout.split_whitespace().last() {
                Some(uuid) => Ok(Facts {
                    filter_uuid: Some(uuid.to_string()),
                    ..Facts::default()
                }),
                None => Err(StepError::msg(format!(
                    "gnt-filter add printed no uuid: {}",
                    ran.stdout.trim()
                ))),
            };
        }
        // No job filters on this cluster (before 2.13): drain instead.
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
        && by_luxi(ctx, "SetDrainFlag(true)", |l| l.set_drain_flag(true)).is_none()
    {
        ctx.local(&ctx.tool(ctx.paths.gnt("gnt-cluster"), &["queue", "drain"]))?;
    }
    Ok(Facts::default())
}

fn wait_for_jobs(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let paused_by_filter = ctx.facts.filter_uuid.is_some();
    let start = Instant::now();
    let poll = std::env::var(crate::env::POLL_INTERVAL)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(1));
    let argv = ctx.tool(
        ctx.paths.gnt("gnt-job"),
        &["list", "--no-headers", "-o", "id,status"],
    );
    let mut last_report = Instant::now() - Duration::from_secs(3600);
    loop {
        let statuses: Vec<String> = match by_luxi(ctx, "QueryJobs", Luxi::jobs) {
            Some(jobs) => jobs.into_iter().map(|(_, status)| status).collect(),
            None => ctx
                .local(&argv)?
                .stdout
                .lines()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
                .collect(),
        };
        let busy: Vec<&String> = statuses
            .iter()
            .filter(|status| {
                // With our filter, queued jobs are held; only running ones count.
                *status == "running"
                    || (!paused_by_filter && (*status == "queued" || *status == "waiting"))
            })
            .collect();
        if busy.is_empty() {
            return Ok(Facts::default());
        }
        if start.elapsed() > ctx.opts.queue_timeout {
            return Err(StepError::msg(format!(
                "{} job(s) still running after {}s; the queue did not empty\nhint: wait for them or cancel them (gnt-job list), then run again; --queue-timeout sets the limit",
                busy.len(),
                ctx.opts.queue_timeout.as_secs()
            )));
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            ctx.message(&format!(
                "{} job(s) still running, waiting ({}s so far)",
                busy.len(),
                start.elapsed().as_secs()
            ));
            last_report = Instant::now();
        }
        if ctx.interrupted() {
            return Err(StepError::msg("interrupted while waiting for jobs".into()));
        }
        std::thread::sleep(poll);
    }
}

fn pause_watcher(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let paused_by_us = match ctx.facts.watcher_paused_by_us {
        // A redo keeps what the first attempt learned.
        Some(by_us) => by_us,
        None => {
            let by_us = !watcher_paused(ctx);
            ctx.remember(Facts {
                watcher_paused_by_us: Some(by_us),
                ..Facts::default()
            })?;
            by_us
        }
    };
    if paused_by_us {
        let until = crate::journal::now() as f64 + WATCHER_PAUSE.as_secs_f64();
        if by_luxi(ctx, "SetWatcherPause(6h)", |l| {
            l.set_watcher_pause(Some(until))
        })
        .is_none()
        {
            ctx.local(&ctx.tool(ctx.paths.gnt("gnt-cluster"), &["watcher", "pause", "6h"]))?;
        }
    }
    Ok(Facts::default())
}

/// How long the watcher is paused: long enough for any upgrade, short
/// enough that a forgotten pause ends by itself.
const WATCHER_PAUSE: Duration = Duration::from_secs(6 * 3600);

/// Ends the watcher pause we set.
fn unpause_watcher(ctx: &mut Ctx<'_>) -> Result<(), StepError> {
    if ctx.facts.watcher_paused_by_us == Some(true)
        && by_luxi(ctx, "SetWatcherPause(none)", |l| l.set_watcher_pause(None)).is_none()
    {
        let argv = ctx.tool(ctx.paths.gnt("gnt-cluster"), &["watcher", "continue"]);
        ctx.local(&argv)?;
    }
    Ok(())
}

/// Ganeti's watcher pause is the file `watcher.pause` holding the epoch
/// second it ends.
fn watcher_paused(ctx: &Ctx<'_>) -> bool {
    std::fs::read_to_string(ctx.paths.host(&ctx.paths.datadir().join("watcher.pause")))
        .ok()
        .and_then(|t| t.trim().parse::<f64>().ok())
        .is_some_and(|until| until > crate::journal::now() as f64)
}

/// Switches every online node: the others first, in parallel, the master
/// last and in-process (we hold its lock).
fn switch_all(ctx: &mut Ctx<'_>, to: &ganeti_layout::DirVersion) -> Result<(), StepError> {
    let c = ctx.cluster()?;
    let argv = ctx.switch_argv(&["to", to.as_str()]);
    let others = c.others();
    let mut failed = Vec::new();
    for ran in ctx.runner.fan_out(&c, &others, &|_| argv.clone()) {
        ctx.node_event(&ran);
        if !ran.ok() {
            failed.push(ran.summary());
        }
    }
    if !failed.is_empty() {
        return Err(StepError::msg(failed.join("\n")));
    }
    if c.online.contains(&c.master) {
        let outcome =
            ganeti_switch::switch_to_locked(ctx.paths, to, SwitchOptions { force: false })
                .map_err(StepError::from_display)?;
        let what = match &outcome {
            ganeti_switch::Outcome::AlreadyActive { .. } => "already active",
            _ => "switched",
        };
        ctx.runner
            .log_line(&format!("{}: ganeti-switch to {to}: {what}", c.master));
        ctx.message(&format!("{}: {to} active", c.master));
    }
    Ok(())
}

fn start_everywhere(ctx: &mut Ctx<'_>) -> Result<(), StepError> {
    let c = ctx.cluster()?;
    ctx.on_nodes(&c, &c.online, &|_| ctx.daemon_util("start-all"))?;
    Ok(())
}

fn resume_work(ctx: &mut Ctx<'_>) -> Result<(), StepError> {
    if ctx.facts.filter_uuid.is_some() {
        let uuids = our_filters(ctx).map_err(StepError::ran)?;
        for uuid in uuids {
            match luxi_attempt(ctx, &format!("DeleteFilter({uuid})"), |l| {
                l.delete_filter(&uuid)
            }) {
                Ok(()) => {}
                // Its answer was lost: deleting again would fail if it is gone.
                Err(Some(e))
                    if e.maybe_applied()
                        && !our_filters(ctx).map_err(StepError::ran)?.contains(&uuid) => {}
                Err(_) => {
                    ctx.local(&ctx.tool(ctx.paths.gnt("gnt-filter"), &["delete", &uuid]))?;
                }
            }
        }
    }
    // Only while still drained, checked again before the fallback: on a
    // redo (resume), or after an undrain whose answer was lost, it may
    // already be off, and real Ganeti's luxid never answers an undrain then.
    if ctx.facts.drained_by_us == Some(true)
        && queue_drained(ctx)
        && by_luxi(ctx, "SetDrainFlag(false)", |l| l.set_drain_flag(false)).is_none()
        && queue_drained(ctx)
    {
        ctx.local(&ctx.tool(ctx.paths.gnt("gnt-cluster"), &["queue", "undrain"]))?;
    }
    Ok(())
}

/// Ganeti's drain flag is the file `queue/drain` in its data directory.
fn queue_drained(ctx: &Ctx<'_>) -> bool {
    ctx.paths
        .host(&ctx.paths.datadir().join("queue/drain"))
        .exists()
}

fn verify_cluster(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let mut args: Vec<String> = vec!["verify".into()];
    for code in &ctx.opts.verify_ignore {
        args.push("-I".into());
        args.push(code.clone());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let argv = ctx.tool(ctx.paths.gnt("gnt-cluster"), &refs);
    let ran = ctx.runner.local(&ctx.master_name(), &argv);
    ctx.node_event(&ran);
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

/// For the dry run: what each step runs, and where.
pub fn describe(ctx: &Ctx<'_>, step: StepId, c: &Cluster) -> Vec<String> {
    let all = c.online.join(", ");
    let p = ctx.paths;
    let du = p.daemon_util().display().to_string();
    let gc = p.gnt("gnt-cluster").display().to_string();
    let sw = ctx.opts.switch_command.clone();
    let to = &ctx.header.to;
    match step {
        StepId::VerifyInstalled | StepId::ReverifyInstalled => {
            vec![format!("{}: {sw} installed {to}", all)]
        }
        StepId::WriteIntent => vec![format!("{}: write {}", c.master, p.intent_file().display())],
        StepId::StopNewWork => vec![format!(
            "{}: LUXI ReplaceFilter or {} add --action=PAUSE --reason=ganeti-upgrade:ID (or {gc} queue drain)",
            c.master,
            p.gnt("gnt-filter").display()
        )],
        StepId::WaitForJobs => vec![format!(
            "{}: LUXI QueryJobs or {} list (until no job runs)",
            c.master,
            p.gnt("gnt-job").display()
        )],
        StepId::PauseWatcher => vec![format!(
            "{}: LUXI SetWatcherPause or {gc} watcher pause 6h (unless already paused)",
            c.master
        )],
        StepId::StopMasterDaemons => vec![format!("{}: {du} stop-all", c.master)],
        StepId::StopDaemons => vec![format!("{all}: {du} stop-all")],
        StepId::Backup => vec![format!(
            "{}: tar of {} and {} into {}",
            c.master,
            p.datadir().display(),
            p.confdir().display(),
            p.backupdir().display()
        )],
        StepId::DowngradeConfig => vec![format!(
            "{}: {} --downgrade -f",
            c.master,
            p.cfgupgrade().display()
        )],
        StepId::SwitchVersion => vec![format!("{all}: {sw} to {to} (master last)")],
        StepId::UpgradeConfig => vec![format!("{}: {} -f", c.master, p.cfgupgrade().display())],
        StepId::EnsureDirs => vec![format!("{all}: {} --full-run", p.ensure_dirs().display())],
        StepId::StartDaemons => vec![format!("{all}: {du} start-all")],
        StepId::RedistConf => vec![format!("{}: {gc} redist-conf --yes-do-it", c.master)],
        StepId::RestartDaemons => vec![
            format!("{all}: {du} stop-all"),
            format!("{all}: {du} start-all"),
        ],
        StepId::ResumeWork => vec![format!(
            "{}: delete our filter, LUXI DeleteFilter or gnt-filter delete (or {gc} queue undrain, if we drained)",
            c.master
        )],
        StepId::UnpauseWatcher => vec![format!(
            "{}: LUXI SetWatcherPause or {gc} watcher continue (if we paused it)",
            c.master
        )],
        StepId::PostUpgrade => vec![format!(
            "{}: {} {}",
            c.master,
            p.post_upgrade().display(),
            ctx.header.from_release
        )],
        StepId::VerifyCluster => vec![format!(
            "{}: {gc} verify{}",
            c.master,
            ctx.opts
                .verify_ignore
                .iter()
                .map(|c| format!(" -I {c}"))
                .collect::<String>()
        )],
        StepId::Finish => vec![format!(
            "{}: remove {} and the journal",
            c.master,
            p.intent_file().display()
        )],
    }
}

/// Helper used by `run`: the transition's kind, for messages.
pub fn transition_name(t: Transition) -> &'static str {
    match t {
        Transition::Upgrade => "upgrade",
        Transition::Downgrade => "downgrade",
        Transition::Same => "re-apply of the same version",
    }
}
