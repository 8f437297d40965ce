//! What the views show, as data: the dry run's findings ([`Preflight`])
//! and a pending upgrade's state ([`StatusView`]), each serialised as the
//! JSON documents of ganeti-upgrade(8) and rendered as text here, from the
//! same value.

use ganeti_layout::node::DirVersion;

use crate::clock::format_date;
use crate::intent::{Intent, OUR_TARGET_PREFIX};
use crate::journal::Facts;
use crate::settings::Settings;
use crate::step_id::StepId;
use crate::transition::Transition;

/// A node's answer to `ganeti-switch installed V`, as a state with its own
/// fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeState {
    /// The target is completely installed there.
    Ready,
    /// ssh did not reach it: no such host, no route, a timeout (a node
    /// powered off but not marked offline).
    Unreachable,
    /// It answered but refused us: no sshd (connection refused), or
    /// root's key not accepted (permission denied).
    Refused,
    /// Its host key is not the cluster's (a reinstalled node).
    HostKeyChanged,
    /// `ganeti-switch` is not there (or not executable).
    NoGaneti,
    /// The target is not (completely) installed there.
    TargetIncomplete,
    /// The target is there, but the version the cluster runs now could not
    /// be switched back to (removed, damaged, or a `ganeti-switch` too old
    /// to ask): a rollback before the configuration change needs it.
    WayBackClosed,
    /// The target is installed there but would not start: an interpreter,
    /// a Python module or a shared library it needs is missing
    /// (`ganeti-switch runs`).
    TargetDoesNotRun,
    /// Anything else `ganeti-switch` said.
    Failed,
}

/// One online node, as the dry run shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeCheck {
    pub node: String,
    pub state: NodeState,
    /// What `ganeti-switch --version` answered there (`null` when it did
    /// not); on the master, this tool's own version, in-process.
    pub switch_version: Option<String>,
    /// The line that says why (ssh's error, what is missing), when not
    /// ready.
    pub error: Option<String>,
    /// What to do about it, when not ready.
    pub fix: Option<String>,
}

impl NodeCheck {
    pub fn ready(&self) -> bool {
        self.state == NodeState::Ready
    }
}

/// Jobs on the cluster when the dry run asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct JobCounts {
    /// Running or waiting (the upgrade waits for them).
    pub running: usize,
    /// Queued (held by the upgrade's filter until it ends).
    pub queued: usize,
}

/// What `--dry-run` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preflight {
    pub target: DirVersion,
    pub master: String,
    /// Every online node, the master last.
    pub nodes: Vec<NodeCheck>,
    pub offline: Vec<String>,
    /// `null` if the queue could not be asked (luxid down).
    pub jobs: Option<JobCounts>,
    pub drained: bool,
    /// Epoch seconds the watcher pause ends, if paused.
    pub watcher_paused_until: Option<u64>,
    /// Job filters on the cluster; `None` if they could not be listed or the
    /// cluster has none.
    pub filters: Option<usize>,
    /// Bytes the backup needs (the data directory without the job archive
    /// and exports), and bytes free where it goes.
    pub backup_bytes: u64,
    pub backup_free: Option<u64>,
    /// What the real run would refuse, each with its fix.
    pub refusals: Vec<String>,
}

/// `1.2 GiB`, `340 KiB`, `512 B`: sizes as people read them.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// The nodes by state, never a wall of names: how many are ready, which
/// `ganeti-switch` they run, and only the nodes that differ by name (their
/// reasons and fixes are in the refusals, printed once, at the end).
pub fn render_preflight(p: &Preflight) -> Vec<String> {
    let mut lines = Vec::new();
    let ready: Vec<&NodeCheck> = p.nodes.iter().filter(|n| n.ready()).collect();
    let not_ready: Vec<&str> = p
        .nodes
        .iter()
        .filter(|n| !n.ready())
        .map(|n| n.node.as_str())
        .collect();
    // The ganeti-switch most ready nodes run; the others are named.
    let mut versions: Vec<(&str, usize)> = Vec::new();
    for n in ready.iter().filter(|n| n.node != p.master) {
        let v = n.switch_version.as_deref().unwrap_or("?");
        match versions.iter_mut().find(|(x, _)| *x == v) {
            Some((_, count)) => *count += 1,
            None => versions.push((v, 1)),
        }
    }
    versions.sort_by_key(|v| std::cmp::Reverse(v.1));
    let common = versions.first().map(|(v, _)| *v);
    let odd: Vec<String> = ready
        .iter()
        .filter(|n| n.node != p.master)
        .filter(|n| n.switch_version.as_deref().unwrap_or("?") != common.unwrap_or("?"))
        .map(|n| {
            format!(
                "{} ({})",
                n.node,
                n.switch_version.as_deref().unwrap_or("?")
            )
        })
        .collect();
    let switch = match common {
        None => String::new(),
        Some(v) if odd.is_empty() => format!("; {v}"),
        Some(v) => format!("; {v}, but {}", odd.join(", ")),
    };
    let all = if ready.len() == p.nodes.len() {
        format!("all {} online", p.nodes.len())
    } else {
        format!("{} of {} online", ready.len(), p.nodes.len())
    };
    lines.push(format!(
        "Nodes: {all} ready for {}{switch}{}{}",
        p.target,
        if not_ready.is_empty() {
            String::new()
        } else {
            format!("; not ready: {}", not_ready.join(", "))
        },
        if p.offline.is_empty() {
            String::new()
        } else {
            format!("; offline, left out: {}", p.offline.join(", "))
        }
    ));
    lines.extend(render_findings(p));
    lines
}

