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
//! --resume` (cron @reboot), which reads the same intent file: our intent
//! tags its target (`ganeti-upgrade:3.1`, see [`crate::intent`]), so
//! Ganeti's resume finds no version in it and exits before it acts, and
//! Ganeti's `--to` refuses (from 2.10.8, 2.11.6 and 2.12 on); our package
//! runs `ganeti-upgrade --resume` at boot instead. What the tag cannot
//! stop (an older `--to`, one that started first) is fenced by re-reading
//! the intent before each step.

use std::sync::atomic::{AtomicBool, Ordering};

use ganeti_layout::{DirVersion, InstallPaths};
use ganeti_switch::NodeLock;

use crate::clock::{epoch_secs, format_date};
use crate::cluster::{same_host, Cluster};
use crate::context::{Ctx, Events, Mode, Options, Output};
use crate::error::{chain, Done, LeftNode, StepError, UpgradeError};
use crate::exec::{Checkpoint, Exec};
use crate::intent::{Intent, OUR_TARGET_PREFIX};
use crate::journal::{Facts, Header, Journal, JournalError, Record, State, JOURNAL_FORMAT};
use crate::resume::{resume_point, ResumePoint};
use crate::settings;
use crate::steps::{self, point_of_no_return, steps_for, StepId};
use crate::transition::{
    config_at, config_unchanged, transition_name, transition_to, ConfigAt, Transition,
};

/// The nodes this upgrade left out, with their commands.
fn left_nodes(ctx: &Ctx<'_>) -> Vec<LeftNode> {
    let offline = Cluster::read(ctx.paths)
        .map(|c| c.offline)
        .unwrap_or_default();
    let mut on_node = vec![
        ctx.daemon_util("stop-all"),
        ctx.switch_argv(&["to", ctx.header.to.as_str()]),
        ctx.tool(ctx.paths.ensure_dirs(), &["--full-run"]),
        ctx.daemon_util("start-all"),
    ];
    let values = crate::watcher::node_pause_values(&ctx.facts);
    if !values.is_empty() {
        // The watcher pause this upgrade wrote there, whichever it was.
        on_node.push(crate::watcher::unpause_argv(ctx, &values));
    }
    let gnt_cluster = ctx.paths.gnt("gnt-cluster");
    let gnt_node = ctx.paths.gnt("gnt-node");
    let mut left: Vec<LeftNode> = ctx
        .skipped
        .iter()
        .map(|n| LeftNode {
            node: n.clone(),
            why: "skipped",
            on_node: on_node.clone(),
            on_master: vec![ctx.tool(gnt_cluster.clone(), &["redist-conf", "--yes-do-it"])],
        })
        .collect();
    left.extend(
        offline
            .iter()
            .filter(|n| !ctx.skipped.contains(n))
            .map(|n| LeftNode {
                node: n.clone(),
                why: "offline",
                on_node: on_node.clone(),
                on_master: vec![ctx.tool(gnt_node.clone(), &["modify", "-O", "no", n])],
            }),
    );
    left
}

/// A header for the checks that run without an upgrade (orphan filters):
/// nothing in them reads it.
fn stub_header(v: DirVersion) -> Header {
    Header {
        format: JOURNAL_FORMAT,
        id: String::new(),
        from_release: String::new(),
        from_dir: v.clone(),
        to: v,
        transition: Transition::Same,
        started_at: 0,
        settings: None,
    }
}

/// The entry point: `--to`, `--resume`, `--status`, each optionally
/// `--dry-run`. `interrupted` is set by the signal handlers.
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
    let journal = Journal::at(&paths.host(&paths.datadir().join("ganeti-upgrade.journal")));
    let intent_path = paths.host(&paths.intent_file());
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
        Err(_) if opts.mode == Mode::Resume && !journal.exists() && !intent_path.exists() => {
            return Ok(Done::NothingPending)
        }
        Err(e) => return Err(UpgradeError::Cluster(chain(&e))),
    };
    let me = exec.this_host();
    let is_master = same_host(&me, &cluster.master);
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
    let intent = Intent::read(&intent_path).ok().flatten();
    let state = match journal.load() {
        Ok(s) => s,
        // Created but its header never reached the disk: nothing started,
        // unless an intent file says otherwise.
        Err(JournalError::Empty { .. }) if intent.is_none() => {
            journal
                .remove()
                .map_err(|e| UpgradeError::Journal(chain(&e)))?;
            exec.log_line("removed an empty journal (nothing had started)");
            None
        }
        Err(e) => return Err(UpgradeError::Journal(chain(&e))),
    };
    let mut run = Run {
        paths,
        opts,
        exec,
        journal: &journal,
        events: &events,
        interrupted,
        cluster: &cluster,
    };
    let result = match &opts.mode {
        Mode::Resume if !is_master => {
            // Ganeti's rule: a node that is not the master removes a stale
            // intent file and stops. Our journal stays: it is the record of
            // what the upgrade left (filter, drain) for the real master.
            let removed =
                intent.is_some() && ganeti_layout::durable::remove_file(&intent_path).is_ok();
            if state.is_some() {
                events.message(&format!(
                    "this node is not the master ({} is); the journal {} stays for the admin to read",
                    cluster.master,
                    journal.path().display()
                ));
            }
            Err(UpgradeError::NotMasterResume {
                removed_intent: removed,
            })
        }
        Mode::Abort if !is_master => Err(UpgradeError::NotMaster {
            me,
            master: cluster.master.clone(),
        }),
        Mode::Resume => match state {
            None if intent.is_none() => {
                run.clean_orphans();
                Ok(Done::NothingPending)
            }
            None => Err(run.foreign_intent(intent)),
            Some(s) => run.resume(s),
        },
        Mode::Abort => match state {
            None if intent.is_none() => {
                run.clean_orphans();
                Ok(Done::NothingPending)
            }
            None => Err(run.foreign_intent(intent)),
            Some(s) => run.abort(s),
        },
        Mode::To(to) => {
            if !is_master {
                Err(UpgradeError::NotMaster {
                    me,
                    master: cluster.master.clone(),
                })
            } else {
                run.start(to, state, intent)
            }
        }
        Mode::Status => Ok(Done::Shown),
    };
    exec.close(&cluster);
    drop(lock);
    result
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
}

