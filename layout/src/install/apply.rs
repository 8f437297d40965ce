//! The only part of `layout` that changes the filesystem: it observes the
//! destination for the planner and carries out a reconciled [`Plan`].
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

use std::collections::BTreeMap;
use std::fs::{File, FileTimes};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use crate::durable::{self, fsync_dir, is_temp_name, temp_sibling, DurableError};
use crate::manifest::{EntryKind, Manifest};
use crate::paths::InstallPaths;
use crate::plan::{Action, Desired, Found, LinkRole, Observed, Plan, TreePlan};
use crate::spec::Tree;
use crate::stage::Stage;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Durable(#[from] DurableError),
}

fn io<'a>(
    operation: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> ApplyError + 'a {
    move |source| ApplyError::Durable(durable::io_error(operation, path)(source))
}

fn found_at(host: &Path) -> Found {
    match host.symlink_metadata() {
        Err(_) => Found::Missing,
        Ok(m) if m.is_dir() => Found::Dir,
        Ok(m) if m.file_type().is_symlink() => Found::Symlink {
            target: std::fs::read_link(host).unwrap_or_default(),
        },
        Ok(m) if m.is_file() => Found::File { same: false },
        Ok(_) => Found::Other,
    }
}

fn same_content(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (a.metadata(), b.metadata()) else {
        return false;
    };
    if ma.len() != mb.len() {
        return false;
    }
    let read = |p: &Path| -> Option<Vec<u8>> {
        let mut v = Vec::new();
        File::open(p).ok()?.read_to_end(&mut v).ok()?;
        Some(v)
    };
    matches!((read(a), read(b)), (Some(x), Some(y)) if x == y)
}

