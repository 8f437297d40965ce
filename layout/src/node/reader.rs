//! [`Node`]: the root's well-known files, read. Each file is named in
//! [`crate::node::paths`]; this reads what the other crates need to know
//! from them, and hands out where the files they write are.

use std::path::PathBuf;

use crate::node::durable::DurableError;
use crate::node::fs::NodeFs;
use crate::node::paths::InstallPaths;

/// Why a well-known file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Read(#[from] DurableError),
    /// `config.data` is not JSON with an integer `version` (host path).
    #[error("{path} has no integer \"version\" field")]
    ConfigVersion {
        path: PathBuf,
        #[source]
        source: Option<serde_json::Error>,
    },
}

/// A node's well-known files, read through its root. Cheap to make; reads
/// nothing until asked.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    fs: NodeFs<'a>,
}

impl<'a> Node<'a> {
    /// The node these paths describe.
    pub fn new(paths: &'a InstallPaths) -> Node<'a> {
        Node { fs: paths.fs() }
    }

    /// Its paths.
    pub fn paths(&self) -> &'a InstallPaths {
        self.fs.paths()
    }

    /// Its file system, by logical path.
    pub fn fs(&self) -> NodeFs<'a> {
        self.fs
    }

    /// The ssconf value `key` (`release_version`, `master_node`, ...),
    /// trimmed of surrounding whitespace; `Ok(None)` when the file is not
    /// there. Err: it is there but unreadable (names the host path).
    pub fn ssconf(&self, key: &str) -> Result<Option<String>, DurableError> {
        let text = self.fs.read_if_there(&self.paths().ssconf(key))?;
        Ok(text.map(|t| t.trim().to_string()))
    }

    /// The release that last wrote the cluster's ssconf files
    /// (`ssconf_release_version`): the version the cluster's configuration
    /// is at. `None` when absent, unreadable or empty.
    pub fn cluster_release(&self) -> Option<String> {
        self.ssconf("release_version")
            .ok()
            .flatten()
            .filter(|s| !s.is_empty())
    }

    /// Is this node in a cluster? Debian's test: the cluster certificate
    /// (`${datadir}/server.pem`) exists.
    pub fn is_clustered(&self) -> bool {
        self.fs.exists(&self.paths().server_pem())
    }

    /// The raw `version` integer of `config.data` (Ganeti's
    /// `MAJOR*1000000 + MINOR*10000 + REVISION`; see
    /// [`crate::node::version::ConfigVersion`] to judge it); `Ok(None)`
    /// when there is no `config.data`. Err: unreadable, not JSON, or no
    /// unsigned integer `version`.
    pub fn config_version(&self) -> Result<Option<u64>, NodeError> {
        let logical = self.paths().config_data();
        let Some(text) = self.fs.read_if_there(&logical)? else {
            return Ok(None);
        };
        let bad = |source| NodeError::ConfigVersion {
            path: self.fs.shown(&logical),
            source,
        };
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(Some(e)))?;
        json.get("version")
            .and_then(serde_json::Value::as_u64)
            .map(Some)
            .ok_or_else(|| bad(None))
    }

    /// The raw text of `gnt-cluster upgrade`'s intent file
    /// (`${datadir}/intent-to-upgrade`); `Ok(None)` when it is not there.
    pub fn intent(&self) -> Result<Option<String>, DurableError> {
        self.fs.read_if_there(&self.paths().intent_file())
    }

    // Where the files other crates write are (host paths, for their own
    // careful writers: the upgrade's journal, intent and marker code).

    /// Host path of `ganeti-upgrade`'s journal.
    pub fn upgrade_journal_path(&self) -> PathBuf {
        self.fs.host_path(&self.paths().upgrade_journal())
    }

    /// Host path of the copy of a master's journal on a master candidate.
    pub fn upgrade_journal_copy_path(&self) -> PathBuf {
        self.fs.host_path(&self.paths().upgrade_journal_copy())
    }

    /// Host path of the intent file.
    pub fn intent_path(&self) -> PathBuf {
        self.fs.host_path(&self.paths().intent_file())
    }

    /// Host path of `ganeti-upgrade`'s pending marker (fixed, under the
    /// root: see [`InstallPaths::pending_marker`]).
    pub fn pending_marker_path(&self) -> PathBuf {
        self.fs.host_path(&self.paths().pending_marker())
    }

    /// Host path of `commands.log`.
    pub fn commands_log_path(&self) -> PathBuf {
        self.fs.host_path(&self.paths().commands_log())
    }

    /// Host path of `ganeti-upgrade`'s run directory (ssh control
    /// sockets).
    pub fn upgrade_rundir_path(&self) -> PathBuf {
        self.fs.host_path(&self.paths().upgrade_rundir())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Debian's paths under a temporary root, but `localstatedir` moved,
    /// so that the marker's fixed place shows.
    fn node_root() -> (tempfile::TempDir, InstallPaths) {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = InstallPaths::new(
            dir.path(),
            Path::new("/usr"),
            Path::new("/etc"),
            None,
            Path::new("/srv/state"),
        )
        .expect("paths");
        (dir, paths)
    }

    #[test]
    fn ssconf_is_trimmed_and_absent_is_none() {
        let (_dir, paths) = node_root();
        let node = Node::new(&paths);
        assert_eq!(node.ssconf("master_node").expect("read"), None);
        assert_eq!(node.cluster_release(), None);
        let fs = paths.fs();
        fs.create_dir_all(&paths.datadir()).expect("mkdir");
        fs.write_file(&paths.ssconf("release_version"), b" 3.0.2\n", 0o644)
            .expect("write");
        fs.write_file(&paths.ssconf("master_node"), b"\n", 0o644)
            .expect("write");
        assert_eq!(node.cluster_release().as_deref(), Some("3.0.2"));
        assert_eq!(
            node.ssconf("master_node").expect("read").as_deref(),
            Some("")
        );
        assert!(!node.is_clustered());
    }

    #[test]
    fn config_version_is_the_raw_integer() {
        let (_dir, paths) = node_root();
        let node = Node::new(&paths);
        assert_eq!(node.config_version().expect("absent"), None);
        let fs = paths.fs();
        fs.create_dir_all(&paths.datadir()).expect("mkdir");
        fs.write_file(&paths.config_data(), br#"{"version": 3000000}"#, 0o600)
            .expect("write");
        assert_eq!(node.config_version().expect("read"), Some(3_000_000));
        fs.write_file(&paths.config_data(), b"{not json", 0o600)
            .expect("write");
        let err = node.config_version().expect_err("not JSON");
        assert!(
            err.to_string()
                .contains(&fs.shown(&paths.config_data()).display().to_string()),
            "{err}"
        );
        fs.write_file(&paths.config_data(), br#"{"version": "3.0"}"#, 0o600)
            .expect("write");
        assert!(node.config_version().is_err());
    }

    #[test]
    fn intent_and_the_upgrade_files_are_under_the_root() {
        let (dir, paths) = node_root();
        let node = Node::new(&paths);
        assert_eq!(node.intent().expect("absent"), None);
        paths.fs().create_dir_all(&paths.datadir()).expect("mkdir");
        paths
            .fs()
            .write_file(&paths.intent_file(), b"pid 1\n", 0o600)
            .expect("write");
        assert_eq!(node.intent().expect("read").as_deref(), Some("pid 1\n"));
        let root = dir.path();
        assert_eq!(
            node.upgrade_journal_path(),
            root.join("srv/state/lib/ganeti/ganeti-upgrade.journal")
        );
        assert_eq!(
            node.intent_path(),
            root.join("srv/state/lib/ganeti/intent-to-upgrade")
        );
        // Fixed, whatever --localstatedir says.
        assert_eq!(
            node.pending_marker_path(),
            root.join("var/lib/ganeti-upgrade/pending")
        );
        assert_eq!(
            node.commands_log_path(),
            root.join("srv/state/log/ganeti/commands.log")
        );
        assert_eq!(
            node.upgrade_rundir_path(),
            root.join("srv/state/run/ganeti-upgrade")
        );
    }
}
