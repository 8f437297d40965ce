//! What a run tells the admin, as one vocabulary: every progress line,
//! plan, report, status and closing word is an [`Event`], written either
//! as one JSON object per line (the schema in ganeti-upgrade(8), each
//! with `"format": 1`) or as text, both from the same value (the shape of
//! omicron's update-engine: one event enum, rendered apart).
//!
//! Output is best-effort: a closed pipe or a hung-up terminal never stops
//! an upgrade ([`Stdout`], [`Stderr`]); commands.log keeps the record.

use ganeti_layout::node::DirVersion;

use crate::clock::{epoch_secs, format_date};
use crate::error::{Done, LeftNode, UpgradeError};
use crate::ran::Ran;
use crate::step_id::StepId;
use crate::view::{render_preflight, Preflight, StatusView};

/// The version of the JSON documents and events (`"format": 1`).
pub const JSON_FORMAT: u32 = 1;

/// Where progress lines go, best-effort (a closed pipe or a hung-up
/// terminal never stops an upgrade): the writer all four tools share.
pub use ganeti_layout::cli::{Output, Stderr, Stdout};

/// Where a planned command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Where {
    /// On the master only.
    Master,
    /// On every online node, the master last.
    AllOnline,
    /// On every online node, the master at the same time as the others.
    AllOnlineAtOnce,
    /// On every online master candidate (where the job queue is), the
    /// master last.
    OnlineCandidates,
}

/// One command of a step in the plan, for `--dry-run`: where it runs and
/// what it is. In JSON: `{"on": "master" | "all-online" |
/// "all-online-at-once" | "online-candidates", "nodes": [...],
/// "argv": [...] | null, "text": "..."}`; `argv` is the command line as it
/// runs (on the master, or after `ssh root@NODE`), `null` for what is not
/// one command (a LUXI call or a command in its place, a file written).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanCommand {
    pub on: Where,
    pub nodes: Vec<String>,
    pub argv: Option<Vec<String>>,
    /// The command as the admin reads it, or what is done, in words.
    pub text: String,
}

impl PlanCommand {
    /// `argv` on `nodes`, shown as `text`.
    pub fn run(on: Where, nodes: &[String], argv: &[String], text: String) -> PlanCommand {
        PlanCommand {
            on,
            nodes: nodes.to_vec(),
            argv: Some(argv.to_vec()),
            text,
        }
    }
    /// What is done on `nodes`, in words.
    pub fn words(on: Where, nodes: &[String], text: String) -> PlanCommand {
        PlanCommand {
            on,
            nodes: nodes.to_vec(),
            argv: None,
            text,
        }
    }
    /// `on all 3 online nodes (master last): TEXT` or `on the master
    /// NODE: TEXT`: the nodes by count, never a wall of names.
    pub fn line(&self) -> String {
        match self.on {
            Where::Master => format!(
                "on the master {}: {}",
                self.nodes.last().map(String::as_str).unwrap_or("?"),
                self.text
            ),
            Where::AllOnline | Where::AllOnlineAtOnce if self.nodes.len() == 1 => {
                format!("on the one online node: {}", self.text)
            }
            Where::AllOnlineAtOnce => format!(
                "on all {} online nodes at once: {}",
                self.nodes.len(),
                self.text
            ),
            Where::AllOnline => format!(
                "on all {} online nodes (master last): {}",
                self.nodes.len(),
                self.text
            ),
            Where::OnlineCandidates if self.nodes.len() == 1 => {
                format!("on the master {}: {}", self.nodes[0], self.text)
            }
            Where::OnlineCandidates => format!(
                "on the {} online master candidates (master last): {}",
                self.nodes.len(),
                self.text
            ),
        }
    }
}

/// One step of the plan, for `--dry-run`.
#[derive(Debug, Clone)]
pub struct PlanStep {
    pub index: usize,
    pub step: StepId,
    pub title: &'static str,
    pub commands: Vec<PlanCommand>,
    pub point_of_no_return: bool,
}

