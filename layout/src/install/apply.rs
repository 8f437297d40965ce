//! The part of `layout` that changes the filesystem (but for `adopt`,
//! which moves a flat install's own files aside and back, then lays them
//! out through here): it observes the destination for the planner,
//! carries out a reconciled [`Plan`], and removes an inactive version
//! ([`remove_version`]). Every path it touches
//! on the node goes through [`NodeFs`], by logical path.
//!
//! Guarantees:
//! * A version tree is built under a temporary name (`.V.tmp-*`) beside its
//!   final place, its manifest written last, the filesystem synced, and only
//!   then renamed into place; replacing an existing tree swaps the two with
//!   `renameat2(RENAME_EXCHANGE)`, so `V` is never missing or half-built.
//! * Links and copied files are created under temp names and renamed into
//!   place, then their directory is fsynced.
//! * An exclusive lock (`${libdir}/ganeti/.ganeti-layout.lock`) keeps two
//!   installs or removals apart; stale temp trees of a crashed run are removed
//!   under that lock.
//! * Nothing here decides anything: conflicts were refused by the planner.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::install::inspect::find_recorded_link;
use crate::install::plan::{Action, Desired, Found, LinkRole, Observed, Plan, TreePlan};
use crate::install::stage::Stage;
use crate::node::active::{read_active, switch_command};
use crate::node::durable::{self, is_temp_name, temp_sibling, DurableError};
use crate::node::fs::NodeFs;
use crate::node::installed::{installed_summary, inventories, list, release_typed_for_version};
use crate::node::manifest::{EntryKind, Inventory, Manifest, ManifestError, Tree, MANIFEST_NAME};
use crate::node::paths::InstallPaths;
use crate::node::version::DirVersion;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Durable(#[from] DurableError),
}

fn found_at(fs: NodeFs<'_>, logical: &Path) -> Found {
    match fs.symlink_metadata(logical) {
        Err(_) => Found::Missing,
        Ok(m) if m.is_dir() => Found::Dir,
        Ok(m) if m.file_type().is_symlink() => Found::Symlink {
            target: fs.read_link(logical).unwrap_or_default(),
        },
        Ok(m) if m.is_file() => Found::File { same: false },
        Ok(_) => Found::Other,
    }
}

/// Does the node's file `logical` hold what the stage's file `staged`
/// (a host path) holds?
fn same_content(fs: NodeFs<'_>, logical: &Path, staged: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (fs.metadata(logical), durable::metadata(staged)) else {
        return false;
    };
    if ma.len() != mb.len() {
        return false;
    }
    matches!((fs.read(logical), durable::read(staged)), (Ok(x), Ok(y)) if x == y)
}

/// Takes the snapshot of the destination that [`crate::install::plan::reconcile`] needs.
pub fn observe(desired: &Desired, paths: &InstallPaths, stage: &Stage) -> Observed {
    let fs = paths.fs();
    let mut found = BTreeMap::new();
    for p in desired.paths_to_observe() {
        found.insert(p.clone(), found_at(fs, &p));
    }
    // Where the switch links point now, to tell a dangling one from a live one.
    let targets: Vec<PathBuf> = found
        .values()
        .filter_map(|f| match f {
            Found::Symlink { target } if target.is_absolute() => Some(target.clone()),
            _ => None,
        })
        .collect();
    for t in targets {
        found.entry(t.clone()).or_insert_with(|| found_at(fs, &t));
    }
    for u in &desired.unchanged {
        if let (EntryKind::File { .. }, Some(Found::File { same })) =
            (&u.kind, found.get_mut(&u.path))
        {
            *same = same_content(fs, &u.path, &stage.file(&u.path));
        }
    }
    let mut manifests = BTreeMap::new();
    let mut damage = BTreeMap::new();
    for plan in [&desired.lib, &desired.share] {
        if let Ok(Some(m)) = Manifest::read(fs, &plan.logical) {
            damage.insert(plan.tree, m.check_tree(paths, &plan.logical).missing);
        }
        manifests.insert(
            plan.tree,
            Manifest::read(fs, &plan.logical).map_err(|e| {
                let mut msg = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg.push_str(&format!(": {s}"));
                    src = s.source();
                }
                msg
            }),
        );
    }
    Observed {
        found,
        manifests,
        damage,
    }
}

/// An exclusive advisory lock held until dropped.
pub struct Lock {
    _file: OwnedFd,
}

/// Takes `${libdir}/ganeti/.ganeti-layout.lock`, waiting for another holder.
pub fn lock(paths: &InstallPaths) -> Result<Lock, ApplyError> {
    let fs = paths.fs();
    let file = fs.open_lock_file(&paths.layout_lock_file())?;
    // rustix's flock(2), not std's `File::lock` (Rust 1.89): the MSRV is
    // Debian's rustc 1.85.
    rustix::io::retry_on_intr(|| {
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
    })
    .map_err(|e| durable::io_error("lock", &fs.shown(&paths.layout_lock_file()))(e.into()))?;
    Ok(Lock { _file: file })
}

