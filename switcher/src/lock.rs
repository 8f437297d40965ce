//! The node lock: one exclusive `flock(2)` on
//! `${localstatedir}/lib/ganeti/ganeti-upgrade.lock`, shared by
//! `ganeti-switch`, `ganeti-upgrade` and the maintainer scripts, so that
//! no two of them change a node at once. The holder writes who it is into
//! the file, for the next waiter's message.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use ganeti_layout::node::InstallPaths;
use rustix::fs::FlockOperation;

use crate::env;
use crate::error::{io, SwitchError};

/// The exclusive lock shared by `ganeti-switch` and `ganeti-upgrade`.
pub struct NodeLock {
    file: OwnedFd,
    pub path: PathBuf,
}

impl NodeLock {
    fn open(paths: &InstallPaths) -> Result<(OwnedFd, PathBuf), SwitchError> {
        let fs = paths.fs();
        let file = fs.open_lock_file(&paths.lock_file())?;
        // For the messages that name the lock.
        Ok((file, fs.shown(&paths.lock_file())))
    }

    /// Records the holder, for the next waiter's message (informational).
    /// Only called with the lock held, on the regular file `open_lock_file`
    /// opened without following a symlink: that is what makes truncating
    /// it safe.
    fn held(file: OwnedFd, path: PathBuf) -> NodeLock {
        let _ = rustix::fs::ftruncate(&file, 0);
        let line = format!("pid {} ({})\n", std::process::id(), env::program_name());
        let _ = rustix::io::pwrite(&file, line.as_bytes(), 0);
        NodeLock { file, path }
    }

    /// Takes the lock, waiting for the holder; `on_wait` is told who holds it.
    pub fn acquire(
        paths: &InstallPaths,
        on_wait: impl FnOnce(&str),
    ) -> Result<NodeLock, SwitchError> {
        let (file, path) = Self::open(paths)?;
        if !flock(&file, FlockOperation::NonBlockingLockExclusive).map_err(io("lock", &path))? {
            on_wait(read_holder(&file).trim());
            flock(&file, FlockOperation::LockExclusive).map_err(io("lock", &path))?;
        }
        Ok(Self::held(file, path))
    }

    /// Takes the lock, waiting for its holder at most `limit` (polling every
    /// 100 ms); a holder still there then is [`SwitchError::LockTimeout`].
    /// Without a limit, as [`NodeLock::acquire`]. A remote switch of an
    /// upgrade waits this way, so that it never switches a node after the
    /// upgrade has given it up (rolled back) and its ssh session is gone.
    pub fn acquire_within(
        paths: &InstallPaths,
        on_wait: impl FnOnce(&str),
        limit: Option<std::time::Duration>,
    ) -> Result<NodeLock, SwitchError> {
        let Some(limit) = limit else {
            return Self::acquire(paths, on_wait);
        };
        let (file, path) = Self::open(paths)?;
        let deadline = std::time::Instant::now() + limit;
        let mut told = Some(on_wait);
        loop {
            if flock(&file, FlockOperation::NonBlockingLockExclusive).map_err(io("lock", &path))? {
                return Ok(Self::held(file, path));
            }
            let holder = read_holder(&file).trim().to_string();
            if let Some(tell) = told.take() {
                tell(&holder);
            }
            if std::time::Instant::now() >= deadline {
                return Err(SwitchError::LockTimeout {
                    path,
                    holder,
                    waited: limit.as_secs(),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Takes the lock only if it is free. Asked a few times over 0.25 s:
    /// a reader ([`NodeLock::held_by`], from `--status` or `check`) holds
    /// it shared for an instant, and must not make a starting run refuse.
    pub fn try_acquire(paths: &InstallPaths) -> Result<Option<NodeLock>, SwitchError> {
        let (file, path) = Self::open(paths)?;
        for attempt in 0..5 {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            if flock(&file, FlockOperation::NonBlockingLockExclusive).map_err(io("lock", &path))? {
                return Ok(Some(Self::held(file, path)));
            }
        }
        Ok(None)
    }

    /// Who holds the lock right now (`pid N (program)`), or `None` when it
    /// is free or the lock file does not exist. Writes nothing: the file is
    /// opened without creating it or following a symlink, and a shared
    /// flock(2) that succeeds is dropped at once (`try_acquire` asks again
    /// when it meets one).
    pub fn held_by(paths: &InstallPaths) -> Option<String> {
        let fd = paths.fs().open_nofollow(&paths.lock_file()).ok()?;
        match flock(&fd, FlockOperation::NonBlockingLockShared) {
            Ok(false) => Some(match read_holder(&fd).trim() {
                "" => "another process".to_string(),
                holder => holder.to_string(),
            }),
            _ => None,
        }
    }

    /// Who holds the lock, as the holder wrote it (empty if unknown). The
    /// lock file is read without following a symlink.
    pub fn holder(paths: &InstallPaths) -> String {
        paths
            .fs()
            .open_nofollow(&paths.lock_file())
            .map(|fd| read_holder(&fd).trim().to_string())
            .unwrap_or_default()
    }
}

/// flock(2) on the lock file: false if a non-blocking request found it held.
/// rustix's rather than std's `File::lock` (Rust 1.89), so that the toolkit
/// builds with Debian's rustc 1.85; both are flock(2), with the same
/// semantics.
fn flock(file: &OwnedFd, operation: FlockOperation) -> std::io::Result<bool> {
    match rustix::io::retry_on_intr(|| rustix::fs::flock(file, operation)) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The holder line of an opened lock file (at most 4 KiB, from offset 0,
/// without moving the file position).
fn read_holder(file: &OwnedFd) -> String {
    let mut buf = vec![0u8; 4096];
    let n = rustix::io::pread(file, &mut buf, 0).unwrap_or(0);
    buf.truncate(n);
    String::from_utf8_lossy(&buf).into_owned()
}

impl Drop for NodeLock {
    fn drop(&mut self) {
        let _ = rustix::fs::flock(&self.file, FlockOperation::Unlock);
    }
}
