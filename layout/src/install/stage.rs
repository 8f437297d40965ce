//! Reading a staged Ganeti build (`make install DESTDIR=STAGE`) into memory.
//! This is the planner's only input from the filesystem; it never writes.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::node::build::python_string_constant;
use crate::node::paths::InstallPaths;
use crate::node::version::Release;

/// How much of a program is read to tell a Python script that imports
/// `ganeti` from anything else (only for programs no spec list names).
const HEADER_BYTES: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Script {
    /// Not a script, or not read (the spec decides its placement).
    Unknown,
    Python {
        imports_ganeti: bool,
    },
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageKind {
    Dir {
        mode: u32,
    },
    File {
        mode: u32,
        size: u64,
        mtime: (i64, u32),
        script: Script,
    },
    Symlink {
        target: PathBuf,
    },
    /// A fifo, socket or device: never part of a Ganeti build.
    Special,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageEntry {
    /// The path the entry will have on the installed system (`/usr/sbin/x`).
    pub logical: PathBuf,
    pub kind: StageKind,
}

/// A scanned stage, entries sorted by logical path.
#[derive(Debug, Clone)]
pub struct Stage {
    pub dir: PathBuf,
    pub entries: Vec<StageEntry>,
    /// The release the build says it is, where it says so.
    pub own_release: Option<OwnRelease>,
    /// The configure-time directories the build says it was made for
    /// (`SYSCONFDIR`, `LOCALSTATEDIR`, `PKGLIBDIR`, `SHAREDIR`), where it
    /// says them: the planner refuses a layout under other ones.
    pub own_directories: Vec<OwnDirectory>,
}

/// A directory a build was configured for, as its Python package says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OwnDirectory {
    /// The logical path of the file that says it.
    pub path: PathBuf,
    pub constant: &'static str,
    pub value: PathBuf,
}

/// The release a build records in its Python package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OwnRelease {
    /// The logical path of the file that says it.
    pub path: PathBuf,
    /// The constant's name there (`PACKAGE_VERSION`, `RELEASE_VERSION`).
    pub constant: &'static str,
    pub text: String,
}

/// Where a build records its release, most authoritative first: configure
/// writes `_autoconf.py`, `_constants.py` is generated from it, and
/// `version.py` is what older builds (and the fake Ganeti) carry. Only
/// files at the top of the `ganeti` package count: `utils/version.py` is
/// code, not the release (Debian's ganeti-3.0 even ships 2.16's).
const RELEASE_FILES: &[(&str, &str)] = &[
    ("_autoconf.py", "PACKAGE_VERSION"),
    ("_constants.py", "RELEASE_VERSION"),
    ("version.py", "RELEASE_VERSION"),
];

/// Why no release could be chosen for a stage (the caller's input).
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("the stage {stage} does not say which release it is (no ganeti/_autoconf.py, _constants.py or version.py with the release in it)\nhint: pass --release, e.g. --release 3.0.2")]
    Unknown { stage: PathBuf },
    #[error("the build says it is release {text:?} ({path}: {constant}), which is not a release this tool can lay out\nhint: pass --release with the release to use")]
    OwnUnusable {
        path: PathBuf,
        constant: &'static str,
        text: String,
        #[source]
        source: crate::node::version::VersionError,
    },
    #[error(transparent)]
    Given(#[from] crate::node::version::VersionError),
}

impl Stage {
    /// The release to lay the stage out as: `given` (`--release`), else the
    /// build's own. A `given` one that disagrees with the build's own is a
    /// conflict the planner reports.
    pub fn release(&self, given: Option<&str>) -> Result<Release, ReleaseError> {
        if let Some(text) = given {
            return Ok(text.parse()?);
        }
        let own = self
            .own_release
            .as_ref()
            .ok_or_else(|| ReleaseError::Unknown {
                stage: self.dir.clone(),
            })?;
        own.text
            .parse()
            .map_err(|source| ReleaseError::OwnUnusable {
                path: own.path.clone(),
                constant: own.constant,
                text: own.text.clone(),
                source,
            })
    }
}

/// The text of each `FILE` at the top of a `ganeti` package in the stage,
/// with its logical path.
fn package_files(
    dir: &Path,
    entries: &[StageEntry],
    file: &str,
) -> Result<Vec<(PathBuf, String)>, StageError> {
    let mut out = Vec::new();
    for e in entries {
        let in_package = e.logical.file_name() == Some(file.as_ref())
            && e.logical.parent().and_then(Path::file_name) == Some("ganeti".as_ref());
        if !in_package || !matches!(e.kind, StageKind::File { .. }) {
            continue;
        }
        let host = dir.join(e.logical.strip_prefix("/").unwrap_or(&e.logical));
        let source = fs_err::read(&host).map_err(|source| StageError::Io {
            path: host.clone(),
            source,
        })?;
        out.push((
            e.logical.clone(),
            String::from_utf8_lossy(&source).into_owned(),
        ));
    }
    Ok(out)
}

