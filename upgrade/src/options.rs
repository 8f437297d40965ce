//! The options a run works with: the command line's, and for a resume the
//! ones the upgrade was started with (recorded in the journal's header and
//! the marker, see [`crate::settings`]), resolved once.

use std::path::Path;
use std::time::Duration;

use ganeti_layout::{DirVersion, InstallPaths};

use crate::journal::{Journal, State};
use crate::settings::{read_marker, Settings, PATH_OPTIONS};

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `--to VERSION`: upgrade (or downgrade) the cluster to that version.
    To(DirVersion),
    /// `--resume`: finish a pending upgrade or rollback.
    Resume,
    /// `--abort`: roll back a pending upgrade before its point of no return.
    Abort,
    /// `--status`: show what is pending; change nothing.
    Status,
}

/// The run's settings, parsed at the edge.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub dry_run: bool,
    pub json: bool,
    pub parallel: usize,
    pub verify_ignore: Vec<String>,
    pub queue_timeout: Duration,
    /// Per command; `None`: no limit.
    pub command_timeout: Option<Duration>,
    /// `ganeti-switch` on the nodes, with the path options to pass it.
    pub switch_command: String,
    pub switch_path_args: Vec<String>,
    pub ssh_command: Vec<String>,
    /// How often the job queue is polled while waiting.
    pub poll_interval: Duration,
    /// Said at the start of a resume: which recorded options it uses.
    pub notes: Vec<String>,
    /// `--skip-node`: nodes to leave out of a resume past the point of no
    /// return (dead nodes), to be brought up to date later.
    pub skip_nodes: Vec<String>,
    /// `--no-voting`: do not ask the nodes to confirm the master.
    pub no_voting: bool,
    /// How long a resume waits for nodes to answer the master vote when the
    /// only missing votes are nodes that do not answer.
    pub vote_wait: Duration,
}

impl Options {
    /// The settings to record in the journal and the marker.
    pub fn settings(&self, paths: &InstallPaths) -> Settings {
        Settings {
            prefix: paths.prefix().to_path_buf(),
            sysconfdir: paths.sysconfdir().to_path_buf(),
            libdir: paths.libdir().to_path_buf(),
            localstatedir: paths.localstatedir().to_path_buf(),
            switch_command: self.switch_command.clone(),
            ssh_command: self.ssh_command.clone(),
            parallel: self.parallel,
            verify_ignore: self.verify_ignore.clone(),
            queue_timeout: self.queue_timeout.as_secs(),
            command_timeout: self.command_timeout.map(|d| d.as_secs()).unwrap_or(0),
        }
    }
}

/// The recorded settings and the journal's state: from the marker (which
/// also finds a journal under another state directory) unless a path
/// option is given, or else from the journal at the command line's paths.
fn recorded(root: &Path, cli: &Settings, given: &[&str]) -> Option<(Settings, State)> {
    let load = |s: &Settings| {
        let paths = s.paths(root).ok()?;
        Journal::at(&paths.host(&paths.datadir().join("ganeti-upgrade.journal")))
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
    use std::path::PathBuf;

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
    fn the_marker_finds_a_journal_under_another_state_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let recorded = Settings {
            localstatedir: "/srv/state".into(),
            ..defaults()
        };
        crate::settings::write_marker(root, &recorded).expect("marker");
        // Stale: no journal there.
        let (s, _) = for_resume(root, &defaults(), &[]);
        assert_eq!(s, defaults());
        let journal = root.join("srv/state/lib/ganeti/ganeti-upgrade.journal");
        std::fs::create_dir_all(journal.parent().expect("dir")).expect("mkdir");
        Journal::at(&journal)
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
        crate::settings::remove_marker(root).expect("rm");
        assert!(read_marker(root).is_none());
    }
}
