//! What a step sees ([`Ctx`]): the node's paths, the executor, the run's
//! options, the events, the journal's header and the facts learned so far.
//! A step reads these, runs Ganeti's commands through the helpers here,
//! records facts before it acts on them, and returns what it found
//! ([`Outcome`]); the engine's own bookkeeping (which steps started, which
//! were undone, timings, whether the intent file is ours) stays in the
//! engine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ganeti_layout::node::InstallPaths;

use crate::cluster::Cluster;
use crate::error::StepError;
use crate::events::{Event, Events};
use crate::exec::Exec;
use crate::ganeti::{Call, GanetiCmd, Switch};
use crate::journal::{Facts, Header, Journal, JournalError, Record};
use crate::luxi::{Luxi, LuxiError};
pub use crate::options::{Mode, Options};
use crate::ran::Ran;
use crate::step_id::StepId;

/// How long a fan-out runs before it names the nodes it waits for (and
/// again after each such interval).
pub const WAIT_NOTICE: Duration = Duration::from_secs(10);

/// Above this many nodes, the `ok` lines of a fan-out fold into one count.
pub const FOLD_AT: usize = 20;

/// What a step found: facts for the journal, and (`verify-cluster`) the
/// errors `gnt-cluster verify` reported, which do not stop the run but
/// decide how it ends (exit 3).
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub facts: Facts,
    pub verify_errors: Option<String>,
}

impl From<Facts> for Outcome {
    fn from(facts: Facts) -> Outcome {
        Outcome {
            facts,
            verify_errors: None,
        }
    }
}

/// Everything a step needs.
pub struct Ctx<'a> {
    pub paths: &'a InstallPaths,
    pub exec: &'a dyn Exec,
    pub opts: &'a Options,
    pub events: &'a Events<'a>,
    pub header: Header,
    pub facts: Facts,
    journal: &'a Journal,
    interrupted: &'a AtomicBool,
    /// The step running (or being undone) now.
    step: Option<StepId>,
    /// Nodes left out of this upgrade (`--skip-node`, from the journal too).
    skipped: Vec<String>,
    /// Whether a signal ends a wait for a node that stopped answering: in
    /// the steps before the point of no return (a signal there means roll
    /// back), not after it nor in a rollback, which go on to the end.
    signal_ends_wait: bool,
    /// Nodes a wait for a node that stopped answering gave up on in this
    /// run: not waited for again (a rollback after a dead node would wait
    /// once per undo step).
    given_up: std::sync::Mutex<Vec<String>>,
    /// Since when (epoch seconds, [`Ctx::now`]) new jobs are held: when
    /// stop-new-work first started, in this run or the one it resumes.
    held_since: Option<u64>,
}

