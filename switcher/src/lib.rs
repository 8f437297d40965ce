//! `ganeti-switch`: switches a node between installed Ganeti versions by
//! flipping `${sysconfdir}/ganeti/lib` and `${sysconfdir}/ganeti/share`.
//!
//! How a switch is made durable and consistent as a pair:
//! 1. an exclusive `flock` on the lock file shared with `ganeti-upgrade`;
//! 2. any interrupted switch is finished first (from its journal);
//! 3. the journal `{from, to}` is written (fsync file, rename, fsync dir);
//! 4. for lib, then share: a symlink under a unique temp name in the same
//!    directory, renamed over the old link (rename(2) is atomic: a reader
//!    never sees the name missing);
//! 5. fsync of the directory; then the journal is removed (and fsynced).
//!
//! Every path operation is relative to the `${sysconfdir}/ganeti` directory,
//! opened once with `O_DIRECTORY | O_NOFOLLOW`, so a parent swapped during
//! the switch cannot redirect it. While a journal exists the node is
//! "switching": `current` says so, and `repair` (or the next switch)
//! finishes it. A reader may see lib and share on different versions only
//! while a journal exists.
//!
//! `rustix` is used rather than `nix` (the crate the design card suggests):
//! it has every `*at` call needed, including `renameat` and `fsync` on a
//! directory fd, without `unsafe` in our code, and builds on musl.
//!
//! This crate never changes a version tree and never touches Ganeti's
//! configuration or daemons.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use ganeti_layout::node::active::{self, Active, DefaultLink, DefaultState};
use ganeti_layout::node::durable::{self, is_temp_name, DurableError};
use ganeti_layout::node::installed;
use ganeti_layout::node::manifest::ManifestError;
use ganeti_layout::node::paths::{resolve_in_root, SWITCH_JOURNAL_NAME};
use ganeti_layout::node::{DirVersion, InstallPaths};
use rustix::fs::{FlockOperation, Mode, OFlags};

pub mod command;
pub mod env;

/// The journal's name inside `${sysconfdir}/ganeti`.
pub const JOURNAL_NAME: &str = SWITCH_JOURNAL_NAME;
const JOURNAL_FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    #[error("version {version} is not completely installed:\n  {}\nhint: {hint}", problems.join("\n  "))]
    NotInstalled {
        version: DirVersion,
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

fn io<'a>(
    operation: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SwitchError + 'a {
    move |source| SwitchError::Io(durable::io_error(operation, path)(source))
}

fn rio<'a>(
    operation: &'static str,
    path: &'a Path,
) -> impl FnOnce(rustix::io::Errno) -> SwitchError + 'a {
    move |e| io(operation, path)(e.into())
}

/// The record of a switch in progress.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Journal {
    pub format: u32,
    pub pid: u32,
    pub to: DirVersion,
    /// Where lib and share pointed before (None: absent).
    pub from_lib: Option<PathBuf>,
    pub from_share: Option<PathBuf>,
}

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

/// `${sysconfdir}/ganeti`, opened without following a final symlink.
struct ConfDir {
    fd: OwnedFd,
    host: PathBuf,
}

impl ConfDir {
    fn open(paths: &InstallPaths, create: bool) -> Result<ConfDir, SwitchError> {
        let fs = paths.fs();
        let confdir = paths.confdir();
        if create {
            fs.create_dir_all(&confdir)?;
        }
        let fd = fs.open_dir(&confdir)?;
        // For messages only: every operation goes through `fd`.
        let host = fs.shown(&confdir);
        Ok(ConfDir { fd, host })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.host.join(name)
    }

