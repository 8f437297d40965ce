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

use ganeti_layout::durable::{self, DurableError};
use ganeti_layout::InstallPaths;

/// The marker's place, relative to the root.
pub const MARKER: &str = "/var/lib/ganeti-upgrade/pending";

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
}

/// The command-line names of [`Settings`]' fields, for the "given on the
/// command line" test.
pub const OPTION_NAMES: &[&str] = &[
    "prefix",
    "sysconfdir",
    "libdir",
    "localstatedir",
    "switch_command",
    "ssh_command",
    "parallel",
    "verify_ignore",
    "queue_timeout",
    "command_timeout",
];

pub const PATH_OPTIONS: &[&str] = &["prefix", "sysconfdir", "libdir", "localstatedir"];

impl Settings {
    /// The install paths these settings name, under `root`.
    pub fn paths(&self, root: &Path) -> Result<InstallPaths, ganeti_layout::paths::PathsError> {
        InstallPaths::new(
            root,
            &self.prefix,
            &self.sysconfdir,
            Some(&self.libdir),
            &self.localstatedir,
        )
    }

    /// `recorded`, except the options in `given` (the command line's),
    /// which keep this value's. The notes say what was taken from where.
    pub fn merge(&self, recorded: &Settings, given: &[&str]) -> (Settings, Vec<String>) {
        let mut out = recorded.clone();
        let mut notes = Vec::new();
        macro_rules! field {
            ($name:ident) => {
                if given.contains(&stringify!($name)) && self.$name != recorded.$name {
                    notes.push(format!(
                        "--{} given on the command line ({:?}) wins over the upgrade's own ({:?})",
                        stringify!($name).replace('_', "-"),
                        self.$name,
                        recorded.$name
                    ));
                    out.$name = self.$name.clone();
                }
            };
        }
        field!(prefix);
        field!(sysconfdir);
        field!(libdir);
        field!(localstatedir);
        field!(switch_command);
        field!(ssh_command);
        field!(parallel);
        field!(verify_ignore);
        field!(queue_timeout);
        field!(command_timeout);
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
        words.extend(
            self.verify_ignore
                .iter()
                .map(|c| format!("--verify-ignore {c}")),
        );
        words.join(" ")
    }
}

fn marker_path(root: &Path) -> PathBuf {
    root.join(MARKER.trim_start_matches('/'))
}

/// Records `settings` at the fixed place (0600, durably).
pub fn write_marker(root: &Path, settings: &Settings) -> Result<(), DurableError> {
    let path = marker_path(root);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(durable::io_error("create", dir))?;
    }
    // Plain data with string keys: serialising cannot fail.
    let text = serde_json::to_vec(settings).unwrap_or_default();
    durable::write_file(&path, &text, 0o600)
}

/// Removes the marker, if any.
pub fn remove_marker(root: &Path) -> Result<(), DurableError> {
    let path = marker_path(root);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(());
    }
    durable::remove_file(&path)
}

/// The recorded settings, if a marker is there.
pub fn read_marker(root: &Path) -> Option<Settings> {
    let text = std::fs::read(marker_path(root)).ok()?;
    serde_json::from_slice(&text).ok()
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
