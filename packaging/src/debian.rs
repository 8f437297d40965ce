//! The `debian/rules` helper: lays out one Ganeti build into `debian/tmp`
//! with `ganeti-layout`'s planner, then (optionally) splits it the way
//! Debian ships Ganeti: the version trees (`${libdir}/ganeti/V`,
//! `${prefix}/share/ganeti/V`) into one binary package (`ganeti-3.0`), and
//! everything else (the link farm, the two fixed `default` links, docs,
//! `/etc/default/ganeti`) into the version-independent one (`ganeti`).
//!
//! The switch links `${sysconfdir}/ganeti/{lib,share}` are never laid out
//! here: no package ships them, the versioned package's postinst makes them
//! (see [`crate::maint`]).
//!
//! Plan, then apply: the layout reports every conflict before writing, and
//! the split checks that no destination exists before moving anything.
//! Moves are rename(2)s, so `debian/tmp` and the package directories must be
//! on one filesystem (they are, under `debian/`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ganeti_layout::install::apply::{self, ApplyError};
use ganeti_layout::install::plan::{self, Action};
use ganeti_layout::install::spec::{Spec, SpecError};
use ganeti_layout::install::stage::{ReleaseError, Stage, StageError};
use ganeti_layout::node::durable::{self, DurableError};
use ganeti_layout::node::{DirStyle, DirVersion, InstallPaths, NodeFs, Release};

/// A Debian binary package name (Policy 5.6.1): it becomes a directory
/// under `debian/`, so it cannot hold `/` or start with a dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a Debian package name (lower-case letters, digits, '+', '-', '.'; at least two characters; starting with a letter or digit)")]
pub struct PackageNameError {
    pub value: String,
}

impl FromStr for PackageName {
    type Err = PackageNameError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let bytes = value.as_bytes();
        let ok = bytes.len() >= 2
            && bytes[0].is_ascii_alphanumeric()
            && bytes.iter().all(|&c| {
                c.is_ascii_digit() || c.is_ascii_lowercase() || matches!(c, b'+' | b'-' | b'.')
            });
        if ok {
            Ok(PackageName(value.to_string()))
        } else {
            Err(PackageNameError {
                value: value.to_string(),
            })
        }
    }
}

impl PackageName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where the split puts things: `debian_dir/farm/...` and `debian_dir/trees/...`.
#[derive(Debug, Clone)]
pub struct Split {
    pub debian_dir: PathBuf,
    pub farm: PackageName,
    pub trees: PackageName,
}

pub struct Request<'a> {
    pub stage: &'a Path,
    /// `--release`; `None`: the one the build records (see
    /// [`Stage::release`]).
    pub release: Option<&'a str>,
    /// The configure-time paths, rooted at the DESTDIR (`debian/tmp`).
    pub paths: &'a InstallPaths,
    pub style: DirStyle,
    pub spec: Option<&'a Path>,
    pub split: Option<Split>,
}

#[derive(Debug, thiserror::Error)]
pub enum DebianError {
    #[error(transparent)]
    Stage(#[from] StageError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error("{} conflict(s) laying out {stage} into {destdir}; nothing was changed:\n  {}", conflicts.len(), conflicts.join("\n  "))]
    Conflicts {
        stage: PathBuf,
        destdir: PathBuf,
        conflicts: Vec<String>,
    },
    #[error("laying out {stage} into {destdir}")]
    Apply {
        stage: PathBuf,
        destdir: PathBuf,
        #[source]
        source: ApplyError,
    },
    #[error("cannot split into the packages: these already exist (run dh_prep or debian/rules clean first):\n  {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join("\n  "))]
    Occupied { paths: Vec<PathBuf> },
    #[error(transparent)]
    Io(#[from] DurableError),
}

impl DebianError {
    /// Is this the caller's input (stage, spec) rather than the disk's state?
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            DebianError::Stage(_) | DebianError::Spec(_) | DebianError::Release(_)
        )
    }
}

/// What was laid out (logical paths) and where it went.
#[derive(Debug, Clone, Default)]
pub struct Installed {
    pub dir_version: Option<DirVersion>,
    /// The release laid out.
    pub release: Option<Release>,
    /// The two version trees.
    pub trees: Vec<PathBuf>,
    /// Everything else: farm and fixed links, copied files, directories.
    pub farm: Vec<PathBuf>,
    /// With a split: the package directories filled.
    pub farm_dir: Option<PathBuf>,
    pub trees_dir: Option<PathBuf>,
}