    fn read_link(&self, name: &str) -> Result<Option<PathBuf>, SwitchError> {
        match rustix::fs::readlinkat(self.fd.as_fd(), name, Vec::new()) {
            Ok(t) => Ok(Some(PathBuf::from(
                <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(t.into_bytes()),
            ))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(rustix::io::Errno::INVAL) => Err(SwitchError::NotASymlink {
                path: self.path(name),
            }),
            Err(e) => Err(rio("read link", &self.path(name))(e)),
        }
    }

    fn fsync(&self) -> Result<(), SwitchError> {
        rustix::fs::fsync(&self.fd).map_err(rio("fsync directory", &self.host))
    }

    /// symlink to a unique temp name, rename over `name`.
    fn replace_link(&self, name: &str, target: &Path) -> Result<(), SwitchError> {
        let tmp = durable::temp_sibling(Path::new(name));
        let tmp = tmp.to_string_lossy().into_owned();
        rustix::fs::symlinkat(target, self.fd.as_fd(), &tmp)
            .map_err(rio("create symlink", &self.path(&tmp)))?;
        env::crash_point("after-temp-link");
        if let Err(e) = rustix::fs::renameat(self.fd.as_fd(), &tmp, self.fd.as_fd(), name) {
            let _ = rustix::fs::unlinkat(self.fd.as_fd(), &tmp, rustix::fs::AtFlags::empty());
            return Err(rio("rename over", &self.path(name))(e));
        }
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<(), SwitchError> {
        match rustix::fs::unlinkat(self.fd.as_fd(), name, rustix::fs::AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(rio("remove", &self.path(name))(e)),
        }
    }

    fn read_journal(&self) -> Result<Option<Journal>, SwitchError> {
        let fd = match rustix::fs::openat(
            self.fd.as_fd(),
            JOURNAL_NAME,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(rio("open", &self.path(JOURNAL_NAME))(e)),
        };
        let bytes = read_to_end(&fd).map_err(rio("read", &self.path(JOURNAL_NAME)))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            io("read", &self.path(JOURNAL_NAME))(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                e,
            ))
        })?;
        let journal: Journal =
            serde_json::from_str(&text).map_err(|e| SwitchError::BadJournal {
                path: self.path(JOURNAL_NAME),
                reason: e.to_string(),
            })?;
        if journal.format != JOURNAL_FORMAT {
            return Err(SwitchError::BadJournal {
                path: self.path(JOURNAL_NAME),
                reason: format!("format {} is not {JOURNAL_FORMAT}", journal.format),
            });
        }
        Ok(Some(journal))
    }

    /// fsync(file) + rename + fsync(dir), all relative to the directory fd.
    fn write_journal(&self, journal: &Journal) -> Result<(), SwitchError> {
        let tmp = durable::temp_sibling(Path::new(JOURNAL_NAME));
        let tmp = tmp.to_string_lossy().into_owned();
        let fd = rustix::fs::openat(
            self.fd.as_fd(),
            &tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(rio("create", &self.path(&tmp)))?;
        // Plain data with string keys: serialising cannot fail.
        let bytes = serde_json::to_vec(journal).expect("journal serialises");
        write_all(&fd, &bytes).map_err(rio("write", &self.path(&tmp)))?;
        rustix::fs::fsync(&fd).map_err(rio("fsync", &self.path(&tmp)))?;
        rustix::fs::renameat(self.fd.as_fd(), &tmp, self.fd.as_fd(), JOURNAL_NAME)
            .map_err(rio("rename into place", &self.path(JOURNAL_NAME)))?;
        self.fsync()
    }

    fn stale_temps(&self) -> Vec<String> {
        let Ok(dir) = rustix::fs::Dir::read_from(&self.fd) else {
            return Vec::new();
        };
        let mut out: Vec<String> = dir
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                is_temp_name(n)
                    && (n.starts_with(".lib.")
                        || n.starts_with(".share.")
                        || n.starts_with(&format!("{JOURNAL_NAME}.")))
            })
            .collect();
        out.sort();
        out
    }
}

/// The whole content of an opened file, from its current position.
fn read_to_end(fd: &OwnedFd) -> rustix::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match rustix::io::retry_on_intr(|| rustix::io::read(fd, &mut buf))? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Writes all of `bytes` to an opened file.
fn write_all(fd: &OwnedFd, mut bytes: &[u8]) -> rustix::io::Result<()> {
    while !bytes.is_empty() {
        let n = rustix::io::retry_on_intr(|| rustix::io::write(fd, bytes))?;
        bytes = &bytes[n..];
    }
    Ok(())
}