/// The cluster-wide findings of the dry run, and its verdict.
fn render_findings(p: &Preflight) -> Vec<String> {
    let mut lines = Vec::new();
    lines.push(format!(
        "Jobs: {}; queue {}; watcher {}; filters: {}",
        match p.jobs {
            Some(JobCounts {
                running: 0,
                queued: 0,
            }) => "none running or queued".to_string(),
            Some(JobCounts { running, queued }) => format!(
                "{running} running or waiting, {queued} queued (the upgrade waits for them)"
            ),
            None => "unknown (the master daemon did not answer)".into(),
        },
        if p.drained {
            "drained (stays drained)"
        } else {
            "open"
        },
        match p.watcher_paused_until {
            Some(t) => format!("paused until {} (kept)", format_date(t)),
            None => "running".into(),
        },
        p.filters
            .map(|f| f.to_string())
            .unwrap_or_else(|| "n/a".into())
    ));
    lines.push(format!(
        "Backup: about {} needed, {} free",
        human_size(p.backup_bytes),
        p.backup_free
            .map(human_size)
            .unwrap_or_else(|| "unknown".into())
    ));
    if p.filters.is_some_and(|f| f > 0) {
        lines.push("Note: the cluster has job filters; they stay. A PAUSE or REJECT filter that matches every opcode also holds the upgrade's own gnt-cluster redist-conf job (the run then stops at redist-conf after --command-timeout): let OP_CLUSTER_REDIST_CONF through, or remove such a filter for the upgrade.".into());
    }
    lines
}

/// The dry run's last word: nothing in the way, or each refusal with its
/// fix (printed once, here; the error on standard error only counts them).
pub fn render_verdict(p: &Preflight) -> Vec<String> {
    if p.refusals.is_empty() {
        return vec!["Nothing found that would stop the upgrade.".into()];
    }
    std::iter::once("The upgrade would be refused:".to_string())
        .chain(p.refusals.iter().map(|r| format!("  {r}")))
        .collect()
}

/// One node's state in the step a pending upgrade stands at, for
/// `--status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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

/// `--status`: what this node knows of a pending upgrade. Serialised as
/// the `--status --json` document of ganeti-upgrade(8).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusView {
    /// The version this node's links name, if they agree.
    pub active: Option<DirVersion>,
    pub intent: Option<Intent>,
    /// Our journal: `null` when there is none.
    pub journal: Option<JournalStatus>,
    /// Who holds the node lock now, if anyone.
    pub lock_holder: Option<String>,
    pub offline_nodes: Vec<String>,
    /// Job filters of this tool that no journal accounts for.
    pub orphan_filters: usize,
    /// When `journal` is the copy that master (now gone) kept on this
    /// node: its name. `--resume` here takes the upgrade over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<String>,
}

/// The journal as `--status` shows it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum JournalStatus {
    Pending(Box<PendingView>),
    Unreadable { error: String },
}

/// A journal's upgrade, step by step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingView {
    pub id: String,
    pub from: DirVersion,
    pub from_release: String,
    pub to: DirVersion,
    pub transition: Transition,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub rolling_back: bool,
    pub rolled_back: bool,
    /// Since when new jobs are held (RFC 3339, UTC): from stop-new-work
    /// until resume-work or the rollback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_since: Option<String>,
    pub last_failure: Option<FailureView>,
    /// Every step of the transition, in order.
    pub steps: Vec<StepState>,
    pub facts: Facts,
    /// The options the upgrade was started with, which a bare `--resume`
    /// (and the boot-time unit) uses again; `null` for journals written
    /// before they were recorded.
    pub settings: Option<Settings>,
    pub skipped_nodes: Vec<String>,
    pub current_step: Option<CurrentStep>,
    /// Whether the configuration step has started (then only `--resume`
    /// goes on; before it `--abort` can roll back too).
    #[serde(skip)]
    pub point_of_no_return_started: bool,
}

/// A message's first line; one that ends in a colon (its detail on the
/// next line, as a command that did not reach every node says it) with
/// that next line.
fn first_line(message: &str) -> String {
    let mut lines = message.lines();
    let first = lines.next().unwrap_or("");
    match lines.next() {
        Some(next) if first.ends_with(':') => format!("{first} {}", next.trim()),
        _ => first.to_string(),
    }
}

/// The last failure the journal recorded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailureView {
    pub step: StepId,
    pub nodes: Vec<String>,
    pub message: String,
}

