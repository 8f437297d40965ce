//! How a run of `ganeti-upgrade` ends, typed: [`UpgradeError`] with its
//! documented exit code ([`UpgradeError::exit_code`], listed in the
//! `--help` text and the man page), and [`StepError`], why one step failed.
//!
//! Every message names the node, the command or the path, and where a fix
//! is known ends with a `hint:` line that works.

use std::path::PathBuf;

use ganeti_layout::node::version::VersionError;
use ganeti_layout::node::DirVersion;

use crate::ganeti::Call;
use crate::ran::Ran;
use crate::transition::TransitionError;

/// How a run ended well.
/// In JSON (the `end` event): `{"result": "upgraded", "to": ..., "left":
/// [...]}`, `{"result": "nothing-pending"}`, `{"result":
/// "rollback-finished", "from": ...}`, `{"result": "aborted", "from":
/// ...}` or `{"result": "shown"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Done {
    /// Every step ran; the cluster runs the target version, but for the
    /// nodes `left` out (offline or skipped), each with what brings it up
    /// to date.
    Upgraded { to: DirVersion, left: Vec<LeftNode> },
    /// Nothing was pending (or only a rolled-back journal, now removed).
    NothingPending,
    /// `--resume` finished an interrupted rollback: the cluster runs the
    /// version it ran before the upgrade.
    RollbackFinished { from: DirVersion },
    /// `--abort` rolled back a pending upgrade: the cluster runs `from`.
    Aborted { from: DirVersion },
    /// `--status` or `--dry-run`: shown, nothing changed.
    Shown,
}

/// A node the upgrade left out, and the commands that bring it to the new
/// version once it is back (before it runs anything).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeftNode {
    pub node: String,
    /// "offline" or "skipped".
    pub why: &'static str,
    /// To run on the node, in order (in JSON, each as its argv).
    pub on_node: Vec<Call>,
    /// Then on the master.
    pub on_master: Vec<Call>,
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Commands failed on these nodes (one result each).
    #[error("{}", .0.iter().map(Ran::summary).collect::<Vec<_>>().join("\n"))]
    Commands(Vec<Ran>),
    /// A step's own refusal or check, already worded for the admin.
    #[error("{0}")]
    Refused(String),
    /// A durable write (journal, intent, backup) failed.
    #[error("{0}")]
    Io(String),
    /// A signal arrived while the step waited.
    #[error("interrupted by a signal while {0}")]
    Interrupted(&'static str),
    /// A command on the master succeeded but did not reach these nodes
    /// (`gnt-cluster redist-conf`'s "Copy of file … failed" warnings):
    /// node and the lines that say so.
    #[error("`{command}` exited 0 but did not reach every node:\n{}", .missed.iter().map(|(n, l)| format!("{n}: {l}")).collect::<Vec<_>>().join("\n"))]
    NotReached {
        command: String,
        missed: Vec<(String, String)>,
    },
}

impl StepError {
    /// An error and its whole cause chain, on one line.
    pub fn io<E: std::error::Error>(e: E) -> StepError {
        StepError::Io(chain(&e))
    }
    pub fn ran(ran: Ran) -> StepError {
        StepError::Commands(vec![ran])
    }
    /// The nodes whose commands failed (empty for other causes).
    pub fn nodes(&self) -> Vec<String> {
        match self {
            StepError::Commands(r) => r.iter().map(|r| r.node.clone()).collect(),
            StepError::NotReached { missed, .. } => {
                let mut nodes: Vec<String> = missed.iter().map(|(n, _)| n.clone()).collect();
                nodes.dedup();
                nodes
            }
            _ => Vec::new(),
        }
    }
}

/// How [`UpgradeError::RolledBack`] ends: what was undone, and what the
/// cluster runs (`backup`: the note on the backup kept, or empty).
pub fn rolled_back_words(changed: bool, from: &DirVersion, backup: &str) -> String {
    if changed {
        format!("Everything done so far was rolled back; the cluster runs {from} again{backup}.")
    } else {
        format!("Nothing had been changed yet; the cluster runs {from} as before{backup}.")
    }
}

/// The way forward past dead nodes, for [`UpgradeError::Pending`].
pub fn skip_hint(nodes: &[String]) -> String {
    if nodes.is_empty() {
        String::new()
    } else {
        let names = nodes.join(" and ");
        let it = if nodes.len() == 1 { "it" } else { "them" };
        format!(
            "\nhint: mend what failed on {names} (above) and run ganeti-upgrade --resume; if {names} cannot be mended or come back soon, finish without {it}: ganeti-upgrade --resume{} (the end of the run prints what brings {it} up to date later)",
            nodes
                .iter()
                .map(|n| format!(" --skip-node {n}"))
                .collect::<String>()
        )
    }
}

/// `e` and its sources, joined by `: `.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    message
}

/// What a stale journal describes, and what was found instead.
#[derive(Debug)]
pub struct Stale {
    pub journal: PathBuf,
    pub marker: PathBuf,
    pub id: String,
    pub from: DirVersion,
    pub to: DirVersion,
    pub found: String,
}

