//! Every file-system call of the toolkit, by host path: the careful
//! writes, and the plain reads and writes beside them, each failure a
//! [`DurableError`] that names the operation and the path. The node's
//! files are reached through [`crate::node::fs::NodeFs`], which maps
//! logical paths to host paths and calls these; a path outside any node
//! (a stage, a package build directory, a demo's temporary directory) is
//! given to these functions as it is.
//!
//! What the careful ones guarantee:
//! * [`write_file`]: after it returns, the file has the new content and mode,
//!   durably: temp file in the same directory (O_EXCL), write, fsync(file),
//!   rename(2) over the target, fsync(directory). A crash at any point leaves
//!   the old content or the new one, never a mix; a stale temp file may
//!   remain and is named `.NAME.tmp-*`.
//! * [`replace_symlink`]: the same for a symlink: a symlink under a unique
//!   temp name in the same directory, renamed over the old one (atomic: a
//!   reader always sees the old or the new target, never nothing), then
//!   fsync(directory).
//! * [`install_file`]: the same for a copy of another file.
//! * [`remove_file`]: the removal, then fsync(directory).
//! * [`fsync_dir`]: makes renames and creations in a directory durable.
//!
//! The plain ones ([`read`], [`create_dir`], [`rename`], [`copy_file`], ...)
//! promise nothing beyond the system call; callers that need durability
//! follow them with [`fsync_dir`] or [`sync_filesystem`].
//!
//! Not guaranteed: atomicity across two paths (see the switcher's journal).
//!
//! This is the one module that calls `std::fs` (the workspace's
//! `clippy.toml` bans it elsewhere).

#![expect(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "the one module that calls std::fs: every call here is wrapped with its operation and path"
)]

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A failed filesystem operation, with the path it was about.
#[derive(Debug, thiserror::Error)]
#[error("{operation} {path}")]
pub struct DurableError {
    pub operation: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl DurableError {
    /// The same failure described as `operation` (`"rename tree into
    /// place"` where the primitive says `"rename into place"`).
    pub fn doing(self, operation: &'static str) -> Self {
        DurableError { operation, ..self }
    }

    /// Did it fail because the path is not there?
    pub fn is_not_found(&self) -> bool {
        self.source.kind() == std::io::ErrorKind::NotFound
    }

    /// Did it fail because something is there already?
    pub fn already_exists(&self) -> bool {
        self.source.kind() == std::io::ErrorKind::AlreadyExists
    }
}

/// Wraps an `io::Error` with the operation and the path it was about; every
/// crate's `Io` error variant is this type.
pub fn io_error<'a>(
    operation: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> DurableError + 'a {
    move |source| DurableError {
        operation,
        path: path.to_path_buf(),
        source,
    }
}

/// A temp name in `dir` that starts with `.NAME.tmp-`, unique in this process
/// and across processes (pid + counter + time).
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.tmp-{}-{n}-{nanos:x}", std::process::id()))
}

/// Is this a temp name made by [`temp_sibling`]?
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

pub fn fsync_dir(dir: &Path) -> Result<(), DurableError> {
    let f = std::fs::File::open(dir).map_err(io_error("open directory", dir))?;
    f.sync_all().map_err(io_error("fsync directory", dir))
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to `path` atomically and durably, with `mode`.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DurableError> {
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io_error("create", &tmp))?;
        // The umask may have cleared bits of `mode`.
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io_error("chmod", &tmp))?;
        f.write_all(bytes).map_err(io_error("write", &tmp))?;
        f.sync_all().map_err(io_error("fsync", &tmp))?;
        std::fs::rename(&tmp, path).map_err(io_error("rename into place", path))?;
        fsync_dir(parent_of(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Points `path` at `target` atomically (temp link + rename) and durably.
pub fn replace_symlink(path: &Path, target: &Path) -> Result<(), DurableError> {
    let tmp = temp_sibling(path);
    std::os::unix::fs::symlink(target, &tmp).map_err(io_error("create symlink", &tmp))?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error("rename symlink into place", path)(e));
    }
    fsync_dir(parent_of(path))
}

