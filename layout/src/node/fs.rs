//! The node's file system, addressed by logical paths.
//!
//! Every path a caller gives [`NodeFs`] is *logical*: what a process on
//! the node sees (`/etc/ganeti/lib`). The root (`--root`: `/`, a DESTDIR
//! or a chroot) is applied here, in one place, as rustup's
//! `InstallPrefix::abs_path` applies its prefix; no other module of the
//! toolkit joins the root and a logical path. The root is applied as a
//! path prefix: a caller that must not be redirected by a directory
//! swapped under it opens that directory once with [`NodeFs::open_dir`]
//! and works relative to the handle (the switcher's `ConfDir` does so for
//! `${sysconfdir}/ganeti`).
//!
//! The operations are [`crate::node::durable`]'s, with the same
//! guarantees; every failure is a [`DurableError`] naming the operation
//! and the host path.
//!
//! Two accessors hand a host path out, each for one purpose:
//! [`NodeFs::shown`] for the text of a message or report that names a
//! file for the admin, and [`NodeFs::host_path`] for another program or
//! a call outside the node (`tar`, a rename out of the root into a
//! package directory).

use std::fs::{FileType, Metadata};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use crate::node::durable::{self, DurableError, Entry};
use crate::node::paths::{resolve_lexically, InstallPaths};

/// The node's files, by logical path, under one root. Cheap to make:
/// [`InstallPaths::fs`].
#[derive(Debug, Clone, Copy)]
pub struct NodeFs<'a> {
    paths: &'a InstallPaths,
}

impl InstallPaths {
    /// The file system of the node these paths describe.
    pub fn fs(&self) -> NodeFs<'_> {
        NodeFs { paths: self }
    }
}

