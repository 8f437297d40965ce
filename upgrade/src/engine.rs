//! Runs the table of [`crate::steps`]: records each step in the journal,
//! rolls back on failure or a signal (SIGTERM, SIGINT, SIGHUP) before the
//! point of no return, carries on (ignoring the signals) after it, and
//! resumes where [`crate::resume::resume_point`] says.
//!
//! Invariants:
//! * the node lock is taken before the journal is read;
//! * our journal is created before the intent file and removed after it, so
//!   an intent file without our journal is Ganeti's own upgrade, which we
//!   never touch (we say so and point to `gnt-cluster upgrade --resume`);
//! * a rollback undoes every step that *started* (all undos are
//!   idempotent), in reverse; the intent file and the journal go only once
//!   every undo has succeeded, so an incomplete rollback stays pending and
//!   is finished by `--resume` (and by the boot-time unit);
//! * nothing is printed that is not true: "rolled back" only when every
//!   undo succeeded, "done" only when every step did.
//!
//! How this coexists with Ganeti's own boot-time `gnt-cluster upgrade
//! --resume` (cron @reboot) is [`crate::fence`]'s; the master vote is
//! [`crate::vote`]'s; what is shown is [`crate::show`]'s.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use ganeti_layout::node::{DirVersion, InstallPaths, Node};
use ganeti_switch::NodeLock;

use crate::cluster::{same_host, Cluster};
use crate::context::{Ctx, Mode, Options};
use crate::error::{chain, Done, Stale, StepError, UpgradeError};
use crate::events::{Event, Events, Output};
use crate::exec::{Checkpoint, Exec};
use crate::fence::{
    appeared_intent, copy_journal, foreign_intent_before_ours, gnt_cluster_holds_intent, intruder,
    master_moved, not_stale, take_intent, take_over,
};
use crate::ganeti::{Call, Daemons, GanetiCmd};
use crate::gate::{self, Pending};
use crate::intent::Intent;
use crate::journal::{Header, Journal, JournalError, Record, State, JOURNAL_FORMAT};
use crate::queue::orphan_filters;
use crate::resume::{resume_point, ResumePoint};
use crate::settings;
use crate::settled::{end_state, left_nodes, report_offline};
use crate::show::{dry_run, report, status};
use crate::step_id::StepId;
use crate::steps::{point_of_no_return, row, steps_for, Rollback};
use crate::transition::{config_unchanged, transition_name, ConfigAt};
use crate::vote::{confirm_master, new_skips};
use crate::watcher::repause_watcher;

/// The entry point: `--to`, `--resume`, `--abort`, `--status`, each
/// optionally `--dry-run`. `interrupted` is set by the signal handlers.
pub fn main_flow(
    paths: &InstallPaths,
    opts: &Options,
    exec: &dyn Exec,
    out: &dyn Output,
    interrupted: &AtomicBool,
) -> Result<Done, UpgradeError> {
    let events = Events {
        json: opts.json,
        out,
    };
    let journal = Journal::of(paths);
    if opts.mode == Mode::Status {
        return status(paths, exec, opts, &journal, &events);
    }
    if !opts.dry_run && !exec.is_root() {
        return Err(UpgradeError::NotRoot);
    }
    let cluster = match Cluster::read(paths) {
        Ok(c) => c,
        // A node outside any cluster has nothing to resume (the boot-time
        // unit runs everywhere).
        Err(_)
            if opts.mode == Mode::Resume
                && !journal.exists()
                && !paths.fs().exists(&paths.intent_file()) =>
        {
            return Ok(Done::NothingPending)
        }
        Err(e) => return Err(UpgradeError::Cluster(chain(&e))),
    };
    if opts.dry_run {
        return dry_run(paths, opts, exec, &journal, &events, &cluster);
    }
    // The lock first: a run that ends between our reading of the journal
    // and our locking would leave us acting on a stale state.
    let lock = match NodeLock::try_acquire(paths) {
        Ok(Some(l)) => l,
        Ok(None) => return Err(gate::busy(paths)),
        Err(e) => return Err(UpgradeError::Journal(chain(&e))),
    };
    let intent = Intent::read(paths).ok().flatten();
    let state = load(&journal, exec, intent.is_some())?;
    let mut run = Run {
        paths,
        opts,
        exec,
        journal: &journal,
        events: &events,
        interrupted,
        cluster: &cluster,
        me: exec.this_host(),
    };
    let result = run.dispatch(state, intent);
    exec.close(&cluster);
    drop(lock);
    result
}

