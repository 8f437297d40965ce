//! The manifest each version tree carries: what the tree holds and which
//! farm links point into it. It is written last, after every other entry of
//! the tree, and the tree is renamed into place only after that, so "is V
//! completely installed?" has a safe answer.
//!
//! # What "completely installed" means (manifest format 2)
//!
//! A tree is complete when it has what an administrator needs to run it, as
//! it is after a distribution's post-install passes:
//! * every directory the manifest lists is a directory;
//! * every file is there as a regular file (or a link to one inside the
//!   root), and a file installed executable is still executable;
//! * every symlink leads where it was installed to lead;
//! * a man page may be there under another compression suffix (dh_compress,
//!   brp-compress and Portage's ecompress rename `gnt-cluster.8` to
//!   `gnt-cluster.8.gz`, `.bz2`, `.xz`, `.zst`, and relink the farm).
//!
//! A file whose size or mode changed (dh_strip, brp-strip and Portage's
//! strip shrink ELF files after the install step; dh_fixperms normalises
//! modes) is *changed*, not missing: [`TreeCheck::changed`] reports it,
//! and nothing refuses because of it. The sizes and modes recorded are the
//! ones the tool installed, kept to report such changes.
//!
//! Format 1 recorded the same fields but promised an exact size and mode
//! match; this tool judges format-1 manifests by the rule above as well.
//! Older tools refuse format 2 ("upgrade ganeti-layout") rather than call a
//! stripped tree incomplete.
//!
//! Versions installed by dpkg from Debian's own packages carry no manifest;
//! for those the package file lists (`/var/lib/dpkg/info/*.list`) stand in,
//! and completeness means every listed path exists.

use std::collections::BTreeSet;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::node::fs::{resolve_in_root, NodeFs};
use crate::node::paths::{resolve_lexically, same_link_destination, InstallPaths};
use crate::node::version::DirVersion;

/// Which of a version's two trees: each has its own manifest.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Tree {
    /// `${libdir}/ganeti/V/`, a mini-root mirroring `/`.
    Lib,
    /// `${prefix}/share/ganeti/V/`, flat, next to the Python package.
    Share,
}

impl fmt::Display for Tree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tree::Lib => "lib",
            Tree::Share => "share",
        })
    }
}

/// The format this tool writes. Bumped when the format, or the completeness
/// rule a manifest promises (see the module doc), changes; readers refuse
/// newer ones.
pub const MANIFEST_FORMAT: u32 = 2;
/// The oldest format this tool reads.
pub const OLDEST_MANIFEST_FORMAT: u32 = 1;
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
    #[error("manifest {path} has format {found}; this tool reads formats {OLDEST_MANIFEST_FORMAT} to {MANIFEST_FORMAT}: upgrade ganeti-layout")]
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

    /// Equal but for the format version.
    pub fn same_content(&self, other: &Manifest) -> bool {
        self.to_bytes_of_format(0) == other.to_bytes_of_format(0)
    }

    fn to_bytes_of_format(&self, format: u32) -> Vec<u8> {
        Manifest {
            format,
            ..self.clone()
        }
        .to_bytes()
    }

    /// Reads the manifest of the tree at logical path `tree_logical`,
    /// `Ok(None)` when there is none. Errors name the manifest's host path.
    pub fn read(fs: NodeFs<'_>, tree_logical: &Path) -> Result<Option<Manifest>, ManifestError> {
        let bytes = match fs.read(&tree_logical.join(MANIFEST_NAME)) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => {
                return Err(ManifestError::Read {
                    path: e.path,
                    source: e.source,
                })
            }
        };
        let path = fs.shown(&tree_logical.join(MANIFEST_NAME));
        #[derive(serde::Deserialize)]
        struct FormatOnly {
            format: u32,
        }
        let probe: FormatOnly =
            serde_json::from_slice(&bytes).map_err(|source| ManifestError::Parse {
                path: path.clone(),
                source,
            })?;
        if !(OLDEST_MANIFEST_FORMAT..=MANIFEST_FORMAT).contains(&probe.format) {
            return Err(ManifestError::Format {
                path,
                found: probe.format,
            });
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| ManifestError::Parse { path, source })
    }

    /// Judges the tree at logical path `tree_logical` against this
    /// manifest, by the rule in the module doc.
    pub fn check_tree(&self, paths: &InstallPaths, tree_logical: &Path) -> TreeCheck {
        let mut check = TreeCheck::default();
        for entry in &self.entries {
            check_entry(paths, tree_logical, entry, &mut check);
        }
        check
    }
}

/// The verdict on one tree.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TreeCheck {
    /// What makes the tree incomplete, one line each (empty: complete).
    pub missing: Vec<String>,
    /// Changes since the install that leave it complete, one line each.
    pub changed: Vec<String>,
}

/// Suffixes the distributions' compress passes give man pages.
const COMPRESSION_SUFFIXES: &[&str] = &["gz", "bz2", "xz", "zst", "lzma", "lz", "Z"];