/// Opens (creating it and its directory if needed) a lock file, for
/// `flock`; its content is left alone.
///
/// The lock file lives in directories a Ganeti daemon user may be able to
/// write to, so the open never follows a symlink at `path` (it fails with
/// ELOOP and the link's target is not touched) and it refuses anything but a
/// regular file. It never truncates: a holder may rewrite the content only
/// once it holds the lock.
pub fn open_lock_file(path: &Path) -> Result<std::os::fd::OwnedFd, DurableError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_error("create directory", parent))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        // std adds O_CLOEXEC to every open.
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(io_error("open lock file", path))?;
    let meta = file.metadata().map_err(io_error("stat lock file", path))?;
    if !meta.file_type().is_file() {
        return Err(io_error("open lock file", path)(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    Ok(file.into())
}

/// Removes `path` (file or symlink), then makes the removal durable;
/// a missing file is not an error.
pub fn remove_file(path: &Path) -> Result<(), DurableError> {
    match std::fs::remove_file(path) {
        Ok(()) => fsync_dir(parent_of(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove", path)(e)),
    }
}

/// Creates a symlink at `path` pointing at `target` (not atomic, not
/// synced: for a tree that is synced as a whole).
pub fn symlink(target: &Path, path: &Path) -> Result<(), DurableError> {
    std::os::unix::fs::symlink(target, path).map_err(io_error("create symlink", path))
}

/// The metadata of `path` itself (a symlink is not followed).
pub fn symlink_metadata(path: &Path) -> Result<std::fs::Metadata, DurableError> {
    std::fs::symlink_metadata(path).map_err(io_error("inspect", path))
}

/// The metadata of what `path` leads to (symlinks followed, on this
/// machine).
pub fn metadata(path: &Path) -> Result<std::fs::Metadata, DurableError> {
    std::fs::metadata(path).map_err(io_error("inspect", path))
}

/// The target of the symlink at `path`, as written.
pub fn read_link(path: &Path) -> Result<PathBuf, DurableError> {
    std::fs::read_link(path).map_err(io_error("read link", path))
}

/// The whole content of `path`.
pub fn read(path: &Path) -> Result<Vec<u8>, DurableError> {
    std::fs::read(path).map_err(io_error("read", path))
}

/// The whole content of `path`, which must be UTF-8.
pub fn read_to_string(path: &Path) -> Result<String, DurableError> {
    std::fs::read_to_string(path).map_err(io_error("read", path))
}

/// One entry of a directory, as [`read_dir`] lists it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The entry's file name.
    pub name: std::ffi::OsString,
    /// Its type, a symlink not followed (`None`: it could not be read).
    pub file_type: Option<std::fs::FileType>,
}

impl Entry {
    /// The name as text (lossy for a name that is not UTF-8).
    pub fn name_lossy(&self) -> String {
        self.name.to_string_lossy().into_owned()
    }
}

/// The entries of directory `path`, sorted by name; entries that vanish
/// while it is read are left out.
pub fn read_dir(path: &Path) -> Result<Vec<Entry>, DurableError> {
    let entries = std::fs::read_dir(path).map_err(io_error("read directory", path))?;
    let mut out: Vec<Entry> = entries
        .flatten()
        .map(|e| Entry {
            name: e.file_name(),
            file_type: e.file_type().ok(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Creates `path` and its missing ancestors (with the umask's modes).
pub fn create_dir_all(path: &Path) -> Result<(), DurableError> {
    std::fs::create_dir_all(path).map_err(io_error("create directory", path))
}

/// Creates directory `path` (its parent must exist; something already
/// there is an error, [`DurableError::already_exists`]). Not synced: see
/// [`fsync_dir`].
pub fn create_dir(path: &Path) -> Result<(), DurableError> {
    std::fs::create_dir(path).map_err(io_error("create directory", path))
}

/// Sets the permission bits of `path` (a symlink is followed).
pub fn set_mode(path: &Path, mode: u32) -> Result<(), DurableError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io_error("chmod", path))
}

/// rename(2) `from` to `to` (atomic within one filesystem; not synced).
pub fn rename(from: &Path, to: &Path) -> Result<(), DurableError> {
    std::fs::rename(from, to).map_err(io_error("rename into place", to))
}

/// Swaps two directories atomically (Linux `renameat2(RENAME_EXCHANGE)`).
pub fn exchange(a: &Path, b: &Path) -> Result<(), DurableError> {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        a,
        rustix::fs::CWD,
        b,
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .map_err(|e| io_error("exchange with", b)(e.into()))
}

/// Removes the empty directory `path`; `Ok(false)` when it is not there.
pub fn remove_dir(path: &Path) -> Result<bool, DurableError> {
    match std::fs::remove_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error("remove directory", path)(e)),
    }
}

/// Removes `path` and everything below it.
pub fn remove_dir_all(path: &Path) -> Result<(), DurableError> {
    std::fs::remove_dir_all(path).map_err(io_error("remove", path))
}

/// Copies the file `from` to the new file `to` with `mode` and, when
/// given, the modification time `mtime` (seconds, nanoseconds since the
/// epoch; best effort). Not synced. The kernel's copy_file_range(2) is
/// used where it is offered.
pub fn copy_file(
    from: &Path,
    to: &Path,
    mode: u32,
    mtime: Option<(i64, u32)>,
) -> Result<(), DurableError> {
    std::fs::copy(from, to).map_err(io_error("copy to", to))?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(to)
        .map_err(io_error("open", to))?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io_error("chmod", to))?;
    if let Some((secs, nanos)) = mtime {
        if let Ok(secs) = u64::try_from(secs) {
            let t = std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos);
            // Best effort: a filesystem without timestamps still installs.
            let _ = f.set_times(std::fs::FileTimes::new().set_modified(t).set_accessed(t));
        }
    }
    Ok(())
}

/// The modification time of `path` (seconds, nanoseconds since the
/// epoch), for [`copy_file`].
pub fn mtime(path: &Path) -> Option<(i64, u32)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).ok()?;
    Some((m.mtime(), m.mtime_nsec() as u32))
}

