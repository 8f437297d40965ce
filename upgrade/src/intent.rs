//! Ganeti's intent-to-upgrade file, in Ganeti's own format, so that Ganeti's
//! tools and an admin read it as they would read one written by
//! `gnt-cluster upgrade`: three fields (the running release, the target,
//! the pid), joined with `,`, with `\` and `,` inside a field escaped by a
//! backslash, no trailing newline, mode 0600, written atomically and
//! durably.
//!
//! Ours tags the target: `3.0.2,ganeti-upgrade:3.1,4242`
//! ([`OUR_TARGET_PREFIX`]). Ganeti's `gnt-cluster upgrade`
//! (`lib/client/gnt_cluster.py`) then keeps off an upgrade of ours
//! without anyone editing its cron file: its `--resume` (the `@reboot`
//! line of Ganeti's cron file, or an admin; every release from 2.10 to
//! 3.1) parses the target with `ParseVersion`, which matches digits at
//! the start only, gets nothing and exits 1 before it acts. Its `--to V`
//! reads the intent first only from 2.10.8, 2.11.6 and 2.12.0 on (upstream
//! commit de23298f3), and then refuses ("An upgrade from 3.0.2 to
//! ganeti-upgrade:3.1 is in progress; use --resume to finish it first");
//! the `--to` of 2.10.0-2.10.7 and 2.11.0-2.11.5 overwrites the file
//! unread. Against that one, and against a `--to` that starts before our
//! intent exists, the engine re-reads the intent before each step and
//! stops (and refuses to write its own over one that appeared).

use ganeti_layout::node::durable::{self, DurableError};
use ganeti_layout::node::{InstallPaths, Node};

/// What our intent file's target field starts with: not a digit, so
/// Ganeti's `ParseVersion` finds no version in it (see the module doc).
pub const OUR_TARGET_PREFIX: &str = "ganeti-upgrade:";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Intent {
    pub running: String,
    pub target: String,
    pub pid: String,
}

/// Joins fields the way Ganeti's `EscapeAndJoin` does.
pub fn escape_and_join(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| f.replace('\\', "\\\\").replace(',', "\\,"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Splits like Ganeti's `UnescapeAndSplit`.
pub fn unescape_and_split(text: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(f)) = (chars.next(), fields.last_mut()) {
                    f.push(next);
                }
            }
            ',' => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

impl Intent {
    pub fn to_text(&self) -> String {
        escape_and_join(&[&self.running, &self.target, &self.pid])
    }

    /// `None` for anything that is not exactly three fields, as Ganeti does.
    pub fn parse(text: &str) -> Option<Intent> {
        let mut f = unescape_and_split(text);
        if f.len() != 3 {
            return None;
        }
        let pid = f.pop()?;
        let target = f.pop()?;
        let running = f.pop()?;
        Some(Intent {
            running,
            target,
            pid,
        })
    }

    /// The intent this tool writes for an upgrade to `to`, by this process.
    pub fn ours(running: &str, to: &str) -> Intent {
        Intent {
            running: running.to_string(),
            target: format!("{OUR_TARGET_PREFIX}{to}"),
            pid: std::process::id().to_string(),
        }
    }

    /// The target version, without our tag if it has one.
    pub fn target_version(&self) -> &str {
        self.target
            .strip_prefix(OUR_TARGET_PREFIX)
            .unwrap_or(&self.target)
    }

    /// Is this the intent of our upgrade from `running` to `to`: tagged,
    /// or written by this process, or (the untagged intent of a run of
    /// an older version of this tool) naming the same versions with a
    /// pid no longer running? Anything else is another upgrade's.
    pub fn is_ours(&self, running: &str, to: &str) -> bool {
        if self.target.starts_with(OUR_TARGET_PREFIX) || self.pid == std::process::id().to_string()
        {
            return true;
        }
        let gone = !self.pid.parse().is_ok_and(ganeti_switch::pid_alive);
        self.running == running && self.target == to && gone
    }

    /// Removes the node's intent file only if it is ours (see
    /// [`Intent::is_ours`]): another upgrade's intent stays. Whether a
    /// file of ours was removed (or none was there).
    pub fn remove_if_ours(
        paths: &InstallPaths,
        running: &str,
        to: &str,
    ) -> Result<bool, DurableError> {
        match Intent::read(paths) {
            Ok(Some(i)) if !i.is_ours(running, to) => Ok(false),
            _ => Intent::remove(paths).map(|()| true),
        }
    }

    /// Removes the node's intent file, whoever wrote it (durably; none
    /// there is fine).
    pub fn remove(paths: &InstallPaths) -> Result<(), DurableError> {
        paths.fs().remove_file(&paths.intent_file())
    }

    /// The node's intent file; `Ok(None)` when there is none, or it is
    /// not three fields.
    pub fn read(paths: &InstallPaths) -> Result<Option<Intent>, DurableError> {
        Ok(Node::new(paths).intent()?.and_then(|t| Intent::parse(&t)))
    }

    /// Writes it as the node's intent file (0600, atomically, durably).
    pub fn write(&self, paths: &InstallPaths) -> Result<(), DurableError> {
        durable::write_file(
            &Node::new(paths).intent_path(),
            self.to_text().as_bytes(),
            0o600,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ganeti_format_round_trips() {
        let i = Intent {
            running: "3.0.2".into(),
            target: "3.1".into(),
            pid: "274".into(),
        };
        assert_eq!(i.to_text(), "3.0.2,3.1,274");
        assert_eq!(
            Intent::parse("3.1.0~rc2,3.0,1725").map(|i| i.running),
            Some("3.1.0~rc2".into())
        );
        let odd = Intent {
            running: "a,b".into(),
            target: "c\\d".into(),
            pid: "1".into(),
        };
        assert_eq!(odd.to_text(), "a\\,b,c\\\\d,1");
        assert_eq!(Intent::parse(&odd.to_text()), Some(odd));
        assert_eq!(Intent::parse("3.0.2,3.1"), None);
        let ours = Intent::ours("3.0.2", "3.1");
        assert!(ours.to_text().starts_with("3.0.2,ganeti-upgrade:3.1,"));
        assert_eq!(
            Intent::parse(&ours.to_text()).map(|i| i.target_version().to_string()),
            Some("3.1".into())
        );
        assert_eq!(i.target_version(), "3.1");
        assert_eq!(Intent::parse(""), None);
    }
}