/// What a node looks like from the switcher's point of view.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub active: Active,
    /// The two fixed `default` links, through which every program runs.
    pub default_links: [DefaultLink; 2],
    pub journal: Option<Journal>,
    /// Who holds the node's switch lock while `check` looked (`pid N
    /// (program)`): with a journal, a switch in progress rather than an
    /// interrupted one.
    pub lock_holder: Option<String>,
    /// A switch is running now: the journal's process is alive and the
    /// lock is held.
    pub switching_now: bool,
    pub stale_temp_links: Vec<String>,
    /// One line per problem; empty when sound.
    pub problems: Vec<String>,
}

impl Status {
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
    /// The version a reader is guaranteed to get, when stable.
    pub fn stable_version(&self) -> Option<&DirVersion> {
        if self.journal.is_some() {
            return None;
        }
        self.active.version()
    }
}

/// On a node where nothing is laid out yet, absent `default` links are no
/// fault; once either they or a switch link exist, they must be right.
fn laid_out(active: &Active, default_links: &[DefaultLink; 2]) -> bool {
    !active.is_absent()
        || default_links
            .iter()
            .any(|d| d.state != DefaultState::Missing)
}

/// Does process `pid` exist (kill(pid, 0); EPERM counts as existing)?
pub fn pid_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// Reads the node's state and judges it; changes nothing.
pub fn check(paths: &InstallPaths) -> Result<Status, SwitchError> {
    let active = active::read_active(paths);
    let (journal, stale) = match ConfDir::open(paths, false) {
        Ok(dir) => (dir.read_journal()?, dir.stale_temps()),
        Err(SwitchError::Io(e)) if e.source.kind() == std::io::ErrorKind::NotFound => {
            (None, Vec::new())
        }
        Err(e) => return Err(e),
    };
    let mut problems = Vec::new();
    let fs = paths.fs();
    // Named in the problems, for the admin.
    let confdir = fs.shown(&paths.confdir());
    let lock_file = fs.shown(&paths.lock_file());
    let lock_holder = NodeLock::held_by(paths);
    // In progress: its journal's process is alive and the lock is held.
    let switching_now = lock_holder.is_some() && journal.as_ref().is_some_and(|j| pid_alive(j.pid));
    match (&journal, &lock_holder) {
        (Some(j), Some(holder)) if switching_now => problems.push(format!(
            "{}: a switch to {} is in progress now ({holder} holds {}); wait for it to end, then check again",
            confdir.join(JOURNAL_NAME).display(),
            j.to,
            lock_file.display()
        )),
        (Some(j), Some(holder)) => problems.push(format!(
            "{}: an interrupted switch to {} (pid {}, gone) is recorded; run {} once {holder} has released {}",
            confdir.join(JOURNAL_NAME).display(),
            j.to,
            j.pid,
            paths.tool("ganeti-switch", "repair"),
            lock_file.display()
        )),
        (Some(j), None) => problems.push(format!(
            "{}: an interrupted switch to {} (pid {}) is recorded; run {}",
            confdir.join(JOURNAL_NAME).display(),
            j.to,
            j.pid,
            paths.tool("ganeti-switch", "repair")
        )),
        (None, _) => {}
    }
    // While a switch runs, its temporary links are its own, not stale.
    for t in stale.iter().filter(|_| !switching_now) {
        problems.push(format!(
            "{}: stale temporary link from an interrupted switch; {} removes it",
            confdir.join(t).display(),
            paths.tool("ganeti-switch", "repair")
        ));
    }
    // A pair caught mid-switch is the switch's business, not a fault.
    if !switching_now {
        problems.extend(installed::switch_link_problems(
            paths,
            &active,
            journal.is_some(),
        ));
    }
    let default_links = active::read_default_links(paths);
    if laid_out(&active, &default_links) {
        problems.extend(installed::default_link_problems(paths));
    }
    Ok(Status {
        active,
        default_links,
        journal,
        lock_holder,
        switching_now,
        stale_temp_links: stale,
        problems,
    })
}