/// The end-of-run report: each step's wall time in this run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The whole run, in seconds.
    pub seconds: f64,
    /// How the run ended, in words ("on 3.1", "rolled back to 3.0", ...).
    pub end: String,
    /// The report's first line (with how long new jobs were held).
    pub head: String,
    /// How long new jobs were held, in seconds, when this run let them run
    /// again (from the first run's stop-new-work on).
    pub held_seconds: Option<f64>,
    /// (step, seconds), in the order they ran.
    pub steps: Vec<(StepId, f64)>,
    /// The steps that ran while new jobs were held (the hold window: from
    /// stop-new-work, or from the start of a run that found the queue held,
    /// to resume-work).
    pub held_steps: Vec<StepId>,
}

impl Report {
    /// One line per step, as commands.log and the text output show it;
    /// a step in the hold window ends in "held", and a last line sums the
    /// window up.
    pub fn step_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .steps
            .iter()
            .map(|(id, s)| {
                let held = if self.held_steps.contains(id) {
                    "  held"
                } else {
                    ""
                };
                format!("{:<22} {s:>8.1} s{held}", id.as_str())
            })
            .collect();
        let (n, s) = self
            .steps
            .iter()
            .filter(|(id, _)| self.held_steps.contains(id))
            .fold((0, 0.0), |(n, t), (_, s)| (n + 1, t + s));
        if n > 0 {
            lines.push(format!(
                "{:<22} {s:>8.1} s  in {n} step(s) while new jobs were held",
                "(hold window)"
            ));
        }
        lines
    }
}

/// How a run ended, for the closing `end` event.
#[derive(Debug, Clone, Copy)]
pub struct End<'a> {
    pub result: &'a Result<Done, UpgradeError>,
    pub exit_code: u8,
    /// Whether `--resume` would find the upgrade pending after the run.
    pub pending: bool,
}