/// What `install` did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Report {
    pub changed: usize,
    pub kept: usize,
    pub stale_removed: Vec<PathBuf>,
}

/// Carries out the plan. The caller holds no lock; this takes it.
pub fn apply(plan: &Plan, paths: &InstallPaths, stage: &Stage) -> Result<Report, ApplyError> {
    let mut report = Report::default();
    let fs = paths.fs();
    fs.create_dir_all(Path::new("/"))
        .map_err(|e| e.doing("create destination"))?;
    // Directories first: the lock file lives in one of them.
    for a in &plan.actions {
        if let Action::CreateDir { path, mode } = a {
            match fs.create_dir(path) {
                Ok(()) => {
                    fs.set_mode(path, *mode)?;
                    if let Some(parent) = path.parent() {
                        fs.fsync_dir(parent)?;
                    }
                    report.changed += 1;
                }
                Err(e) if e.already_exists() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let _lock = lock(paths)?;
    report.stale_removed = remove_stale_temp_trees(paths, &plan.desired)?;

    for a in &plan.actions {
        match a {
            Action::CreateDir { .. } => {}
            Action::InstallTree { tree, replaces, .. } => {
                let tp = match tree {
                    Tree::Lib => &plan.desired.lib,
                    Tree::Share => &plan.desired.share,
                };
                install_tree(tp, plan, paths, stage, *replaces)?;
                report.changed += 1;
            }
            Action::CreateLink { role, path, target }
            | Action::RewriteLink {
                role, path, target, ..
            } => {
                if *role == LinkRole::Active {
                    continue; // last, once everything else is in place
                }
                fs.replace_symlink(path, target)?;
                report.changed += 1;
            }
            Action::CopyFile { path, mode, .. } => {
                fs.install_file(&stage.file(path), path, *mode)?;
                report.changed += 1;
            }
            Action::CopyLink { path, target } => {
                fs.replace_symlink(path, target)?;
                report.changed += 1;
            }
            Action::KeepTree { .. } | Action::KeepLink { .. } | Action::KeepFile { .. } => {
                report.kept += 1
            }
        }
    }
    for a in &plan.actions {
        if let Action::CreateLink {
            role: LinkRole::Active,
            path,
            target,
        }
        | Action::RewriteLink {
            role: LinkRole::Active,
            path,
            target,
            ..
        } = a
        {
            fs.replace_symlink(path, target)?;
            report.changed += 1;
        }
    }
    Ok(report)
}

/// Removes `.V.tmp-*` trees left by a crashed install of this version.
fn remove_stale_temp_trees(
    paths: &InstallPaths,
    desired: &Desired,
) -> Result<Vec<PathBuf>, ApplyError> {
    let fs = paths.fs();
    let mut removed = Vec::new();
    for tp in [&desired.lib, &desired.share] {
        let Some(parent) = tp.logical.parent() else {
            continue;
        };
        let prefix = format!(".{}.tmp-", desired.dir_version);
        let Ok(entries) = fs.read_dir(parent) else {
            continue;
        };
        for e in entries {
            let name = e.name_lossy();
            if name.starts_with(&prefix) && is_temp_name(&name) {
                let stale = parent.join(&e.name);
                fs.remove_dir_all(&stale)
                    .map_err(|e| e.doing("remove stale temporary tree"))?;
                // Reported where it was found, for the admin.
                removed.push(fs.shown(&stale));
            }
        }
    }
    Ok(removed)
}

fn install_tree(
    tp: &TreePlan,
    plan: &Plan,
    paths: &InstallPaths,
    stage: &Stage,
    replaces: bool,
) -> Result<(), ApplyError> {
    let fs = paths.fs();
    let tmp = temp_sibling(&tp.logical);
    let result = build_tree(fs, tp, plan, stage, &tmp).and_then(|()| {
        let parent = tp.logical.parent().unwrap_or(Path::new("/"));
        if replaces {
            fs.exchange(&tmp, &tp.logical)?;
            // `tmp` now holds the old tree.
            fs.remove_dir_all(&tmp)
                .map_err(|e| e.doing("remove replaced tree"))?;
        } else {
            fs.rename(&tmp, &tp.logical)
                .map_err(|e| e.doing("rename tree into place"))?;
        }
        Ok(fs.fsync_dir(parent)?)
    });
    if result.is_err() {
        let _ = fs.remove_dir_all(&tmp);
    }
    result
}

/// Builds the tree under the temporary logical path `top`, its manifest
/// last, everything synced before the manifest is written.
fn build_tree(
    fs: NodeFs<'_>,
    tp: &TreePlan,
    plan: &Plan,
    stage: &Stage,
    top: &Path,
) -> Result<(), ApplyError> {
    fs.create_dir(top)?;
    let mut dirs = Vec::new();
    for item in &tp.items {
        let dest = top.join(&item.rel);
        match &item.kind {
            EntryKind::Dir { mode } => {
                fs.create_dir(&dest)?;
                dirs.push((dest, *mode));
            }
            EntryKind::File { mode, .. } => {
                // The planner sets a source for every file.
                let source = item.source.as_deref().unwrap_or(&item.rel);
                fs.copy_in(&stage.file(source), &dest, *mode, item.mtime)?;
            }
            EntryKind::Symlink { target } => {
                fs.symlink(target, &dest)?;
            }
        }
    }
    // Modes of directories last: a read-only directory is still filled.
    for (dir, mode) in dirs.iter().rev() {
        fs.set_mode(dir, *mode)?;
    }
    fs.set_mode(top, 0o755)?;
    // Everything written so far reaches the disk before the manifest does.
    fs.sync_filesystem(top)?;
    let manifest = tp.manifest(&plan.release, &plan.dir_version);
    fs.write_file(&top.join(MANIFEST_NAME), &manifest.to_bytes(), 0o644)?;
    Ok(())
}

/// Why [`remove_version`] refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Durable(#[from] DurableError),
    /// `lib` and `share` as found on the host (under the root).
    #[error("version {version} is not installed (no {lib} and no {share}){hint}")]
    NotInstalled {
        version: DirVersion,
        lib: PathBuf,
        share: PathBuf,
        /// A "\nhint: ..." line, or empty (boxed: keeps the error small).
        hint: Box<str>,
    },
    #[error("version {version} is the active one ({link} points to it)\nhint: {}", match other {
        Some(command) => format!("switch to another version first: {command}"),
        None => "install the version to move to, switch to it, then remove this one".to_string(),
    })]
    Active {
        version: DirVersion,
        link: PathBuf,
        /// The command that moves the node to another installed version.
        other: Option<String>,
    },
    #[error("version {version} was installed by dpkg, not by ganeti-layout; remove its packages with apt instead")]
    DpkgManaged { version: DirVersion },
}

