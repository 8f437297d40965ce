//! The careful filesystem primitives every crate of the toolkit uses.
//!
//! What each one guarantees:
//! * [`write_file`]: after it returns, the file has the new content and mode,
//!   durably: temp file in the same directory (O_EXCL), write, fsync(file),
//!   rename(2) over the target, fsync(directory). A crash at any point leaves
//!   the old content or the new one, never a mix; a stale temp file may
//!   remain and is named `.NAME.tmp-*`.
//! * [`replace_symlink`]: the same for a symlink: a symlink under a unique
//!   temp name in the same directory, renamed over the old one (atomic: a
//!   reader always sees the old or the new target, never nothing), then
//!   fsync(directory).
//! * [`fsync_dir`]: makes renames and creations in a directory durable.
//!
//! Not guaranteed: atomicity across two paths (see the switcher's journal).

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
pub fn open_lock_file(path: &Path) -> Result<std::fs::File, DurableError> {
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
    Ok(file)
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