impl<'a> NodeFs<'a> {
    /// The paths this file system is reached through.
    pub fn paths(&self) -> &'a InstallPaths {
        self.paths
    }

    /// The one place the root is applied.
    fn host(&self, logical: &Path) -> PathBuf {
        self.paths.host(logical)
    }

    /// Where logical path `logical` is on this machine (`root + logical`),
    /// to hand to another program or to a call outside the node: `tar`'s
    /// arguments, a rename out of the root into a package directory, a
    /// careful writer of the upgrade's own. Never join anything to it to
    /// reach another file of the node: ask for that file's logical path.
    pub fn host_path(&self, logical: &Path) -> PathBuf {
        self.paths.host(logical)
    }

    /// `logical` as a message or a report names it for the admin: where
    /// it is on this machine (under the root). For text only, never
    /// opened: every operation on it goes through this type.
    pub fn shown(&self, logical: &Path) -> PathBuf {
        self.paths.host(logical)
    }

    // Reading.

    /// The metadata of `logical` itself (a final symlink not followed).
    pub fn symlink_metadata(&self, logical: &Path) -> Result<Metadata, DurableError> {
        durable::symlink_metadata(&self.host(logical))
    }

    /// Is anything at `logical`, a dangling symlink included?
    pub fn is_there(&self, logical: &Path) -> bool {
        self.symlink_metadata(logical).is_ok()
    }

    /// The metadata of what `logical` leads to. Symlinks are followed on
    /// this machine: an absolute target names a host path, as on the node
    /// itself only when the root is `/` (see
    /// [`resolve_in_root`] for following inside the
    /// root).
    pub fn metadata(&self, logical: &Path) -> Result<Metadata, DurableError> {
        durable::metadata(&self.host(logical))
    }

    /// Does `logical` lead to something (symlinks followed as by
    /// [`NodeFs::metadata`])?
    pub fn exists(&self, logical: &Path) -> bool {
        self.metadata(logical).is_ok()
    }

    /// Does `logical` lead to a directory (symlinks followed as by
    /// [`NodeFs::metadata`])?
    pub fn is_dir(&self, logical: &Path) -> bool {
        self.metadata(logical).is_ok_and(|m| m.is_dir())
    }

    /// The type of `logical` itself, `None` when nothing is there.
    pub fn file_type(&self, logical: &Path) -> Option<FileType> {
        self.symlink_metadata(logical).ok().map(|m| m.file_type())
    }

    /// The target of the symlink at `logical`, as written (a logical path
    /// when absolute).
    pub fn read_link(&self, logical: &Path) -> Result<PathBuf, DurableError> {
        durable::read_link(&self.host(logical))
    }

    /// The whole content of `logical`.
    pub fn read(&self, logical: &Path) -> Result<Vec<u8>, DurableError> {
        durable::read(&self.host(logical))
    }

    /// The whole content of `logical`, UTF-8.
    pub fn read_to_string(&self, logical: &Path) -> Result<String, DurableError> {
        durable::read_to_string(&self.host(logical))
    }

    /// The content of `logical`, `Ok(None)` when it is not there.
    pub fn read_if_there(&self, logical: &Path) -> Result<Option<String>, DurableError> {
        match self.read_to_string(logical) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The entries of the directory `logical`, sorted by name.
    pub fn read_dir(&self, logical: &Path) -> Result<Vec<Entry>, DurableError> {
        durable::read_dir(&self.host(logical))
    }

    // Handles, for `*at` calls and locks.

    /// Opens the directory `logical` without following a final symlink,
    /// for `*at` calls relative to it.
    pub fn open_dir(&self, logical: &Path) -> Result<OwnedFd, DurableError> {
        durable::open_dir(&self.host(logical))
    }

    /// Opens `logical` read-only without following a final symlink,
    /// blocking or creating anything (see [`durable::open_nofollow`]).
    pub fn open_nofollow(&self, logical: &Path) -> rustix::io::Result<OwnedFd> {
        durable::open_nofollow(&self.host(logical))
    }

    /// Opens (creating it and its directory) the lock file `logical`, for
    /// `flock`; see [`durable::open_lock_file`].
    pub fn open_lock_file(&self, logical: &Path) -> Result<OwnedFd, DurableError> {
        durable::open_lock_file(&self.host(logical))
    }

    // Writing.

    /// Creates `logical` and its missing ancestors (the root included).
    pub fn create_dir_all(&self, logical: &Path) -> Result<(), DurableError> {
        durable::create_dir_all(&self.host(logical))
    }

    /// Creates the directory `logical` (see [`durable::create_dir`]).
    pub fn create_dir(&self, logical: &Path) -> Result<(), DurableError> {
        durable::create_dir(&self.host(logical))
    }

    /// Sets the permission bits of `logical`.
    pub fn set_mode(&self, logical: &Path, mode: u32) -> Result<(), DurableError> {
        durable::set_mode(&self.host(logical), mode)
    }

    /// Makes the creations, renames and removals in directory `logical`
    /// durable.
    pub fn fsync_dir(&self, logical: &Path) -> Result<(), DurableError> {
        durable::fsync_dir(&self.host(logical))
    }

    /// syncfs(2) of the filesystem holding `logical`.
    pub fn sync_filesystem(&self, logical: &Path) -> Result<(), DurableError> {
        durable::sync_filesystem(&self.host(logical))
    }

    /// Writes `bytes` to `logical` atomically and durably, with `mode`.
    pub fn write_file(&self, logical: &Path, bytes: &[u8], mode: u32) -> Result<(), DurableError> {
        durable::write_file(&self.host(logical), bytes, mode)
    }

    /// Points `logical` at `target` atomically and durably.
    pub fn replace_symlink(&self, logical: &Path, target: &Path) -> Result<(), DurableError> {
        durable::replace_symlink(&self.host(logical), target)
    }

    /// Creates a symlink at `logical` to `target` (not synced).
    pub fn symlink(&self, target: &Path, logical: &Path) -> Result<(), DurableError> {
        durable::symlink(target, &self.host(logical))
    }

    /// Copies the host file `from` (outside the node: a stage) to the new
    /// file `logical`, with `mode` and `mtime` (not synced).
    pub fn copy_in(
        &self,
        from: &Path,
        logical: &Path,
        mode: u32,
        mtime: Option<(i64, u32)>,
    ) -> Result<(), DurableError> {
        durable::copy_file(from, &self.host(logical), mode, mtime)
    }

    /// Copies the host file `from` over `logical` atomically and durably
    /// (see [`durable::install_file`]).
    pub fn install_file(&self, from: &Path, logical: &Path, mode: u32) -> Result<(), DurableError> {
        durable::install_file(from, &self.host(logical), mode)
    }

    /// rename(2) within the node (not synced).
    pub fn rename(&self, from: &Path, to: &Path) -> Result<(), DurableError> {
        durable::rename(&self.host(from), &self.host(to))
    }

    /// Swaps the directories `a` and `b` atomically.
    pub fn exchange(&self, a: &Path, b: &Path) -> Result<(), DurableError> {
        durable::exchange(&self.host(a), &self.host(b))
    }

    /// Removes the file or symlink `logical` durably; a missing one is
    /// not an error.
    pub fn remove_file(&self, logical: &Path) -> Result<(), DurableError> {
        durable::remove_file(&self.host(logical))
    }

    /// Removes the empty directory `logical`; `Ok(false)` when it is not
    /// there.
    pub fn remove_dir(&self, logical: &Path) -> Result<bool, DurableError> {
        durable::remove_dir(&self.host(logical))
    }

    /// Removes `logical` and everything below it (not synced).
    pub fn remove_dir_all(&self, logical: &Path) -> Result<(), DurableError> {
        durable::remove_dir_all(&self.host(logical))
    }
}

/// Follows `logical` through symlinks inside the root (absolute targets are
/// taken as logical, as on the node itself); the logical path it leads to,
/// `None` if it dangles, loops or climbs above `/`.
pub fn resolve_in_root(paths: &InstallPaths, logical: &Path) -> Option<PathBuf> {
    resolve_through(paths, logical, None)
}

