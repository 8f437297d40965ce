//! What can go wrong in a switch, a repair or a check: one error type for
//! the whole crate, each variant naming its path or command and its fix.

use std::path::{Path, PathBuf};

use ganeti_layout::node::durable::{self, DurableError};
use ganeti_layout::node::manifest::ManifestError;
use ganeti_layout::node::DirVersion;

#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    /// `--wait`: the node lock was still held when the time was up.
    #[error("the node lock {path} is still held after {waited} s ({holder}); nothing was switched\nhint: wait for that process to end (ganeti-upgrade --status, or ps), then switch again")]
    LockTimeout {
        path: PathBuf,
        holder: String,
        waited: u64,
    },
    #[error("version {version} is not {}installed:\n  {}\nhint: {hint}", if *absent { "" } else { "completely " }, problems.join("\n  "))]
    NotInstalled {
        version: DirVersion,
        /// Neither of its trees is there.
        absent: bool,
        problems: Vec<String>,
        /// Install it; or, for a release typed as a version, its name.
        hint: String,
    },
    #[error("{path} is a real file or directory, not a symlink; refusing to replace it\nhint: move it aside after checking what it holds, then run again")]
    NotASymlink { path: PathBuf },
    #[error("Ganeti daemons are running on this node ({}): their pid files are locked; the upgrade flow never switches under running daemons\nhint: stop them (daemon-util stop-all) or pass --force", daemons.join(", "))]
    DaemonsRunning { daemons: Vec<String> },
    #[error("the journal {path} cannot be read: {reason}\nhint: inspect it; remove it only once lib and share point where they should")]
    BadJournal { path: PathBuf, reason: String },
    #[error("nothing to revert: no interrupted switch recorded in {path}")]
    NothingToRevert { path: PathBuf },
    #[error("{link} links to {target}, but no version is active, so pointing it back to {wanted} would leave nothing to run\nhint: make a version active first, which also points it back: {switch}")]
    NothingActive {
        link: PathBuf,
        target: PathBuf,
        wanted: PathBuf,
        /// The switch to run, with this node's path options.
        switch: String,
    },
    #[error(transparent)]
    Io(#[from] DurableError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

pub(crate) fn io<'a>(
    operation: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SwitchError + 'a {
    move |source| SwitchError::Io(durable::io_error(operation, path)(source))
}

pub(crate) fn rio<'a>(
    operation: &'static str,
    path: &'a Path,
) -> impl FnOnce(rustix::io::Errno) -> SwitchError + 'a {
    move |e| io(operation, path)(e.into())
}
