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

use crate::clock::epoch_secs;
use crate::cluster::{same_host, Cluster};
use crate::context::{Ctx, Mode, Options};
use crate::error::{chain, Done, LeftNode, Stale, StepError, UpgradeError};
use crate::events::{Event, Events, Output};
use crate::exec::{Checkpoint, Exec};
use crate::fence::{
    appeared_intent, copy_pending, foreign_intent_before_ours, gnt_cluster_holds_intent, intruder,
    master_moved, take_intent,
};
use crate::ganeti::NodeNow;
use crate::ganeti::{Call, Daemons, GanetiCmd, Switch};
use crate::intent::{Intent, OUR_TARGET_PREFIX};
use crate::journal::{Header, Journal, JournalError, Record, State, JOURNAL_FORMAT};
use crate::queue::orphan_filters;
use crate::resume::{resume_point, ResumePoint};
use crate::settings;
use crate::show::{dry_run, report, status};
use crate::step_id::StepId;
use crate::steps::{point_of_no_return, row, steps_for, Rollback};
use crate::transition::{
    config_at, config_unchanged, config_version, transition_name, transition_to, ConfigAt,
};
use crate::vote::confirm_master;
use crate::watcher::{node_pause_values, repause_watcher};

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
        Ok(None) => {
            return Err(UpgradeError::Busy {
                holder: NodeLock::holder(paths),
            })
        }
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
                .resumed(state.facts.clone(), state.skipped.clone()),
            &self.me,
        );
        e.started.clone_from(&state.started);
        e
    }

    /// What the mode asks, on this node.
    fn dispatch(
        &mut self,
        state: Option<State>,
        intent: Option<Intent>,
    ) -> Result<Done, UpgradeError> {
        let me = self.me.clone();
        let is_master = same_host(&me, &self.cluster.master);
        // No journal here, but the copy of another master's: take its
        // upgrade over if it is still pending on the cluster.
        let state = match (&self.opts.mode, state) {
            (Mode::Resume | Mode::Abort, None) if is_master => self.take_over()?,
            (_, state) => state,
        };
        let not_master = || UpgradeError::NotMaster {
            me: me.clone(),
            master: self.cluster.master.clone(),
        };
        match (&self.opts.mode, state) {
            (Mode::Resume, state) if !is_master => Err(self.not_master_resume(state, intent)),
            (Mode::Abort | Mode::To(_), _) if !is_master => Err(not_master()),
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
        match intent {
            Some(i) if i.target.starts_with(OUR_TARGET_PREFIX) => UpgradeError::OrphanIntent {
                intent: self.paths.intent_file(),
                journal: self.paths.upgrade_journal(),
                running: i.running.clone(),
                target: i.target_version().to_string(),
            },
            Some(i) => UpgradeError::ForeignIntent {
                running: i.running,
                target: i.target,
            },
            None => UpgradeError::ForeignIntent {
                running: String::new(),
                target: String::new(),
            },
        }
    }

    /// `--to`.
    fn start(
        &mut self,
        to: &DirVersion,
        state: Option<State>,
        intent: Option<Intent>,
    ) -> Result<Done, UpgradeError> {
        match state {
            Some(s) if s.rolled_back => {
                // A rollback that ended between its last record and the
                // removal of its files.
                self.remove_files(&s.header)?;
            }
            Some(s) if s.rolling_back => {
                return Err(UpgradeError::RollbackPending { to: s.header.to });
            }
            Some(s) if s.header.to == *to => {
                self.not_stale(&s)?;
                self.events.message(&format!(
                    "An upgrade to {to} is already in progress; resuming it."
                ));
                return self.resume(s);
            }
            Some(s) => {
                self.not_stale(&s)?;
                return Err(UpgradeError::InProgress {
                    from: s.header.from_release,
                    to: s.header.to,
                });
            }
            None if intent.is_some() => return Err(self.foreign_intent(intent)),
            None => self.clean_orphans(),
        }
        let (from_dir, transition, from_release) =
            transition_to(self.paths, self.exec.active_here(), to)?;
        let header = Header {
            format: JOURNAL_FORMAT,
            id: format!("{:x}{:04x}", epoch_secs(), std::process::id() & 0xffff),
            from_release,
            from_dir,
            to: to.clone(),
            transition,
            started_at: epoch_secs(),
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
        let config = self.not_stale(&state)?;
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
        Ok(())
    }

    /// The copy of another master's journal on this node (a master
    /// candidate, now the master), if its upgrade is still pending on the
    /// cluster: our filter of that upgrade is there, or the configuration
    /// is at its target. It becomes this node's journal; every step before
    /// the point of no return counts as started (the old master may have
    /// begun one after its last copy, and every undo is idempotent). A
    /// copy of an upgrade that is over is set aside.
    fn take_over(&self) -> Result<Option<State>, UpgradeError> {
        let fs = self.paths.fs();
        let copy_path = self.paths.upgrade_journal_copy();
        let copy = Journal::at(&Node::new(self.paths).upgrade_journal_copy_path());
        let Ok(Some(state)) = copy.load() else {
            return Ok(None);
        };
        let h = &state.header;
        if !copy_pending(&self.ctx(h.clone()), &state) {
            let aside = copy_path.with_extension(format!("copy.stale-{}", h.id));
            let _ = fs.rename(&copy_path, &aside);
            return Ok(None);
        }
        let journal_err = |e: &dyn std::error::Error| UpgradeError::Journal(chain(e));
        fs.rename(&copy_path, &self.paths.upgrade_journal())
            .map_err(|e| journal_err(&e))?;
        let from = h.master.clone().unwrap_or_else(|| "another node".into());
        let at = epoch_secs();
        self.journal
            .append(&Record::TakenOver {
                at,
                by: self.me.clone(),
                from: h.master.clone(),
            })
            .map_err(|e| journal_err(&e))?;
        let ponr = point_of_no_return(h.transition);
        if !state.has_started(ponr) {
            for step in steps_for(h.transition)
                .into_iter()
                .take_while(|s| *s != ponr)
                .filter(|s| !state.has_started(*s))
            {
                self.journal
                    .append(&Record::Started { step, at })
                    .map_err(|e| journal_err(&e))?;
            }
        }
        if let Some(settings) = &h.settings {
            let _ = settings::write_marker(self.paths, settings);
        }
        self.events.message(&format!(
            "this node is the master now: taking over upgrade {} from {from} ({} to {}), from the copy of its journal that {from} kept here",
            h.id, h.from_dir, h.to
        ));
        self.journal.load().map_err(|e| journal_err(&e))
    }

    /// Where the configuration stands, unless the cluster has moved on
    /// since the journal was written (a stale journal: kept by a node that
    /// was not the master, or left by an upgrade finished elsewhere): then
    /// nothing may be run on its word.
    fn not_stale(&self, state: &State) -> Result<ConfigAt, UpgradeError> {
        let h = &state.header;
        let config = config_at(self.paths, &h.from_dir, &h.to);
        let found = match (config, &h.cluster, self.exec.active_here()) {
            (ConfigAt::Elsewhere(v), _, _) => Some(format!("config.data is at {v}")),
            (_, Some(c), _) if *c != self.cluster.name => Some(format!(
                "this node is in cluster {}, the journal's upgrade ran on cluster {c}",
                self.cluster.name
            )),
            (_, _, Some(v)) if v != h.from_dir && v != h.to => Some(format!("this node runs {v}")),
            _ => None,
        };
        match found {
            Some(found) => Err(UpgradeError::StaleJournal(Box::new(Stale {
                journal: self.paths.fs().shown(&self.paths.upgrade_journal()),
                marker: self.paths.fs().shown(&self.paths.pending_marker()),
                id: h.id.clone(),
                from: h.from_dir.clone(),
                to: h.to.clone(),
                found,
            }))),
            None => Ok(config),
        }
    }

    /// `--skip-node` names given now that the journal does not have yet,
    /// each a live node other than the master, and only once the
    /// configuration change has started.
    fn new_skips(
        &self,
        run: &Execution<'_>,
        point: &ResumePoint,
    ) -> Result<Vec<String>, UpgradeError> {
        let new: Vec<String> = self
            .opts
            .skip_nodes
            .iter()
            .filter(|n| !run.ctx.skipped().contains(n))
            .cloned()
            .collect();
        for node in &new {
            let why = if !self.cluster.nodes.contains(node) {
                Some(format!(
                    "it is not a node of cluster {} (gnt-node list)",
                    self.cluster.name
                ))
            } else if *node == self.cluster.master {
                Some("it is the master, where the upgrade runs".to_string())
            } else if !matches!(point, ResumePoint::Forward { .. }) {
                Some("the configuration change has not started; roll the upgrade back with ganeti-upgrade --abort, or bring the node back and run --resume".to_string())
            } else {
                None
            };
            if let Some(why) = why {
                return Err(UpgradeError::SkipRefused {
                    node: node.clone(),
                    why,
                });
            }
        }
        Ok(new)
    }

    /// Records `new` skips (after the vote) and leaves them out from now on.
    fn record_skips(&self, run: &mut Execution<'_>, new: Vec<String>) -> Result<(), UpgradeError> {
        if !new.is_empty() {
            run.ctx
                .record(&Record::Skipped {
                    at: epoch_secs(),
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
        let config = self.not_stale(&state)?;
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
        let new_skips = self.new_skips(&run, &point)?;
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

/// Offline nodes are left out of the upgrade; they come back on the old
/// version unless switched before `gnt-node modify -O no`.
fn report_offline(ctx: &Ctx<'_>, c: &Cluster) {
    if !c.offline.is_empty() {
        ctx.message(&format!(
            "offline nodes are left out: {}; before bringing one back online, run on it: {} to {}",
            c.offline.join(", "),
            ctx.opts.run.switch_command,
            ctx.header.to
        ));
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
        }
    }

    /// Copies the journal to the other master candidates (best effort),
    /// so that whichever becomes master can show and take over the
    /// upgrade; `drop`: removes those copies (the upgrade is over).
    fn replicate(&self, drop: bool) {
        let ctx = &self.ctx;
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
        let result = self.execute_steps(start, past_ponr);
        let still_held = self.started.contains(&StepId::StopNewWork)
            && !self.undone.contains(&StepId::StopNewWork);
        report(
            &self.ctx,
            began.elapsed(),
            &result,
            &self.timings,
            still_held,
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
        self.ctx.enter(id);
        self.ctx.events.emit(&Event::StepStart {
            step: id,
            title: step.title,
            index,
            total,
        });
        self.record(
            *past_ponr,
            id,
            &Record::Started {
                step: id,
                at: epoch_secs(),
            },
        )?;
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
                    at: epoch_secs(),
                    facts: found.facts,
                },
            )?;
            self.replicate(false);
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
            at: epoch_secs(),
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
        let left = self.left_nodes();
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
        let differences = self.end_state(&self.ctx.header.to.clone());
        if !differences.is_empty() {
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

    /// The nodes this upgrade left out, with their commands.
    fn left_nodes(&self) -> Vec<LeftNode> {
        let ctx = &self.ctx;
        let offline = Cluster::read(ctx.paths)
            .map(|c| c.offline)
            .unwrap_or_default();
        let argv = |cmd: GanetiCmd| ctx.call(cmd);
        let mut on_node = vec![
            argv(GanetiCmd::DaemonUtil(Daemons::StopAll)),
            argv(ctx.switch(Switch::To(ctx.header.to.clone()))),
            argv(GanetiCmd::EnsureDirs),
            argv(GanetiCmd::DaemonUtil(Daemons::StartAll)),
        ];
        let values = node_pause_values(&ctx.facts);
        if !values.is_empty() {
            // The watcher pause this upgrade wrote there, whichever it was.
            on_node.push(argv(GanetiCmd::NodeWatcherUnpause { values }));
        }
        let mut left: Vec<LeftNode> = ctx
            .skipped()
            .iter()
            .map(|n| LeftNode {
                node: n.clone(),
                why: "skipped",
                on_node: on_node.clone(),
                on_master: vec![argv(GanetiCmd::RedistConf)],
            })
            .collect();
        left.extend(
            offline
                .iter()
                .filter(|n| !ctx.skipped().contains(n))
                .map(|n| LeftNode {
                    node: n.clone(),
                    why: "offline",
                    on_node: on_node.clone(),
                    on_master: vec![argv(GanetiCmd::MarkOnline { node: n.clone() })],
                }),
        );
        left
    }

    /// What differs, node by node, from every online node (but those left
    /// out) running `v`: its links, its daemons (one must run; none may
    /// run another version's code where that can be told), and the
    /// master's configuration. Empty when the cluster runs `v`.
    fn end_state(&self, v: &DirVersion) -> Vec<String> {
        let ctx = &self.ctx;
        let Ok(c) = ctx.cluster() else {
            return vec!["cannot read the cluster's ssconf to check the end state".into()];
        };
        let mut differences = Vec::new();
        let question = ctx.call(ctx.switch(Switch::Current));
        let mut answers = ctx
            .exec
            .fan_out(&c, &c.others(), &|_| question.clone(), &|_| {});
        if c.online.contains(&c.master) {
            let mut here = ctx.exec.here(&question);
            here.node.clone_from(&c.master);
            answers.push(here);
        }
        for ran in answers {
            let node = &ran.node;
            let now: NodeNow = match serde_json::from_str(ran.stdout.trim()) {
                Ok(now) if ran.ok() => now,
                _ => {
                    differences.push(format!(
                        "{node}: cannot tell what it runs ({})",
                        ran.summary()
                    ));
                    continue;
                }
            };
            match &now.version {
                Some(x) if x == v => {}
                Some(x) => differences.push(format!("{node}: its links name {x}")),
                None => differences.push(format!("{node}: no stable active version")),
            }
            if now.daemons.is_empty() {
                differences.push(format!("{node}: no Ganeti daemon runs"));
            }
            for d in now
                .daemons
                .iter()
                .filter(|d| d.version.as_ref().is_some_and(|x| x != v))
            {
                differences.push(format!(
                    "{node}: {} (pid {}) runs the code of {}",
                    d.name,
                    d.pid.map_or("?".into(), |p| p.to_string()),
                    d.version.as_ref().map_or("?".into(), |x| x.to_string())
                ));
            }
        }
        let want = v.triple();
        match config_version(ctx.paths) {
            Some(cv) if (cv.triple().major, cv.triple().minor) == (want.major, want.minor) => {}
            Some(cv) => differences.push(format!("{}: config.data is at {cv}", c.master)),
            None => differences.push(format!("{}: config.data cannot be read", c.master)),
        }
        differences
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
            if let Err(e) = self.ctx.record(&Record::RollingBack { at: epoch_secs() }) {
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
        self.ctx.message(&format!("rolling back: {reason}"));
        if !undo.is_empty() {
            self.replicate(false);
        }
        self.undone.clear();
        let mut failures = Vec::new();
        let mut failed_nodes: Vec<String> = Vec::new();
        let mut said = false;
        for id in &undo {
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
            self.end_state(&self.ctx.header.from_dir.clone())
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
        }
    }

    /// Every undo succeeded: recorded (when something was undone), then
    /// the intent file (if ours), the journal and the marker go.
    fn rolled_back(&self, record: bool) -> Result<(), String> {
        let ctx = &self.ctx;
        if record {
            ctx.record(&Record::RolledBack { at: epoch_secs() })
                .map_err(|e| chain(&e))?;
        }
        Intent::remove_if_ours(ctx.paths, &ctx.header.from_release, ctx.header.to.as_str())
            .map_err(|e| chain(&e))?;
        ctx.journal().remove().map_err(|e| chain(&e))?;
        // Stale without its journal anyway; removed for tidiness.
        let _ = settings::remove_marker(ctx.paths);
        self.replicate(true);
        Ok(())
    }
}
