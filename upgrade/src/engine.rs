//! Runs the steps of [`crate::steps`]: records each in the journal, rolls
//! back on failure or SIGTERM/SIGINT before the point of no return, carries
//! on (ignoring the signals) after it, and resumes from the journal.
//!
//! How this coexists with Ganeti's own boot-time `gnt-cluster upgrade
//! --resume` (cron @reboot), which reads the same intent file: our journal is
//! written before the intent file and removed after it, so an intent file
//! without our journal is Ganeti's own upgrade, which we never touch (we say
//! so and point to `gnt-cluster upgrade --resume`). While our upgrade is
//! pending, Ganeti's resume would see a well-formed intent and could act on
//! it too; our package therefore runs `ganeti-upgrade --resume` at boot
//! *before* cron, and the README asks to drop Ganeti's @reboot line on
//! clusters upgraded with this tool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ganeti_layout::inspect;
use ganeti_layout::manifest::{inventory, Inventory};
use ganeti_layout::spec::Tree;
use ganeti_layout::version::check_transition;
use ganeti_layout::{DirVersion, InstallPaths};
use ganeti_switch::NodeLock;

use crate::cluster::{same_host, this_host, Cluster};
use crate::env;
use crate::exec::{Ran, Runner};
use crate::intent::Intent;
use crate::journal::{now, Facts, Header, Journal, Record, State, JOURNAL_FORMAT};
use crate::steps::{self, point_of_no_return, StepId};

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub to: Option<String>,
    pub resume: bool,
    pub status: bool,
    pub dry_run: bool,
    pub json: bool,
    pub parallel: usize,
    pub verify_ignore: Vec<String>,
    pub queue_timeout: Duration,
    /// Per command; `None`: no limit.
    pub command_timeout: Option<Duration>,
    /// `ganeti-switch` on the nodes, with the path options to pass it.
    pub switch_command: String,
    pub switch_path_args: Vec<String>,
    pub ssh_command: Vec<String>,
}

/// How a run ended; [`Outcome::exit_code`] maps it to the documented codes.
#[derive(Debug)]
pub enum Outcome {
    Done,
    VerifyErrors(String),
    NothingPending,
    NotMaster {
        removed_intent: bool,
    },
    /// Bad input: unsafe or unparsable version, incompatible versions.
    Refused(String),
    /// Refused or failed before anything changed, or rolled back.
    Failed(String),
}

impl Outcome {
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Done | Outcome::NothingPending => 0,
            Outcome::Failed(_) => 1,
            Outcome::Refused(_) => 2,
            Outcome::VerifyErrors(_) => 3,
            Outcome::NotMaster { .. } => 11,
        }
    }
}

#[derive(Debug)]
pub struct StepError {
    pub message: String,
}

impl StepError {
    pub fn msg(message: String) -> StepError {
        StepError { message }
    }
    pub fn ran(ran: Ran) -> StepError {
        StepError {
            message: ran.summary(),
        }
    }
    /// An error and its whole cause chain, on one line.
    pub fn from_display<E: std::error::Error>(e: E) -> StepError {
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        StepError { message }
    }
}

/// Progress output: human lines, or one JSON object per line.
pub struct Events {
    pub json: bool,
}

impl Events {
    fn emit(&self, value: serde_json::Value, human: String) {
        if self.json {
            println!("{value}");
        } else if !human.is_empty() {
            println!("{human}");
        }
    }
    pub fn step_start(&self, step: StepId, index: usize, total: usize) {
        self.emit(
            serde_json::json!({"event": "step-start", "step": step, "index": index, "total": total, "time": now()}),
            format!("[{index}/{total}] {}", step.title()),
        );
    }
    pub fn step_end(&self, step: StepId, ok: bool, detail: &str) {
        self.emit(
            serde_json::json!({"event": "step-end", "step": step, "ok": ok, "detail": detail, "time": now()}),
            if ok { String::new() } else { format!("  FAILED: {detail}") },
        );
    }
    pub fn node(&self, step: Option<StepId>, ran: &Ran) {
        self.emit(
            serde_json::json!({"event": "node", "step": step, "node": ran.node, "command": ran.command, "ok": ran.ok(), "code": ran.code}),
            if ran.ok() { format!("  {}: ok", ran.node) } else { format!("  {}", ran.summary()) },
        );
    }
    pub fn message(&self, text: &str) {
        self.emit(
            serde_json::json!({"event": "message", "message": text, "time": now()}),
            format!("  {text}"),
        );
    }
}