/// What [`remove_version`] did, for the admin.
#[derive(Debug, Clone, Default)]
pub struct Removed {
    /// The host paths removed.
    pub paths: Vec<PathBuf>,
}

/// Removes an inactive version: its two trees, and the farm links that
/// only it needed. Refuses the active version and dpkg-managed ones.
/// (`ganeti-layout remove` then retires an adoption of that version:
/// `install::adopt::retire`.)
pub fn remove_version(paths: &InstallPaths, v: &DirVersion) -> Result<Removed, RemoveError> {
    let fs = paths.fs();
    let _lock = lock(paths)?;
    let active = read_active(paths);
    if active.mentions(v) {
        let other = list(paths)?
            .into_iter()
            .filter(|info| info.complete && &info.version != v)
            .map(|info| info.version)
            .next_back();
        return Err(RemoveError::Active {
            version: v.clone(),
            link: fs.shown(&paths.active_lib_link()),
            other: other.map(|o| switch_command(paths, &o)),
        });
    }
    let invs = inventories(paths, v)?;
    if invs.iter().all(|(_, _, i)| i.is_none()) {
        return Err(RemoveError::NotInstalled {
            version: v.clone(),
            lib: fs.shown(&paths.version_lib(v)),
            share: fs.shown(&paths.version_share(v)),
            hint: format!(
                "\nhint: {}",
                release_typed_for_version(paths, v)
                    .unwrap_or_else(|| format!("installed here: {}", installed_summary(paths)))
            )
            .into(),
        });
    }
    if invs
        .iter()
        .any(|(_, _, i)| matches!(i, Some(Inventory::Dpkg { .. })))
    {
        return Err(RemoveError::DpkgManaged { version: v.clone() });
    }
    // Links still needed by another installed version stay.
    let mut others = BTreeSet::new();
    for info in list(paths)? {
        if &info.version == v {
            continue;
        }
        for (_, _, inv) in inventories(paths, &info.version)? {
            if let Some(Inventory::Layout(m)) = inv {
                others.extend(m.links.into_iter().map(|l| l.path));
            }
        }
    }
    let mut removed = Vec::new();
    let mut doomed = Vec::new();
    for (_, logical, inv) in &invs {
        if let Some(Inventory::Layout(m)) = inv {
            for l in &m.links {
                if others.contains(&l.path) {
                    continue;
                }
                if let Ok(Some(found)) = find_recorded_link(paths, l) {
                    fs.remove_file(&found)?;
                    removed.push(fs.shown(&found));
                }
            }
        }
        if fs.is_dir(logical) {
            // Renamed away first, so the version disappears at once.
            let tmp = temp_sibling(logical);
            fs.rename(logical, &tmp).map_err(|e| {
                RemoveError::Durable(DurableError {
                    operation: "rename away",
                    path: fs.shown(logical),
                    source: e.source,
                })
            })?;
            fs.fsync_dir(logical.parent().unwrap_or(Path::new("/")))?;
            doomed.push(tmp);
            removed.push(fs.shown(logical));
        }
    }
    for tmp in doomed {
        fs.remove_dir_all(&tmp)?;
    }
    Ok(Removed { paths: removed })
}
