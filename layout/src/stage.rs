//! Reading a staged Ganeti build (`make install DESTDIR=STAGE`) into memory.
//! This is the planner's only input from the filesystem; it never writes.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::paths::InstallPaths;

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
        let program_dirs = [paths.bindir(), paths.sbindir(), paths.pkglibdir()];
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
            let rel = item.path().strip_prefix(dir).unwrap_or(item.path());
            let logical = Path::new("/").join(rel);
            let io = |source| StageError::Io {
                path: item.path().to_path_buf(),
                source,
            };
            let meta = item.path().symlink_metadata().map_err(io)?;
            let ft = meta.file_type();
            let kind = if ft.is_dir() {
                StageKind::Dir {
                    mode: meta.permissions().mode() & 0o7777,
                }
            } else if ft.is_symlink() {
                StageKind::Symlink {
                    target: fs_err::read_link(item.path()).map_err(io)?,
                }
            } else if ft.is_file() {
                let is_program = program_dirs.iter().any(|d| logical.starts_with(d));
                let script = if is_program {
                    read_script_kind(item.path()).map_err(io)?
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
            entries.push(StageEntry { logical, kind });
        }
        entries.sort_by(|a, b| a.logical.cmp(&b.logical));
        Ok(Stage {
            dir: dir.to_path_buf(),
            entries,
        })
    }

    /// Where a logical path of the stage is on this machine.
    pub fn host(&self, logical: &Path) -> PathBuf {
        self.dir.join(logical.strip_prefix("/").unwrap_or(logical))
    }
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
