//! Whether Ganeti's daemons run on a node, told as Ganeti tells it: by
//! the locks on their pid files in `${localstatedir}/run/ganeti`.
//! Reads, never writes.
//!
//! Used by `ganeti-layout adopt` and by the switcher (whose
//! `running_daemons` also names the version each runs).

use std::os::fd::OwnedFd;

use crate::node::paths::InstallPaths;

/// Daemons that hold a lock on their pid file in `${localstatedir}/run/ganeti`,
/// as `"NAME (pid N)"`, sorted; empty when none runs (or the directory is
/// not there).
///
/// Ganeti's rule, not the pid's liveness: a Ganeti daemon locks its pid
/// file for as long as it runs, so a pid file nobody holds a lock on is
/// stale, whatever process its pid names today. A pid file that cannot be
/// tested counts as running, to be safe.
pub fn live_daemons(paths: &InstallPaths) -> Vec<String> {
    let mut out: Vec<String> = pid_files(paths)
        .into_iter()
        .filter_map(|(daemon, state)| match state {
            PidFile::Locked { pid: Some(pid) } => Some(format!("{daemon} (pid {pid})")),
            PidFile::Locked { pid: None } => Some(format!("{daemon} (pid unknown)")),
            PidFile::Unknown(e) => Some(format!("{daemon} (pid file unreadable: {e})")),
            PidFile::Stale | PidFile::Ignored => None,
        })
        .collect();
    out.sort();
    out
}

/// Every `NAME.pid` in `${localstatedir}/run/ganeti` as (NAME, what
/// [`pid_file_state`] found), unsorted; empty when the directory is not
/// there.
pub fn pid_files(paths: &InstallPaths) -> Vec<(String, PidFile)> {
    let fs = paths.fs();
    let dir = paths.rundir();
    let Ok(entries) = fs.read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|e| {
            let name = e.name_lossy();
            let daemon = name.strip_suffix(".pid")?.to_string();
            Some((daemon, pid_file_state(fs.open_nofollow(&dir.join(&e.name)))))
        })
        .collect()
}

/// What [`pid_file_state`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidFile {
    /// Another process holds a lock on it: its daemon runs. `pid` is the
    /// number in the file (None while the daemon has not written it yet).
    Locked { pid: Option<i32> },
    /// Nobody holds a lock on it.
    Stale,
    /// A symlink, missing, or not a regular file: never a daemon's pid file.
    Ignored,
    /// It could not be opened or tested; counted as running, to be safe.
    Unknown(rustix::io::Errno),
}

/// Tests a pid file the way Ganeti does (`utils.ReadLockedPidFile`): the
/// daemon is running exactly when another process holds a lock on it.
///
/// Ganeti's daemons lock their pid files in two ways: the Haskell ones
/// (luxid, wconfd, confd, kvmd, mond, metad) take a POSIX record lock
/// (`fcntl` F_SETLK, write lock), the Python ones (noded, rapi) a BSD
/// `flock`. On Linux the two kinds do not see each other, so both are tested:
/// * POSIX (and OFD) locks with `F_GETLK`, a pure query that takes nothing;
/// * `flock` with a non-blocking *shared* `flock`, released at once. There
///   is no query for `flock` locks; this probe cannot outlive this process
///   (the kernel drops it when the descriptor closes), and it only blocks
///   a daemon that starts in the same microseconds, the same window
///   Ganeti's own `ReadLockedPidFile` opens with its exclusive `flock`.
///
/// `opened` is the pid file opened read-only with `O_NOFOLLOW | O_CLOEXEC
/// | O_NONBLOCK` ([`crate::node::NodeFs::open_nofollow`]: a
/// symlink is not followed, a FIFO cannot hang us); F_GETLK needs no write
/// access, and a shared `flock` none either.
pub fn pid_file_state(opened: rustix::io::Result<OwnedFd>) -> PidFile {
    use rustix::fs::FlockOperation;
    use rustix::io::Errno;
    let fd = match opened {
        Ok(fd) => fd,
        Err(Errno::LOOP | Errno::NOENT) => return PidFile::Ignored,
        Err(e) => return PidFile::Unknown(e),
    };
    match rustix::fs::fstat(&fd) {
        Ok(st)
            if rustix::fs::FileType::from_raw_mode(st.st_mode)
                == rustix::fs::FileType::RegularFile => {}
        Ok(_) => return PidFile::Ignored,
        Err(e) => return PidFile::Unknown(e),
    }
    let query = rustix::process::Flock::from(rustix::process::FlockType::WriteLock);
    let posix = match rustix::process::fcntl_getlk(&fd, &query) {
        Ok(holder) => holder.is_some(),
        Err(e) => return PidFile::Unknown(e),
    };
    let locked = posix
        || match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockShared) {
            Ok(()) => {
                let _ = rustix::fs::flock(&fd, FlockOperation::Unlock);
                false
            }
            Err(Errno::WOULDBLOCK) => true,
            Err(e) => return PidFile::Unknown(e),
        };
    if !locked {
        return PidFile::Stale;
    }
    let mut buf = [0u8; 32];
    let pid = rustix::io::pread(&fd, &mut buf, 0)
        .ok()
        .and_then(|n| std::str::from_utf8(&buf[..n]).ok())
        .and_then(|t| t.trim().parse::<i32>().ok());
    PidFile::Locked { pid }
}
