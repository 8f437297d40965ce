//! The run's settings: every option that changes what an upgrade does,
//! recorded in the journal's header and in a marker at a fixed place, so
//! that a bare `ganeti-upgrade --resume` (as the boot-time unit runs it)
//! finishes the upgrade the admin started, with the same paths, tools,
//! timeouts and verify exceptions. An option given on the resume's command
//! line wins over the recorded one, and that is said.
//!
//! The marker, `/var/lib/ganeti-upgrade/pending` (under `--root`), does not
//! depend on `--localstatedir`: it is how a resume with default options
//! finds a journal kept under another state directory. It is written right
//! after the journal is created and removed right after the journal is;
//! a marker whose journal is gone is stale and ignored.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ganeti_layout::node::durable::DurableError;
use ganeti_layout::node::InstallPaths;
use serde_json::Value;

/// What an upgrade was started with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    pub prefix: PathBuf,
    pub sysconfdir: PathBuf,
    pub libdir: PathBuf,
    pub localstatedir: PathBuf,
    pub switch_command: String,
    pub ssh_command: Vec<String>,
    pub parallel: usize,
    pub verify_ignore: Vec<String>,
    /// Seconds.
    pub queue_timeout: u64,
    /// Seconds; 0: no limit.
    pub command_timeout: u64,
    /// `--max-hold`: the longest new jobs may be held before the point of
    /// no return, in seconds; 0: no limit (and in journals written before
    /// it existed).
    #[serde(default)]
    pub max_hold: u64,
}

/// The path options: given one, a resume does not look for the marker.
pub const PATH_OPTIONS: &[&str] = &["prefix", "sysconfdir", "libdir", "localstatedir"];

impl Settings {
    /// The install paths these settings name, under `root`.
    pub fn paths(
        &self,
        root: &Path,
    ) -> Result<InstallPaths, ganeti_layout::node::paths::PathsError> {
        InstallPaths::new(
            root,
            &self.prefix,
            &self.sysconfdir,
            Some(&self.libdir),
            &self.localstatedir,
        )
    }

    /// How long to wait for running jobs.
    pub fn queue_timeout(&self) -> Duration {
        Duration::from_secs(self.queue_timeout)
    }

    /// The longest new jobs may be held before the point of no return;
    /// `None`: no limit.
    pub fn max_hold(&self) -> Option<u64> {
        (self.max_hold > 0).then_some(self.max_hold)
    }

    /// The longest one command may run; `None`: no limit.
    pub fn command_timeout(&self) -> Option<Duration> {
        (self.command_timeout > 0).then(|| Duration::from_secs(self.command_timeout))
    }

    /// `recorded`, except the options named in `given` (clap's ids, which
    /// are these fields' names), which keep this value's. The notes say
    /// what was taken from where.
    pub fn merge(&self, recorded: &Settings, given: &[&str]) -> (Settings, Vec<String>) {
        let (Ok(Value::Object(mine)), Ok(Value::Object(mut out))) =
            (serde_json::to_value(self), serde_json::to_value(recorded))
        else {
            // Plain data with string keys: both are objects.
            return (recorded.clone(), Vec::new());
        };
        let mut notes = Vec::new();
        for (name, value) in mine {
            let theirs = out.get(&name).cloned().unwrap_or_default();
            if given.contains(&name.as_str()) && value != theirs {
                notes.push(format!(
                    "--{} given on the command line ({}) wins over the upgrade's own ({})",
                    name.replace('_', "-"),
                    shown(&value),
                    shown(&theirs)
                ));
                out.insert(name, value);
            }
        }
        // The same fields as `recorded`'s: it deserialises.
        let out: Settings =
            serde_json::from_value(Value::Object(out)).unwrap_or_else(|_| recorded.clone());
        if out != *self {
            notes.push(format!(
                "using the options the upgrade was started with: {}",
                out.describe()
            ));
        }
        (out, notes)
    }

    /// The settings as command-line options, for messages.
    pub fn describe(&self) -> String {
        let mut words = vec![
            format!("--prefix {}", self.prefix.display()),
            format!("--sysconfdir {}", self.sysconfdir.display()),
            format!("--libdir {}", self.libdir.display()),
            format!("--localstatedir {}", self.localstatedir.display()),
            format!("--switch-command {}", self.switch_command),
            format!("--ssh-command '{}'", self.ssh_command.join(" ")),
            format!("--parallel {}", self.parallel),
            format!("--queue-timeout {}", self.queue_timeout),
            format!("--command-timeout {}", self.command_timeout),
        ];
        if self.max_hold > 0 {
            words.push(format!("--max-hold {}s", self.max_hold));
        }
        words.extend(
            self.verify_ignore
                .iter()
                .map(|c| format!("--verify-ignore {c}")),
        );
        words.join(" ")
    }
}

/// A setting's value as the notes show it (as Rust's `{:?}` of the field).
fn shown(v: &Value) -> String {
    match v {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(shown).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// Records `settings` in the node's marker (0600, durably).
pub fn write_marker(paths: &InstallPaths, settings: &Settings) -> Result<(), DurableError> {
    let marker = paths.pending_marker();
    if let Some(dir) = marker.parent() {
        paths.fs().create_dir_all(dir)?;
    }
    // Plain data with string keys: serialising cannot fail.
    let text = serde_json::to_vec(settings).unwrap_or_default();
    paths.fs().write_file(&marker, &text, 0o600)
}

/// Removes the node's marker, if any.
pub fn remove_marker(paths: &InstallPaths) -> Result<(), DurableError> {
    paths.fs().remove_file(&paths.pending_marker())
}

/// The recorded settings, if the node has a marker.
pub fn read_marker(paths: &InstallPaths) -> Option<Settings> {
    let text = paths.fs().read_if_there(&paths.pending_marker()).ok()??;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Settings {
        Settings {
            prefix: "/usr".into(),
            sysconfdir: "/etc".into(),
            libdir: "/usr/lib".into(),
            localstatedir: "/var".into(),
            switch_command: "/usr/sbin/ganeti-switch".into(),
            ssh_command: vec!["ssh".into()],
            parallel: 64,
            verify_ignore: vec![],
            queue_timeout: 129_600,
            command_timeout: 3600,
            max_hold: 0,
        }
    }

    #[test]
    fn recorded_settings_win_unless_given() {
        let recorded = Settings {
            libdir: "/usr/lib64".into(),
            verify_ignore: vec!["ENODESETUP".into()],
            switch_command: "/opt/bin/ganeti-switch".into(),
            ..defaults()
        };
        let (s, notes) = defaults().merge(&recorded, &[]);
        assert_eq!(s, recorded);
        assert_eq!(notes.len(), 1, "{notes:?}");
        let cli = Settings {
            parallel: 8,
            switch_command: "/usr/local/sbin/ganeti-switch".into(),
            ..defaults()
        };
        let (s, notes) = cli.merge(&recorded, &["parallel", "switch_command"]);
        assert_eq!(s.parallel, 8);
        assert_eq!(s.switch_command, "/usr/local/sbin/ganeti-switch");
        assert_eq!(s.libdir, PathBuf::from("/usr/lib64"));
        assert!(
            notes.iter().any(|n| n.contains("--switch-command given")),
            "{notes:?}"
        );
    }
}