impl<'a> Run<'a> {
    fn ctx(&self, header: Header, facts: Facts, started: Vec<StepId>) -> Ctx<'a> {
        let mut ctx = Ctx::new(
            self.paths,
            self.exec,
            self.journal,
            self.opts,
            self.events,
            self.interrupted,
            header,
        );
        ctx.facts = facts;
        ctx.started = started;
        ctx
    }

    /// No journal: filters of ours are orphans of a lost journal. Remove
    /// them (we hold the lock, so no run of ours is under way).
    fn clean_orphans(&self) {
        let Some(v) = self.exec.active_here() else {
            return;
        };
        let ctx = self.ctx(stub_header(v), Facts::default(), Vec::new());
        let n = crate::queue::orphan_filters(&ctx, true);
        if n > 0 {
            ctx.message(&format!(
                "removed {n} job filter(s) of an earlier ganeti-upgrade whose journal is gone; queued jobs run again"
            ));
        }
    }

    fn foreign_intent(&self, intent: Option<Intent>) -> UpgradeError {
        // Ganeti's resume would undrain, but never delete our filter.
        self.clean_orphans();
        match intent {
            Some(i) if i.target.starts_with(OUR_TARGET_PREFIX) => UpgradeError::OrphanIntent {
                intent: self.paths.intent_file(),
                journal: self.paths.datadir().join("ganeti-upgrade.journal"),
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
                self.events.message(&format!(
                    "An upgrade to {to} is already in progress; resuming it."
                ));
                return self.resume(s);
            }
            Some(s) => {
                return Err(UpgradeError::InProgress {
                    from: s.header.from_release,
                    to: s.header.to,
                })
            }
            None => {
                if intent.is_some() {
                    return Err(self.foreign_intent(intent));
                }
                self.clean_orphans();
            }
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
            settings: Some(self.opts.settings(self.paths)),
        };
        self.journal
            .create(&header)
            .map_err(|e| UpgradeError::Journal(chain(&e)))?;
        if let Err(e) = settings::write_marker(self.paths.root(), &self.opts.settings(self.paths)) {
            let _ = self.journal.remove();
            return Err(UpgradeError::Journal(chain(&e)));
        }
        let mut ctx = self.ctx(header, Facts::default(), Vec::new());
        ctx.exec.log_line(&format!(
            "upgrade {} from {} ({}) to {} ({})",
            ctx.header.id,
            ctx.header.from_dir,
            ctx.header.from_release,
            ctx.header.to,
            transition_name(transition)
        ));
        self.events.message(&format!(
            "{} of cluster {} from {} ({}) to {}",
            transition_name(transition),
            self.cluster.name,
            ctx.header.from_dir,
            ctx.header.from_release,
            ctx.header.to
        ));
        report_offline(&ctx, self.cluster);
        execute(&mut ctx, 0, false)
    }

    /// `--abort`: a pending upgrade before its point of no return is rolled
    /// back, every step that started undone; after it, refused.
    fn abort(&mut self, state: State) -> Result<Done, UpgradeError> {
        let transition = state.header.transition;
        let all = steps_for(transition);
        let ponr = point_of_no_return(transition);
        let config = config_at(self.paths, &state.header.from_dir, &state.header.to);
        let point = resume_point(&state, config, &all, ponr);
        match point {
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
        let mut ctx = self.ctx(
            state.header.clone(),
            state.facts.clone(),
            state.started.clone(),
        );
        ctx.skipped = state.skipped.clone();
        confirm_master(&ctx, &self.cluster.without(&ctx.skipped))?;
        if let Some(holder) = gnt_cluster_holds_intent(&ctx) {
            return Err(UpgradeError::AnotherProcess {
                detail: holder,
                step: "abort",
            });
        }
        ctx.message(&format!(
            "aborting the {} from {} to {}: rolling back every step that started",
            transition_name(transition),
            state.header.from_release,
            state.header.to
        ));
        match rollback(&mut ctx, "aborted by the admin (--abort)") {
            UpgradeError::RolledBack { from, .. } => Ok(Done::Aborted { from }),
            other => Err(other),
        }
    }

    /// Removes a finished (rolled-back) upgrade's files: intent first.
    /// Our journal and marker, and the intent file if it is ours (another
    /// upgrade's stays).
    fn remove_files(&self, header: &Header) -> Result<(), UpgradeError> {
        Intent::remove_if_ours(
            &self.paths.host(&self.paths.intent_file()),
            &header.from_release,
            header.to.as_str(),
        )
        .map_err(|e| UpgradeError::Journal(chain(&e)))?;
        self.journal
            .remove()
            .map_err(|e| UpgradeError::Journal(chain(&e)))?;
        let _ = settings::remove_marker(self.paths.root());
        Ok(())
    }

    /// `--resume` (and `--to` of the pending target).
    fn resume(&mut self, state: State) -> Result<Done, UpgradeError> {
        let transition = state.header.transition;
        let all = steps_for(transition);
        let ponr = point_of_no_return(transition);
        let point = resume_point(
            &state,
            config_at(self.paths, &state.header.from_dir, &state.header.to),
            &all,
            ponr,
        );
        if point == ResumePoint::Cleanup {
            self.remove_files(&state.header)?;
            return Ok(Done::NothingPending);
        }
        let mut ctx = self.ctx(
            state.header.clone(),
            state.facts.clone(),
            state.started.clone(),
        );
        ctx.skipped = state.skipped.clone();
        let new_skips: Vec<String> = self
            .opts
            .skip_nodes
            .iter()
            .filter(|n| !ctx.skipped.contains(n))
            .cloned()
            .collect();
        for node in &new_skips {
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
        if !new_skips.is_empty() {
            ctx.record(&Record::Skipped {
                at: epoch_secs(),
                nodes: new_skips.clone(),
            })
            .map_err(|e| UpgradeError::Journal(chain(&e)))?;
            ctx.skipped.extend(new_skips);
        }
        confirm_master(&ctx, &self.cluster.without(&ctx.skipped))?;
        if !ctx.skipped.is_empty() {
            ctx.message(&format!(
                "leaving out {} (--skip-node); the commands that bring them up to date come at the end",
                ctx.skipped.join(", ")
            ));
        }
        ctx.message(&format!(
            "resuming the {} from {} to {} (journal {})",
            transition_name(transition),
            state.header.from_release,
            state.header.to,
            self.journal.path().display()
        ));
        ctx.exec
            .log_line(&format!("resume of upgrade {}: {point:?}", state.header.id));
        for note in &self.opts.notes {
            ctx.message(note);
        }
        if state.is_done(StepId::WriteIntent) && point != ResumePoint::FinishRollback {
            take_intent(&mut ctx)?;
        } else if let Some(detail) = foreign_intent_before_ours(&ctx, &state) {
            return Err(UpgradeError::AnotherProcess {
                detail,
                step: "resume",
            });
        }
        report_offline(&ctx, self.cluster);
        let index = |s: StepId| all.iter().position(|x| *x == s).unwrap_or(all.len());
        match point {
            ResumePoint::Cleanup => Ok(Done::NothingPending),
            ResumePoint::FinishRollback => {
                match rollback(&mut ctx, "finishing the interrupted rollback") {
                    UpgradeError::RolledBack { from, .. } => {
                        ctx.message(&format!(
                            "the interrupted rollback is finished; the cluster runs {from} again"
                        ));
                        Ok(Done::RollbackFinished { from })
                    }
                    other => Err(other),
                }
            }
            ResumePoint::StartOver => execute(&mut ctx, 0, false),
            ResumePoint::Redo { prepare, from } => {
                if !prepare.is_empty() {
                    ctx.message(&format!(
                        "bringing the cluster back to {} before redoing the steps",
                        ctx.header.from_dir
                    ));
                }
                for step in prepare {
                    if let Some(undo) = steps::row(step).undo {
                        ctx.current = Some(step);
                        if let Err(e) = undo(&mut ctx) {
                            // Still pending as it was (a slow node at boot
                            // must not turn the upgrade into a rollback).
                            return Err(UpgradeError::Resume(format!(
                                "cannot bring the cluster back to {} before redoing the steps (undo {}): {e}\nThe upgrade to {} is still pending, nothing is rolled back. Fix the cause (a node not up yet?), then run: ganeti-upgrade --resume (or ganeti-upgrade --abort to roll it back)",
                                ctx.header.from_dir,
                                step.as_str(),
                                ctx.header.to
                            )));
                        }
                        ctx.undone.push(step);
                    }
                }
                ctx.undone.clear();
                execute(&mut ctx, index(from), false)
            }
            ResumePoint::Forward { from, stop_daemons } => {
                if stop_daemons {
                    ctx.message(
                        "the configuration change has started: stopping every daemon (a reboot may have started some), then going on",
                    );
                    let c = ctx.cluster().map_err(|e| pending(&ctx, from, &e))?;
                    ctx.on_nodes(&c, &c.online, &|_| ctx.daemon_util("stop-all"))
                        .map_err(|e| pending(&ctx, StepId::StopDaemons, &e))?;
                }
                if !state.is_done(StepId::UnpauseWatcher) {
                    // A pause of 6 h may have run out meanwhile; with luxid
                    // down (daemons stopped) only the nodes' files.
                    if let Err(e) = crate::watcher::repause_watcher(&mut ctx, !stop_daemons) {
                        ctx.message(&format!("cannot pause the watcher again: {e}"));
                    }
                }
                execute(&mut ctx, index(from), true)
            }
        }
    }
}

fn pending(ctx: &Ctx<'_>, step: StepId, e: &StepError) -> UpgradeError {
    let master = ctx.master_name();
    let mut nodes = e.nodes();
    nodes.retain(|n| *n != master);
    nodes.dedup();
    UpgradeError::Pending {
        step: step.as_str(),
        to: ctx.header.to.clone(),
        message: e.to_string(),
        nodes,
    }
}

/// Offline nodes are left out of the upgrade; they come back on the old
/// version unless switched before `gnt-node modify -O no`.
fn report_offline(ctx: &Ctx<'_>, c: &Cluster) {
    if !c.offline.is_empty() {
        ctx.message(&format!(
            "offline nodes are left out: {}; before bringing one back online, run on it: {} to {}",
            c.offline.join(", "),
            ctx.opts.switch_command,
            ctx.header.to
        ));
    }
}

/// Runs `all[start..]`, then reports; `past_ponr`: the configuration step
/// has started.
fn execute(ctx: &mut Ctx<'_>, start: usize, past_ponr: bool) -> Result<Done, UpgradeError> {
    let began = std::time::Instant::now();
    let result = execute_steps(ctx, start, past_ponr);
    report(ctx, began.elapsed(), &result);
    result
}

/// The end-of-run report: each step's wall time in this run, and how long
/// new jobs were held (from stop-new-work to resume-work, or still held);
/// printed and written to commands.log.
fn report(ctx: &Ctx<'_>, took: std::time::Duration, result: &Result<Done, UpgradeError>) {
    if ctx.timings.is_empty() {
        return;
    }
    let at = |id: StepId| ctx.timings.iter().position(|(s, _)| *s == id);
    let held = match (at(StepId::StopNewWork), at(StepId::ResumeWork)) {
        (Some(a), Some(b)) => Some(format!(
            "new jobs held for {:.1} s (stop-new-work to resume-work)",
            ctx.timings[a..=b]
                .iter()
                .map(|(_, d)| d.as_secs_f64())
                .sum::<f64>()
        )),
        (_, None)
            if ctx.started.contains(&StepId::StopNewWork)
                && !ctx.undone.contains(&StepId::StopNewWork)
                && !matches!(result, Err(UpgradeError::RolledBack { .. })) =>
        {
            Some("new jobs are still held".to_string())
        }
        _ => None,
    };
    let end = match result {
        Ok(Done::Upgraded { to, .. }) => format!("on {to}"),
        Ok(_) => "done".to_string(),
        Err(e) if e.leaves_pending() => "still pending".to_string(),
        Err(UpgradeError::VerifyErrors { .. }) => {
            format!("on {}, verify reported errors", ctx.header.to)
        }
        Err(UpgradeError::RolledBack { from, .. }) => format!("rolled back to {from}"),
        Err(_) => "failed".to_string(),
    };
    let head = format!(
        "report: {} step(s) in {:.1} s, {end}{}",
        ctx.timings.len(),
        took.as_secs_f64(),
        held.map(|h| format!("; {h}")).unwrap_or_default()
    );
    ctx.exec.log_line(&head);
    let lines: Vec<String> = ctx
        .timings
        .iter()
        .map(|(id, d)| format!("{:<22} {:>8.1} s", id.as_str(), d.as_secs_f64()))
        .collect();
    for line in &lines {
        ctx.exec.log_line(&format!("report: {line}"));
    }
    if ctx.events.json {
        ctx.events.document(serde_json::json!({
            "event": "report",
            "seconds": took.as_secs_f64(),
            "end": end,
            "steps": ctx.timings.iter().map(|(id, d)| serde_json::json!({"step": id, "seconds": d.as_secs_f64()})).collect::<Vec<_>>(),
        }));
    } else {
        ctx.events.plain(&head);
        for line in lines {
            ctx.events.plain(&format!("  {line}"));
        }
    }
}

fn execute_steps(
    ctx: &mut Ctx<'_>,
    start: usize,
    mut past_ponr: bool,
) -> Result<Done, UpgradeError> {
    let all = steps_for(ctx.header.transition);
    let total = all.len();
    for (i, &id) in all.iter().enumerate().skip(start) {
        let step = steps::row(id);
        let step_began = std::time::Instant::now();
        ctx.exec.checkpoint(Checkpoint::BeforeStep(id));
        if let Some(detail) = intruder(ctx).or_else(|| appeared_intent(ctx, id)) {
            ctx.message(&format!(
                "stopping: another upgrade process is acting on this cluster: {detail}"
            ));
            return Err(UpgradeError::AnotherProcess {
                detail,
                step: id.as_str(),
            });
        }
        if !past_ponr && ctx.interrupted() {
            return Err(rollback(ctx, "interrupted by a signal"));
        }
        ctx.current = Some(id);
        ctx.events.step_start(id, step.title, i + 1, total);
        if let Err(e) = ctx.record(&Record::Started {
            step: id,
            at: epoch_secs(),
        }) {
            let e = StepError::io(e);
            return Err(if past_ponr {
                pending(ctx, id, &e)
            } else {
                rollback(ctx, &format!("{}: {e}", id.as_str()))
            });
        }
        if !ctx.started.contains(&id) {
            ctx.started.push(id);
        }
        if step.point_of_no_return {
            past_ponr = true;
            if ctx.interrupted() {
                ctx.interrupted.store(false, Ordering::SeqCst);
                ctx.message("ignoring the signal: the configuration change has started, the upgrade goes on to the end");
            }
        }
        ctx.exec.checkpoint(Checkpoint::Started(id));
        ctx.exec.log_line(&format!("step {} started", id.as_str()));
        let outcome = (step.run)(ctx);
        ctx.timings.push((id, step_began.elapsed()));
        match outcome {
            Ok(facts) => {
                ctx.facts.merge(&facts);
                if id == StepId::WriteIntent {
                    ctx.intent_ours = true;
                }
                ctx.events.step_end(id, true, "");
                // Finish removed the journal: nothing more to record.
                if id != StepId::Finish {
                    if let Err(e) = ctx.record(&Record::Done {
                        step: id,
                        at: epoch_secs(),
                        facts,
                    }) {
                        let e = StepError::io(e);
                        return Err(if past_ponr {
                            pending(ctx, id, &e)
                        } else {
                            rollback(ctx, &format!("{}: {e}", id.as_str()))
                        });
                    }
                }
                ctx.exec.checkpoint(Checkpoint::Done(id));
            }
            Err(e) => {
                ctx.events.step_end(id, false, &e.to_string());
                // For --status; best effort (the error is reported anyway).
                let _ = ctx.record(&Record::Failed {
                    step: id,
                    at: epoch_secs(),
                    nodes: e.nodes(),
                    message: e.to_string(),
                });
                ctx.exec
                    .log_line(&format!("step {} failed: {e}", id.as_str()));
                // cfgupgrade writes the configuration atomically: if it failed
                // and the configuration is still at the old version, nothing
                // was changed and going back is safer than staying stopped.
                if step.point_of_no_return && config_unchanged(ctx.paths, &ctx.header.from_dir) {
                    let reason = format!(
                        "{} failed and left the configuration unchanged: {e}",
                        id.as_str()
                    );
                    return Err(rollback(ctx, &reason));
                }
                if past_ponr {
                    return Err(pending(ctx, id, &e));
                }
                return Err(rollback(ctx, &format!("{} failed: {e}", id.as_str())));
            }
        }
        if past_ponr && ctx.interrupted() && id != StepId::Finish {
            // Past the point of no return the signal is noted and ignored.
            ctx.interrupted.store(false, Ordering::SeqCst);
            ctx.message(
                "ignoring the signal: past the point of no return, the upgrade goes on to the end",
            );
        }
    }
    let left = left_nodes(ctx);
    for l in &left {
        let cmds = |v: &[Vec<String>]| {
            v.iter()
                .map(|a| crate::ran::join_argv(a))
                .collect::<Vec<_>>()
                .join("; ")
        };
        ctx.message(&format!(
            "{} ({}) is not brought to {}: once it is back, before it runs anything, run on it: {}; then on the master: {}",
            l.node,
            l.why,
            ctx.header.to,
            cmds(&l.on_node),
            cmds(&l.on_master)
        ));
    }
    match ctx.verify_failed.take() {
        Some(errors) => Err(UpgradeError::VerifyErrors { errors, left }),
        None => Ok(Done::Upgraded {
            to: ctx.header.to.clone(),
            left,
        }),
    }
}

/// Once our intent file is written, it must stay ours: Ganeti's own
/// `gnt-cluster upgrade` rewrites its pid (or removes it when it rolls
/// back). What happened, if it did.
fn intruder(ctx: &Ctx<'_>) -> Option<String> {
    if !ctx.intent_ours {
        return None;
    }
    match Intent::read(&ctx.paths.host(&ctx.paths.intent_file())) {
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
fn appeared_intent(ctx: &Ctx<'_>, id: StepId) -> Option<String> {
    if id != StepId::WriteIntent || ctx.intent_ours {
        return None;
    }
    if !matches!(ctx.opts.mode, Mode::To(_)) {
        return gnt_cluster_holds_intent(ctx);
    }
    match Intent::read(&ctx.paths.host(&ctx.paths.intent_file())) {
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
    std::fs::read(format!("/proc/{pid}/cmdline"))
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
fn gnt_cluster_holds_intent(ctx: &Ctx<'_>) -> Option<String> {
    let i = Intent::read(&ctx.paths.host(&ctx.paths.intent_file()))
        .ok()
        .flatten()?;
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
fn foreign_intent_before_ours(ctx: &Ctx<'_>, state: &State) -> Option<String> {
    let i = Intent::read(&ctx.paths.host(&ctx.paths.intent_file()))
        .ok()
        .flatten()?;
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
            ctx.journal.path().display(),
            settings::MARKER,
        )
    })
}

/// Makes the intent file ours again at the start of a resume (the crashed
/// run's pid is in it), unless Ganeti's own upgrade is running on it now.
fn take_intent(ctx: &mut Ctx<'_>) -> Result<(), UpgradeError> {
    if let Some(holder) = gnt_cluster_holds_intent(ctx) {
        return Err(UpgradeError::AnotherProcess {
            detail: holder,
            step: "resume",
        });
    }
    steps::write_our_intent(ctx).map_err(|e| UpgradeError::Journal(chain(&e)))?;
    ctx.intent_ours = true;
    Ok(())
}

/// Undoes every step that started before the point of no return, in
/// reverse; then, only if all succeeded, removes the intent file and the
/// journal. Signals are ignored meanwhile (SIGKILL and `--resume` still
/// work). The error says what is true.
fn rollback(ctx: &mut Ctx<'_>, reason: &str) -> UpgradeError {
    ctx.message(&format!("rolling back: {reason}"));
    if let Err(e) = ctx.record(&Record::RollingBack { at: epoch_secs() }) {
        ctx.message(&format!(
            "cannot record the rollback in the journal: {}",
            chain(&e)
        ));
    }
    let all = steps_for(ctx.header.transition);
    let ponr = point_of_no_return(ctx.header.transition);
    let mut undo: Vec<StepId> = all
        .iter()
        .take_while(|s| **s != ponr)
        .filter(|s| ctx.started.contains(s))
        .copied()
        .collect();
    undo.reverse();
    ctx.undone.clear();
    let mut failures = Vec::new();
    for id in undo {
        let Some(undo) = steps::row(id).undo else {
            continue;
        };
        ctx.exec.checkpoint(Checkpoint::Undo(id));
        ctx.current = Some(id);
        match undo(ctx) {
            Ok(()) => ctx.undone.push(id),
            Err(e) => failures.push(format!("undo {}: {e}", id.as_str())),
        }
    }
    ctx.interrupted.store(false, Ordering::SeqCst);
    if !failures.is_empty() {
        return UpgradeError::RollbackIncomplete {
            reason: reason.to_string(),
            failures,
        };
    }
    let finished = ctx
        .record(&Record::RolledBack { at: epoch_secs() })
        .map_err(|e| chain(&e))
        .and_then(|()| {
            Intent::remove_if_ours(
                &ctx.paths.host(&ctx.paths.intent_file()),
                &ctx.header.from_release,
                ctx.header.to.as_str(),
            )
            .map(|_| ())
            .map_err(|e| chain(&e))
        })
        .and_then(|()| ctx.journal.remove().map_err(|e| chain(&e)));
    if finished.is_ok() {
        // Stale without its journal anyway; removed for tidiness.
        let _ = settings::remove_marker(ctx.paths.root());
    }
    if let Err(e) = finished {
        return UpgradeError::RollbackIncomplete {
            reason: reason.to_string(),
            failures: vec![format!("removing the intent file and the journal: {e}")],
        };
    }
    UpgradeError::RolledBack {
        reason: reason.to_string(),
        from: ctx.header.from_dir.clone(),
        backup: ctx
            .facts
            .backup
            .as_ref()
            .map(|b| format!(" (the backup {} is kept)", b.display()))
            .unwrap_or_default(),
    }
}

/// Confirms mastership as the design asks: a majority of the online nodes
/// must name this node in their ssconf_master_node. Nodes that do not
/// answer (sshd not up yet after a power loss) are asked again for up to
/// `--vote-wait`, as long as they could still make a majority; dissent
/// that they cannot outvote refuses at once.
/// `--no-voting` skips the vote, as masterd's option does.
fn confirm_master(ctx: &Ctx<'_>, c: &Cluster) -> Result<(), UpgradeError> {
    if ctx.opts.no_voting {
        ctx.message("not asking the nodes to confirm the master (--no-voting)");
        return Ok(());
    }
    let file = ctx
        .paths
        .datadir()
        .join("ssconf_master_node")
        .display()
        .to_string();
    let deadline = std::time::Instant::now() + ctx.opts.vote_wait;
    loop {
        let results = ctx.exec.fan_out(
            c,
            &c.others(),
            &|_| vec!["cat".into(), file.clone()],
            &|_| {},
        );
        let votes = 1 + results
            .iter()
            .filter(|r| r.ok() && r.stdout.trim() == c.master)
            .count();
        if votes * 2 > c.online.len() {
            return Ok(());
        }
        // Silent: ssh could not reach the node (255) or the command was
        // killed; a node that answered otherwise has its say.
        let unreachable = |r: &&crate::ran::Ran| matches!(r.code, None | Some(255));
        let dissent: Vec<String> = results
            .iter()
            .filter(|r| !r.ok() || r.stdout.trim() != c.master)
            .filter(|r| !unreachable(r))
            .map(|r| {
                if r.ok() {
                    format!("{} names {}", r.node, r.stdout.trim())
                } else {
                    format!("{} cannot tell ({})", r.node, r.summary())
                }
            })
            .collect();
        let silent: Vec<String> = results
            .iter()
            .filter(unreachable)
            .map(|r| r.node.clone())
            .collect();
        // Wait while the silent nodes could still make a majority; a
        // dissent that they can outvote is no reason to give up.
        let could_win = (votes + silent.len()) * 2 > c.online.len();
        if !silent.is_empty() && could_win && std::time::Instant::now() < deadline {
            ctx.message(&format!(
                "waiting for {} to answer the master vote ({} of {} votes so far)",
                silent.join(", "),
                votes,
                c.online.len()
            ));
            std::thread::sleep(
                VOTE_RETRY.min(deadline.saturating_duration_since(std::time::Instant::now())),
            );
            continue;
        }
        let detail: Vec<String> = dissent
            .into_iter()
            .chain(silent.into_iter().map(|n| format!("{n} did not answer")))
            .collect();
        return Err(UpgradeError::MasterNotConfirmed {
            votes,
            online: c.online.len(),
            master: c.master.clone(),
            detail: format!(" ({})", detail.join("; ")),
        });
    }
}

/// Between two rounds of the master vote.
const VOTE_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

fn dry_run(
    paths: &InstallPaths,
    opts: &Options,
    exec: &dyn Exec,
    journal: &Journal,
    events: &Events<'_>,
    cluster: &Cluster,
) -> Result<Done, UpgradeError> {
    let pending = journal.load().ok().flatten().filter(|s| !s.rolled_back);
    let to = match (&opts.mode, &pending) {
        (Mode::Resume | Mode::Abort, _) | (Mode::To(_), Some(_)) => {
            // Never act in a dry run: show what a resume would do.
            if !events.json {
                events.plain("Dry run: nothing is changed. A resume would continue this:");
            }
            return status(paths, exec, opts, journal, events);
        }
        (Mode::To(to), None) => to.clone(),
        (Mode::Status, _) => return Ok(Done::Shown),
    };
    let (from_dir, transition, from_release) = transition_to(paths, exec.active_here(), &to)?;
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
    };
    let ctx = Ctx::new(paths, exec, journal, opts, events, &never, header);
    let all = steps_for(transition);
    let ponr = point_of_no_return(transition);
    let checks = crate::preflight::preflight(&ctx, cluster);
    let verdict = if checks.refusals.is_empty() {
        Ok(Done::Shown)
    } else {
        Err(UpgradeError::PlanRefused {
            refusals: checks.refusals.clone(),
        })
    };
    if events.json {
        events.document(serde_json::json!({"event": "preflight", "checks": checks}));
        for (i, id) in all.iter().enumerate() {
            let step = steps::row(*id);
            events.document(serde_json::json!({"event": "plan-step", "index": i + 1, "step": id, "title": step.title, "commands": (step.plan)(&ctx, cluster), "point_of_no_return": *id == ponr}));
        }
        return verdict;
    }
    events.plain(&format!(
        "Dry run: {} of cluster {} from {} ({}) to {}; online nodes: {} (master {} last); nothing is changed.",
        transition_name(transition),
        cluster.name,
        ctx.header.from_dir,
        ctx.header.from_release,
        ctx.header.to,
        cluster.online.join(", "),
        cluster.master
    ));
    for line in crate::preflight::render(&checks) {
        events.plain(&line);
    }
    events.plain("Steps:");
    for (i, id) in all.iter().enumerate() {
        let step = steps::row(*id);
        events.plain(&format!(
            "{:>2}. {} [{}]{}",
            i + 1,
            step.title,
            id.as_str(),
            if *id == ponr {
                "  <- point of no return"
            } else {
                ""
            }
        ));
        for line in (step.plan)(&ctx, cluster) {
            events.plain(&format!("      {line}"));
        }
    }
    verdict
}

/// One node's state in the current step, for `--status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInStep {
    pub node: String,
    /// `failed` (the last failure, of this step, named it), `skipped`
    /// (`--skip-node`), `offline` (ssconf), or `no-failure` (nothing
    /// recorded against it: done or not reached; every step is re-run
    /// whole on `--resume`, and each is idempotent).
    pub state: &'static str,
    /// For `failed`, the first line of the failure; for `skipped`, how to
    /// bring it up to date.
    pub detail: String,
}

/// The step a pending upgrade stands at (the first one of its table not
/// done) and each node's state in it: the cluster's nodes from ssconf
/// (`cluster`), plus skipped nodes ssconf no longer names. `None` when
/// every step is done. Pure: reads the journal's state only.
pub fn current_step(s: &State, cluster: Option<&Cluster>) -> Option<(StepId, Vec<NodeInStep>)> {
    // A rollback under way stands at no forward step (its undo failures
    // are not recorded per node; --resume finishes it).
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

/// `--status`: one JSON document, or text. Reads only.
fn status(
    paths: &InstallPaths,
    exec: &dyn Exec,
    opts: &Options,
    journal: &Journal,
    events: &Events<'_>,
) -> Result<Done, UpgradeError> {
    let intent = Intent::read(&paths.host(&paths.intent_file()))
        .ok()
        .flatten();
    let state = journal.load();
    let active = exec.active_here();
    // Only a held lock has a holder worth naming; looking takes nothing.
    let lock_holder = NodeLock::held_by(paths);
    let cluster = Cluster::read(paths).ok();
    let offline = cluster
        .as_ref()
        .map(|c| c.offline.clone())
        .unwrap_or_default();
    let orphans = match (&state, &active) {
        (Ok(None), Some(v)) => {
            let never = AtomicBool::new(false);
            let ctx = Ctx::new(
                paths,
                exec,
                journal,
                opts,
                events,
                &never,
                stub_header(v.clone()),
            );
            crate::queue::orphan_filters(&ctx, false)
        }
        _ => 0,
    };
    if opts.json {
        let journal_json = match &state {
            Ok(Some(s)) => {
                let all = steps_for(s.header.transition);
                serde_json::json!({
                    "id": s.header.id,
                    "from": s.header.from_dir,
                    "from_release": s.header.from_release,
                    "to": s.header.to,
                    "transition": s.header.transition,
                    "started_at": format_date(s.header.started_at),
                    "rolling_back": s.rolling_back,
                    "rolled_back": s.rolled_back,
                    "last_failure": s.last_failure.as_ref().map(|(step, nodes, message)| serde_json::json!({"step": step, "nodes": nodes, "message": message})),
                    "steps": all.iter().map(|id| serde_json::json!({
                        "step": id,
                        "state": if s.is_done(*id) { "done" } else if s.has_started(*id) { "started" } else { "pending" },
                    })).collect::<Vec<_>>(),
                    "facts": s.facts,
                    "skipped_nodes": s.skipped,
                    "current_step": current_step(s, cluster.as_ref()).map(|(step, nodes)| serde_json::json!({
                        "step": step,
                        "nodes": nodes.iter().map(|n| serde_json::json!({"node": n.node, "state": n.state, "detail": n.detail})).collect::<Vec<_>>(),
                    })),
                })
            }
            Ok(None) => serde_json::Value::Null,
            Err(e) => serde_json::json!({"error": chain(e)}),
        };
        events.document(serde_json::json!({
            "active": active,
            "intent": intent,
            "journal": journal_json,
            "lock_holder": lock_holder,
            "offline_nodes": offline,
            "orphan_filters": orphans,
        }));
        return Ok(Done::Shown);
    }
    events.plain(&format!(
        "active version: {}",
        active
            .map(|v| v.to_string())
            .unwrap_or_else(|| "none or inconsistent".into())
    ));
    if let Some(holder) = &lock_holder {
        events.plain(&format!("running now: {holder}"));
    }
    if !offline.is_empty() {
        events.plain(&format!("offline nodes: {}", offline.join(", ")));
    }
    if orphans > 0 {
        events.plain(&format!(
            "{orphans} job filter(s) of an earlier ganeti-upgrade are left, with no journal: jobs stay paused; ganeti-upgrade --resume removes them"
        ));
    }
    match (&state, &intent) {
        (Ok(None), None) => events.plain("no upgrade pending"),
        (Ok(None), Some(i)) if i.target.starts_with(OUR_TARGET_PREFIX) => events.plain(&format!(
            "an intent file of ganeti-upgrade ({} to {}, pid {}) is left without its journal: ganeti-upgrade --resume says what to check",
            i.running,
            i.target_version(),
            i.pid
        )),
        (Ok(None), Some(i)) => events.plain(&format!(
            "an upgrade started by gnt-cluster upgrade is pending: {} to {} (pid {})",
            i.running, i.target, i.pid
        )),
        (Ok(Some(s)), _) if s.rolled_back => events
            .plain("an upgrade was rolled back; its journal is left (the next run removes it)"),
        (Ok(Some(s)), _) => {
            events.plain(&format!(
                "upgrade {} pending{}: {} ({}) to {}, started at {}",
                s.header.id,
                if s.rolling_back { " as a rollback" } else { "" },
                s.header.from_dir,
                s.header.from_release,
                s.header.to,
                format_date(s.header.started_at)
            ));
            if let Some((step, nodes, message)) = &s.last_failure {
                events.plain(&format!(
                    "last failure: {}{}: {}",
                    step.as_str(),
                    if nodes.is_empty() {
                        String::new()
                    } else {
                        format!(" on {}", nodes.join(", "))
                    },
                    message.lines().next().unwrap_or("")
                ));
            }
            for id in steps_for(s.header.transition) {
                let mark = if s.is_done(id) {
                    "done"
                } else if s.has_started(id) {
                    "started"
                } else {
                    ""
                };
                events.plain(&format!("  {:<22} {mark}", id.as_str()));
            }
            if s.rolling_back {
                events.plain("rolling back: undoing the steps that started, in reverse; --resume finishes the rollback");
            }
            if let Some((step, nodes)) = current_step(s, cluster.as_ref()) {
                events.plain(&if s.has_started(step) {
                    format!("current step: {} (started)", step.as_str())
                } else {
                    format!("next step: {} (not started)", step.as_str())
                });
                let width = nodes.iter().map(|n| n.node.len()).max().unwrap_or(0);
                for n in nodes {
                    events.plain(&format!(
                        "  {:<width$}  {}{}",
                        n.node,
                        match n.state {
                            "no-failure" => "no failure recorded",
                            other => other,
                        },
                        if n.detail.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", n.detail)
                        }
                    ));
                }
            }
            let ponr = point_of_no_return(s.header.transition);
            if s.has_started(ponr) || s.rolling_back {
                events.plain("continue it with: ganeti-upgrade --resume");
            } else {
                events.plain("continue it with: ganeti-upgrade --resume (or roll it back with ganeti-upgrade --abort: the configuration change has not started)");
            }
        }
        (Err(e), _) => events.plain(&chain(e)),
    }
    Ok(Done::Shown)
}