/// One step's state: `done`, `started` or `pending`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepState {
    pub step: StepId,
    pub state: &'static str,
}

/// The first step not done, and each node's state in it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CurrentStep {
    pub step: StepId,
    pub nodes: Vec<NodeInStep>,
    /// Whether the step has started (else it is the next one).
    #[serde(skip)]
    pub started: bool,
}

impl StatusView {
    /// The text `--status` prints.
    pub fn text(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "active version: {}",
            self.active
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "none or inconsistent".into())
        )];
        if let Some(holder) = &self.lock_holder {
            lines.push(format!("running now: {holder}"));
        }
        if !self.offline_nodes.is_empty() {
            lines.push(format!("offline nodes: {}", self.offline_nodes.join(", ")));
        }
        if self.orphan_filters > 0 {
            lines.push(format!(
                "{} job filter(s) of an earlier ganeti-upgrade are left, with no journal: jobs stay paused; ganeti-upgrade --resume removes them",
                self.orphan_filters
            ));
        }
        match (&self.journal, &self.intent) {
            (None, None) => lines.push("no upgrade pending".into()),
            (None, Some(i)) if i.target.starts_with(OUR_TARGET_PREFIX) => {
                lines.push(format!(
                    "an intent file of ganeti-upgrade ({} to {}, pid {}) is left without its journal: ganeti-upgrade --resume says what to check",
                    i.running,
                    i.target_version(),
                    i.pid
                ))
            }
            (None, Some(i)) => lines.push(format!(
                "an upgrade started by gnt-cluster upgrade is pending: {} to {} (pid {})",
                i.running, i.target, i.pid
            )),
            (Some(JournalStatus::Pending(p)), _) if p.rolled_back => lines.push(
                "an upgrade was rolled back; its journal is left (the next run removes it)".into(),
            ),
            (Some(JournalStatus::Pending(p)), _) => {
                lines.extend(p.text());
                if let Some(master) = &self.copy_of {
                    lines.push(format!(
                        "this is the copy of the journal that {master} kept on this node, now the master: ganeti-upgrade --resume here takes the upgrade over"
                    ));
                }
            }
            (Some(JournalStatus::Unreadable { error }), _) => lines.push(error.clone()),
        }
        lines
    }
}

impl PendingView {
    fn text(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "upgrade {} pending{}: {} ({}) to {}, started at {}",
            self.id,
            if self.rolling_back {
                " as a rollback"
            } else {
                ""
            },
            self.from,
            self.from_release,
            self.to,
            self.started_at
        )];
        let done = self.steps.iter().filter(|s| s.state == "done").count();
        lines.push(format!("steps done: {done} of {}", self.steps.len()));
        if let Some(since) = &self.held_since {
            lines.push(format!("new jobs held since {since}"));
        }
        if let Some(backup) = &self.facts.backup {
            lines.push(format!(
                "backup of the configuration from before: {}",
                backup.display()
            ));
        }
        if let Some(settings) = &self.settings {
            lines.push(format!(
                "a resume uses the options the upgrade was started with: {}",
                settings.describe()
            ));
        }
        if let Some(f) = &self.last_failure {
            lines.push(format!(
                "last failure: {}{}: {}",
                f.step,
                if f.nodes.is_empty() {
                    String::new()
                } else {
                    format!(" on {}", f.nodes.join(", "))
                },
                first_line(&f.message)
            ));
        }
        for s in &self.steps {
            let mark = if s.state == "pending" { "" } else { s.state };
            lines.push(format!("  {:<22} {mark}", s.step.as_str()));
        }
        if self.rolling_back {
            lines.push("rolling back: undoing the steps that started, in reverse; --resume finishes the rollback".into());
        }
        if let Some(current) = &self.current_step {
            lines.extend(current.text());
        }
        lines.push(if self.point_of_no_return_started || self.rolling_back {
            "continue it with: ganeti-upgrade --resume".into()
        } else {
            "continue it with: ganeti-upgrade --resume (or roll it back with ganeti-upgrade --abort: the configuration change has not started)".into()
        });
        lines
    }
}

impl CurrentStep {
    /// The step and, node by node, how far it got.
    fn text(&self) -> Vec<String> {
        let mut lines = vec![if self.started {
            format!("current step: {} (started)", self.step)
        } else {
            format!("next step: {} (not started)", self.step)
        }];
        let width = self.nodes.iter().map(|n| n.node.len()).max().unwrap_or(0);
        for n in &self.nodes {
            lines.push(format!(
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
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::first_line;

    #[test]
    fn a_first_line_ending_in_a_colon_keeps_its_detail() {
        assert_eq!(
            first_line("`gnt-cluster redist-conf` exited 0 but did not reach every node:\nnode3: Copy of file x failed\nnode2: y"),
            "`gnt-cluster redist-conf` exited 0 but did not reach every node: node3: Copy of file x failed"
        );
        assert_eq!(first_line("failed (exit 1)\nhint: z"), "failed (exit 1)");
        assert_eq!(first_line(""), "");
    }
}
