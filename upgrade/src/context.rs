//! What a step sees: the run's options, the journal, the executor, the
//! facts learned so far and the progress output. Steps use [`Ctx`] and
//! nothing of the engine, so the step table reads on its own.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ganeti_layout::InstallPaths;

use crate::clock::{epoch_secs, format_date};
use crate::cluster::Cluster;
use crate::error::StepError;
use crate::exec::{Exec, Ran};
use crate::journal::{Facts, Header, Journal, JournalError, Record};
use crate::luxi::{Luxi, LuxiError};
pub use crate::options::{Mode, Options};
use crate::step_id::StepId;

/// Where progress lines go. Writing is best-effort: progress must never
/// kill an upgrade (a closed pipe, a hung-up terminal).
pub trait Output: Sync {
    fn line(&self, text: &str);
}

/// Standard output; after the first failed write (EPIPE, EIO) it stays
/// silent and the run goes on, with commands.log as its record.
#[derive(Default)]
pub struct Stdout {
    broken: AtomicBool,
}

impl Output for Stdout {
    fn line(&self, text: &str) {
        if self.broken.load(Ordering::Relaxed) {
            return;
        }
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
            self.broken.store(true, Ordering::Relaxed);
        }
    }
}

/// Standard error, best-effort in the same way.
#[derive(Default)]
pub struct Stderr {
    broken: AtomicBool,
}

impl Output for Stderr {
    fn line(&self, text: &str) {
        if !self.broken.load(Ordering::Relaxed) && writeln!(std::io::stderr(), "{text}").is_err() {
            self.broken.store(true, Ordering::Relaxed);
        }
    }
}

/// The version of the JSON documents and events (`"format": 1`).
pub const JSON_FORMAT: u32 = 1;

/// Progress: human lines, or one JSON object per line.
pub struct Events<'a> {
    pub json: bool,
    pub out: &'a dyn Output,
}

impl Events<'_> {
    fn emit(&self, mut value: serde_json::Value, human: String) {
        if self.json {
            if let Some(map) = value.as_object_mut() {
                map.insert("format".into(), JSON_FORMAT.into());
            }
            self.out.line(&value.to_string());
        } else if !human.is_empty() {
            self.out.line(&human);
        }
    }
    pub fn step_start(&self, step: StepId, title: &str, index: usize, total: usize) {
        self.emit(
            serde_json::json!({"event": "step-start", "step": step, "index": index, "total": total, "time": format_date(epoch_secs())}),
            format!("[{index}/{total}] {title}"),
        );
    }
    pub fn step_end(&self, step: StepId, ok: bool, detail: &str) {
        self.emit(
            serde_json::json!({"event": "step-end", "step": step, "ok": ok, "detail": detail, "time": format_date(epoch_secs())}),
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
            serde_json::json!({"event": "message", "message": text, "time": format_date(epoch_secs())}),
            format!("  {text}"),
        );
    }
    /// A line as it is (plans and status in text mode).
    pub fn plain(&self, text: &str) {
        self.out.line(text);
    }
    /// A whole JSON document.
    pub fn document(&self, mut value: serde_json::Value) {
        if let Some(map) = value.as_object_mut() {
            map.insert("format".into(), JSON_FORMAT.into());
        }
        self.out.line(&value.to_string());
    }
}

/// How long a fan-out runs before it names the nodes it waits for (and
/// again after each such interval).
pub const WAIT_NOTICE: Duration = Duration::from_secs(10);

/// Above this many nodes, the `ok` lines of a fan-out fold into one count.
pub const FOLD_AT: usize = 20;

/// Everything a step needs.
pub struct Ctx<'a> {
    pub paths: &'a InstallPaths,
    pub exec: &'a dyn Exec,
    pub journal: &'a Journal,
    pub opts: &'a Options,
    pub events: &'a Events<'a>,
    pub interrupted: &'a AtomicBool,
    pub header: Header,
    pub facts: Facts,
    /// The step running (or being undone) now.
    pub current: Option<StepId>,
    /// Steps this upgrade has started, from the journal and this run: what
    /// a rollback undoes.
    pub started: Vec<StepId>,
    /// Steps undone by the rollback under way.
    pub undone: Vec<StepId>,
    /// Whether the intent file holds this process's pid (written or
    /// rewritten by this run): from then on it is checked before each step.
    pub intent_ours: bool,
    /// Nodes left out of this upgrade (`--skip-node`, from the journal too).
    pub skipped: Vec<String>,
    /// How long each step took in this run, in order.
    pub timings: Vec<(StepId, Duration)>,
    pub verify_failed: Option<String>,
}