/// Everything a step needs.
pub struct Ctx<'a> {
    pub paths: &'a InstallPaths,
    pub journal: &'a Journal,
    pub runner: &'a Runner,
    pub opts: &'a Options,
    pub header: Header,
    pub facts: Facts,
    pub events: &'a Events,
    pub current: Option<StepId>,
    pub interrupted: Arc<AtomicBool>,
    pub verify_failed: Option<String>,
}

impl Ctx<'_> {
    pub fn cluster(&self) -> Result<Cluster, StepError> {
        Cluster::read(self.paths).map_err(StepError::from_display)
    }
    pub fn master_name(&self) -> String {
        Cluster::read(self.paths)
            .map(|c| c.master)
            .unwrap_or_else(|_| this_host())
    }
    pub fn tool(&self, path: std::path::PathBuf, args: &[&str]) -> Vec<String> {
        self.runner.tool(path, args)
    }
    pub fn daemon_util(&self, action: &str) -> Vec<String> {
        self.tool(self.paths.daemon_util(), &[action])
    }
    pub fn switch_argv(&self, args: &[&str]) -> Vec<String> {
        let mut v = vec![self.opts.switch_command.clone()];
        v.extend(self.opts.switch_path_args.iter().cloned());
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }
    pub fn message(&self, text: &str) {
        self.events.message(text);
        self.runner.log_line(text);
    }
    pub fn node_event(&self, ran: &Ran) {
        self.events.node(self.current, ran);
    }
    /// Records facts durably before the step acts on them.
    pub fn remember(&mut self, facts: Facts) -> Result<(), StepError> {
        if let Some(step) = self.current {
            self.journal
                .append(&Record::Facts {
                    step,
                    facts: facts.clone(),
                })
                .map_err(StepError::from_display)?;
        }
        self.facts.merge(&facts);
        Ok(())
    }
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }
    /// Runs on the master; a failure is the step's failure.
    pub fn local(&self, argv: &[String]) -> Result<Ran, StepError> {
        let ran = self.runner.local(&self.master_name(), argv);
        if ran.ok() {
            Ok(ran)
        } else {
            self.node_event(&ran);
            Err(StepError::ran(ran))
        }
    }
    /// Runs on the given nodes (master last); every node must succeed.
    pub fn on_nodes(
        &self,
        c: &Cluster,
        nodes: &[String],
        argv_for: &(dyn Fn(&str) -> Vec<String> + Sync),
    ) -> Result<Vec<Ran>, StepError> {
        let results = self.runner.fan_out(c, nodes, argv_for);
        let mut failed = Vec::new();
        for ran in &results {
            self.node_event(ran);
            if !ran.ok() {
                failed.push(ran.summary());
            }
        }
        if failed.is_empty() {
            Ok(results)
        } else {
            Err(StepError::msg(failed.join("\n")))
        }
    }
}

