//! The upgrade's journal: an append-only file of JSON lines next to the
//! intent file, each record written with one `write(2)` on an `O_APPEND`
//! descriptor and fsynced (the directory too when the file is created).
//! A header records the true starting version once, so a resumed run never
//! forgets it (upstream rewrites the intent's first field on a redo); then one
//! record when a step starts and one when it is done, with the facts later
//! steps need (our filter's uuid, whether we drained or paused the watcher).
//!
//! A torn last line (power loss in the middle of a write) is ignored: the
//! step it described is simply redone, and every step is idempotent.

use fs_err::os::unix::fs::OpenOptionsExt;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::transition::Transition;
use ganeti_layout::node::durable::{fsync_dir, io_error, DurableError};
use ganeti_layout::node::{DirVersion, InstallPaths, Node};

use crate::step_id::StepId;

pub const JOURNAL_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Header {
    pub format: u32,
    /// Upgrade id, also in our filter's reason.
    pub id: String,
    /// Release of the version the cluster ran when the upgrade started.
    pub from_release: String,
    pub from_dir: DirVersion,
    pub to: DirVersion,
    pub transition: Transition,
    pub started_at: u64,
    /// The options the upgrade was started with (absent in journals of
    /// earlier versions of this tool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<crate::settings::Settings>,
    /// The cluster (`ssconf_cluster_name`) the upgrade was started on
    /// (absent in journals of earlier versions of this tool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Its master when the upgrade started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<String>,
}

impl Header {
    /// A header for the checks that run without an upgrade (orphan
    /// filters): nothing in them reads it.
    pub fn for_checks(v: DirVersion) -> Header {
        Header {
            format: JOURNAL_FORMAT,
            id: String::new(),
            from_release: String::new(),
            from_dir: v.clone(),
            to: v,
            transition: Transition::Same,
            started_at: 0,
            settings: None,
            cluster: None,
            master: None,
        }
    }
}

/// Facts a step learned that later steps (or a rollback) need.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Facts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drained_by_us: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watcher_paused_by_us: Option<bool>,
    /// The end (epoch seconds) of the admin's own watcher pause, which we
    /// extended and give back at unpause-watcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watcher_admin_until: Option<u64>,
    /// The end (epoch seconds) of the watcher pauses we wrote on the nodes
    /// last; unpause-watcher removes a node's pause whose end is exactly
    /// this or one of `watcher_node_values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watcher_node_until: Option<u64>,
    /// Every end this upgrade wrote on the nodes (a resume hours later
    /// writes a new one; a node unreachable then keeps the old), so that
    /// the unpause, and the commands printed for a node left out, find
    /// each. Empty in journals written before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watcher_node_values: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<PathBuf>,
}

impl Facts {
    /// Every watcher pause end this upgrade wrote on the nodes.
    pub fn node_pause_values(&self) -> Vec<u64> {
        let mut values = self.watcher_node_values.clone();
        if let Some(v) = self.watcher_node_until {
            if !values.contains(&v) {
                values.push(v);
            }
        }
        values
    }

