//! `${sysconfdir}/ganeti`, the directory of the two switch links, opened
//! once as a directory handle: every operation of a switch (read a link,
//! replace one, write or remove the journal) is relative to that handle,
//! so a parent swapped during the switch cannot redirect it. The journal
//! (`.ganeti-switch.journal`) records a switch in progress.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use ganeti_layout::node::durable::{self, is_temp_name};
use ganeti_layout::node::paths::{SWITCH_JOURNAL_NAME, SWITCH_PREVIOUS_NAME};
use ganeti_layout::node::{DirVersion, InstallPaths};
use rustix::fs::{Mode, OFlags};

use crate::env;
use crate::error::{io, rio, SwitchError};

/// The journal's name inside `${sysconfdir}/ganeti`.
pub const JOURNAL_NAME: &str = SWITCH_JOURNAL_NAME;
pub(crate) const JOURNAL_FORMAT: u32 = 1;

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

/// `${sysconfdir}/ganeti`, opened without following a final symlink.
pub(crate) struct ConfDir {
    fd: OwnedFd,
    host: PathBuf,
}

impl ConfDir {
    pub(crate) fn open(paths: &InstallPaths, create: bool) -> Result<ConfDir, SwitchError> {
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

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.host.join(name)
    }

    pub(crate) fn read_link(&self, name: &str) -> Result<Option<PathBuf>, SwitchError> {
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

    pub(crate) fn fsync(&self) -> Result<(), SwitchError> {
        rustix::fs::fsync(&self.fd).map_err(rio("fsync directory", &self.host))
    }

    /// symlink to a unique temp name, rename over `name`.
    pub(crate) fn replace_link(&self, name: &str, target: &Path) -> Result<(), SwitchError> {
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

    pub(crate) fn remove(&self, name: &str) -> Result<(), SwitchError> {
        match rustix::fs::unlinkat(self.fd.as_fd(), name, rustix::fs::AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(rio("remove", &self.path(name))(e)),
        }
    }

    pub(crate) fn read_journal(&self) -> Result<Option<Journal>, SwitchError> {
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
    /// Writes the journal durably: [`ConfDir::stage_file`], then the
    /// directory's fsync (which makes every name staged before it durable
    /// too, the switch's `previous` record among them).
    pub(crate) fn write_journal(&self, journal: &Journal) -> Result<(), SwitchError> {
        // Plain data with string keys: serialising cannot fail.
        let bytes = serde_json::to_vec(journal).expect("journal serialises");
        self.stage_file(JOURNAL_NAME, &bytes, 0o600)?;
        self.fsync()
    }

    /// fsync(file) + rename over `name`, without the directory's fsync: the
    /// next [`ConfDir::fsync`] makes the new name durable (a crash before it
    /// leaves the old file, or none, never a torn one).
    pub(crate) fn stage_file(
        &self,
        name: &str,
        bytes: &[u8],
        mode: u32,
    ) -> Result<(), SwitchError> {
        let tmp = durable::temp_sibling(Path::new(name));
        let tmp = tmp.to_string_lossy().into_owned();
        let fd = rustix::fs::openat(
            self.fd.as_fd(),
            &tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )
        .map_err(rio("create", &self.path(&tmp)))?;
        let written = (|| {
            // The umask may have cleared bits of `mode`.
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
                .map_err(rio("chmod", &self.path(&tmp)))?;
            write_all(&fd, bytes).map_err(rio("write", &self.path(&tmp)))?;
            rustix::fs::fsync(&fd).map_err(rio("fsync", &self.path(&tmp)))?;
            rustix::fs::renameat(self.fd.as_fd(), &tmp, self.fd.as_fd(), name)
                .map_err(rio("rename into place", &self.path(name)))
        })();
        if written.is_err() {
            let _ = rustix::fs::unlinkat(self.fd.as_fd(), &tmp, rustix::fs::AtFlags::empty());
        }
        written
    }

    pub(crate) fn stale_temps(&self) -> Vec<String> {
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
                        || n.starts_with(&format!(".{JOURNAL_NAME}.tmp-"))
                        || n.starts_with(&format!(".{SWITCH_PREVIOUS_NAME}.tmp-")))
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
