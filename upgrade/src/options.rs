//! The options a run works with: the command line's, and for a resume the
//! ones the upgrade was started with (recorded in the journal's header and
//! the marker, see [`crate::settings`]), resolved once.

use std::path::Path;
use std::time::Duration;

use ganeti_layout::node::paths::PathsError;
use ganeti_layout::node::{DirVersion, InstallPaths};

use crate::command::Cli;
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

/// Everything a run works with, resolved once ([`Options::resolve`]):
/// the mode and the switches of this invocation, and the settings an
/// upgrade records ([`Settings`]: the command line's, or for a resume the
/// recorded ones where not given again).
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub dry_run: bool,
    pub json: bool,
    /// The settings the run works with (recorded in the journal's header
    /// and the marker when an upgrade starts).
    pub run: Settings,
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
    /// How long a step waits for a node that stopped answering (its command
    /// there ended with ssh's exit 255: the node reboots, its network
    /// blinks) before that command counts as failed; zero: not at all.
    pub node_wait: Duration,
}

impl Options {
    /// The options of `cli`, whose options named in `given` (clap's ids)
    /// were given on the command line; a resume (or `--to` of the pending
    /// target) takes the recorded settings for the others. Also the paths
    /// the run works on. The error is a path option that is not absolute
    /// and normalised.
    pub fn resolve(cli: Cli, given: &[&str]) -> Result<(Options, InstallPaths), PathsError> {
        let cli_paths = cli.paths.resolve(&cli.root)?;
        let mode = match (cli.to, cli.resume, cli.abort, cli.status) {
            (Some(to), ..) => Mode::To(to),
            (None, true, ..) => Mode::Resume,
            (None, false, true, _) => Mode::Abort,
            (None, false, false, _) => Mode::Status,
        };
        let from_cli = Settings {
            prefix: cli_paths.prefix().to_path_buf(),
            sysconfdir: cli_paths.sysconfdir().to_path_buf(),
            libdir: cli_paths.libdir().to_path_buf(),
            localstatedir: cli_paths.localstatedir().to_path_buf(),
            switch_command: cli.switch_command,
            ssh_command: cli
                .ssh_command
                .split_whitespace()
                .map(String::from)
                .collect(),
            parallel: cli.parallel,
            verify_ignore: cli.verify_ignore,
            queue_timeout: cli.queue_timeout,
            command_timeout: cli.command_timeout,
            max_hold: cli.max_hold,
        };
        let (run, notes) = match &mode {
            Mode::To(to) => for_to(cli_paths.root(), &from_cli, given, to),
            _ => for_resume(cli_paths.root(), &from_cli, given),
        };
        let paths = run.paths(cli_paths.root())?;
        let options = Options {
            mode,
            dry_run: cli.dry_run,
            json: cli.json,
            run,
            poll_interval: std::env::var(crate::env::POLL_INTERVAL)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
                .unwrap_or(Duration::from_secs(1)),
            notes,
            skip_nodes: cli.skip_node,
            no_voting: cli.no_voting,
            vote_wait: Duration::from_secs(cli.vote_wait),
            node_wait: Duration::from_secs(cli.node_wait),
        };
        Ok((options, paths))
    }
}

/// The recorded settings and the journal's state: from the marker (which
/// also finds a journal under another state directory) unless a path
/// option is given, or else from the journal at the command line's paths.
fn recorded(root: &Path, cli: &Settings, given: &[&str]) -> Option<(Settings, State)> {
    let load = |s: &Settings| {
        let paths = s.paths(root).ok()?;
        Journal::of(&paths).load().ok().flatten()
    };
    let paths_given = PATH_OPTIONS.iter().any(|o| given.contains(o));
    if !paths_given {
        // A stale marker (its journal gone) is ignored.
        let marker = InstallPaths::default()
            .with_root(root)
            .ok()
            .and_then(|at_root| read_marker(&at_root));
        if let Some(marker) = marker {
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
    to: &DirVersion,
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

    /// A journal at `journal` of an upgrade 3.0 -> 3.1 started with
    /// `settings`.
    fn pending_upgrade(journal: &std::path::Path, settings: Option<Settings>) {
        fs_err::create_dir_all(journal.parent().expect("dir")).expect("mkdir");
        Journal::at(journal)
            .create(&crate::journal::Header {
                format: crate::journal::JOURNAL_FORMAT,
                id: "x".into(),
                from_release: "3.0.2".into(),
                from_dir: "3.0".parse().expect("v"),
                to: "3.1".parse().expect("v"),
                transition: crate::transition::Transition::Upgrade,
                started_at: 0,
                settings,
                cluster: None,
                master: None,
            })
            .expect("journal");
    }

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
    fn the_marker_finds_a_journal_under_another_state_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let at_root = InstallPaths::default().with_root(root).expect("paths");
        let recorded = Settings {
            localstatedir: "/srv/state".into(),
            ..defaults()
        };
        crate::settings::write_marker(&at_root, &recorded).expect("marker");
        // Stale: no journal there.
        let (s, _) = for_resume(root, &defaults(), &[]);
        assert_eq!(s, defaults());
        pending_upgrade(
            &root.join("srv/state/lib/ganeti/ganeti-upgrade.journal"),
            None,
        );
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
        crate::settings::remove_marker(&at_root).expect("rm");
        assert!(read_marker(&at_root).is_none());
    }

    /// `--max-hold` is one of the recorded settings: a bare `--resume`
    /// (the boot-time unit's) keeps the upgrade's budget, and one given
    /// again on the command line (`--max-hold 0`: none) wins, saying so.
    #[test]
    fn a_resume_keeps_the_recorded_hold_budget_unless_given() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let at_root = InstallPaths::default().with_root(root).expect("paths");
        let recorded = Settings {
            max_hold: 600,
            ..defaults()
        };
        crate::settings::write_marker(&at_root, &recorded).expect("marker");
        pending_upgrade(
            &root.join("var/lib/ganeti/ganeti-upgrade.journal"),
            Some(recorded.clone()),
        );
        let (s, _) = for_resume(root, &defaults(), &[]);
        assert_eq!(s.max_hold, 600);
        let (s, notes) = for_resume(root, &defaults(), &["max_hold"]);
        assert_eq!(s.max_hold, 0);
        assert!(
            notes
                .iter()
                .any(|n| n.contains("--max-hold given on the command line")),
            "{notes:?}"
        );
        // A journal written before the option existed: no budget.
        let old: Settings = serde_json::from_str(
            r#"{"prefix":"/usr","sysconfdir":"/etc","libdir":"/usr/lib","localstatedir":"/var","switch_command":"s","ssh_command":["ssh"],"parallel":64,"verify_ignore":[],"queue_timeout":1,"command_timeout":1}"#,
        )
        .expect("old settings");
        assert_eq!(old.max_hold, 0);
    }
}