/// The directories the build states (in the first of `_constants.py` and
/// `_autoconf.py`, at the top of its `ganeti` package, that states each).
fn read_own_directories(
    dir: &Path,
    entries: &[StageEntry],
) -> Result<Vec<OwnDirectory>, StageError> {
    let mut out: Vec<OwnDirectory> = Vec::new();
    for file in ["_constants.py", "_autoconf.py"] {
        for (path, text) in package_files(dir, entries, file)? {
            for constant in ["SYSCONFDIR", "LOCALSTATEDIR", "PKGLIBDIR", "SHAREDIR"] {
                if out.iter().any(|d| d.constant == constant) {
                    continue;
                }
                if let Some(value) = python_string_constant(&text, constant) {
                    out.push(OwnDirectory {
                        path: path.clone(),
                        constant,
                        value: PathBuf::from(value),
                    });
                }
            }
        }
    }
    Ok(out)
}

fn read_own_release(dir: &Path, entries: &[StageEntry]) -> Result<Option<OwnRelease>, StageError> {
    for (file, constant) in RELEASE_FILES {
        for (path, text) in package_files(dir, entries, file)? {
            if let Some(text) = python_string_constant(&text, constant) {
                return Ok(Some(OwnRelease {
                    path,
                    constant,
                    text,
                }));
            }
        }
    }
    Ok(None)
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("stage directory {path} does not exist or is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("cannot read the stage at {path}")]
    Walk {
        path: PathBuf,
        #[source]
        source: walkdir::Error,
    },
    #[error("cannot read {path} in the stage")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Stage {
    /// Walks the stage. Program files in bin, sbin and `${libdir}/ganeti`
    /// get their first bytes read so the fallback rule can look at them.
    pub fn scan(dir: &Path, paths: &InstallPaths) -> Result<Stage, StageError> {
        if !dir.is_dir() {
            return Err(StageError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        let mut entries = Vec::new();
        for item in walkdir::WalkDir::new(dir)
            .follow_links(false)
            .sort_by_file_name()
            .min_depth(1)
        {
            let item = item.map_err(|source| StageError::Walk {
                path: dir.to_path_buf(),
                source,
            })?;
            entries.push(scan_entry(dir, item.path(), paths)?);
        }
        entries.sort_by(|a, b| a.logical.cmp(&b.logical));
        let own_release = read_own_release(dir, &entries)?;
        let own_directories = read_own_directories(dir, &entries)?;
        Ok(Stage {
            dir: dir.to_path_buf(),
            entries,
            own_release,
            own_directories,
        })
    }

    /// A stage view of some of a tree's files, not a whole DESTDIR: the
    /// entries below each logical directory of `tops` in `dir` (a node's
    /// root, for `adopt`: its own flat install taken as the build), each
    /// directory and file kept when `keep(logical, is_dir)` says so (a
    /// directory not kept is not entered). The tops themselves are not
    /// entries; a top that is not there gives none.
    ///
    /// Errors: [`StageError`] naming the path that could not be read.
    pub fn scan_selected(
        dir: &Path,
        paths: &InstallPaths,
        tops: &[PathBuf],
        keep: impl Fn(&Path, bool) -> bool,
    ) -> Result<Stage, StageError> {
        let mut entries = Vec::new();
        for top in tops {
            let host_top = dir.join(top.strip_prefix("/").unwrap_or(top));
            if !host_top.is_dir() {
                continue;
            }
            let walk = walkdir::WalkDir::new(&host_top)
                .follow_links(false)
                .sort_by_file_name()
                .min_depth(1)
                .into_iter()
                .filter_entry(|item| {
                    let rel = item.path().strip_prefix(dir).unwrap_or(item.path());
                    keep(&Path::new("/").join(rel), item.file_type().is_dir())
                });
            for item in walk {
                let item = item.map_err(|source| StageError::Walk {
                    path: host_top.clone(),
                    source,
                })?;
                entries.push(scan_entry(dir, item.path(), paths)?);
            }
        }
        entries.sort_by(|a, b| a.logical.cmp(&b.logical));
        entries.dedup_by(|a, b| a.logical == b.logical);
        let own_release = read_own_release(dir, &entries)?;
        let own_directories = read_own_directories(dir, &entries)?;
        Ok(Stage {
            dir: dir.to_path_buf(),
            entries,
            own_release,
            own_directories,
        })
    }

    /// Where the stage's file for logical path `logical` is on this
    /// machine (the stage is a DESTDIR of its own, not a node's root).
    pub fn file(&self, logical: &Path) -> PathBuf {
        self.dir.join(logical.strip_prefix("/").unwrap_or(logical))
    }
}

/// One entry of a stage at the host path `host` under `dir`. Program
/// files in bin, sbin and `${libdir}/ganeti` get their first bytes read
/// so the fallback rule can look at them.
fn scan_entry(dir: &Path, host: &Path, paths: &InstallPaths) -> Result<StageEntry, StageError> {
    let program_dirs = [paths.bindir(), paths.sbindir(), paths.pkglibdir()];
    let rel = host.strip_prefix(dir).unwrap_or(host);
    let logical = Path::new("/").join(rel);
    let io = |source| StageError::Io {
        path: host.to_path_buf(),
        source,
    };
    let meta = host.symlink_metadata().map_err(io)?;
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        StageKind::Dir {
            mode: meta.permissions().mode() & 0o7777,
        }
    } else if ft.is_symlink() {
        StageKind::Symlink {
            target: fs_err::read_link(host).map_err(io)?,
        }
    } else if ft.is_file() {
        let is_program = program_dirs.iter().any(|d| logical.starts_with(d));
        let script = if is_program {
            read_script_kind(host).map_err(io)?
        } else {
            Script::Unknown
        };
        StageKind::File {
            mode: meta.permissions().mode() & 0o7777,
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec() as u32),
            script,
        }
    } else {
        StageKind::Special
    };
    Ok(StageEntry { logical, kind })
}

fn read_script_kind(path: &Path) -> std::io::Result<Script> {
    let mut head = Vec::with_capacity(HEADER_BYTES);
    fs_err::File::open(path)?
        .take(HEADER_BYTES as u64)
        .read_to_end(&mut head)?;
    Ok(classify_script(&head))
}

/// A `#!...python...` script that has an `import ganeti...` or
/// `from ganeti... import` line.
pub fn classify_script(head: &[u8]) -> Script {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines();
    let Some(first) = lines.next() else {
        return Script::Other;
    };
    if !first.starts_with("#!") {
        return Script::Other;
    }
    if !first.contains("python") {
        return Script::Other;
    }
    let imports_ganeti = text.lines().any(|l| {
        let l = l.trim_start();
        let module = l
            .strip_prefix("import ")
            .or_else(|| l.strip_prefix("from "))
            .map(str::trim_start);
        module.is_some_and(|m| {
            m == "ganeti"
                || m.starts_with("ganeti.")
                || m.starts_with("ganeti ")
                || m.starts_with("ganeti,")
        })
    });
    Script::Python { imports_ganeti }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_constants() {
        let c = |src: &str, name: &str| python_string_constant(src, name);
        assert_eq!(
            c(
                "X = 1\nRELEASE_VERSION = \"3.1.0~rc2\"\n",
                "RELEASE_VERSION"
            )
            .as_deref(),
            Some("3.1.0~rc2")
        );
        assert_eq!(
            c(
                "PACKAGE_VERSION = '2.16.2'  # configure\n",
                "PACKAGE_VERSION"
            )
            .as_deref(),
            Some("2.16.2")
        );
        // Not a literal: the release is elsewhere.
        assert_eq!(
            c(
                "RELEASE_VERSION = _autoconf.PACKAGE_VERSION\n",
                "RELEASE_VERSION"
            ),
            None
        );
        assert_eq!(c("RELEASE_VERSION_X = \"1\"\n", "RELEASE_VERSION"), None);
        assert_eq!(c("  RELEASE_VERSION = \"1\"\n", "RELEASE_VERSION"), None);
    }

    #[test]
    fn script_classification() {
        assert_eq!(
            classify_script(
                b"#!/usr/bin/python3\nimport sys\nfrom ganeti.client import gnt_cluster\n"
            ),
            Script::Python {
                imports_ganeti: true
            }
        );
        assert_eq!(
            classify_script(b"#!/usr/bin/python3\nimport json\n"),
            Script::Python {
                imports_ganeti: false
            }
        );
        assert_eq!(
            classify_script(b"#!/bin/bash\nimport ganeti\n"),
            Script::Other
        );
        assert_eq!(classify_script(b"\x7fELF"), Script::Other);
        assert_eq!(
            classify_script(b"#!/usr/bin/python3\nimport ganetix\n"),
            Script::Python {
                imports_ganeti: false
            }
        );
    }
}