/// Everything a run says.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    StepStart {
        step: StepId,
        title: &'static str,
        index: usize,
        total: usize,
        /// How long new jobs have been held when the step starts, in
        /// seconds (from stop-new-work until resume-work); `None` outside.
        held: Option<u64>,
    },
    StepEnd {
        step: StepId,
        ok: bool,
        detail: String,
    },
    /// One node's result in a step.
    Node {
        step: Option<StepId>,
        ran: &'a Ran,
    },
    Message(&'a str),
    /// A line for people only (headings of plans and views): no JSON.
    Line(String),
    Preflight(&'a Preflight),
    PlanStep(PlanStep),
    Report(&'a Report),
    /// `--status`: one document (without an `event` key).
    Status(&'a StatusView),
    End(End<'a>),
}

/// The JSON form of the events that have one (field names as documented).
#[derive(serde::Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
enum Wire<'a> {
    StepStart {
        step: StepId,
        index: usize,
        total: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        held_seconds: Option<u64>,
        time: String,
    },
    StepEnd {
        step: StepId,
        ok: bool,
        detail: &'a str,
        time: String,
    },
    Node {
        step: Option<StepId>,
        node: &'a str,
        command: &'a str,
        ok: bool,
        code: Option<i32>,
        /// The last line the command (or ssh) wrote on stderr, when it
        /// failed.
        error: Option<&'a str>,
        time: String,
    },
    Message {
        message: &'a str,
        time: String,
    },
    Preflight {
        checks: &'a Preflight,
    },
    PlanStep {
        index: usize,
        step: StepId,
        title: &'a str,
        commands: &'a [PlanCommand],
        point_of_no_return: bool,
    },
    Report {
        seconds: f64,
        end: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        held_seconds: Option<f64>,
        steps: Vec<StepTime>,
    },
    End {
        #[serde(flatten)]
        done: Option<&'a Done>,
        #[serde(flatten)]
        failure: Option<Failure<'a>>,
        exit_code: u8,
    },
}

#[derive(serde::Serialize)]
struct StepTime {
    step: StepId,
    seconds: f64,
    /// In the hold window (new jobs held).
    held: bool,
}

/// A run that did not end well, in the `end` event.
#[derive(serde::Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
enum Failure<'a> {
    VerifyErrors {
        message: &'a str,
        left: &'a [LeftNode],
        pending: bool,
    },
    /// Before the point of no return, every step that started was
    /// undone: the cluster runs `from` again.
    RolledBack {
        message: String,
        from: &'a DirVersion,
        pending: bool,
    },
    Error {
        message: String,
        pending: bool,
    },
}

impl Event<'_> {
    /// The JSON object, `"format"` included; `None` for text-only lines.
    pub fn json(&self) -> Option<serde_json::Value> {
        let wire = match self {
            Event::StepStart {
                step,
                index,
                total,
                held,
                ..
            } => Wire::StepStart {
                step: *step,
                index: *index,
                total: *total,
                held_seconds: *held,
                time: format_date(epoch_secs()),
            },
            Event::StepEnd { step, ok, detail } => Wire::StepEnd {
                step: *step,
                ok: *ok,
                detail,
                time: format_date(epoch_secs()),
            },
            Event::Node { step, ran } => Wire::Node {
                step: *step,
                node: &ran.node,
                command: &ran.command,
                ok: ran.ok(),
                code: ran.code,
                error: (!ran.ok())
                    .then(|| ran.stderr.trim().lines().last())
                    .flatten(),
                time: format_date(epoch_secs()),
            },
            Event::Message(text) => Wire::Message {
                message: text,
                time: format_date(epoch_secs()),
            },
            Event::Line(_) => return None,
            Event::Preflight(checks) => Wire::Preflight { checks },
            Event::PlanStep(p) => Wire::PlanStep {
                index: p.index,
                step: p.step,
                title: p.title,
                commands: &p.commands,
                point_of_no_return: p.point_of_no_return,
            },
            Event::Report(r) => Wire::Report {
                seconds: r.seconds,
                end: &r.end,
                held_seconds: r.held_seconds,
                steps: r
                    .steps
                    .iter()
                    .map(|(step, seconds)| StepTime {
                        step: *step,
                        seconds: *seconds,
                        held: r.held_steps.contains(step),
                    })
                    .collect(),
            },
            Event::Status(view) => return Some(with_format(serde_json::to_value(view))),
            Event::End(end) => Wire::End {
                done: end.result.as_ref().ok(),
                failure: failure(end),
                exit_code: end.exit_code,
            },
        };
        Some(with_format(serde_json::to_value(wire)))
    }

    /// The text lines (none for a step that went well, or for the end of a
    /// failed run, whose error goes to standard error).
    pub fn text(&self) -> Vec<String> {
        match self {
            Event::StepStart {
                title,
                index,
                total,
                held: None,
                ..
            } => vec![format!("[{index}/{total}] {title}")],
            Event::StepStart {
                title,
                index,
                total,
                held: Some(held),
                ..
            } => vec![format!(
                "[{index}/{total}] {title} (new jobs held {held} s)"
            )],
            Event::StepEnd { ok: true, .. } => Vec::new(),
            Event::StepEnd { detail, .. } => vec![format!("  FAILED: {detail}")],
            Event::Node { ran, .. } if ran.ok() => vec![format!("  {}: ok", ran.node)],
            Event::Node { ran, .. } => vec![format!("  {}", ran.summary())],
            // The reason of a rollback is the failure printed just before
            // (FAILED: ...): said once, the rollback names only its step.
            Event::Message(text) if text.starts_with("rolling back: ") => {
                vec![format!("  {}", first_clause(text))]
            }
            Event::Message(text) => vec![format!("  {text}")],
            Event::Line(text) => vec![text.clone()],
            Event::Preflight(p) => render_preflight(p),
            Event::PlanStep(p) => {
                let mut lines = vec![format!(
                    "{:>2}. {} [{}]{}",
                    p.index,
                    p.title,
                    p.step,
                    if p.point_of_no_return {
                        "  <- point of no return"
                    } else {
                        ""
                    }
                )];
                lines.extend(p.commands.iter().map(|c| format!("      {}", c.line())));
                lines
            }
            Event::Report(r) => std::iter::once(r.head.clone())
                .chain(r.step_lines().into_iter().map(|l| format!("  {l}")))
                .collect(),
            Event::Status(view) => view.text(),
            Event::End(end) => match end.result {
                Ok(done) => done_text(done),
                Err(_) => Vec::new(),
            },
        }
    }
}

/// How a run that did not end well ended, for its `end` event.
fn failure<'a>(end: &End<'a>) -> Option<Failure<'a>> {
    match end.result {
        Ok(_) => None,
        Err(UpgradeError::VerifyErrors { errors, left }) => Some(Failure::VerifyErrors {
            message: errors,
            left,
            pending: end.pending,
        }),
        Err(e @ UpgradeError::RolledBack { from, .. }) => Some(Failure::RolledBack {
            message: e.to_string(),
            from,
            pending: end.pending,
        }),
        Err(e) => Some(Failure::Error {
            message: e.to_string(),
            pending: end.pending,
        }),
    }
}