/// What `switch_to` or `repair` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Switched {
        from: Option<DirVersion>,
        to: DirVersion,
        /// `default` links that bypassed the switch links and now go
        /// through them again.
        default_links_mended: Vec<PathBuf>,
    },
    AlreadyActive {
        version: DirVersion,
    },
    /// `version` was active already; the `default` links that bypassed it
    /// were pointed back through the switch links.
    DefaultLinksMended {
        version: DirVersion,
        links: Vec<PathBuf>,
    },
    Repaired {
        to: DirVersion,
    },
    Reverted {
        lib: Option<PathBuf>,
        share: Option<PathBuf>,
    },
    NothingToRepair,
}

/// Daemons that hold a lock on their pid file in `${localstatedir}/run/ganeti`,
/// as `"NAME (pid N)"`, sorted.
///
/// Ganeti's rule, not the pid's liveness: a Ganeti daemon locks its pid
/// file for as long as it runs, so a pid file nobody holds a lock on is
/// stale, whatever process its pid names today (after a crash or a reboot,
/// the pid is often reused). How the lock is tested: `pid_file_state`.
pub fn live_daemons(paths: &InstallPaths) -> Vec<String> {
    let fs = paths.fs();
    let dir = paths.rundir();
    let Ok(entries) = fs.read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries {
        let name = e.name_lossy();
        let Some(daemon) = name.strip_suffix(".pid") else {
            continue;
        };
        match pid_file_state(fs.open_nofollow(&dir.join(&e.name))) {
            PidFile::Locked { pid: Some(pid) } => out.push(format!("{daemon} (pid {pid})")),
            PidFile::Locked { pid: None } => out.push(format!("{daemon} (pid unknown)")),
            PidFile::Unknown(e) => out.push(format!("{daemon} (pid file unreadable: {e})")),
            PidFile::Stale | PidFile::Ignored => {}
        }
    }
    out.sort();
    out
}