/// Where `logical` leads once version `v` is active: as [`resolve_in_root`],
/// but the fixed links `${libdir}/ganeti/default` and
/// `${prefix}/share/ganeti/default` are taken to name `v`'s trees, whatever
/// `${sysconfdir}/ganeti/{lib,share}` say now. So a program of a version
/// that is not active (its `${libdir}/ganeti/tools/cfgupgrade`) is found
/// through the link farm Ganeti's own paths go through, in Debian's layout
/// (`tools/cfgupgrade -> ../../../share/ganeti/default/cfgupgrade`) as in
/// upstream's. `None` as for [`resolve_in_root`].
pub fn resolve_for_version(
    paths: &InstallPaths,
    logical: &Path,
    v: &super::DirVersion,
) -> Option<PathBuf> {
    resolve_through(paths, logical, Some(v))
}

fn resolve_through(
    paths: &InstallPaths,
    logical: &Path,
    active: Option<&super::DirVersion>,
) -> Option<PathBuf> {
    fn normals(p: &Path) -> Vec<std::ffi::OsString> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                _ => None,
            })
            .collect()
    }
    // A stack: the next component to walk is at the end.
    let mut pending: Vec<_> = normals(logical).into_iter().rev().collect();
    let fs = paths.fs();
    let mut current = PathBuf::from("/");
    let mut hops = 0;
    let defaults = active.map(|v| {
        [
            (paths.default_lib(), paths.version_lib(v)),
            (paths.default_share(), paths.version_share(v)),
        ]
    });
    while let Some(part) = pending.pop() {
        let mut next = current.join(&part);
        if let Some((_, tree)) = defaults.iter().flatten().find(|(d, _)| *d == next) {
            next = tree.clone();
        }
        if fs.symlink_metadata(&next).ok()?.file_type().is_symlink() {
            hops += 1;
            if hops > 40 {
                return None;
            }
            let target = fs.read_link(&next).ok()?;
            let resolved = resolve_lexically(&next, &target)?;
            pending.extend(normals(&resolved).into_iter().rev());
            current = PathBuf::from("/");
        } else {
            current = next;
        }
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_of_a_version_not_active_is_found_through_the_default_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = InstallPaths::default()
            .with_root(dir.path())
            .expect("paths");
        let fs = paths.fs();
        let v30: super::super::DirVersion = "3.0".parse().expect("v");
        let v31: super::super::DirVersion = "3.1".parse().expect("v");
        for v in [&v30, &v31] {
            fs.create_dir_all(&paths.version_share(v)).expect("mkdir");
            fs.write_file(&paths.version_share(v).join("cfgupgrade"), b"#!", 0o755)
                .expect("write");
        }
        // Debian's farm: tools/cfgupgrade -> ../../../share/ganeti/default/cfgupgrade,
        // default -> /etc/ganeti/share -> 3.0.
        fs.create_dir_all(&paths.confdir()).expect("mkdir");
        fs.replace_symlink(&paths.active_share_link(), &paths.version_share(&v30))
            .expect("link");
        fs.replace_symlink(&paths.default_share(), &paths.active_share_link())
            .expect("link");
        fs.create_dir_all(&paths.toolsdir()).expect("mkdir");
        fs.replace_symlink(
            &paths.cfgupgrade(),
            Path::new("../../../share/ganeti/default/cfgupgrade"),
        )
        .expect("link");
        assert_eq!(
            resolve_in_root(&paths, &paths.cfgupgrade()),
            Some(paths.version_share(&v30).join("cfgupgrade"))
        );
        assert_eq!(
            resolve_for_version(&paths, &paths.cfgupgrade(), &v31),
            Some(paths.version_share(&v31).join("cfgupgrade"))
        );
        let v32: super::super::DirVersion = "3.2".parse().expect("v");
        assert_eq!(resolve_for_version(&paths, &paths.cfgupgrade(), &v32), None);
    }

    #[test]
    fn logical_paths_land_under_the_root_and_errors_name_the_host_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = InstallPaths::default()
            .with_root(dir.path())
            .expect("paths");
        let fs = paths.fs();
        let conf = paths.confdir();
        fs.create_dir_all(&conf).expect("mkdir");
        fs.write_file(&conf.join("b"), b"two", 0o644)
            .expect("write");
        fs.replace_symlink(&conf.join("a"), Path::new("/nonexistent-ganeti-test/3.0"))
            .expect("link");
        assert!(dir.path().join("etc/ganeti/b").is_file());
        let names: Vec<_> = fs
            .read_dir(&conf)
            .expect("list")
            .iter()
            .map(|e| e.name_lossy())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            fs.read_link(&conf.join("a")).expect("readlink"),
            PathBuf::from("/nonexistent-ganeti-test/3.0")
        );
        assert!(fs.is_there(&conf.join("a")));
        // Dangling under this root: there, but it leads nowhere.
        assert!(!fs.exists(&conf.join("a")));
        assert_eq!(fs.read_if_there(&conf.join("c")).expect("absent"), None);
        let err = fs.read(&conf.join("c")).expect_err("missing");
        assert!(err.is_not_found());
        assert_eq!(err.path, dir.path().join("etc/ganeti/c"));
        assert_eq!(fs.shown(&conf), dir.path().join("etc/ganeti"));
    }
}