impl<'a> Ctx<'a> {
    /// A context for `header` that has done nothing yet.
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
            journal,
            opts,
            events,
            interrupted,
            header,
            facts: Facts::default(),
            current: None,
            started: Vec::new(),
            undone: Vec::new(),
            intent_ours: false,
            skipped: Vec::new(),
            timings: Vec::new(),
            verify_failed: None,
        }
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
    pub fn tool(&self, path: std::path::PathBuf, args: &[&str]) -> Vec<String> {
        let mut v = vec![path.display().to_string()];
        v.extend(args.iter().map(|s| s.to_string()));
        v
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
    /// A progress message, also in commands.log.
    pub fn message(&self, text: &str) {
        self.events.message(text);
        self.exec.log_line(text);
    }
    /// Appends to the journal.
    pub fn record(&self, record: &Record) -> Result<(), JournalError> {
        self.journal.append(record)
    }
    /// Records facts durably before the step acts on them.
    pub fn remember(&mut self, facts: Facts) -> Result<(), StepError> {
        if let Some(step) = self.current {
            self.record(&Record::Facts {
                step,
                facts: facts.clone(),
            })
            .map_err(StepError::io)?;
        }
        self.facts.merge(&facts);
        Ok(())
    }
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }
    /// Runs on the master; a failure is the step's failure.
    pub fn local(&self, argv: &[String]) -> Result<Ran, StepError> {
        let ran = self.exec.local(&self.master_name(), argv);
        if ran.ok() {
            Ok(ran)
        } else {
            self.events.node(self.current, &ran);
            Err(StepError::ran(ran))
        }
    }
    /// Runs on the given nodes (master last), each result shown as it
    /// arrives; every result is returned. While it runs, every
    /// [`WAIT_NOTICE`] it says which nodes it still waits for. Above
    /// [`FOLD_AT`] nodes the `ok` lines fold into one count at the end
    /// (failures are always one line each; JSON shows every node).
    pub fn each_node(
        &self,
        c: &Cluster,
        nodes: &[String],
        argv_for: &(dyn Fn(&str) -> Vec<String> + Sync),
    ) -> Vec<Ran> {
        let step = self.current;
        let events = self.events;
        let fold = nodes.len() > FOLD_AT && !events.json;
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let results = std::thread::scope(|s| {
            // The sender moves into the worker: when the fan-out returns,
            // the channel closes and the loop below ends at once.
            let worker = s.spawn(move || {
                self.exec.fan_out(c, nodes, argv_for, &|ran| {
                    if !(fold && ran.ok()) {
                        events.node(step, ran);
                    }
                    let _ = tx.send(ran.node.clone());
                })
            });
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
                match rx.recv_timeout(wait) {
                    Ok(node) => {
                        pending.retain(|n| **n != node);
                        if pending.is_empty() && master_last && node != c.master {
                            pending.push(&c.master);
                        }
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        let shown: Vec<&str> =
                            pending.iter().take(10).map(|n| n.as_str()).collect();
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
            // A panic in the fan-out (a test's simulated kill) goes on up.
            worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        if fold {
            let ok = results.iter().filter(|r| r.ok()).count();
            events.plain(&format!("  {ok} of {} nodes ok", results.len()));
        }
        results
    }
    /// As [`Ctx::each_node`]; every node must succeed.
    pub fn on_nodes(
        &self,
        c: &Cluster,
        nodes: &[String],
        argv_for: &(dyn Fn(&str) -> Vec<String> + Sync),
    ) -> Result<Vec<Ran>, StepError> {
        let results = self.each_node(c, nodes, argv_for);
        let failed: Vec<Ran> = results.iter().filter(|r| !r.ok()).cloned().collect();
        if failed.is_empty() {
            Ok(results)
        } else {
            Err(StepError::Commands(failed))
        }
    }

    /// Runs `call` over LUXI (what Ganeti's own upgrade does: no Python start-up
    /// per call). `None`, logged, means: use the command-line tool instead, as
    /// when luxid is not there or refuses (see [`crate::luxi`]).
    pub fn by_luxi<T>(
        &self,
        what: &str,
        call: impl FnOnce(&Luxi) -> Result<T, LuxiError>,
    ) -> Option<T> {
        self.luxi_attempt(what, call).ok()
    }

    /// As [`Ctx::by_luxi`], keeping the error: the caller must know whether the call
    /// may have been carried out (its answer lost) before it repeats it.
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