/// What `pid_file_state` found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PidFile {
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
/// | O_NONBLOCK` ([`ganeti_layout::node::NodeFs::open_nofollow`]: a
/// symlink is not followed, a FIFO cannot hang us); F_GETLK needs no write
/// access, and a shared `flock` none either.
fn pid_file_state(opened: rustix::io::Result<OwnedFd>) -> PidFile {
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

/// Options of a switch.
#[derive(Debug, Clone, Copy, Default)]
pub struct SwitchOptions {
    /// Switch even though Ganeti daemons are running.
    pub force: bool,
}

/// Switches the node to `version`, taking the node lock.
pub fn switch_to(
    paths: &InstallPaths,
    version: &DirVersion,
    options: SwitchOptions,
) -> Result<Outcome, SwitchError> {
    let _lock = NodeLock::acquire(paths, |holder| {
        eprintln!("waiting for the node lock ({holder})")
    })?;
    switch_to_locked(paths, version, options)
}

/// The same, for a caller that already holds the [`NodeLock`] (the upgrade).
///
/// A switch takes effect only through the two `default` links: one that is
/// missing or points elsewhere (Gentoo's ebuild points it straight at a
/// version) is pointed back through the switch links as part of the switch,
/// and the outcome names it; a real file or directory there is refused.
pub fn switch_to_locked(
    paths: &InstallPaths,
    version: &DirVersion,
    options: SwitchOptions,
) -> Result<Outcome, SwitchError> {
    switch(paths, version, options, DefaultLinks::Mend)
}

/// The switch a versioned package's postinst makes (see `ganeti-packaging`):
/// the same, but the `default` links are left as they are, since the
/// package that ships them may be unpacked after this one.
pub fn switch_to_locked_leaving_default_links(
    paths: &InstallPaths,
    version: &DirVersion,
    options: SwitchOptions,
) -> Result<Outcome, SwitchError> {
    switch(paths, version, options, DefaultLinks::Leave)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DefaultLinks {
    Mend,
    Leave,
}

/// A `default` link that must be pointed back, and whether that changes
/// what runs (it led somewhere other than where it will).
struct DefaultFix {
    link: DefaultLink,
    changes_what_runs: bool,
}

/// The `default` links to point back once the switch links lead to `to`
/// (`None`: to where they lead now). Refuses a real file or directory.
fn default_fixes(
    paths: &InstallPaths,
    to: Option<&DirVersion>,
) -> Result<Vec<DefaultFix>, SwitchError> {
    let mut fixes = Vec::new();
    for link in active::read_default_links(paths) {
        match link.state {
            DefaultState::Sound => continue,
            DefaultState::NotASymlink => {
                return Err(SwitchError::NotASymlink {
                    path: paths.fs().shown(&link.path),
                })
            }
            DefaultState::Missing | DefaultState::Foreign { .. } => {}
        }
        let now = resolve_in_root(paths, &link.path);
        let then = match to {
            Some(v) if link.path == paths.default_lib() => Some(paths.version_lib(v)),
            Some(v) => Some(paths.version_share(v)),
            None => resolve_in_root(paths, &link.wanted),
        };
        fixes.push(DefaultFix {
            changes_what_runs: now != then,
            link,
        });
    }
    Ok(fixes)
}

fn mend_default_links(
    paths: &InstallPaths,
    fixes: &[DefaultFix],
) -> Result<Vec<PathBuf>, SwitchError> {
    let fs = paths.fs();
    let mut mended = Vec::new();
    for fix in fixes {
        fs.replace_symlink(&fix.link.path, &fix.link.wanted)?;
        // Reported where it is, for the admin.
        mended.push(fs.shown(&fix.link.path));
    }
    Ok(mended)
}

fn refuse_if_daemons_run(options: SwitchOptions, paths: &InstallPaths) -> Result<(), SwitchError> {
    if !options.force {
        let daemons = live_daemons(paths);
        if !daemons.is_empty() {
            return Err(SwitchError::DaemonsRunning { daemons });
        }
    }
    Ok(())
}

fn switch(
    paths: &InstallPaths,
    version: &DirVersion,
    options: SwitchOptions,
    defaults: DefaultLinks,
) -> Result<Outcome, SwitchError> {
    let problems = installed::check_trees(paths, version)?.missing;
    if !problems.is_empty() {
        return Err(SwitchError::NotInstalled {
            version: version.clone(),
            problems,
            hint: installed::release_typed_for_version(paths, version).unwrap_or_else(|| {
                "install it with ganeti-layout install (or its packages) first".to_string()
            }),
        });
    }
    let fixes = match defaults {
        DefaultLinks::Mend => default_fixes(paths, Some(version))?,
        DefaultLinks::Leave => Vec::new(),
    };
    let dir = ConfDir::open(paths, true)?;
    if dir.read_journal()?.is_some() {
        repair_in(&dir, paths, false)?;
    }
    remove_stale(&dir)?;
    let lib_target = paths.version_lib(version);
    let share_target = paths.version_share(version);
    let from_lib = dir.read_link("lib")?;
    let from_share = dir.read_link("share")?;
    if from_lib.as_deref() == Some(lib_target.as_path())
        && from_share.as_deref() == Some(share_target.as_path())
    {
        if fixes.is_empty() {
            return Ok(Outcome::AlreadyActive {
                version: version.clone(),
            });
        }
        if fixes.iter().any(|f| f.changes_what_runs) {
            refuse_if_daemons_run(options, paths)?;
        }
        return Ok(Outcome::DefaultLinksMended {
            version: version.clone(),
            links: mend_default_links(paths, &fixes)?,
        });
    }
    refuse_if_daemons_run(options, paths)?;
    let from = active::read_active(paths).version().cloned();
    let journal = Journal {
        format: JOURNAL_FORMAT,
        pid: std::process::id(),
        to: version.clone(),
        from_lib,
        from_share,
    };
    dir.write_journal(&journal)?;
    env::crash_point("after-journal");
    dir.replace_link("lib", &lib_target)?;
    env::crash_point("after-lib");
    dir.replace_link("share", &share_target)?;
    env::crash_point("after-share");
    dir.fsync()?;
    // After the pair, before the journal goes: a crash here leaves a
    // switch that `repair` finishes, and `default` links it points back.
    let default_links_mended = mend_default_links(paths, &fixes)?;
    dir.remove(JOURNAL_NAME)?;
    dir.fsync()?;
    Ok(Outcome::Switched {
        from,
        to: version.clone(),
        default_links_mended,
    })
}

fn remove_stale(dir: &ConfDir) -> Result<(), SwitchError> {
    let stale = dir.stale_temps();
    for t in &stale {
        dir.remove(t)?;
    }
    if !stale.is_empty() {
        dir.fsync()?;
    }
    Ok(())
}

fn repair_in(dir: &ConfDir, paths: &InstallPaths, revert: bool) -> Result<Outcome, SwitchError> {
    let journal = dir.read_journal()?;
    remove_stale(dir)?;
    let outcome = match (journal, revert) {
        (None, true) => {
            return Err(SwitchError::NothingToRevert {
                path: dir.path(JOURNAL_NAME),
            })
        }
        (None, false) => Outcome::NothingToRepair,
        (Some(j), false) => {
            dir.replace_link("lib", &paths.version_lib(&j.to))?;
            dir.replace_link("share", &paths.version_share(&j.to))?;
            Outcome::Repaired { to: j.to }
        }
        (Some(j), true) => {
            for (name, target) in [("lib", &j.from_lib), ("share", &j.from_share)] {
                match target {
                    Some(t) => dir.replace_link(name, t)?,
                    None => dir.remove(name)?,
                }
            }
            Outcome::Reverted {
                lib: j.from_lib,
                share: j.from_share,
            }
        }
    };
    dir.fsync()?;
    dir.remove(JOURNAL_NAME)?;
    dir.fsync()?;
    Ok(outcome)
}

/// Options of `ganeti-switch repair`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RepairOptions {
    /// Undo an interrupted switch instead of finishing it.
    pub revert: bool,
    /// Point a `default` link back even though Ganeti daemons are running
    /// and that changes what runs.
    pub force: bool,
}

/// What `repair` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RepairReport {
    /// About the interrupted switch.
    pub switch: Outcome,
    /// `default` links pointed back through the switch links (host paths).
    pub default_links_mended: Vec<PathBuf>,
}