/// The journal's state. One created but whose header never reached the
/// disk means nothing started, unless an intent file says otherwise: it is
/// removed.
fn load(journal: &Journal, exec: &dyn Exec, intent: bool) -> Result<Option<State>, UpgradeError> {
    match journal.load() {
        Ok(s) => Ok(s),
        Err(JournalError::Empty { .. }) if !intent => {
            journal
                .remove()
                .map_err(|e| UpgradeError::Journal(chain(&e)))?;
            exec.log_line("removed an empty journal (nothing had started)");
            Ok(None)
        }
        Err(e) => Err(UpgradeError::Journal(chain(&e))),
    }
}

/// One run's fixed surroundings.
struct Run<'a> {
    paths: &'a InstallPaths,
    opts: &'a Options,
    exec: &'a dyn Exec,
    journal: &'a Journal,
    events: &'a Events<'a>,
    interrupted: &'a AtomicBool,
    cluster: &'a Cluster,
    /// This host's name.
    me: String,
}

impl<'a> Run<'a> {
    fn ctx(&self, header: Header) -> Ctx<'a> {
        Ctx::new(
            self.paths,
            self.exec,
            self.journal,
            self.opts,
            self.events,
            self.interrupted,
            header,
        )
    }

    /// The upgrade a journal describes, ready to go on.
    fn execution(&self, state: &State) -> Execution<'a> {
        let mut e = Execution::new(
            self.ctx(state.header.clone())
                .resumed(state.facts.clone(), state.skipped.clone())
                .held_since(state.held_since),
            &self.me,
        );
        e.started.clone_from(&state.started);
        e
    }

    /// What the mode asks, on this node.
    /// The copy of another master's journal here, taken over if its
    /// upgrade is still pending (see [`take_over`]).
    fn take_over(&self) -> Result<Option<State>, UpgradeError> {
        let copy = Journal::at(&Node::new(self.paths).upgrade_journal_copy_path());
        let Ok(Some(state)) = copy.load() else {
            return Ok(None);
        };
        let t = state.header.transition;
        let ponr = point_of_no_return(t);
        let before_ponr: Vec<StepId> = if state.has_started(ponr) {
            Vec::new()
        } else {
            steps_for(t)
                .into_iter()
                .take_while(|s| *s != ponr)
                .collect()
        };
        take_over(
            &self.ctx(state.header.clone()),
            state,
            &self.me,
            &before_ponr,
        )
    }

    fn dispatch(
        &mut self,
        state: Option<State>,
        intent: Option<Intent>,
    ) -> Result<Done, UpgradeError> {
        let me = self.me.clone();
        let is_master = same_host(&me, &self.cluster.master);
        if matches!(self.opts.mode, Mode::Abort | Mode::To(_)) {
            gate::master(self.exec, self.cluster)?;
        }
        // No journal here, but the copy of another master's: take its
        // upgrade over if it is still pending on the cluster.
        let state = match (&self.opts.mode, state) {
            (Mode::Resume | Mode::Abort, None) if is_master => self.take_over()?,
            (_, state) => state,
        };
        match (&self.opts.mode, state) {
            (Mode::Resume, state) if !is_master => Err(self.not_master_resume(state, intent)),
            (Mode::Resume | Mode::Abort, None) if intent.is_none() => {
                self.clean_orphans();
                Ok(Done::NothingPending)
            }
            (Mode::Resume | Mode::Abort, None) => Err(self.foreign_intent(intent)),
            (Mode::Resume, Some(s)) => self.resume(s),
            (Mode::Abort, Some(s)) => self.abort(s),
            (Mode::To(to), state) => self.start(to, state, intent),
            (Mode::Status, _) => Ok(Done::Shown),
        }
    }

    /// Ganeti's rule: a node that is not the master removes a stale intent
    /// file and stops. Our journal stays: it is the record of what the
    /// upgrade left (filter, drain) for the real master.
    fn not_master_resume(&self, state: Option<State>, intent: Option<Intent>) -> UpgradeError {
        let removed = intent.is_some() && Intent::remove(self.paths).is_ok();
        if let Some(s) = state {
            // Kept for the admin to read, but never resumed on its word
            // later (when this node may be master again and the cluster
            // elsewhere), nor at each boot.
            let fs = self.paths.fs();
            let journal = self.paths.upgrade_journal();
            let aside = journal.with_extension(format!("journal.stale-{}", s.header.id));
            let set_aside = fs.rename(&journal, &aside).is_ok();
            let _ = settings::remove_marker(self.paths);
            crate::baseline::remove(self.paths);
            self.events.message(&format!(
                "this node is not the master ({} is); {}",
                self.cluster.master,
                if set_aside {
                    format!(
                        "the journal of upgrade {} is set aside as {} for the admin to read",
                        s.header.id,
                        fs.shown(&aside).display()
                    )
                } else {
                    format!(
                        "the journal {} stays for the admin to read",
                        self.journal.path().display()
                    )
                }
            ));
        }
        UpgradeError::NotMasterResume {
            removed_intent: removed,
        }
    }

    /// No journal: filters of ours are orphans of a lost journal. Remove
    /// them (we hold the lock, so no run of ours is under way).
    fn clean_orphans(&self) {
        let Some(v) = self.exec.active_here() else {
            return;
        };
        let ctx = self.ctx(Header::for_checks(v));
        let (n, elsewhere) = orphan_filters(&ctx, &self.me, true);
        if n > 0 {
            ctx.message(&format!(
                "removed {n} job filter(s) of an earlier ganeti-upgrade whose journal is gone; queued jobs run again"
            ));
        }
        for f in elsewhere {
            ctx.message(&format!(
                "a job filter of upgrade {} started on {} is left (uuid {}), and this node holds no copy of its journal: that upgrade is pending there, and jobs stay paused. On {}, ganeti-upgrade --resume finishes it; if that node is gone for good, bring the cluster to one version by hand and then remove the filter: gnt-filter delete {}",
                f.id,
                f.master.as_deref().unwrap_or("?"),
                f.uuid,
                f.master.as_deref().unwrap_or("?"),
                f.uuid
            ));
        }
    }

    fn foreign_intent(&self, intent: Option<Intent>) -> UpgradeError {
        // Ganeti's resume would undrain, but never delete our filter.
        self.clean_orphans();
        gate::intent_error(self.paths, intent)
    }

    /// `--to`.
    fn start(
        &mut self,
        to: &DirVersion,
        state: Option<State>,
        intent: Option<Intent>,
    ) -> Result<Done, UpgradeError> {
        // A journal of a cluster that has moved on is refused before
        // anything else is read from it.
        if let Some(s) = state.as_ref().filter(|s| !s.rolled_back) {
            not_stale(&self.ctx(s.header.clone()), self.cluster, s)?;
        }
        // What is pending, and whether this run may go on (the dry run
        // asks the same: crate::gate).
        match gate::pending(self.paths, to, state, intent) {
            Ok(Pending::RolledBack(s)) => {
                // A rollback that ended between its last record and the
                // removal of its files.
                self.remove_files(&s.header)?;
            }
            Ok(Pending::SameTarget(s)) => {
                self.events.message(&format!(
                    "An upgrade to {to} is already in progress; resuming it."
                ));
                return self.resume(s);
            }
            Ok(Pending::Nothing) => self.clean_orphans(),
            Err(e @ (UpgradeError::ForeignIntent { .. } | UpgradeError::OrphanIntent { .. })) => {
                // Ganeti's resume would undrain, but never delete our filter.
                self.clean_orphans();
                return Err(e);
            }
            Err(e) => return Err(e),
        }
        let (from_dir, transition, from_release) =
            gate::versions(self.paths, self.exec.active_here(), to)?;
        let now = self.exec.now();
        let header = Header {
            format: JOURNAL_FORMAT,
            id: format!("{now:x}{:04x}", std::process::id() & 0xffff),
            from_release,
            from_dir,
            to: to.clone(),
            transition,
            started_at: now,
            settings: Some(self.opts.run.clone()),
            cluster: Some(self.cluster.name.clone()),
            master: Some(self.cluster.master.clone()),
        };
        self.journal
            .create(&header)
            .map_err(|e| UpgradeError::Journal(chain(&e)))?;
        if let Err(e) = settings::write_marker(self.paths, &self.opts.run) {
            let _ = self.journal.remove();
            return Err(UpgradeError::Journal(chain(&e)));
        }
        let mut run = Execution::new(self.ctx(header), &self.me);
        let h = &run.ctx.header;
        run.ctx.exec.log_line(&format!(
            "upgrade {} from {} ({}) to {} ({})",
            h.id,
            h.from_dir,
            h.from_release,
            h.to,
            transition_name(transition)
        ));
        self.events.message(&format!(
            "{} of cluster {} from {} ({}) to {}",
            transition_name(transition),
            self.cluster.name,
            h.from_dir,
            h.from_release,
            h.to
        ));
        report_offline(&run.ctx, self.cluster);
        run.execute(0, false)
    }

    /// `--abort`: a pending upgrade before its point of no return is rolled
    /// back, every step that started undone; after it, refused.
    fn abort(&mut self, state: State) -> Result<Done, UpgradeError> {
        let transition = state.header.transition;
        let ponr = point_of_no_return(transition);
        let config = not_stale(&self.ctx(state.header.clone()), self.cluster, &state)?;
        match resume_point(&state, config, &steps_for(transition), ponr) {
            ResumePoint::Cleanup => {
                self.remove_files(&state.header)?;
                return Ok(Done::NothingPending);
            }
            // cfgupgrade writes atomically: started but the configuration
            // still the old one means nothing changed, and going back is
            // still possible.
            ResumePoint::Forward { .. } if config != ConfigAt::Source => {
                return Err(UpgradeError::AbortRefused {
                    step: ponr.as_str(),
                    from: state.header.from_dir.clone(),
                    to: state.header.to.clone(),
                })
            }
            _ => {}
        }
        let mut run = self.execution(&state);
        confirm_master(&run.ctx, self.cluster)?;
        if let Some(holder) = gnt_cluster_holds_intent(&run.ctx) {
            return Err(UpgradeError::AnotherProcess {
                detail: holder,
                step: "abort",
            });
        }
        run.ctx.message(&format!(
            "aborting the {} from {} to {}: rolling back every step that started",
            transition_name(transition),
            state.header.from_release,
            state.header.to
        ));
        match run.rollback("aborted by the admin (--abort)") {
            UpgradeError::RolledBack { from, .. } => Ok(Done::Aborted { from }),
            other => Err(other),
        }
    }

    /// Removes a finished (rolled-back) upgrade's files: intent first.
    /// Our journal and marker, and the intent file if it is ours (another
    /// upgrade's stays).
    fn remove_files(&self, header: &Header) -> Result<(), UpgradeError> {
        Intent::remove_if_ours(self.paths, &header.from_release, header.to.as_str())
            .map_err(|e| UpgradeError::Journal(chain(&e)))?;
        self.journal
            .remove()
            .map_err(|e| UpgradeError::Journal(chain(&e)))?;
        let _ = settings::remove_marker(self.paths);
        crate::baseline::remove(self.paths);
        Ok(())
    }

    /// Records `new` skips (after the vote) and leaves them out from now on.
    fn record_skips(&self, run: &mut Execution<'_>, new: Vec<String>) -> Result<(), UpgradeError> {
        if !new.is_empty() {
            run.ctx
                .record(&Record::Skipped {
                    at: run.ctx.now(),
                    nodes: new.clone(),
                })
                .map_err(|e| UpgradeError::Journal(chain(&e)))?;
            run.ctx.skip(&new);
        }
        Ok(())
    }

    /// `--resume` (and `--to` of the pending target).
    fn resume(&mut self, state: State) -> Result<Done, UpgradeError> {
        let transition = state.header.transition;
        let all = steps_for(transition);
        let ponr = point_of_no_return(transition);
        let config = not_stale(&self.ctx(state.header.clone()), self.cluster, &state)?;
        if config == ConfigAt::Source
            && state.has_started(ponr)
            && state.is_done(StepId::ResumeWork)
        {
            // The queue ran again after the upgrade; a configuration back at
            // the source now is a restore by hand, not an upgrade to redo
            // (redoing it would stop the daemons under users' jobs).
            return Err(UpgradeError::StaleJournal(Box::new(Stale {
                journal: self.paths.fs().shown(&self.paths.upgrade_journal()),
                marker: self.paths.fs().shown(&self.paths.pending_marker()),
                id: state.header.id.clone(),
                from: state.header.from_dir.clone(),
                to: state.header.to.clone(),
                found: format!(
                    "config.data is back at {} although the upgrade had let the job queue run again: restored by hand?",
                    state.header.from_dir
                ),
            })));
        }
        let point = resume_point(&state, config, &all, ponr);
        if point == ResumePoint::Cleanup {
            self.remove_files(&state.header)?;
            return Ok(Done::NothingPending);
        }
        let mut run = self.execution(&state);
        // The vote first, over every online node (a skipped node does not
        // lower the majority), then the skips are recorded.
        let new_skips = new_skips(&run.ctx, self.cluster, &point)?;
        confirm_master(&run.ctx, self.cluster)?;
        self.record_skips(&mut run, new_skips)?;
        if !run.ctx.skipped().is_empty() {
            run.ctx.message(&format!(
                "leaving out {} (--skip-node); the commands that bring them up to date come at the end",
                run.ctx.skipped().join(", ")
            ));
        }
        run.ctx.message(&format!(
            "resuming the {} from {} to {} (journal {})",
            transition_name(transition),
            state.header.from_release,
            state.header.to,
            self.journal.path().display()
        ));
        run.ctx
            .exec
            .log_line(&format!("resume of upgrade {}: {point:?}", state.header.id));
        for note in &self.opts.notes {
            run.ctx.message(note);
        }
        if state.has_started(ponr) && config == ConfigAt::Source && !state.rolling_back {
            run.ctx.message(&format!(
                "the journal says the configuration step ({ponr}) ran, but config.data is at {} again (restored from a backup?): the upgrade is redone from the start, with {} running meanwhile",
                state.header.from_dir, state.header.from_dir
            ));
        }
        if state.is_done(StepId::WriteIntent) && point != ResumePoint::FinishRollback {
            take_intent(&run.ctx)?;
            run.intent_ours = true;
        } else if let Some(detail) = foreign_intent_before_ours(&run.ctx, &state) {
            return Err(UpgradeError::AnotherProcess {
                detail,
                step: "resume",
            });
        }
        report_offline(&run.ctx, self.cluster);
        run.resume_at(point, &state)
    }
}