    pub fn merge(&mut self, other: &Facts) {
        if other.filter_uuid.is_some() {
            self.filter_uuid.clone_from(&other.filter_uuid);
        }
        if other.drained_by_us.is_some() {
            self.drained_by_us = other.drained_by_us;
        }
        if other.watcher_paused_by_us.is_some() {
            self.watcher_paused_by_us = other.watcher_paused_by_us;
        }
        if other.watcher_admin_until.is_some() {
            self.watcher_admin_until = other.watcher_admin_until;
        }
        if other.watcher_node_until.is_some() {
            self.watcher_node_until = other.watcher_node_until;
        }
        for v in &other.watcher_node_values {
            if !self.watcher_node_values.contains(v) {
                self.watcher_node_values.push(*v);
            }
        }
        if other.backup.is_some() {
            self.backup.clone_from(&other.backup);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
pub enum Record {
    Header(Box<Header>),
    Started {
        step: StepId,
        at: u64,
    },
    Done {
        step: StepId,
        at: u64,
        #[serde(default)]
        facts: Facts,
    },
    /// What a step learned before acting (so a crash in the middle of the
    /// step does not lose it: "the queue was not drained before us").
    Facts {
        step: StepId,
        facts: Facts,
    },
    /// A step failed; on these nodes (empty: not a node's command), and why.
    Failed {
        step: StepId,
        at: u64,
        #[serde(default)]
        nodes: Vec<String>,
        message: String,
    },
    /// From now on these nodes are left out (`--resume --skip-node`).
    Skipped {
        at: u64,
        nodes: Vec<String>,
    },
    /// A rollback began: a resume finishes the rollback, not the upgrade.
    RollingBack {
        at: u64,
    },
    /// A rollback finished: the upgrade is over and nothing is pending.
    RolledBack {
        at: u64,
    },
    /// A new master (`by`) took the upgrade over from the copy of the
    /// journal that the master it started on (`from`) kept there.
    TakenOver {
        at: u64,
        by: String,
        #[serde(default)]
        from: Option<String>,
    },
}

/// What the journal says, folded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct State {
    pub header: Header,
    pub started: Vec<StepId>,
    pub done: Vec<StepId>,
    pub facts: Facts,
    pub rolled_back: bool,
    pub rolling_back: bool,
    /// Nodes left out by `--skip-node`.
    pub skipped: Vec<String>,
    /// The last failure recorded, if any: (step, nodes, message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<(StepId, Vec<String>, String)>,
    /// Lines that were not a record (torn by a failed write, or damaged);
    /// each is skipped.
    #[serde(skip_serializing_if = "is_zero")]
    pub damaged_lines: usize,
    /// The master that took the upgrade over from the copy of the journal
    /// (a master-failover during the upgrade), if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken_over_by: Option<String>,
    /// Since when (epoch seconds) new jobs are held: when stop-new-work
    /// first started. A redo keeps the queue held, so it counts from there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_since: Option<u64>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl State {
    /// Folds one record in.
    fn apply(&mut self, record: Record) {
        let state = self;
        match record {
            Record::Header(_) => {}
            Record::Started { step, at } => {
                if step == StepId::StopNewWork && state.held_since.is_none() {
                    state.held_since = Some(at);
                }
                if !state.started.contains(&step) {
                    state.started.push(step);
                }
            }
            Record::Done { step, facts, .. } => {
                // A step done has started, even if its `started` record
                // was lost (torn): a rollback must undo it.
                if !state.started.contains(&step) {
                    state.started.push(step);
                }
                if !state.done.contains(&step) {
                    state.done.push(step);
                }
                if step == StepId::ResumeWork {
                    state.held_since = None;
                }
                state.facts.merge(&facts);
            }
            Record::Facts { facts, .. } => state.facts.merge(&facts),
            Record::Failed {
                step,
                nodes,
                message,
                ..
            } => state.last_failure = Some((step, nodes, message)),
            Record::Skipped { nodes, .. } => {
                for n in nodes {
                    if !state.skipped.contains(&n) {
                        state.skipped.push(n);
                    }
                }
            }
            Record::RollingBack { .. } => state.rolling_back = true,
            Record::RolledBack { .. } => state.rolled_back = true,
            Record::TakenOver { by, .. } => state.taken_over_by = Some(by),
        }
    }

    pub fn is_done(&self, step: StepId) -> bool {
        self.done.contains(&step)
    }
    pub fn has_started(&self, step: StepId) -> bool {
        self.started.contains(&step)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(transparent)]
    Io(#[from] DurableError),
    #[error("journal {path} has no valid header; it was not written by this tool or is damaged\nhint: check the cluster by hand (gnt-cluster verify, ganeti-switch check); remove the file once the cluster is consistent")]
    NoHeader { path: PathBuf },
    /// Empty, or its header line was never completed (a crash or a full
    /// disk while the journal was created): nothing was started.
    #[error("journal {path} is empty or its header was cut short")]
    Empty { path: PathBuf },
    #[error("journal {path} has format {found}; this tool reads format {JOURNAL_FORMAT}")]
    Format { path: PathBuf, found: u32 },
}

pub struct Journal {
    path: PathBuf,
}

impl Journal {
    /// The node's journal (`${localstatedir}/lib/ganeti/ganeti-upgrade.journal`).
    pub fn of(paths: &InstallPaths) -> Journal {
        Journal::at(&Node::new(paths).upgrade_journal_path())
    }
    /// A journal at `path` (a host path).
    pub fn at(path: &Path) -> Journal {
        Journal {
            path: path.to_path_buf(),
        }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Reads and folds the journal; `Ok(None)` when there is none.
    pub fn load(&self) -> Result<Option<State>, JournalError> {
        let text = match ganeti_layout::node::durable::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(Some(fold(&self.path, &text)?))
    }

    /// Starts a new journal with its header (the file must not exist).
    /// On failure the file is removed again, so a full disk never leaves a
    /// headerless journal behind.
    pub fn create(&self, header: &Header) -> Result<(), JournalError> {
        let result = self.append_with(&Record::Header(Box::new(header.clone())), true);
        if result.is_err() {
            let _ = ganeti_layout::node::durable::remove_file(&self.path);
        }
        result
    }

    pub fn append(&self, record: &Record) -> Result<(), JournalError> {
        self.append_with(record, false)
    }

    fn append_with(&self, record: &Record, create: bool) -> Result<(), JournalError> {
        let io = |operation, e| io_error(operation, &self.path)(e);
        let mut f = fs_err::OpenOptions::new()
            .read(true)
            .append(true)
            .create(create)
            .create_new(create)
            .mode(0o600)
            // The data directory is Ganeti's: never follow a link planted there.
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&self.path)
            .map_err(|e| io("open for appending", e))?;
        // A record torn by an earlier failed write (a full disk, EIO) is
        // ended first, so that it stays a line of its own and this record
        // is not glued to it.
        let mut line = if create || ends_a_line(&f).map_err(|e| io("read", e))? {
            Vec::new()
        } else {
            vec![b'\n']
        };
        // Plain data with string keys: serialising cannot fail.
        line.extend(serde_json::to_vec(record).expect("journal record serialises"));
        line.push(b'\n');
        // One write: the record is whole, or torn at its end (and ended by
        // the next append).
        f.write_all(&line).map_err(|e| io("append to", e))?;
        f.sync_all().map_err(|e| io("fsync", e))?;
        if create {
            if let Some(dir) = self.path.parent() {
                fsync_dir(dir)?;
            }
        }
        Ok(())
    }

    pub fn remove(&self) -> Result<(), JournalError> {
        Ok(ganeti_layout::node::durable::remove_file(&self.path)?)
    }
}

/// Whether the file is empty or ends with a newline (its last record whole).
fn ends_a_line(f: &fs_err::File) -> std::io::Result<bool> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(true);
    }
    let mut last = [0u8; 1];
    f.file().read_exact_at(&mut last, len - 1)?;
    Ok(last[0] == b'\n')
}

/// Folds the records; pure, so tests can cut a journal short anywhere.
pub fn fold(path: &Path, text: &str) -> Result<State, JournalError> {
    if !text.contains('\n') {
        // The header is written whole, newline last: without one, the
        // header never made it to the disk.
        return Err(JournalError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut lines = text.lines();
    let header = match lines
        .next()
        .and_then(|l| serde_json::from_str::<Record>(l).ok())
    {
        Some(Record::Header(h)) => *h,
        _ => {
            return Err(JournalError::NoHeader {
                path: path.to_path_buf(),
            })
        }
    };
    if header.format != JOURNAL_FORMAT {
        return Err(JournalError::Format {
            path: path.to_path_buf(),
            found: header.format,
        });
    }
    let mut state = State {
        header,
        started: Vec::new(),
        done: Vec::new(),
        facts: Facts::default(),
        rolled_back: false,
        rolling_back: false,
        skipped: Vec::new(),
        last_failure: None,
        damaged_lines: 0,
        taken_over_by: None,
        held_since: None,
    };
    for line in lines {
        // A torn line is not an error: the step it described is redone
        // (every step is idempotent). It is counted, for --status.
        let Ok(record) = serde_json::from_str::<Record>(line) else {
            state.damaged_lines += 1;
            continue;
        };
        state.apply(record);
    }
    Ok(state)
}