/// Takes the snapshot of the destination that [`crate::plan::reconcile`] needs.
pub fn observe(desired: &Desired, paths: &InstallPaths, stage: &Stage) -> Observed {
    let mut found = BTreeMap::new();
    for p in desired.paths_to_observe() {
        found.insert(p.clone(), found_at(&paths.host(&p)));
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
        found
            .entry(t.clone())
            .or_insert_with(|| found_at(&paths.host(&t)));
    }
    for u in &desired.unchanged {
        if let (EntryKind::File { .. }, Some(Found::File { same })) =
            (&u.kind, found.get_mut(&u.path))
        {
            *same = same_content(&paths.host(&u.path), &stage.host(&u.path));
        }
    }
    let mut manifests = BTreeMap::new();
    for plan in [&desired.lib, &desired.share] {
        manifests.insert(
            plan.tree,
            Manifest::read(&paths.host(&plan.logical)).map_err(|e| {
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
    Observed { found, manifests }
}

/// An exclusive advisory lock held until dropped.
pub struct Lock {
    _file: File,
}

/// Takes `${libdir}/ganeti/.ganeti-layout.lock`, waiting for another holder.
pub fn lock(paths: &InstallPaths) -> Result<Lock, ApplyError> {
    let path = paths.host(&paths.layout_lock_file());
    let file = durable::open_lock_file(&path)?;
    // rustix's flock(2), not std's `File::lock` (Rust 1.89): the MSRV is
    // Debian's rustc 1.85.
    rustix::io::retry_on_intr(|| {
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
    })
    .map_err(|e| io("lock", &path)(e.into()))?;
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
    let root = paths.root();
    std::fs::create_dir_all(root).map_err(io("create destination", root))?;
    // Directories first: the lock file lives in one of them.
    for a in &plan.actions {
        if let Action::CreateDir { path, mode } = a {
            let host = paths.host(path);
            match std::fs::create_dir(&host) {
                Ok(()) => {
                    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(*mode))
                        .map_err(io("chmod", &host))?;
                    if let Some(parent) = host.parent() {
                        fsync_dir(parent)?;
                    }
                    report.changed += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io("create directory", &host)(e)),
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
                durable::replace_symlink(&paths.host(path), target)?;
                report.changed += 1;
            }
            Action::CopyFile { path, mode, .. } => {
                copy_into_place(&stage.host(path), &paths.host(path), *mode)?;
                report.changed += 1;
            }
            Action::CopyLink { path, target } => {
                durable::replace_symlink(&paths.host(path), target)?;
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
            durable::replace_symlink(&paths.host(path), target)?;
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
    let mut removed = Vec::new();
    for tp in [&desired.lib, &desired.share] {
        let host = paths.host(&tp.logical);
        let Some(parent) = host.parent() else {
            continue;
        };
        let prefix = format!(".{}.tmp-", desired.dir_version);
        let Ok(entries) = std::fs::read_dir(parent) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && is_temp_name(&name) {
                std::fs::remove_dir_all(e.path())
                    .map_err(io("remove stale temporary tree", &e.path()))?;
                removed.push(e.path());
            }
        }
    }
    Ok(removed)
}

fn set_mtime(file: &File, mtime: Option<(i64, u32)>) {
    if let Some((secs, nanos)) = mtime {
        if let Ok(secs) = u64::try_from(secs) {
            let t = UNIX_EPOCH + Duration::new(secs, nanos);
            // Best effort: a filesystem without timestamps still installs.
            let _ = file.set_times(FileTimes::new().set_modified(t).set_accessed(t));
        }
    }
}

fn copy_file(
    from: &Path,
    to: &Path,
    mode: u32,
    mtime: Option<(i64, u32)>,
) -> Result<(), ApplyError> {
    // std::fs::copy uses copy_file_range(2) where the kernel offers it.
    std::fs::copy(from, to).map_err(io("copy to", to))?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(to)
        .map_err(io("open", to))?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io("chmod", to))?;
    set_mtime(&f, mtime);
    Ok(())
}

fn copy_into_place(from: &Path, to: &Path, mode: u32) -> Result<(), ApplyError> {
    let tmp = temp_sibling(to);
    let mtime = from.symlink_metadata().ok().map(|m| {
        use std::os::unix::fs::MetadataExt;
        (m.mtime(), m.mtime_nsec() as u32)
    });
    let result = copy_file(from, &tmp, mode, mtime).and_then(|()| {
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io("fsync", &tmp))?;
        std::fs::rename(&tmp, to).map_err(io("rename into place", to))?;
        Ok(fsync_dir(to.parent().unwrap_or(Path::new("/")))?)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn install_tree(
    tp: &TreePlan,
    plan: &Plan,
    paths: &InstallPaths,
    stage: &Stage,
    replaces: bool,
) -> Result<(), ApplyError> {
    let final_host = paths.host(&tp.logical);
    let tmp = temp_sibling(&final_host);
    let result = build_tree(tp, plan, stage, &tmp).and_then(|()| {
        let parent = final_host.parent().unwrap_or(Path::new("/"));
        if replaces {
            exchange(&tmp, &final_host)?;
            // `tmp` now holds the old tree.
            std::fs::remove_dir_all(&tmp).map_err(io("remove replaced tree", &tmp))?;
        } else {
            std::fs::rename(&tmp, &final_host)
                .map_err(io("rename tree into place", &final_host))?;
        }
        Ok(fsync_dir(parent)?)
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Swaps two directories atomically (Linux `renameat2(RENAME_EXCHANGE)`).
fn exchange(a: &Path, b: &Path) -> Result<(), ApplyError> {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        a,
        rustix::fs::CWD,
        b,
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .map_err(|e| io("exchange with", b)(e.into()))
}

fn build_tree(tp: &TreePlan, plan: &Plan, stage: &Stage, top: &Path) -> Result<(), ApplyError> {
    std::fs::create_dir(top).map_err(io("create directory", top))?;
    let mut dirs = Vec::new();
    for item in &tp.items {
        let dest = top.join(&item.rel);
        match &item.kind {
            EntryKind::Dir { mode } => {
                std::fs::create_dir(&dest).map_err(io("create directory", &dest))?;
                dirs.push((dest, *mode));
            }
            EntryKind::File { mode, .. } => {
                // The planner sets a source for every file.
                let source = item.source.as_deref().unwrap_or(&item.rel);
                copy_file(&stage.host(source), &dest, *mode, item.mtime)?;
            }
            EntryKind::Symlink { target } => {
                std::os::unix::fs::symlink(target, &dest).map_err(io("create symlink", &dest))?;
            }
        }
    }
    // Modes of directories last: a read-only directory is still filled.
    for (dir, mode) in dirs.iter().rev() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(*mode))
            .map_err(io("chmod", dir))?;
    }
    std::fs::set_permissions(top, std::fs::Permissions::from_mode(0o755))
        .map_err(io("chmod", top))?;
    // Everything written so far reaches the disk before the manifest does.
    let f = File::open(top).map_err(io("open", top))?;
    rustix::fs::syncfs(&f).map_err(|e| io("sync filesystem of", top)(e.into()))?;
    let manifest = tp.manifest(&plan.release, &plan.dir_version);
    durable::write_file(
        &top.join(crate::manifest::MANIFEST_NAME),
        &manifest.to_bytes(),
        0o644,
    )?;
    Ok(())
}
