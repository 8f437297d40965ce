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