fn hook_wait(paths: &InstallPaths, step: StepId) {
    if !env::matches(env::WAIT_AT, step.as_str()) {
        return;
    }
    let flag = paths
        .host(&paths.rundir())
        .join(format!("ganeti-upgrade.waiting-{}", step.as_str()));
    let _ = std::fs::create_dir_all(flag.parent().unwrap_or(std::path::Path::new("/")));
    if std::fs::write(&flag, std::process::id().to_string()).is_ok() {
        while flag.exists() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The release the cluster runs now: our manifest, else ssconf, else the
/// directory name.
fn running_release(paths: &InstallPaths, dir: &DirVersion) -> String {
    if let Ok(Inventory::Layout(m)) = inventory(paths, dir, Tree::Lib) {
        return m.release;
    }
    std::fs::read_to_string(paths.host(&paths.datadir().join("ssconf_release_version")))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| dir.to_string())
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The entry point: `--to`, `--resume`, `--status`, `--dry-run`.
pub fn main_flow(paths: &InstallPaths, opts: &Options, interrupted: Arc<AtomicBool>) -> Outcome {
    let events = Events { json: opts.json };
    let journal = Journal::at(&paths.host(&paths.datadir().join("ganeti-upgrade.journal")));
    let intent_path = paths.host(&paths.intent_file());
    if opts.status {
        return status(paths, &journal, &intent_path, &events);
    }
    let to = match &opts.to {
        Some(t) => match t.parse::<DirVersion>() {
            Ok(v) => Some(v),
            Err(e) => return Outcome::Refused(format!("cannot upgrade to {t:?}: {e}")),
        },
        None => None,
    };
    if !opts.dry_run && !is_root() {
        return Outcome::Failed("ganeti-upgrade must run as root (it stops daemons and switches versions on every node)".into());
    }
    let cluster = match Cluster::read(paths) {
        Ok(c) => c,
        // A node outside any cluster has nothing to resume (the boot-time
        // unit runs everywhere).
        Err(_) if opts.resume && !journal.exists() && !intent_path.exists() => {
            return Outcome::NothingPending
        }
        Err(e) => return Outcome::Failed(StepError::from_display(e).message),
    };
    let me = this_host();
    let master = same_host(&me, &cluster.master);
    let state = match journal.load() {
        Ok(s) => s,
        Err(e) => return Outcome::Failed(StepError::from_display(e).message),
    };
    let intent = Intent::read(&intent_path).ok().flatten();

    if opts.dry_run && (opts.resume || state.as_ref().is_some_and(|s| !s.rolled_back)) {
        // Never act in a dry run: show what a resume would do.
        println!("Dry run: nothing is changed. A resume would continue this:");
        return status(paths, &journal, &intent_path, &events);
    }
    if opts.resume {
        if !master {
            let removed =
                intent.is_some() && ganeti_layout::durable::remove_file(&intent_path).is_ok();
            if state.is_some() {
                let _ = journal.remove();
            }
            return Outcome::NotMaster {
                removed_intent: removed,
            };
        }
        return match state {
            None if intent.is_none() => Outcome::NothingPending,
            None => foreign_intent(intent),
            Some(s) => resume(paths, opts, &journal, s, &events, interrupted),
        };
    }

    // --to
    let Some(to) = to else {
        return Outcome::Refused(
            "precisely one of --to, --resume and --status has to be given".into(),
        );
    };
    if !master {
        return Outcome::Failed(format!(
            "this node ({me}) is not the master; run ganeti-upgrade on {}",
            cluster.master
        ));
    }
    match state {
        Some(s) if s.header.to == to && !s.rolled_back => {
            events.message(&format!(
                "An upgrade to {to} is already in progress; resuming it."
            ));
            return resume(paths, opts, &journal, s, &events, interrupted);
        }
        Some(s) if !s.rolled_back => {
            return Outcome::Failed(format!(
                "an upgrade from {} to {} is in progress; use --resume to finish it first",
                s.header.from_release, s.header.to
            ))
        }
        _ => {}
    }
    if state.is_none() && intent.is_some() {
        return foreign_intent(intent);
    }
    let active = inspect::read_active(paths);
    let Some(from_dir) = active.version().cloned() else {
        return Outcome::Failed(format!(
            "this node has no consistent active version ({} and {}); run ganeti-switch check",
            paths.host(&paths.active_lib_link()).display(),
            paths.host(&paths.active_share_link()).display()
        ));
    };
    let transition = match check_transition(from_dir.triple(), to.triple()) {
        Ok(t) => t,
        Err(refusal) => {
            return Outcome::Refused(format!("cannot upgrade from {from_dir} to {to}: {refusal}"))
        }
    };
    let header = Header {
        format: JOURNAL_FORMAT,
        id: format!("{:x}{:04x}", now(), std::process::id() & 0xffff),
        from_release: running_release(paths, &from_dir),
        from_dir,
        to,
        transition,
        started_at: now(),
    };
    let runner = Runner::new(
        paths,
        opts.ssh_command.clone(),
        opts.parallel,
        !opts.dry_run,
    )
    .with_timeout(opts.command_timeout);
    let mut ctx = Ctx {
        paths,
        journal: &journal,
        runner: &runner,
        opts,
        header,
        facts: Facts::default(),
        events: &events,
        current: None,
        interrupted,
        verify_failed: None,
    };
    if opts.dry_run {
        return dry_run(&ctx, &cluster);
    }
    let lock = match NodeLock::try_acquire(paths) {
        Ok(Some(l)) => l,
        Ok(None) => {
            return Outcome::Failed(format!(
                "another ganeti-upgrade or ganeti-switch is running on this node ({}); wait for it, or check it with ganeti-upgrade --status",
                NodeLock::holder(paths)
            ))
        }
        Err(e) => return Outcome::Failed(StepError::from_display(e).message),
    };
    if let Err(e) = journal.create(&ctx.header) {
        return Outcome::Failed(StepError::from_display(e).message);
    }
    ctx.runner.log_line(&format!(
        "upgrade {} from {} ({}) to {} ({})",
        ctx.header.id,
        ctx.header.from_dir,
        ctx.header.from_release,
        ctx.header.to,
        steps::transition_name(transition)
    ));
    events.message(&format!(
        "{} of cluster {} from {} ({}) to {}",
        steps::transition_name(transition),
        cluster.name,
        ctx.header.from_dir,
        ctx.header.from_release,
        ctx.header.to
    ));
    let all = steps::steps_for(transition);
    let outcome = execute(&mut ctx, &journal, &all, 0, Vec::new(), false);
    runner.close_connections(&cluster);
    drop(lock);
    outcome
}

fn foreign_intent(intent: Option<Intent>) -> Outcome {
    let i = intent
        .map(|i| format!("{} to {}", i.running, i.target))
        .unwrap_or_default();
    Outcome::Failed(format!(
        "an upgrade ({i}) started by gnt-cluster upgrade is pending (intent file without a ganeti-upgrade journal); finish it with: gnt-cluster upgrade --resume"
    ))
}

/// Runs `steps[start..]`. `done` lists steps already done before the point
/// of no return (what a rollback must undo); `past_ponr` says whether the
/// configuration step has started.
fn execute(
    ctx: &mut Ctx<'_>,
    journal: &Journal,
    all: &[StepId],
    start: usize,
    mut done: Vec<StepId>,
    mut past_ponr: bool,
) -> Outcome {
    let ponr = point_of_no_return(ctx.header.transition);
    let total = all.len();
    for (i, &step) in all.iter().enumerate().skip(start) {
        if !past_ponr && ctx.interrupted() {
            return rollback(ctx, journal, &done, "interrupted by a signal");
        }
        hook_wait(ctx.paths, step);
        if !past_ponr && ctx.interrupted() {
            return rollback(ctx, journal, &done, "interrupted by a signal");
        }
        ctx.current = Some(step);
        ctx.events.step_start(step, i + 1, total);
        if let Err(e) = journal.append(&Record::Started { step, at: now() }) {
            let msg = StepError::from_display(e).message;
            return if past_ponr {
                Outcome::Failed(resumable(ctx, step, &msg))
            } else {
                rollback(ctx, journal, &done, &msg)
            };
        }
        if step == ponr {
            past_ponr = true;
            if ctx.interrupted() {
                ctx.message("ignoring the signal: the configuration change has started, the upgrade goes on to the end");
            }
        }
        if env::matches(env::CRASH_IN, step.as_str()) {
            env::kill_self();
        }
        ctx.runner
            .log_line(&format!("step {} started", step.as_str()));
        match steps::run(ctx, step) {
            Ok(facts) => {
                ctx.facts.merge(&facts);
                ctx.events.step_end(step, true, "");
                if step == StepId::Finish {
                    if let Err(e) = journal.remove() {
                        return Outcome::Failed(StepError::from_display(e).message);
                    }
                } else if let Err(e) = journal.append(&Record::Done {
                    step,
                    at: now(),
                    facts,
                }) {
                    let msg = StepError::from_display(e).message;
                    return if past_ponr {
                        Outcome::Failed(resumable(ctx, step, &msg))
                    } else {
                        rollback(ctx, journal, &done, &msg)
                    };
                }
                if !past_ponr {
                    done.push(step);
                }
                if env::matches(env::CRASH_AT, step.as_str()) {
                    env::kill_self();
                }
            }
            Err(e) => {
                ctx.events.step_end(step, false, &e.message);
                ctx.runner
                    .log_line(&format!("step {} failed: {}", step.as_str(), e.message));
                // cfgupgrade writes the configuration atomically: if it failed
                // and the configuration is still at the old version, nothing
                // was changed and going back is safer than staying stopped.
                if step == ponr && config_unchanged(ctx) {
                    let reason = format!(
                        "{} failed and left the configuration unchanged: {}",
                        step.as_str(),
                        e.message
                    );
                    return rollback(ctx, journal, &done, &reason);
                }
                if past_ponr {
                    return Outcome::Failed(resumable(ctx, step, &e.message));
                }
                return rollback(
                    ctx,
                    journal,
                    &done,
                    &format!("{} failed: {}", step.as_str(), e.message),
                );
            }
        }
        if past_ponr && ctx.interrupted() && step != StepId::Finish {
            // Past the point of no return the signal is noted and ignored.
            ctx.interrupted.store(false, Ordering::SeqCst);
            ctx.message(
                "ignoring the signal: past the point of no return, the upgrade goes on to the end",
            );
        }
    }
    match ctx.verify_failed.take() {
        Some(errors) => Outcome::VerifyErrors(errors),
        None => Outcome::Done,
    }
}

/// Is `config.data` still at the version the upgrade started from?
fn config_unchanged(ctx: &Ctx<'_>) -> bool {
    let path = ctx.paths.host(&ctx.paths.datadir().join("config.data"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return false;
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    let Some(found) = json.get("version").and_then(serde_json::Value::as_u64) else {
        return false;
    };
    let from = ctx.header.from_dir.triple();
    ganeti_layout::ConfigVersion::from_int(found).is_ok_and(|v| {
        let t = v.triple();
        (t.major, t.minor) == (from.major, from.minor)
    })
}

fn resumable(ctx: &Ctx<'_>, step: StepId, message: &str) -> String {
    format!(
        "step {} failed after the configuration change: {message}\nThe upgrade to {} is still pending (the intent file and the journal are kept). Fix the cause, then run: ganeti-upgrade --resume",
        step.as_str(),
        ctx.header.to
    )
}

/// Undoes the done steps in reverse; the upgrade is then over.
fn rollback(ctx: &mut Ctx<'_>, journal: &Journal, done: &[StepId], reason: &str) -> Outcome {
    ctx.message(&format!("rolling back: {reason}"));
    if let Err(e) = journal.append(&Record::RollingBack { at: now() }) {
        let msg = StepError::from_display(e).message;
        ctx.message(&format!("cannot record the rollback in the journal: {msg}"));
    }
    let mut failures = Vec::new();
    for &step in done.iter().rev() {
        ctx.current = Some(step);
        if let Err(e) = steps::undo(ctx, step) {
            failures.push(format!("undo {}: {}", step.as_str(), e.message));
        }
    }
    if failures.is_empty() {
        let _ = journal.append(&Record::RolledBack { at: now() });
        let _ = journal.remove();
        let _ = ganeti_layout::durable::remove_file(&ctx.paths.host(&ctx.paths.intent_file()));
        let backup = ctx
            .facts
            .backup
            .as_ref()
            .map(|b| format!(" (the backup {} is kept)", b.display()))
            .unwrap_or_default();
        Outcome::Failed(format!(
            "{reason}\nEverything done so far was rolled back; the cluster still runs {}{backup}.",
            ctx.header.from_dir
        ))
    } else {
        Outcome::Failed(format!(
            "{reason}\nThe rollback did not complete:\n  {}\nThe journal is kept; fix the cause and run ganeti-upgrade --resume to finish the rollback.",
            failures.join("\n  ")
        ))
    }
}

/// Confirms mastership as the design asks: a majority of the online nodes
/// must name this node in their ssconf_master_node.
fn confirm_master(ctx: &Ctx<'_>, c: &Cluster) -> Result<(), String> {
    let file = ctx
        .paths
        .datadir()
        .join("ssconf_master_node")
        .display()
        .to_string();
    let others = c.others();
    let results = ctx
        .runner
        .fan_out(c, &others, &|_| vec!["cat".into(), file.clone()]);
    let votes = 1 + results
        .iter()
        .filter(|r| r.ok() && r.stdout.trim() == c.master)
        .count();
    if votes * 2 > c.online.len() {
        Ok(())
    } else {
        Err(format!(
            "only {votes} of {} online nodes confirm {} as the master; not resuming\nhint: check ssconf on the nodes (gnt-cluster master-failover, or fix the network), then run --resume again",
            c.online.len(),
            c.master
        ))
    }
}

fn resume(
    paths: &InstallPaths,
    opts: &Options,
    journal: &Journal,
    state: State,
    events: &Events,
    interrupted: Arc<AtomicBool>,
) -> Outcome {
    if state.rolled_back {
        let _ = ganeti_layout::durable::remove_file(&paths.host(&paths.intent_file()));
        let _ = journal.remove();
        return Outcome::NothingPending;
    }
    let lock = match NodeLock::try_acquire(paths) {
        Ok(Some(l)) => l,
        Ok(None) => {
            return Outcome::Failed(format!(
                "another ganeti-upgrade or ganeti-switch is running on this node ({})",
                NodeLock::holder(paths)
            ))
        }
        Err(e) => return Outcome::Failed(StepError::from_display(e).message),
    };
    let runner = Runner::new(paths, opts.ssh_command.clone(), opts.parallel, true)
        .with_timeout(opts.command_timeout);
    let mut ctx = Ctx {
        paths,
        journal,
        runner: &runner,
        opts,
        header: state.header.clone(),
        facts: state.facts.clone(),
        events,
        current: None,
        interrupted,
        verify_failed: None,
    };
    let cluster = match ctx.cluster() {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(e.message),
    };
    if let Err(e) = confirm_master(&ctx, &cluster) {
        return Outcome::Failed(e);
    }
    let all = steps::steps_for(state.header.transition);
    let ponr = point_of_no_return(state.header.transition);
    let ponr_index = all.iter().position(|s| *s == ponr).unwrap_or(all.len());
    ctx.message(&format!(
        "resuming the {} from {} to {} (journal {})",
        steps::transition_name(state.header.transition),
        state.header.from_release,
        state.header.to,
        journal.path().display()
    ));
    runner.log_line(&format!("resume of upgrade {}", state.header.id));
    let outcome = if state.rolling_back && !state.has_started(ponr) {
        // A rollback was interrupted or failed: finish it, in reverse.
        let done: Vec<StepId> = all
            .iter()
            .copied()
            .filter(|s| state.is_done(*s) || (*s == StepId::SwitchVersion && state.has_started(*s)))
            .collect();
        match rollback(
            &mut ctx,
            journal,
            &done,
            "finishing the interrupted rollback",
        ) {
            // The rollback is what was pending; it is now complete.
            Outcome::Failed(_) if !journal.exists() => {
                ctx.message(&format!(
                    "the interrupted rollback is finished; the cluster runs {}",
                    ctx.header.from_dir
                ));
                Outcome::Done
            }
            other => other,
        }
    } else if state.has_started(ponr) {
        // After the configuration change: daemons may have been started by a
        // reboot; stop them all, then redo everything after the change.
        ctx.message(
            "the configuration change had started: stopping all daemons, then continuing after it",
        );
        if let Err(e) = ctx.on_nodes(&cluster, &cluster.online, &|_| ctx.daemon_util("stop-all")) {
            return Outcome::Failed(resumable(&ctx, StepId::StopDaemons, &e.message));
        }
        let start = if state.is_done(ponr) {
            ponr_index + 1
        } else {
            ponr_index
        };
        execute(&mut ctx, journal, &all, start, Vec::new(), true)
    } else if !state.is_done(StepId::WriteIntent) {
        // Nothing changed yet: start over.
        execute(&mut ctx, journal, &all, 0, Vec::new(), false)
    } else {
        // Before the configuration change: back to a defined state (the old
        // version active and running), then redo from after the intent file.
        if state.has_started(StepId::SwitchVersion) {
            let from = ctx.header.from_dir.clone();
            ctx.message(&format!(
                "switching back to {from} before redoing the steps"
            ));
            if let Err(e) = steps::undo(&mut ctx, StepId::SwitchVersion) {
                return Outcome::Failed(format!("cannot switch back to {from}: {}\nRun ganeti-upgrade --resume again once the nodes are reachable.", e.message));
            }
        }
        let c = cluster.clone();
        for ran in runner.fan_out(&c, &c.online, &|_| ctx.daemon_util("start-all")) {
            ctx.node_event(&ran);
        }
        let start = all
            .iter()
            .position(|s| *s == StepId::StopNewWork)
            .unwrap_or(0);
        let done = vec![StepId::VerifyInstalled, StepId::WriteIntent];
        execute(&mut ctx, journal, &all, start, done, false)
    };
    runner.close_connections(&cluster);
    drop(lock);
    outcome
}

fn dry_run(ctx: &Ctx<'_>, cluster: &Cluster) -> Outcome {
    let all = steps::steps_for(ctx.header.transition);
    let ponr = point_of_no_return(ctx.header.transition);
    if ctx.events.json {
        for (i, step) in all.iter().enumerate() {
            println!(
                "{}",
                serde_json::json!({"event": "plan-step", "index": i + 1, "step": step, "title": step.title(), "commands": steps::describe(ctx, *step, cluster), "point_of_no_return": *step == ponr})
            );
        }
    } else {
        println!(
            "Dry run: {} of cluster {} from {} ({}) to {}; online nodes: {} (master {} last); nothing is changed.",
            steps::transition_name(ctx.header.transition),
            cluster.name,
            ctx.header.from_dir,
            ctx.header.from_release,
            ctx.header.to,
            cluster.online.join(", "),
            cluster.master
        );
        for (i, step) in all.iter().enumerate() {
            println!(
                "{:>2}. {} [{}]{}",
                i + 1,
                step.title(),
                step.as_str(),
                if *step == ponr {
                    "  <- point of no return"
                } else {
                    ""
                }
            );
            for line in steps::describe(ctx, *step, cluster) {
                println!("      {line}");
            }
        }
    }
    Outcome::Done
}

fn status(
    paths: &InstallPaths,
    journal: &Journal,
    intent_path: &std::path::Path,
    events: &Events,
) -> Outcome {
    let intent = Intent::read(intent_path).ok().flatten();
    let state = journal.load();
    let active = inspect::read_active(paths);
    if events.json {
        println!(
            "{}",
            serde_json::json!({
                "active": active.version(),
                "intent": intent,
                "journal": state.as_ref().ok().cloned().flatten(),
                "lock_holder": NodeLock::holder(paths),
            })
        );
        return Outcome::Done;
    }
    println!(
        "active version: {}",
        active
            .version()
            .map(ToString::to_string)
            .unwrap_or_else(|| "none or inconsistent".into())
    );
    match (&state, &intent) {
        (Ok(None), None) => println!("no upgrade pending"),
        (Ok(None), Some(i)) => println!(
            "an upgrade started by gnt-cluster upgrade is pending: {} to {} (pid {})",
            i.running, i.target, i.pid
        ),
        (Ok(Some(s)), _) => {
            println!(
                "upgrade {} pending: {} ({}) to {}, started at {}",
                s.header.id,
                s.header.from_dir,
                s.header.from_release,
                s.header.to,
                s.header.started_at
            );
            let all = steps::steps_for(s.header.transition);
            for step in all {
                let mark = if s.is_done(step) {
                    "done"
                } else if s.has_started(step) {
                    "started"
                } else {
                    ""
                };
                println!("  {:<22} {mark}", step.as_str());
            }
            println!("continue it with: ganeti-upgrade --resume");
        }
        (Err(e), _) => println!("{e}"),
    }
    Outcome::Done
}
