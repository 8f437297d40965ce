//! The manifest each version tree carries: what the tree holds and which
//! farm links point into it. It is written last, after every other entry of
//! the tree, and the tree is renamed into place only after that, so "is V
//! completely installed?" has a safe answer: the manifest exists and every
//! entry it lists is present with its type, mode and size.
//!
//! Versions installed by dpkg from Debian's own packages carry no manifest;
//! for those the package file lists (`/var/lib/dpkg/info/*.list`) stand in,
//! and completeness means every listed path exists.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::paths::InstallPaths;
use crate::spec::Tree;
use crate::version::DirVersion;

/// Bumped when the format changes incompatibly; readers refuse newer ones.
pub const MANIFEST_FORMAT: u32 = 1;
/// The manifest's file name at the top of each version tree.
pub const MANIFEST_NAME: &str = ".ganeti-layout-manifest.json";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EntryKind {
    Dir { mode: u32 },
    File { mode: u32, size: u64 },
    Symlink { target: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ManifestEntry {
    /// Relative to the tree's top (`usr/sbin/ganeti-confd`, `gnt-cluster`).
    pub path: PathBuf,
    #[serde(flatten)]
    pub kind: EntryKind,
}

/// A farm link (logical path and relative target) that needs this tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ManifestLink {
    pub path: PathBuf,
    pub target: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub release: String,
    pub dir_version: DirVersion,
    pub tree: Tree,
    pub entries: Vec<ManifestEntry>,
    pub links: Vec<ManifestLink>,
}

/// Where a version's inventory came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "source")]
pub enum Inventory {
    /// Our manifest.
    Layout(Manifest),
    /// Debian's package lists: paths only.
    Dpkg { paths: Vec<PathBuf> },
    /// Neither: nothing to check completeness against.
    Unknown,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("manifest {path} is not valid JSON for this tool")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("manifest {path} has format {found}; this tool reads format {MANIFEST_FORMAT}: upgrade ganeti-layout")]
    Format { path: PathBuf, found: u32 },
}

impl Manifest {
    /// The canonical bytes: sorted, pretty, newline-terminated, so identical
    /// input gives identical files.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut sorted = self.clone();
        sorted.entries.sort_by(|a, b| a.path.cmp(&b.path));
        sorted.links.sort();
        // Serialising plain data with string keys cannot fail.
        let mut out = serde_json::to_vec_pretty(&sorted).expect("manifest serialises");
        out.push(b'\n');
        out
    }

    /// Reads the manifest of a tree on disk, `Ok(None)` when there is none.
    pub fn read(tree_dir: &Path) -> Result<Option<Manifest>, ManifestError> {
        let path = tree_dir.join(MANIFEST_NAME);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ManifestError::Read { path, source }),
        };
        #[derive(serde::Deserialize)]
        struct FormatOnly {
            format: u32,
        }
        let probe: FormatOnly =
            serde_json::from_slice(&bytes).map_err(|source| ManifestError::Parse {
                path: path.clone(),
                source,
            })?;
        if probe.format != MANIFEST_FORMAT {
            return Err(ManifestError::Format {
                path,
                found: probe.format,
            });
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| ManifestError::Parse { path, source })
    }

    /// Every entry that is missing or differs on disk, one line each.
    pub fn check_tree(&self, tree_dir: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        for entry in &self.entries {
            let path = tree_dir.join(&entry.path);
            let meta = match path.symlink_metadata() {
                Ok(m) => m,
                Err(_) => {
                    problems.push(format!("{}: missing", path.display()));
                    continue;
                }
            };
            let mode = meta.permissions().mode() & 0o7777;
            match &entry.kind {
                EntryKind::Dir { mode: want } => {
                    if !meta.is_dir() {
                        problems.push(format!("{}: should be a directory", path.display()));
                    } else if mode != *want {
                        problems.push(format!(
                            "{}: mode {mode:o}, manifest says {want:o}",
                            path.display()
                        ));
                    }
                }
                EntryKind::File { mode: want, size } => {
                    if !meta.is_file() {
                        problems.push(format!("{}: should be a regular file", path.display()));
                    } else if meta.len() != *size {
                        problems.push(format!(
                            "{}: size {}, manifest says {size}",
                            path.display(),
                            meta.len()
                        ));
                    } else if mode != *want {
                        problems.push(format!(
                            "{}: mode {mode:o}, manifest says {want:o}",
                            path.display()
                        ));
                    }
                }
                EntryKind::Symlink { target } => match std::fs::read_link(&path) {
                    Ok(found) if &found == target => {}
                    Ok(found) => problems.push(format!(
                        "{}: links to {}, manifest says {}",
                        path.display(),
                        found.display(),
                        target.display()
                    )),
                    Err(_) => problems.push(format!("{}: should be a symlink", path.display())),
                },
            }
        }
        problems
    }
}

/// The file of dpkg's package lists that stand in for a manifest.
pub fn dpkg_paths(paths: &InstallPaths, tree_logical: &Path) -> Vec<PathBuf> {
    let info = paths.host(&paths.localstatedir().join("lib/dpkg/info"));
    let Ok(dir) = std::fs::read_dir(&info) else {
        return Vec::new();
    };
    let mut found = BTreeSet::new();
    for item in dir.flatten() {
        let name = item.file_name();
        if !name.to_string_lossy().ends_with(".list") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(item.path()) else {
            continue;
        };
        for line in text.lines() {
            let p = Path::new(line);
            if p.starts_with(tree_logical) && p != tree_logical {
                found.insert(p.to_path_buf());
            }
        }
    }
    found.into_iter().collect()
}

/// The inventory of one tree of version `v`.
pub fn inventory(
    paths: &InstallPaths,
    v: &DirVersion,
    tree: Tree,
) -> Result<Inventory, ManifestError> {
    let logical = match tree {
        Tree::Lib => paths.version_lib(v),
        Tree::Share => paths.version_share(v),
    };
    if let Some(m) = Manifest::read(&paths.host(&logical))? {
        return Ok(Inventory::Layout(m));
    }
    let listed = dpkg_paths(paths, &logical);
    Ok(if listed.is_empty() {
        Inventory::Unknown
    } else {
        Inventory::Dpkg { paths: listed }
    })
}

impl Inventory {
    /// Problems that make the tree incomplete; empty when complete.
    pub fn check(&self, paths: &InstallPaths, tree_logical: &Path) -> Vec<String> {
        match self {
            Inventory::Layout(m) => m.check_tree(&paths.host(tree_logical)),
            Inventory::Dpkg { paths: listed } => listed
                .iter()
                .filter(|p| paths.host(p).symlink_metadata().is_err())
                .map(|p| format!("{}: missing (listed by dpkg)", paths.host(p).display()))
                .collect(),
            Inventory::Unknown => vec![format!(
                "{}: no manifest and no dpkg file list, so completeness cannot be checked; reinstall it with ganeti-layout install",
                paths.host(tree_logical).display()
            )],
        }
    }

    pub fn source_name(&self) -> &'static str {
        match self {
            Inventory::Layout(_) => "ganeti-layout",
            Inventory::Dpkg { .. } => "dpkg",
            Inventory::Unknown => "unknown",
        }
    }

    /// Does this tree hold `rel` (relative to the tree top)?
    pub fn holds(&self, tree_logical: &Path, rel: &Path) -> Option<bool> {
        match self {
            Inventory::Layout(m) => Some(m.entries.iter().any(|e| e.path == rel)),
            Inventory::Dpkg { paths } => Some(paths.iter().any(|p| p == &tree_logical.join(rel))),
            Inventory::Unknown => None,
        }
    }
}