/// `gnt-cluster.8.gz` -> `gnt-cluster.8`; other names unchanged.
fn uncompressed_name(name: &str) -> &str {
    name.rsplit_once('.')
        .filter(|(_, ext)| COMPRESSION_SUFFIXES.contains(ext))
        .map_or(name, |(stem, _)| stem)
}

/// Is `path` a man page (`.../man/man8/x.8`, `.../man/de/man8/x.8`)?
pub fn is_man_page(path: &Path) -> bool {
    let in_section = path
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|d| d.to_string_lossy().starts_with("man"));
    in_section && path.iter().any(|c| c == "man")
}

/// The name a compress pass gave the man page `logical` (the host path of
/// the first sibling with the same uncompressed name), when it is not there
/// under its own.
pub fn compressed_sibling(paths: &InstallPaths, logical: &Path) -> Option<PathBuf> {
    if !is_man_page(logical) {
        return None;
    }
    let name = logical.file_name()?.to_str()?;
    let stem = uncompressed_name(name);
    let dir = logical.parent()?;
    let mut names: Vec<String> = paths
        .fs()
        .read_dir(dir)
        .ok()?
        .iter()
        .map(|e| e.name_lossy())
        .filter(|n| n != name && uncompressed_name(n) == stem)
        .collect();
    names.sort();
    names.into_iter().next().map(|n| dir.join(n))
}

/// Does the link at `found_path` with target `found` stand for the recorded
/// link `recorded_path -> recorded`? The same link, or the one a compress
/// pass renamed: both names and both targets differ only in the suffix.
pub fn same_or_compressed_link(
    recorded_path: &Path,
    recorded: &Path,
    found_path: &Path,
    found: &Path,
) -> bool {
    let uncompressed = |p: &Path| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        name.map(|n| p.with_file_name(uncompressed_name(&n)))
    };
    if found_path == recorded_path {
        return same_link_destination(recorded_path, found, recorded);
    }
    is_man_page(recorded_path)
        && uncompressed(found_path) == uncompressed(recorded_path)
        && match (
            resolve_lexically(found_path, found),
            resolve_lexically(recorded_path, recorded),
        ) {
            (Some(a), Some(b)) => uncompressed(&a) == uncompressed(&b),
            _ => false,
        }
}

fn check_entry(paths: &InstallPaths, tree: &Path, entry: &ManifestEntry, check: &mut TreeCheck) {
    let mut logical = tree.join(&entry.path);
    let fs = paths.fs();
    let mut host = paths.host(&logical);
    let mut meta = fs.symlink_metadata(&logical);
    if meta.is_err() {
        if let Some(sibling) = compressed_sibling(paths, &logical) {
            check.changed.push(format!(
                "{}: now {} (compressed after the install)",
                host.display(),
                paths.host(&sibling).display()
            ));
            logical = sibling;
            host = paths.host(&logical);
            meta = fs.symlink_metadata(&logical);
        }
    }
    let Ok(mut meta) = meta else {
        check.missing.push(format!("{}: missing", host.display()));
        return;
    };
    // A file or directory replaced by a link to one (a dedup pass) still
    // serves; a link inside the root is followed as the node would.
    if meta.file_type().is_symlink() && !matches!(entry.kind, EntryKind::Symlink { .. }) {
        let followed = resolve_in_root(paths, &logical)
            .and_then(|r| fs.symlink_metadata(&r).ok().map(|m| (r, m)));
        let Some((resolved, followed)) = followed else {
            check
                .missing
                .push(format!("{}: a link that dangles", host.display()));
            return;
        };
        check.changed.push(format!(
            "{}: now a link to {}",
            host.display(),
            resolved.display()
        ));
        meta = followed;
    }
    let mode = meta.permissions().mode() & 0o7777;
    match &entry.kind {
        EntryKind::Dir { mode: want } => {
            if !meta.is_dir() {
                check
                    .missing
                    .push(format!("{}: should be a directory", host.display()));
            } else if mode != *want {
                check.changed.push(format!(
                    "{}: mode {mode:o}, installed as {want:o}",
                    host.display()
                ));
            }
        }
        EntryKind::File { mode: want, size } => {
            if !meta.is_file() {
                check
                    .missing
                    .push(format!("{}: should be a regular file", host.display()));
                return;
            }
            if want & 0o111 != 0 && mode & 0o111 == 0 {
                check.missing.push(format!(
                    "{}: not executable (mode {mode:o}, installed as {want:o})",
                    host.display()
                ));
                return;
            }
            if meta.len() != *size && logical == tree.join(&entry.path) {
                check.changed.push(format!(
                    "{}: size {}, installed as {size} (stripped?)",
                    host.display(),
                    meta.len()
                ));
            }
            if mode != *want {
                check.changed.push(format!(
                    "{}: mode {mode:o}, installed as {want:o}",
                    host.display()
                ));
            }
        }
        EntryKind::Symlink { target } => match fs.read_link(&logical) {
            Ok(found)
                if same_or_compressed_link(&tree.join(&entry.path), target, &logical, &found) => {}
            Ok(found) => check.missing.push(format!(
                "{}: links to {}, installed as a link to {}",
                host.display(),
                found.display(),
                target.display()
            )),
            Err(_) => check
                .missing
                .push(format!("{}: should be a symlink", host.display())),
        },
    }
}