/// The closing line of a run that ended well.
pub(crate) fn done_text(done: &Done) -> Vec<String> {
    match done {
        Done::Upgraded { to, left } if left.is_empty() => {
            vec![format!("done: the cluster runs {to}")]
        }
        Done::Upgraded { to, left } => vec![format!(
            "done: the cluster runs {to}, but for {} (see above)",
            left.iter()
                .map(|l| l.node.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )],
        Done::NothingPending => vec!["no upgrade pending".into()],
        Done::RollbackFinished { from } => vec![rollback_finished(from)],
        Done::Aborted { from } => vec![format!(
            "aborted: every step that had started was rolled back; the cluster runs {from}"
        )],
        Done::Shown => Vec::new(),
    }
}

/// `rolling back: switch-version failed` of `rolling back: switch-version
/// failed: node3: ...`: the message up to its second `: `.
fn first_clause(text: &str) -> &str {
    let cut = text
        .match_indices(": ")
        .nth(1)
        .map_or(text.len(), |(i, _)| i);
    text[..cut].lines().next().unwrap_or("")
}

fn rollback_finished(from: &DirVersion) -> String {
    format!("the rollback is finished: the cluster runs {from}")
}

/// `value` with `"format": 1` added (serialising plain data cannot fail;
/// an empty object stands in if it ever did).
fn with_format(value: Result<serde_json::Value, serde_json::Error>) -> serde_json::Value {
    let mut value = value.unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("format".into(), JSON_FORMAT.into());
    }
    value
}

/// Where a run's events go: JSON lines or text.
pub struct Events<'a> {
    pub json: bool,
    pub out: &'a dyn Output,
}

impl Events<'_> {
    pub fn emit(&self, event: &Event<'_>) {
        if self.json {
            if let Some(value) = event.json() {
                self.out.line(&value.to_string());
            }
        } else {
            for line in event.text() {
                self.out.line(&line);
            }
        }
    }
    pub fn message(&self, text: &str) {
        self.emit(&Event::Message(text));
    }
    /// A text-only line (nothing in JSON).
    pub fn line(&self, text: impl Into<String>) {
        self.emit(&Event::Line(text.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollback_names_its_step_and_an_abort_ends_with_a_line() {
        let said =
            Event::Message("rolling back: stop-new-work failed: node1: `x` failed\nhint: y").text();
        assert_eq!(
            said,
            vec!["  rolling back: stop-new-work failed".to_string()]
        );
        let said = Event::Message("rolling back: interrupted by a signal").text();
        assert_eq!(
            said,
            vec!["  rolling back: interrupted by a signal".to_string()]
        );
        let result = Ok(Done::Aborted {
            from: "3.0".parse().expect("v"),
        });
        let end = Event::End(End {
            result: &result,
            exit_code: 0,
            pending: false,
        });
        assert_eq!(
            end.text(),
            vec![
                "aborted: every step that had started was rolled back; the cluster runs 3.0"
                    .to_string()
            ]
        );
    }
}