/// Lays out the build, then splits it if asked.
pub fn install(req: &Request<'_>) -> Result<Installed, DebianError> {
    let paths = req.paths;
    let spec = Spec::builtin_with_file(req.spec)?;
    let stage = Stage::scan(req.stage, paths)?;
    let release = stage.release(req.release)?;
    let plan_req = plan::Request {
        stage: &stage,
        spec: &spec,
        paths,
        release: release.clone(),
        style: req.style,
        // The switch links belong to no package: postinst makes them.
        activate: false,
        keep_existing: false,
    };
    let plan = ganeti_layout::install::plan_install(&plan_req).map_err(|conflicts| {
        DebianError::Conflicts {
            stage: req.stage.to_path_buf(),
            destdir: paths.root().to_path_buf(),
            conflicts: conflicts.iter().map(|c| c.to_string()).collect(),
        }
    })?;
    apply::apply(&plan, paths, &stage).map_err(|source| DebianError::Apply {
        stage: req.stage.to_path_buf(),
        destdir: paths.root().to_path_buf(),
        source,
    })?;
    // ganeti-layout's own lock file: state of this build, not of a package.
    paths.fs().remove_file(&paths.layout_lock_file())?;

    let mut installed = Installed {
        dir_version: Some(plan.dir_version.clone()),
        release: Some(release),
        ..Installed::default()
    };
    let mut dirs = Vec::new();
    for action in &plan.actions {
        match action {
            Action::InstallTree { path, .. } | Action::KeepTree { path, .. } => {
                installed.trees.push(path.clone())
            }
            Action::CreateDir { path, .. } => dirs.push(path.clone()),
            Action::CreateLink { path, .. }
            | Action::KeepLink { path, .. }
            | Action::RewriteLink { path, .. }
            | Action::CopyFile { path, .. }
            | Action::CopyLink { path, .. }
            | Action::KeepFile { path } => installed.farm.push(path.clone()),
        }
    }
    if let Some(split) = &req.split {
        split_into(paths, split, &installed.trees, &installed.farm, &dirs)?;
        installed.farm_dir = Some(split.debian_dir.join(split.farm.as_str()));
        installed.trees_dir = Some(split.debian_dir.join(split.trees.as_str()));
    }
    installed.farm.extend(dirs);
    installed.farm.sort();
    Ok(installed)
}

fn relative(logical: &Path) -> &Path {
    logical.strip_prefix("/").unwrap_or(logical)
}

/// Creates `dest_top/rel`'s missing ancestors and itself (`rel` relative
/// to `/`), each with the mode of its counterpart on the laid-out node.
fn create_dirs_like(node: NodeFs<'_>, dest_top: &Path, rel: &Path) -> Result<(), DebianError> {
    let mut so_far = PathBuf::from("/");
    for part in rel.components() {
        so_far.push(part);
        let dest = dest_top.join(relative(&so_far));
        if dest.is_dir() {
            continue;
        }
        let mode = node
            .metadata(&so_far)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o755);
        durable::create_dir(&dest)?;
        // Set after the creation: the umask may have narrowed it.
        durable::set_mode(&dest, mode).map_err(|e| e.doing("set mode of"))?;
    }
    Ok(())
}

fn split_into(
    paths: &InstallPaths,
    split: &Split,
    trees: &[PathBuf],
    farm: &[PathBuf],
    dirs: &[PathBuf],
) -> Result<(), DebianError> {
    let node = paths.fs();
    let farm_top = split.debian_dir.join(split.farm.as_str());
    let trees_top = split.debian_dir.join(split.trees.as_str());
    // Moved out of the root into the package directories: the rename is
    // given both host paths.
    let moves: Vec<(PathBuf, PathBuf, &Path)> = trees
        .iter()
        .map(|t| {
            (
                node.host_path(t),
                trees_top.join(relative(t)),
                trees_top.as_path(),
            )
        })
        .chain(farm.iter().map(|f| {
            (
                node.host_path(f),
                farm_top.join(relative(f)),
                farm_top.as_path(),
            )
        }))
        .collect();
    let occupied: Vec<PathBuf> = moves
        .iter()
        .filter(|(_, dest, _)| dest.symlink_metadata().is_ok())
        .map(|(_, dest, _)| dest.clone())
        .collect();
    if !occupied.is_empty() {
        return Err(DebianError::Occupied { paths: occupied });
    }
    for top in [&farm_top, &trees_top] {
        durable::create_dir_all(top)?;
    }
    for (src, dest, top) in &moves {
        let rel = dest.strip_prefix(top).unwrap_or(dest);
        if let Some(parent) = rel.parent() {
            create_dirs_like(node, top, parent)?;
        }
        durable::rename(src, dest).map_err(|e| DurableError {
            operation: "move into the package",
            path: src.clone(),
            source: e.source,
        })?;
    }
    // Directories the layout made on purpose (empty ones included).
    for dir in dirs {
        create_dirs_like(node, &farm_top, relative(dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names() {
        for good in ["ganeti", "ganeti-3.0", "ganeti-htools-3.1", "g+x"] {
            assert!(good.parse::<PackageName>().is_ok(), "{good}");
        }
        for bad in ["", "g", "Ganeti", "../x", "a/b", ".hidden", "-x", "x y"] {
            assert!(bad.parse::<PackageName>().is_err(), "{bad}");
        }
    }
}
