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

const PATH_OPTIONS: &[&str] = &["prefix", "sysconfdir", "libdir", "localstatedir"];

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

/// The recorded settings and the journal's state: from the marker (which
/// also finds a journal under another state directory) unless a path
/// option is given, or else from the journal at the command line's paths.
fn recorded(
    root: &Path,
    cli: &Settings,
    given: &[&str],
) -> Option<(Settings, crate::journal::State)> {
    let load = |s: &Settings| {
        let paths = s.paths(root).ok()?;
        crate::journal::Journal::at(&paths.host(&paths.datadir().join("ganeti-upgrade.journal")))
            .load()
            .ok()
            .flatten()
    };
    let paths_given = PATH_OPTIONS.iter().any(|o| given.contains(o));
    if !paths_given {
        // A stale marker (its journal gone) is ignored.
        if let Some(marker) = read_marker(root) {
            if let Some(state) = load(&marker) {
                let settings = state.header.settings.clone().unwrap_or(marker);
                return Some((settings, state));
            }
        }
    }
    let state = load(cli)?;
    let settings = state.header.settings.clone()?;
    Some((settings, state))
}

/// The settings a `--resume` runs with: the command line's `cli` where
/// `given`, else the recorded ones. Returns the settings and notes for the
/// admin.
pub fn for_resume(root: &Path, cli: &Settings, given: &[&str]) -> (Settings, Vec<String>) {
    match recorded(root, cli, given) {
        Some((r, _)) => cli.merge(&r, given),
        None => (cli.clone(), Vec::new()),
    }
}

/// The settings of `--to TO` while an upgrade to TO is pending (the run
/// resumes it): as for a resume. Otherwise the command line's.
pub fn for_to(
    root: &Path,
    cli: &Settings,
    given: &[&str],
    to: &ganeti_layout::DirVersion,
) -> (Settings, Vec<String>) {
    match recorded(root, cli, given) {
        Some((r, state)) if state.header.to == *to && !state.rolled_back && !state.rolling_back => {
            cli.merge(&r, given)
        }
        _ => (cli.clone(), Vec::new()),
    }
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

    #[test]
    fn the_marker_finds_a_journal_under_another_state_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let recorded = Settings {
            localstatedir: "/srv/state".into(),
            ..defaults()
        };
        write_marker(root, &recorded).expect("marker");
        // Stale: no journal there.
        let (s, _) = for_resume(root, &defaults(), &[]);
        assert_eq!(s, defaults());
        let journal = root.join("srv/state/lib/ganeti/ganeti-upgrade.journal");
        std::fs::create_dir_all(journal.parent().expect("dir")).expect("mkdir");
        crate::journal::Journal::at(&journal)
            .create(&crate::journal::Header {
                format: crate::journal::JOURNAL_FORMAT,
                id: "x".into(),
                from_release: "3.0.2".into(),
                from_dir: "3.0".parse().expect("v"),
                to: "3.1".parse().expect("v"),
                transition: ganeti_layout::version::Transition::Upgrade,
                started_at: 0,
                settings: None,
            })
            .expect("journal");
        let (s, notes) = for_resume(root, &defaults(), &[]);
        assert_eq!(s.localstatedir, PathBuf::from("/srv/state"));
        assert!(!notes.is_empty());
        // A path given on the command line: the marker is not used.
        let (s, _) = for_resume(root, &defaults(), &["localstatedir"]);
        assert_eq!(s.localstatedir, PathBuf::from("/var"));
        // `--to 3.1` while that upgrade is pending resumes it: its settings.
        let (s, _) = for_to(root, &defaults(), &[], &"3.1".parse().expect("v"));
        assert_eq!(s.localstatedir, PathBuf::from("/srv/state"));
        // Another target: the command line's own.
        let (s, _) = for_to(root, &defaults(), &[], &"3.0".parse().expect("v"));
        assert_eq!(s, defaults());
        remove_marker(root).expect("rm");
        assert!(read_marker(root).is_none());
    }
}