/// Copies `from` over `to` atomically and durably, with `mode` and
/// `from`'s modification time: a copy under a temp name beside `to`,
/// fsync, rename(2) over `to`, fsync(directory).
pub fn install_file(from: &Path, to: &Path, mode: u32) -> Result<(), DurableError> {
    let tmp = temp_sibling(to);
    let result = copy_file(from, &tmp, mode, mtime(from)).and_then(|()| {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io_error("fsync", &tmp))?;
        std::fs::rename(&tmp, to).map_err(io_error("rename into place", to))?;
        fsync_dir(to.parent().unwrap_or(Path::new("/")))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// syncfs(2): everything written to the filesystem holding `path` reaches
/// the disk.
pub fn sync_filesystem(path: &Path) -> Result<(), DurableError> {
    let f = std::fs::File::open(path).map_err(io_error("open", path))?;
    rustix::fs::syncfs(&f).map_err(|e| io_error("sync filesystem of", path)(e.into()))
}

/// Opens `path` read-only without following a final symlink, without
/// blocking on a FIFO and without becoming a controlling terminal: for
/// lock and pid files in directories a Ganeti daemon user may write to.
pub fn open_nofollow(path: &Path) -> rustix::io::Result<std::os::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    rustix::fs::openat(
        rustix::fs::CWD,
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
    )
}

/// Opens the directory `path` as a handle for `*at` calls, without
/// following a final symlink (`O_DIRECTORY | O_NOFOLLOW`).
pub fn open_dir(path: &Path) -> Result<std::os::fd::OwnedFd, DurableError> {
    use rustix::fs::{Mode, OFlags};
    rustix::fs::openat(
        rustix::fs::CWD,
        path,
        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_error("open directory", path)(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_and_replace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("state");
        write_file(&f, b"one", 0o600).expect("write");
        write_file(&f, b"two", 0o600).expect("overwrite");
        assert_eq!(std::fs::read(&f).expect("read"), b"two");
        assert_eq!(
            std::fs::metadata(&f).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        let l = dir.path().join("lib");
        replace_symlink(&l, Path::new("/a")).expect("link");
        replace_symlink(&l, Path::new("/b")).expect("relink");
        assert_eq!(
            std::fs::read_link(&l).expect("readlink"),
            PathBuf::from("/b")
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("readdir")
            .flatten()
            .filter(|e| is_temp_name(&e.file_name().to_string_lossy()))
            .collect();
        assert!(leftovers.is_empty());
    }

    /// A daemon user who can write the lock's directory plants a symlink
    /// at the lock path: the open must fail without touching the target.
    #[test]
    fn lock_file_symlink_is_refused_and_its_target_left_intact() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me\n").expect("write");
        let lock = dir.path().join("ganeti-upgrade.lock");
        std::os::unix::fs::symlink(&target, &lock).expect("symlink");
        let err = open_lock_file(&lock).expect_err("a symlink must not be opened");
        assert_eq!(
            err.source.raw_os_error(),
            Some(rustix::io::Errno::LOOP.raw_os_error())
        );
        assert!(
            err.to_string().contains(&lock.display().to_string()),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep me\n");
        // A dangling symlink is refused too, and creates nothing.
        let missing = dir.path().join("missing");
        let dangling = dir.path().join("dangling.lock");
        std::os::unix::fs::symlink(&missing, &dangling).expect("symlink");
        assert!(open_lock_file(&dangling).is_err());
        assert!(!missing.exists());
    }

    #[test]
    fn lock_file_keeps_its_content_and_refuses_a_fifo() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lock = dir.path().join("sub/x.lock");
        drop(open_lock_file(&lock).expect("create"));
        std::fs::write(&lock, "pid 1 (holder)\n").expect("write");
        drop(open_lock_file(&lock).expect("reopen"));
        assert_eq!(
            std::fs::read_to_string(&lock).expect("read"),
            "pid 1 (holder)\n"
        );
        let fifo = dir.path().join("fifo.lock");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
        let err = open_lock_file(&fifo).expect_err("a fifo is not a lock file");
        assert!(err.to_string().contains("fifo.lock"), "{err}");
    }
}