/// A run that did not end with the cluster on the target version (or with
/// nothing to do). [`UpgradeError::exit_code`] gives the documented code.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("precisely one of --to, --resume, --abort and --status has to be given")]
    Usage,
    #[error("cannot upgrade to {given:?}: {source}")]
    BadVersion {
        given: String,
        #[source]
        source: VersionError,
    },
    /// The cluster cannot go from where it is to the target (exit 2, or 1
    /// without an active version).
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(
        "ganeti-upgrade must run as root (it stops daemons and switches versions on every node)"
    )]
    NotRoot,
    /// `--to 3.1.0` for the directory version `3.1` (Ganeti's own `--to`
    /// is the directory too).
    #[error("{given} is not a version directory\nhint: {hint}")]
    ReleaseForDirectory { given: DirVersion, hint: String },
    #[error("this node ({me}) is not the master; run ganeti-upgrade on {master}")]
    NotMaster { me: String, master: String },
    #[error("{0}")]
    Cluster(String),
    #[error("{0}")]
    Journal(String),
    #[error("another ganeti-upgrade or ganeti-switch is running on this node ({holder}); wait for it, or look at it with ganeti-upgrade --status")]
    Busy { holder: String },
    #[error("the upgrade to {to} is being rolled back (a rollback did not complete); finish the rollback with ganeti-upgrade --resume, then run --to again")]
    RollbackPending { to: DirVersion },
    #[error("an upgrade from {from} to {to} is in progress; use --resume to finish it first")]
    InProgress { from: String, to: DirVersion },
    #[error("an upgrade ({running} to {target}) started by gnt-cluster upgrade is pending (intent file without a ganeti-upgrade journal); finish it with: gnt-cluster upgrade --resume")]
    ForeignIntent { running: String, target: String },
    #[error("the intent file {intent} was written by ganeti-upgrade ({running} to {target}), but its journal {journal} is gone, so where the upgrade stopped is unknown\nhint: check every node (ganeti-switch check on each, gnt-cluster verify on the master); once the whole cluster runs one version, remove {intent}, then run ganeti-upgrade --to {target} if it is not there yet")]
    OrphanIntent {
        intent: PathBuf,
        journal: PathBuf,
        running: String,
        target: String,
    },
    #[error("only {votes} of {online} online nodes confirm {master} as the master; not resuming{detail}\nhint: check ssconf_master_node on the nodes (gnt-cluster master-failover, or fix the network), then run --resume again; a node that is dead for good can be left out after the configuration change with --resume --skip-node NODE, and --no-voting skips the vote (as masterd's option does) when you are sure this is the master")]
    MasterNotConfirmed {
        votes: usize,
        online: usize,
        master: String,
        detail: String,
    },
    /// Before the point of no return, a step failed or a signal came, and
    /// every step that had started was undone (`changed`: some step had
    /// changed something; `false` when the run stopped in its checks,
    /// before the intent file or the job queue were touched).
    #[error("{reason}\n{}", rolled_back_words(*changed, from, backup))]
    RolledBack {
        reason: String,
        from: DirVersion,
        backup: String,
        changed: bool,
    },
    /// As [`UpgradeError::RolledBack`], but some undo failed: the journal
    /// and the intent file stay, and `--resume` finishes the rollback.
    #[error("{reason}\nThe rollback did not complete:\n  {}\nThe upgrade is still pending as a rollback (the intent file and the journal are kept). Fix the cause, then run: ganeti-upgrade --resume (it finishes the rollback)", failures.join("\n  "))]
    RollbackIncomplete {
        reason: String,
        failures: Vec<String>,
    },
    /// A rollback began but its `rolling-back` record could not be
    /// written (a full or read-only file system): nothing was undone, since
    /// a later run reading the journal would go the other way.
    #[error("{reason}\nThe rollback cannot be recorded in the journal {journal} ({cause}), so nothing was undone: a later run could not tell which way the upgrade is going. The upgrade is still pending where it stopped (the intent file and the journal are kept; daemons, the job queue and the watcher are as the failed step left them).\nhint: free space on (or mend) the file system holding {journal} (cfgupgrade leaves config.data.backup-* copies beside config.data), then run ganeti-upgrade --abort to roll the upgrade back, or ganeti-upgrade --resume to go on")]
    RollbackNotRecorded {
        reason: String,
        journal: PathBuf,
        cause: String,
    },
    /// A step after the point of no return failed: nothing is undone.
    #[error("step {step} failed after the configuration change: {message}\nThe upgrade to {to} is still pending (the intent file and the journal are kept). Fix the cause, then run: ganeti-upgrade --resume{}", skip_hint(nodes))]
    Pending {
        step: &'static str,
        to: DirVersion,
        message: String,
        /// The nodes whose commands failed.
        nodes: Vec<String>,
    },
    /// A pending upgrade could not be brought back to a known state before
    /// its steps are redone; nothing was undone yet beyond what is said.
    #[error("{0}")]
    Resume(String),
    /// Ganeti's own `gnt-cluster upgrade` (its @reboot resume, or a
    /// colleague's) rewrote or removed our intent file: two upgrades must
    /// not act on one cluster, so this one stops where it is.
    #[error("another upgrade process is acting on this cluster: {detail}; stopped before step {step}\nhint: wait for it to end (ps -p PID), then look with ganeti-upgrade --status and continue with ganeti-upgrade --resume")]
    AnotherProcess { detail: String, step: &'static str },
    /// The journal describes an upgrade the cluster has moved on from.
    #[error("the journal {} is of upgrade {} from {} to {}, but the cluster is elsewhere now ({}); nothing was done\nhint: if that upgrade is over (finished on another master, or undone by hand), set its journal aside: mv {} {}.stale && rm -f {}; then check the cluster (gnt-cluster verify, ganeti-switch check on every node) and start a new upgrade with --to", .0.journal.display(), .0.id, .0.from, .0.to, .0.found, .0.journal.display(), .0.journal.display(), .0.marker.display())]
    StaleJournal(Box<Stale>),
    /// The master changed during the run (a master-failover): it stopped
    /// before the next step; the upgrade is pending, for the new master.
    #[error("ssconf names {master} as the master now (a master-failover during the upgrade?); this run stopped before step {step} and the upgrade stays pending\nhint: on {master}, ganeti-upgrade --status shows it and ganeti-upgrade --resume takes it over (every master candidate holds a copy of this journal)")]
    MasterMoved { master: String, step: &'static str },
    /// Every step ran, but the end check found nodes that do not run the
    /// target (links, configuration, daemons): not "done".
    #[error("upgraded to {to}, but the end check found what does not run it:\n  {}\nhint: on each node named, run: daemon-util stop-all, ganeti-switch to {to}, daemon-util start-all (Ganeti's paths as the printed commands of a left-out node show them); then gnt-cluster verify on the master", differences.join("\n  "))]
    EndStateDiffers {
        to: DirVersion,
        differences: Vec<String>,
        left: Vec<LeftNode>,
    },
    /// `--skip-node` names what cannot be left out.
    #[error("cannot leave out {node}: {why}")]
    SkipRefused { node: String, why: String },
    /// `--dry-run` found what the real run would refuse (each printed
    /// once, with its fix, at the end of the dry run; here only counted).
    #[error("the upgrade would be refused: {} problem(s), each named above with its fix", refusals.len())]
    PlanRefused { refusals: Vec<String> },
    /// `--abort` after the configuration change had started.
    #[error("cannot abort: the configuration change has started ({step}); the upgrade to {to} can only go forward\nhint: ganeti-upgrade --resume finishes it; to go back afterwards, run ganeti-upgrade --to {from} once it is done")]
    AbortRefused {
        step: &'static str,
        from: DirVersion,
        to: DirVersion,
    },
    /// `left`: the nodes left out (skipped, offline), as in
    /// `Done::Upgraded`, which a skipped node's verify errors come with.
    #[error("upgraded, but with problems that were not there before it:\n{errors}")]
    VerifyErrors { errors: String, left: Vec<LeftNode> },
    /// `--resume` on a node that is not the master (Ganeti's rule: remove
    /// a stale intent file and stop).
    #[error("not the master node{}", if *removed_intent { "; removed the stale intent file" } else { "" })]
    NotMasterResume { removed_intent: bool },
}

impl UpgradeError {
    /// The documented exit codes: 1 failed (rolled back, or pending with
    /// the way forward named), 2 bad input, 3 verify errors, 11 not the
    /// master on `--resume`, 12 an upgrade of Ganeti's own `gnt-cluster
    /// upgrade` is pending and this tool did nothing (the boot-time unit
    /// counts it as a success: Ganeti's @reboot resume finishes it).
    pub fn exit_code(&self) -> u8 {
        match self {
            UpgradeError::ForeignIntent { .. } => 12,
            UpgradeError::Usage
            | UpgradeError::BadVersion { .. }
            | UpgradeError::ReleaseForDirectory { .. }
            | UpgradeError::Transition(
                TransitionError::Incompatible { .. } | TransitionError::DowngradeActions { .. },
            )
            | UpgradeError::SkipRefused { .. } => 2,
            UpgradeError::VerifyErrors { .. } | UpgradeError::EndStateDiffers { .. } => 3,
            UpgradeError::NotMasterResume { .. } => 11,
            _ => 1,
        }
    }
    /// Whether the upgrade is still pending after this error (the intent
    /// file and the journal exist).
    pub fn leaves_pending(&self) -> bool {
        matches!(
            self,
            UpgradeError::RollbackIncomplete { .. }
                | UpgradeError::RollbackNotRecorded { .. }
                | UpgradeError::StaleJournal(_)
                | UpgradeError::MasterMoved { .. }
                | UpgradeError::Pending { .. }
                | UpgradeError::Resume(_)
                | UpgradeError::AbortRefused { .. }
                | UpgradeError::AnotherProcess { .. }
        )
    }
}