/// One upgrade being carried out: what the steps see, and the engine's own
/// bookkeeping, which no step touches.
struct Execution<'a> {
    ctx: Ctx<'a>,
    /// Steps this upgrade has started, from the journal and this run: what
    /// a rollback undoes.
    started: Vec<StepId>,
    /// Steps undone by the rollback under way.
    undone: Vec<StepId>,
    /// Whether the intent file holds this process's pid (written or
    /// rewritten by this run): from then on it is checked before each step.
    intent_ours: bool,
    /// How long each step took in this run, in order.
    timings: Vec<(StepId, Duration)>,
    /// What `gnt-cluster verify` reported, if it reported errors.
    verify_errors: Option<String>,
    /// This host's name: the master this run acts for.
    me: String,
    /// How long new jobs had been held when resume-work let them run, in
    /// seconds since the first stop-new-work (for the report).
    held_total: Option<u64>,
}

impl<'a> Execution<'a> {
    fn new(ctx: Ctx<'a>, me: &str) -> Execution<'a> {
        Execution {
            ctx,
            started: Vec::new(),
            undone: Vec::new(),
            intent_ours: false,
            timings: Vec::new(),
            verify_errors: None,
            me: me.to_string(),
            held_total: None,
        }
    }

    /// Goes on from where `resume_point` said.
    fn resume_at(&mut self, point: ResumePoint, state: &State) -> Result<Done, UpgradeError> {
        let all = steps_for(self.ctx.header.transition);
        let index = |s: StepId| all.iter().position(|x| *x == s).unwrap_or(all.len());
        match point {
            ResumePoint::Cleanup => Ok(Done::NothingPending),
            ResumePoint::FinishRollback => {
                match self.rollback("finishing the interrupted rollback") {
                    UpgradeError::RolledBack { from, .. } => {
                        self.ctx.message(&format!(
                            "the interrupted rollback is finished; the cluster runs {from} again"
                        ));
                        Ok(Done::RollbackFinished { from })
                    }
                    other => Err(other),
                }
            }
            ResumePoint::StartOver => self.execute(0, false),
            ResumePoint::Redo { prepare, from } => {
                self.bring_back(&prepare)?;
                self.execute(index(from), false)
            }
            ResumePoint::Forward { from, stop_daemons } => {
                if stop_daemons {
                    self.ctx.message(
                        "the configuration change has started: stopping every daemon (a reboot may have started some), then going on",
                    );
                    let ctx = &self.ctx;
                    let c = ctx.cluster().map_err(|e| self.pending(from, &e))?;
                    ctx.on_nodes(&c, &c.online, &|_| GanetiCmd::DaemonUtil(Daemons::StopAll))
                        .map_err(|e| self.pending(StepId::StopDaemons, &e))?;
                }
                if !state.is_done(StepId::UnpauseWatcher) {
                    // A pause of 6 h may have run out meanwhile; with luxid
                    // down (daemons stopped) only the nodes' files.
                    if let Err(e) = repause_watcher(&mut self.ctx, !stop_daemons) {
                        self.ctx
                            .message(&format!("cannot pause the watcher again: {e}"));
                    }
                }
                self.execute(index(from), true)
            }
        }
    }

    /// Before redoing the steps of an interrupted run: the cluster back to
    /// the old version with its daemons running, by the undos `prepare`
    /// names. A failure leaves the upgrade pending as it was (a slow node
    /// at boot must not turn the upgrade into a rollback).
    fn bring_back(&mut self, prepare: &[StepId]) -> Result<(), UpgradeError> {
        if !prepare.is_empty() {
            self.ctx.message(&format!(
                "bringing the cluster back to {} before redoing the steps",
                self.ctx.header.from_dir
            ));
        }
        for &step in prepare {
            if let Some(undo) = row(step).undo {
                self.ctx.enter(step);
                let so_far = Rollback {
                    undone: self.undone.clone(),
                    failed_nodes: Vec::new(),
                };
                if let Err(e) = undo(&mut self.ctx, &so_far) {
                    let h = &self.ctx.header;
                    return Err(UpgradeError::Resume(format!(
                        "cannot bring the cluster back to {} before redoing the steps (undo {}): {e}\nThe upgrade to {} is still pending, nothing is rolled back. Fix the cause (a node not up yet?), then run: ganeti-upgrade --resume (or ganeti-upgrade --abort to roll it back)",
                        h.from_dir,
                        step.as_str(),
                        h.to
                    )));
                }
                self.undone.push(step);
            }
        }
        self.undone.clear();
        Ok(())
    }

    /// Runs the steps from `start` on, then reports; `past_ponr`: the
    /// configuration step has started.
    fn execute(&mut self, start: usize, past_ponr: bool) -> Result<Done, UpgradeError> {
        let began = Instant::now();
        // A resume that finds new jobs held (the journal's hold) holds them
        // from its first step on.
        let held_at_start = self.ctx.held_for().is_some();
        let result = self.execute_steps(start, past_ponr);
        // Held from stop-new-work (this run's or the journal's) until
        // resume-work is done, in this run or an earlier one.
        let still_held =
            self.ctx.held_for().is_some() && !self.undone.contains(&StepId::StopNewWork);
        report(
            &self.ctx,
            began.elapsed(),
            &result,
            &self.timings,
            (still_held, held_at_start),
            self.held_total,
        );
        result
    }

    fn execute_steps(&mut self, start: usize, mut past_ponr: bool) -> Result<Done, UpgradeError> {
        let all = steps_for(self.ctx.header.transition);
        for (i, &id) in all.iter().enumerate().skip(start) {
            self.run_step(id, i + 1, all.len(), &mut past_ponr)?;
            if past_ponr && self.ctx.interrupted() && id != StepId::Finish {
                // Past the point of no return the signal is noted and ignored.
                self.ctx.clear_interrupt();
                self.ctx.message(
                    "ignoring the signal: past the point of no return, the upgrade goes on to the end",
                );
            }
        }
        self.finished()
    }

    /// One step: fenced, recorded, run, recorded; a failure rolls back
    /// before the point of no return and stays pending after it.
    fn run_step(
        &mut self,
        id: StepId,
        index: usize,
        total: usize,
        past_ponr: &mut bool,
    ) -> Result<(), UpgradeError> {
        let step = row(id);
        let began = Instant::now();
        self.ctx.exec.checkpoint(Checkpoint::BeforeStep(id));
        if let Some(master) = master_moved(&self.ctx, &self.me) {
            self.ctx.message(&format!(
                "stopping: ssconf names {master} as the master now; the upgrade stays pending for it"
            ));
            return Err(UpgradeError::MasterMoved {
                master,
                step: id.as_str(),
            });
        }
        if let Some(detail) = intruder(&self.ctx, self.intent_ours)
            .or_else(|| appeared_intent(&self.ctx, id, self.intent_ours))
        {
            self.ctx.message(&format!(
                "stopping: another upgrade process is acting on this cluster: {detail}"
            ));
            return Err(UpgradeError::AnotherProcess {
                detail,
                step: id.as_str(),
            });
        }
        if !*past_ponr && self.ctx.interrupted() {
            return Err(self.rollback("interrupted by a signal"));
        }
        // Before the point of no return (its own step included), a hold on
        // new jobs past --max-hold rolls back; after it, only reported.
        if !*past_ponr {
            if let Some(reason) = self.ctx.hold_budget_spent(id) {
                return Err(self.rollback(&reason));
            }
        }
        self.ctx.enter(id);
        self.ctx.events.emit(&Event::StepStart {
            step: id,
            title: step.title,
            index,
            total,
            held: self.ctx.held_for(),
        });
        let at = self.ctx.now();
        self.record(*past_ponr, id, &Record::Started { step: id, at })?;
        if id == StepId::StopNewWork {
            self.ctx.hold_began(at);
        }
        if !self.started.contains(&id) {
            self.started.push(id);
        }
        if step.point_of_no_return {
            *past_ponr = true;
            if self.ctx.interrupted() {
                self.ctx.clear_interrupt();
                self.ctx.message("ignoring the signal: the configuration change has started, the upgrade goes on to the end");
            }
        }
        self.ctx.signal_ends_wait(!*past_ponr);
        self.ctx.exec.checkpoint(Checkpoint::Started(id));
        self.ctx
            .exec
            .log_line(&format!("step {} started", id.as_str()));
        let outcome = (step.run)(&mut self.ctx);
        self.timings.push((id, began.elapsed()));
        match outcome {
            Ok(found) => self.step_done(id, found, *past_ponr),
            Err(e) => Err(self.step_failed(id, e, *past_ponr)),
        }
    }

    /// Appends to the journal; a record that cannot be written fails the
    /// step as any failure does.
    fn record(&mut self, past_ponr: bool, id: StepId, record: &Record) -> Result<(), UpgradeError> {
        if let Err(e) = self.ctx.record(record) {
            let e = StepError::io(e);
            return Err(if past_ponr {
                self.pending(id, &e)
            } else {
                self.rollback(&format!("{}: {e}", id.as_str()))
            });
        }
        Ok(())
    }

    fn step_done(
        &mut self,
        id: StepId,
        found: crate::context::Outcome,
        past_ponr: bool,
    ) -> Result<(), UpgradeError> {
        self.ctx.facts.merge(&found.facts);
        if found.verify_errors.is_some() {
            self.verify_errors = found.verify_errors;
        }
        if id == StepId::WriteIntent {
            self.intent_ours = true;
        }
        if id == StepId::ResumeWork {
            self.held_total = self.ctx.held_for();
            self.ctx.hold_ended();
        }
        self.ctx.events.emit(&Event::StepEnd {
            step: id,
            ok: true,
            detail: String::new(),
        });
        // Finish removed the journal: nothing more to record.
        if id != StepId::Finish {
            self.record(
                past_ponr,
                id,
                &Record::Done {
                    step: id,
                    at: self.ctx.now(),
                    facts: found.facts,
                },
            )?;
            copy_journal(&self.ctx, false);
        }
        self.ctx.exec.checkpoint(Checkpoint::Done(id));
        Ok(())
    }

    fn step_failed(&mut self, id: StepId, e: StepError, past_ponr: bool) -> UpgradeError {
        self.ctx.events.emit(&Event::StepEnd {
            step: id,
            ok: false,
            detail: e.to_string(),
        });
        // For --status; best effort (the error is reported anyway).
        let _ = self.ctx.record(&Record::Failed {
            step: id,
            at: self.ctx.now(),
            nodes: e.nodes(),
            message: e.to_string(),
        });
        self.ctx
            .exec
            .log_line(&format!("step {} failed: {e}", id.as_str()));
        // cfgupgrade writes the configuration atomically: if it failed and
        // the configuration is still at the old version, nothing was
        // changed and going back is safer than staying stopped.
        if row(id).point_of_no_return && config_unchanged(self.ctx.paths, &self.ctx.header.from_dir)
        {
            let reason = format!(
                "{} failed and left the configuration unchanged: {e}",
                id.as_str()
            );
            return self.rollback(&reason);
        }
        if past_ponr {
            return self.pending(id, &e);
        }
        self.rollback(&format!("{} failed: {e}", id.as_str()))
    }

    /// Every step ran: the nodes left out get their commands, and verify's
    /// errors decide the ending.
    fn finished(&mut self) -> Result<Done, UpgradeError> {
        let left = left_nodes(&self.ctx);
        for l in &left {
            let cmds = |v: &[Call]| v.iter().map(Call::to_string).collect::<Vec<_>>().join("; ");
            self.ctx.message(&format!(
                "{} ({}) is not brought to {}: once it is back, before it runs anything, run on it: {}; then on the master: {}",
                l.node,
                l.why,
                self.ctx.header.to,
                cmds(&l.on_node),
                cmds(&l.on_master)
            ));
        }
        let differences = end_state(&self.ctx, &self.ctx.header.to);
        if !differences.is_empty() {
            // Said here, as the error below is about the nodes.
            if let Some(problems) = self.verify_errors.take() {
                self.ctx.message(&format!(
                    "and problems that were not there before the upgrade:\n{problems}"
                ));
            }
            return Err(UpgradeError::EndStateDiffers {
                to: self.ctx.header.to.clone(),
                differences,
                left,
            });
        }
        match self.verify_errors.take() {
            Some(errors) => Err(UpgradeError::VerifyErrors { errors, left }),
            None => Ok(Done::Upgraded {
                to: self.ctx.header.to.clone(),
                left,
            }),
        }
    }

    /// The upgrade stays pending at `step`, past the point of no return.
    fn pending(&self, step: StepId, e: &StepError) -> UpgradeError {
        let master = self.ctx.master_name();
        let mut nodes = e.nodes();
        nodes.retain(|n| *n != master);
        nodes.dedup();
        UpgradeError::Pending {
            step: step.as_str(),
            to: self.ctx.header.to.clone(),
            message: e.to_string(),
            nodes,
        }
    }

    /// Undoes every step that started before the point of no return, in
    /// reverse; then, only if all succeeded, removes the intent file and the
    /// journal. Signals are ignored meanwhile (SIGKILL and `--resume` still
    /// work). The error says what is true.
    fn rollback(&mut self, reason: &str) -> UpgradeError {
        let ponr = point_of_no_return(self.ctx.header.transition);
        let mut undo: Vec<StepId> = steps_for(self.ctx.header.transition)
            .into_iter()
            .take_while(|s| *s != ponr)
            .filter(|s| self.started.contains(s) && row(*s).undo.is_some())
            .collect();
        undo.reverse();
        // Without its record a rollback would let a later run go the other
        // way (forward over steps it undid): nothing is undone then. With
        // nothing to undo there is no way to go wrong.
        if !undo.is_empty() {
            if let Err(e) = self.ctx.record(&Record::RollingBack { at: self.ctx.now() }) {
                self.ctx.message(&format!(
                    "cannot record the rollback in the journal ({}): nothing is undone",
                    chain(&e)
                ));
                return UpgradeError::RollbackNotRecorded {
                    reason: reason.to_string(),
                    journal: self.ctx.journal().path().to_path_buf(),
                    cause: chain(&e),
                };
            }
        }
        self.ctx.message(&if undo.is_empty() {
            format!("stopping before anything changed: {reason}")
        } else {
            format!("rolling back: {reason}")
        });
        if !undo.is_empty() {
            copy_journal(&self.ctx, false);
        }
        self.undone.clear();
        let failures = self.undo_all(&undo);
        self.ctx.clear_interrupt();
        if !failures.is_empty() {
            return UpgradeError::RollbackIncomplete {
                reason: reason.to_string(),
                failures,
            };
        }
        // "Rolled back" only when it is true on every node.
        let differences = if undo.is_empty() {
            Vec::new()
        } else {
            end_state(&self.ctx, &self.ctx.header.from_dir)
        };
        if !differences.is_empty() {
            return UpgradeError::RollbackIncomplete {
                reason: reason.to_string(),
                failures: differences,
            };
        }
        if let Err(e) = self.rolled_back(!undo.is_empty()) {
            return UpgradeError::RollbackIncomplete {
                reason: reason.to_string(),
                failures: vec![format!("removing the intent file and the journal: {e}")],
            };
        }
        UpgradeError::RolledBack {
            reason: reason.to_string(),
            from: self.ctx.header.from_dir.clone(),
            backup: self
                .ctx
                .facts
                .backup
                .as_ref()
                .map(|b| format!(" (the backup {} is kept)", b.display()))
                .unwrap_or_default(),
            changed: !undo.is_empty(),
        }
    }

    /// Runs the undos of `undo`, in that order, each told how the rollback
    /// went so far; the failures, one line each.
    fn undo_all(&mut self, undo: &[StepId]) -> Vec<String> {
        // A rollback goes on to the end: a signal does not end its waits.
        self.ctx.signal_ends_wait(false);
        let mut failures = Vec::new();
        let mut failed_nodes: Vec<String> = Vec::new();
        let mut said = false;
        for id in undo {
            let Some(undo) = row(*id).undo else {
                continue;
            };
            if self.ctx.interrupted() && !said {
                self.ctx.message("ignoring the signal: the rollback goes on to the end (SIGKILL stops it; --resume then finishes it)");
                said = true;
            }
            self.ctx.exec.checkpoint(Checkpoint::Undo(*id));
            self.ctx.enter(*id);
            let so_far = Rollback {
                undone: self.undone.clone(),
                failed_nodes: failed_nodes.clone(),
            };
            match undo(&mut self.ctx, &so_far) {
                Ok(()) => self.undone.push(*id),
                Err(e) => {
                    failed_nodes.extend(e.nodes());
                    failures.push(format!("undo {}: {e}", id.as_str()));
                }
            }
        }
        failures
    }

    /// Every undo succeeded: recorded (when something was undone), then
    /// the intent file (if ours), the journal and the marker go.
    fn rolled_back(&self, record: bool) -> Result<(), String> {
        let ctx = &self.ctx;
        if record {
            ctx.record(&Record::RolledBack { at: ctx.now() })
                .map_err(|e| chain(&e))?;
        }
        Intent::remove_if_ours(ctx.paths, &ctx.header.from_release, ctx.header.to.as_str())
            .map_err(|e| chain(&e))?;
        ctx.journal().remove().map_err(|e| chain(&e))?;
        // Stale without its journal anyway; removed for tidiness.
        let _ = settings::remove_marker(ctx.paths);
        crate::baseline::remove(ctx.paths);
        copy_journal(&self.ctx, true);
        Ok(())
    }
}