impl<'a> Ctx<'a> {
    /// A context for `header` that has learned nothing yet.
    pub fn new(
        paths: &'a InstallPaths,
        exec: &'a dyn Exec,
        journal: &'a Journal,
        opts: &'a Options,
        events: &'a Events<'a>,
        interrupted: &'a AtomicBool,
        header: Header,
    ) -> Ctx<'a> {
        Ctx {
            paths,
            exec,
            opts,
            events,
            header,
            facts: Facts::default(),
            journal,
            interrupted,
            step: None,
            skipped: Vec::new(),
            signal_ends_wait: false,
            given_up: std::sync::Mutex::new(Vec::new()),
            held_since: None,
        }
    }

    /// The same, with the facts and skipped nodes a journal recorded.
    pub fn resumed(mut self, facts: Facts, skipped: Vec<String>) -> Ctx<'a> {
        self.facts = facts;
        self.skipped = skipped;
        self
    }

    /// The same, holding new jobs since `since` (epoch seconds; from the
    /// journal: when stop-new-work first started).
    pub fn held_since(mut self, since: Option<u64>) -> Ctx<'a> {
        self.held_since = since;
        self
    }

    /// New jobs are held from `at` on (stop-new-work starts), unless they
    /// already were.
    pub fn hold_began(&mut self, at: u64) {
        self.held_since.get_or_insert(at);
    }

    /// New jobs run again (resume-work is done).
    pub fn hold_ended(&mut self) {
        self.held_since = None;
    }

    /// How long new jobs have been held, in seconds; `None`: they are not.
    pub fn held_for(&self) -> Option<u64> {
        self.held_since.map(|t| self.now().saturating_sub(t))
    }

    /// Whether new jobs have been held longer than `--max-hold` allows: the
    /// reason to roll back, naming the figures and the way forward.
    /// `at`: the step about to start, or waiting.
    pub fn hold_budget_spent(&self, at: StepId) -> Option<String> {
        let budget = self.opts.run.max_hold()?;
        let held = self.held_for()?;
        (held > budget).then(|| {
            format!(
                "new jobs have been held for {held} s, longer than --max-hold allows before the configuration change ({budget} s), at {at}\nhint: run again when the queue is quieter (gnt-job list shows what runs), or with a larger --max-hold"
            )
        })
    }

    /// The step running (or being undone) now.
    pub fn step(&self) -> Option<StepId> {
        self.step
    }
    /// The engine enters a step (or its undo).
    pub fn enter(&mut self, step: StepId) {
        self.step = Some(step);
    }
    /// Whether a signal ends a wait for a node that stopped answering (see
    /// [`Ctx::each_node`]): true in the steps before the point of no
    /// return, false after it and in a rollback.
    pub fn signal_ends_wait(&mut self, yes: bool) {
        self.signal_ends_wait = yes;
    }
    /// Nodes left out of this upgrade.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }
    /// Leaves `nodes` out from now on (`--resume --skip-node`).
    pub fn skip(&mut self, nodes: &[String]) {
        for n in nodes {
            if !self.skipped.contains(n) {
                self.skipped.push(n.clone());
            }
        }
    }
    pub fn journal(&self) -> &Journal {
        self.journal
    }

    /// The cluster as ssconf says now, less the skipped nodes.
    pub fn cluster(&self) -> Result<Cluster, StepError> {
        Cluster::read(self.paths)
            .map(|c| c.without(&self.skipped))
            .map_err(StepError::io)
    }
    pub fn master_name(&self) -> String {
        Cluster::read(self.paths)
            .map(|c| c.master)
            .unwrap_or_else(|_| self.exec.this_host())
    }
    /// `cmd` for this node's paths.
    pub fn call(&self, cmd: GanetiCmd) -> Call {
        Call::new(cmd, self.paths)
    }
    /// `ganeti-switch` as the nodes have it (`--switch-command`).
    pub fn switch(&self, action: Switch) -> GanetiCmd {
        GanetiCmd::Switch {
            tool: self.opts.run.switch_command.clone(),
            action,
        }
    }
    /// A progress message, also in commands.log.
    pub fn message(&self, text: &str) {
        self.events.message(text);
        self.exec.log_line(text);
    }
    /// Shows one node's result.
    pub fn show(&self, ran: &Ran) {
        self.events.emit(&Event::Node {
            step: self.step,
            ran,
        });
    }
    /// Appends to the journal.
    pub fn record(&self, record: &Record) -> Result<(), JournalError> {
        self.journal.append(record)
    }
    /// Records facts durably before the step acts on them.
    pub fn remember(&mut self, facts: Facts) -> Result<(), StepError> {
        if let Some(step) = self.step {
            self.record(&Record::Facts {
                step,
                facts: facts.clone(),
            })
            .map_err(StepError::io)?;
        }
        self.facts.merge(&facts);
        Ok(())
    }
    /// Now, in seconds since the Unix epoch, as [`Exec::now`] reads it.
    pub fn now(&self) -> u64 {
        self.exec.now()
    }
    /// Whether a signal (TERM, INT, HUP) has come.
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }
    /// Forgets a signal (past the point of no return, and after a
    /// rollback, signals are noted and ignored).
    pub fn clear_interrupt(&self) {
        self.interrupted.store(false, Ordering::SeqCst);
    }
    /// Runs on the master, as it answers (the caller judges the result).
    pub fn run_local(&self, cmd: GanetiCmd) -> Ran {
        self.exec.local(&self.master_name(), &self.call(cmd))
    }
    /// Runs on the master; a failure is the step's failure.
    pub fn local(&self, cmd: GanetiCmd) -> Result<Ran, StepError> {
        let ran = self.run_local(cmd);
        if ran.ok() {
            Ok(ran)
        } else {
            self.show(&ran);
            Err(StepError::ran(ran))
        }
    }
    /// Runs `cmd_for(node)` on the given nodes (master last), each result
    /// shown as it arrives; every result is returned. While it runs, every
    /// [`WAIT_NOTICE`] it says which nodes it still waits for. Above
    /// [`FOLD_AT`] nodes the `ok` lines fold into one count at the end
    /// (failures are always one line each; JSON shows every node).
    ///
    /// A node (not the master) that could not be reached or stopped
    /// answering (ssh's exit 255: it reboots, say, mid-upgrade) is asked
    /// again, every five poll intervals, for up to `--node-wait`, and its
    /// command is run there once more as soon as it answers: every step is
    /// idempotent, and a node that comes back from a reboot has its daemons
    /// started by its init, which the step then handles as it would have.
    /// It says which nodes it waits for. Before the point of no return a
    /// signal ends the wait (the rollback starts).
    pub fn each_node(
        &self,
        c: &Cluster,
        nodes: &[String],
        cmd_for: &(dyn Fn(&str) -> GanetiCmd + Sync),
    ) -> Vec<Ran> {
        let results = self.each_node_once(c, nodes, cmd_for);
        self.again_when_back(c, results, &|back| self.each_node_once(c, back, cmd_for))
    }
    /// `results` of a command run on nodes, where the result of each node
    /// (not the master) that stopped answering (ssh's exit 255) is replaced
    /// by `rerun`'s once it answers again, within `--node-wait` (see
    /// [`Ctx::each_node`]); a signal ends the wait where
    /// [`Ctx::signal_ends_wait`] says so.
    pub fn again_when_back(
        &self,
        c: &Cluster,
        mut results: Vec<Ran>,
        rerun: &dyn Fn(&[String]) -> Vec<Ran>,
    ) -> Vec<Ran> {
        let given_up: Vec<String> = self.given_up.lock().map(|g| g.clone()).unwrap_or_default();
        let lost = |r: &Ran| {
            r.code == Some(255)
                && r.node != c.master
                && !given_up.contains(&r.node)
                && !refused_for_good(r)
        };
        if self.opts.node_wait.is_zero() || !results.iter().any(lost) {
            return results;
        }
        let deadline = crate::clock::deadline_after(self.opts.node_wait);
        let pause = self.opts.poll_interval * 5;
        let mut said: Vec<String> = Vec::new();
        loop {
            let silent: Vec<String> = results
                .iter()
                .filter(|r| lost(r))
                .map(|r| r.node.clone())
                .collect();
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if silent.is_empty() {
                return results;
            }
            let signalled = self.signal_ends_wait && self.interrupted();
            if left.is_zero() || signalled {
                self.message(&format!(
                    "stopped waiting for {} ({}); not waiting for {} again in this run",
                    silent.join(", "),
                    if signalled {
                        "a signal".to_string()
                    } else {
                        format!("--node-wait {} s", self.opts.node_wait.as_secs())
                    },
                    if silent.len() == 1 { "it" } else { "them" }
                ));
                if let Ok(mut g) = self.given_up.lock() {
                    g.extend(silent);
                }
                return results;
            }
            if said != silent {
                self.message(&format!(
                    "{} stopped answering (ssh exit 255); waiting up to {} s for {} to come back (a reboot?), then running the command there again",
                    silent.join(", "),
                    left.as_secs(),
                    if silent.len() == 1 { "it" } else { "them" }
                ));
                said = silent.clone();
            }
            std::thread::sleep(pause.min(left));
            let probe = self.call(GanetiCmd::ReadMasterNode);
            let back: Vec<String> = self
                .exec
                .fan_out(c, &silent, &|_| probe.clone(), &|_| {})
                .into_iter()
                .filter(|r| r.ok())
                .map(|r| r.node)
                .collect();
            if back.is_empty() {
                continue;
            }
            self.message(&format!("{} answers again", back.join(", ")));
            for again in rerun(&back) {
                if let Some(slot) = results.iter_mut().find(|r| r.node == again.node) {
                    *slot = again;
                }
            }
        }
    }
    /// One round of [`Ctx::each_node`].
    fn each_node_once(
        &self,
        c: &Cluster,
        nodes: &[String],
        cmd_for: &(dyn Fn(&str) -> GanetiCmd + Sync),
    ) -> Vec<Ran> {
        let fold = nodes.len() > FOLD_AT && !self.events.json;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let call_for = |node: &str| self.call(cmd_for(node));
        let results = std::thread::scope(|s| {
            // The sender moves into the worker: when the fan-out returns,
            // the channel closes and the wait below ends at once.
            let worker = s.spawn(move || {
                self.exec.fan_out(c, nodes, &call_for, &|ran| {
                    if !(fold && ran.ok()) {
                        self.show(ran);
                    }
                    let _ = tx.send(ran.node.clone());
                })
            });
            self.notice_while_waiting(c, nodes, &rx);
            // A panic in the fan-out (a test's simulated kill) goes on up.
            worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        if fold {
            let ok = results.iter().filter(|r| r.ok()).count();
            self.events
                .line(format!("  {ok} of {} nodes ok", results.len()));
        }
        results
    }
    /// Until the fan-out's channel closes, names the nodes it still waits
    /// for every [`WAIT_NOTICE`].
    fn notice_while_waiting(
        &self,
        c: &Cluster,
        nodes: &[String],
        done: &std::sync::mpsc::Receiver<String>,
    ) {
        // The master runs after all the others: until then it is not
        // waited for.
        let master_last = nodes.contains(&c.master) && nodes.len() > 1;
        let mut pending: Vec<&String> = nodes
            .iter()
            .filter(|n| !(master_last && **n == c.master))
            .collect();
        let started = std::time::Instant::now();
        let mut next_notice = WAIT_NOTICE;
        loop {
            let wait = next_notice.saturating_sub(started.elapsed());
            match done.recv_timeout(wait) {
                Ok(node) => {
                    pending.retain(|n| **n != node);
                    if pending.is_empty() && master_last && node != c.master {
                        pending.push(&c.master);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let shown: Vec<&str> = pending.iter().take(10).map(|n| n.as_str()).collect();
                    self.message(&format!(
                        "still waiting for {} node(s) after {} s: {}{}",
                        pending.len(),
                        started.elapsed().as_secs(),
                        shown.join(", "),
                        if pending.len() > shown.len() {
                            ", ..."
                        } else {
                            ""
                        }
                    ));
                    next_notice += WAIT_NOTICE;
                }
            }
        }
    }
    /// As [`Ctx::each_node`]; every node must succeed.
    pub fn on_nodes(
        &self,
        c: &Cluster,
        nodes: &[String],
        cmd_for: &(dyn Fn(&str) -> GanetiCmd + Sync),
    ) -> Result<Vec<Ran>, StepError> {
        let results = self.each_node(c, nodes, cmd_for);
        let failed: Vec<Ran> = results.iter().filter(|r| !r.ok()).cloned().collect();
        if failed.is_empty() {
            Ok(results)
        } else {
            Err(StepError::Commands(failed))
        }
    }

    /// Runs `call` over LUXI (what Ganeti's own upgrade does: no Python
    /// start-up per call). `None`, logged, means: use the command-line tool
    /// instead, as when luxid is not there or refuses (see
    /// [`crate::luxi`]).
    pub fn by_luxi<T>(
        &self,
        what: &str,
        call: impl FnOnce(&Luxi) -> Result<T, LuxiError>,
    ) -> Option<T> {
        self.luxi_attempt(what, call).ok()
    }

    /// As [`Ctx::by_luxi`], keeping the error: the caller must know whether
    /// the call may have been carried out (its answer lost) before it
    /// repeats it.
    pub fn luxi_attempt<T>(
        &self,
        what: &str,
        call: impl FnOnce(&Luxi) -> Result<T, LuxiError>,
    ) -> Result<T, Option<LuxiError>> {
        let Some(socket) = self.exec.luxi_socket() else {
            return Err(None);
        };
        let luxi = Luxi::new(socket);
        let start = std::time::Instant::now();
        let master = self.master_name();
        match call(&luxi) {
            Ok(v) => {
                self.exec.log_line(&format!(
                    "{master}: LUXI {what} -> ok ({} ms)",
                    start.elapsed().as_millis()
                ));
                Ok(v)
            }
            Err(e) => {
                self.exec
                    .log_line(&format!("{master}: {e}; using the command-line tool"));
                Err(Some(e))
            }
        }
    }
}

/// Whether ssh's exit 255 says the node will not take us however long we
/// wait (our key refused, its host key changed): no reboot mends that, so
/// [`Ctx::again_when_back`] does not wait for it.
fn refused_for_good(r: &Ran) -> bool {
    let e = r.stderr.to_ascii_lowercase();
    e.contains("permission denied")
        || e.contains("host key verification failed")
        || e.contains("remote host identification has changed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh(stderr: &str) -> Ran {
        Ran {
            node: "node2.example".into(),
            command: "ganeti-switch installed 3.1".into(),
            code: Some(255),
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }

    /// A key refused or a changed host key is no reboot: not waited for.
    #[test]
    fn only_a_node_that_may_come_back_is_waited_for() {
        assert!(refused_for_good(&ssh(
            "root@node2.example: Permission denied (publickey).\n"
        )));
        assert!(refused_for_good(&ssh("Host key verification failed.\n")));
        assert!(refused_for_good(&ssh(
            "@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
        )));
        assert!(!refused_for_good(&ssh(
            "ssh: connect to host node2.example port 22: Connection refused\n"
        )));
        assert!(!refused_for_good(&ssh(
            "ssh: connect to host node2.example port 22: No route to host\n"
        )));
    }
}