/// Finishes (or, with `revert`, undoes) an interrupted switch, removes stale
/// temp links, then points `default` links that bypass the switch links
/// back through them. The latter only while a version is active (otherwise
/// nothing would be left to run) and, where it changes what runs, not under
/// running daemons without `force`.
pub fn repair(paths: &InstallPaths, options: RepairOptions) -> Result<RepairReport, SwitchError> {
    let _lock = NodeLock::acquire(paths, |holder| {
        eprintln!("waiting for the node lock ({holder})")
    })?;
    let switch = repair_locked(paths, options.revert)?;
    let status = check(paths)?;
    let fixes = if laid_out(&status.active, &status.default_links) {
        default_fixes(paths, None)?
    } else {
        Vec::new()
    };
    if status.active.version().is_none() {
        if let Some(fix) = fixes.iter().find(|f| f.changes_what_runs) {
            return Err(SwitchError::NothingActive {
                link: paths.fs().shown(&fix.link.path),
                target: match &fix.link.state {
                    DefaultState::Foreign { target } => target.clone(),
                    _ => PathBuf::from("nothing"),
                },
                wanted: fix.link.wanted.clone(),
                switch: paths.tool("ganeti-switch", "to VERSION"),
            });
        }
    }
    if fixes.iter().any(|f| f.changes_what_runs) {
        refuse_if_daemons_run(
            SwitchOptions {
                force: options.force,
            },
            paths,
        )?;
    }
    Ok(RepairReport {
        switch,
        default_links_mended: mend_default_links(paths, &fixes)?,
    })
}

/// Finishes (or, with `revert`, undoes) an interrupted switch and removes
/// stale temp links, for a caller that holds the [`NodeLock`]; the
/// `default` links are left alone.
pub fn repair_locked(paths: &InstallPaths, revert: bool) -> Result<Outcome, SwitchError> {
    let dir = match ConfDir::open(paths, false) {
        Ok(d) => d,
        Err(SwitchError::Io(e)) if e.source.kind() == std::io::ErrorKind::NotFound && !revert => {
            return Ok(Outcome::NothingToRepair)
        }
        Err(e) => return Err(e),
    };
    repair_in(&dir, paths, revert)
}