/// The logical paths dpkg's package file lists
/// (`${localstatedir}/lib/dpkg/info/*.list`) name that `wanted` keeps,
/// sorted; unreadable lists are passed over, no lists give none.
pub fn dpkg_listed(paths: &InstallPaths, mut wanted: impl FnMut(&Path) -> bool) -> Vec<PathBuf> {
    let fs = paths.fs();
    let info = paths.dpkg_info_dir();
    let Ok(dir) = fs.read_dir(&info) else {
        return Vec::new();
    };
    let mut found = BTreeSet::new();
    for item in dir {
        if !item.name_lossy().ends_with(".list") {
            continue;
        }
        let Ok(text) = fs.read_to_string(&info.join(&item.name)) else {
            continue;
        };
        found.extend(
            text.lines()
                .map(Path::new)
                .filter(|p| wanted(p))
                .map(Path::to_path_buf),
        );
    }
    found.into_iter().collect()
}

/// The package whose file list (`${localstatedir}/lib/dpkg/info/P.list`)
/// names `logical` itself (`ganeti-3.0` for `/usr/share/ganeti/3.0`), the
/// architecture qualifier dropped.
pub fn dpkg_owner(paths: &InstallPaths, logical: &Path) -> Option<String> {
    let fs = paths.fs();
    let info = paths.dpkg_info_dir();
    let mut owners: Vec<String> = fs
        .read_dir(&info)
        .ok()?
        .into_iter()
        .filter_map(|item| {
            let name = item.name_lossy();
            let package = name.strip_suffix(".list")?;
            let text = fs.read_to_string(&info.join(&item.name)).ok()?;
            text.lines()
                .any(|l| Path::new(l) == logical)
                .then(|| package.split(':').next().unwrap_or(package).to_string())
        })
        .collect();
    owners.sort();
    // A directory is listed by every package with files in it; the
    // version's own package is the one named after it, else the first.
    let own = logical
        .file_name()
        .map(|v| format!("ganeti-{}", v.to_string_lossy()));
    match own.filter(|o| owners.contains(o)) {
        Some(o) => Some(o),
        None => owners.into_iter().next(),
    }
}

/// Every package dpkg's database (`${localstatedir}/lib/dpkg/status`)
/// knows by name: each stanza's own, and those its `Depends`,
/// `Pre-Depends` and `Recommends` name. Empty without a database.
pub fn dpkg_known_packages(paths: &InstallPaths) -> BTreeSet<String> {
    let Ok(text) = paths.fs().read_to_string(&paths.dpkg_status()) else {
        return BTreeSet::new();
    };
    let mut known = BTreeSet::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("Package:") {
            known.insert(name.trim().to_string());
        }
        for field in ["Depends:", "Pre-Depends:", "Recommends:"] {
            if let Some(list) = line.strip_prefix(field) {
                for alternative in list.split([',', '|']) {
                    let name = alternative
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .split(':')
                        .next()
                        .unwrap_or("");
                    if !name.is_empty() {
                        known.insert(name.to_string());
                    }
                }
            }
        }
    }
    known
}

/// The file of dpkg's package lists that stand in for a manifest: what
/// they list below the tree at `tree_logical`.
pub fn dpkg_paths(paths: &InstallPaths, tree_logical: &Path) -> Vec<PathBuf> {
    dpkg_listed(paths, |p| p.starts_with(tree_logical) && p != tree_logical)
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
    if let Some(m) = Manifest::read(paths.fs(), &logical)? {
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
    /// Judges the tree at `tree_logical`: what makes it incomplete, and
    /// what changed since the install without making it so.
    pub fn check(&self, paths: &InstallPaths, tree_logical: &Path) -> TreeCheck {
        match self {
            Inventory::Layout(m) => m.check_tree(paths, tree_logical),
            Inventory::Dpkg { paths: listed } => TreeCheck {
                missing: listed
                    .iter()
                    .filter(|p| !paths.fs().is_there(p))
                    .map(|p| format!("{}: missing (listed by dpkg)", paths.host(p).display()))
                    .collect(),
                changed: Vec::new(),
            },
            Inventory::Unknown => TreeCheck {
                missing: vec![format!(
                    "{}: no manifest and no dpkg file list, so completeness cannot be checked; reinstall it with ganeti-layout install",
                    paths.host(tree_logical).display()
                )],
                changed: Vec::new(),
            },
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
            Inventory::Layout(m) => Some(m.entries.iter().any(|e| {
                e.path == rel
                    || is_man_page(rel)
                        && e.path.parent() == rel.parent()
                        && e.path
                            .file_name()
                            .map(|n| uncompressed_name(&n.to_string_lossy()).to_string())
                            == rel
                                .file_name()
                                .map(|n| uncompressed_name(&n.to_string_lossy()).to_string())
            })),
            Inventory::Dpkg { paths } => Some(paths.iter().any(|p| p == &tree_logical.join(rel))),
            Inventory::Unknown => None,
        }
    }
}
