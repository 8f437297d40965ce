//! Checking an installed system (or a DESTDIR) as a whole: `ganeti-layout
//! verify`. What is installed and whether each version is complete is the
//! node kernel's ([`crate::node::installed`]); this adds what only the
//! install tool records: the farm links each manifest lists, and the farm
//! links the active version needs. Reads, never writes.

use std::path::PathBuf;

use crate::node::active::read_active;
use crate::node::fs::resolve_in_root;
use crate::node::installed::{default_link_problems, inventories, list, switch_link_problems};
use crate::node::manifest::{
    compressed_sibling, same_or_compressed_link, Inventory, ManifestError, ManifestLink, Tree,
};
use crate::node::paths::{resolve_lexically, same_link_destination, InstallPaths};

/// Links in the farm directories that go through a `default` link:
/// (link, its target, the path it means below `default`).
pub fn discover_farm(paths: &InstallPaths) -> Vec<(PathBuf, PathBuf, Tree, PathBuf)> {
    let mut out = Vec::new();
    let fs = paths.fs();
    for dir in paths.farm_dirs() {
        let Ok(entries) = fs.read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let link = dir.join(&entry.name);
            let Ok(target) = fs.read_link(&link) else {
                continue;
            };
            let Some(resolved) = resolve_lexically(&link, &target) else {
                continue;
            };
            for (tree, default) in [
                (Tree::Lib, paths.default_lib()),
                (Tree::Share, paths.default_share()),
            ] {
                if let Ok(rel) = resolved.strip_prefix(&default) {
                    if link != paths.default_lib() && link != paths.default_share() {
                        out.push((link.clone(), target.clone(), tree, rel.to_path_buf()));
                    }
                }
            }
        }
    }
    out
}

/// What holds the path of a recorded farm link instead of that link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Occupied {
    /// A link to somewhere else.
    Link(PathBuf),
    /// A regular file or a directory (a hand-copied program, a package's
    /// file): nothing there is missing, something is in the way.
    NotALink { directory: bool },
}

/// Where the farm link a manifest records is now: at its own path, or
/// under the name a compress pass gave it (`x.8` -> `x.8.gz`, its target
/// renamed alike). `Err`: its path holds something else.
pub(crate) fn find_recorded_link(
    paths: &InstallPaths,
    l: &ManifestLink,
) -> Result<Option<PathBuf>, Occupied> {
    let fs = paths.fs();
    match fs.read_link(&l.path) {
        Ok(t) if same_link_destination(&l.path, &t, &l.target) => Ok(Some(l.path.clone())),
        Ok(t) => Err(Occupied::Link(t)),
        Err(_) => match fs.symlink_metadata(&l.path) {
            Ok(meta) => Err(Occupied::NotALink {
                directory: meta.is_dir(),
            }),
            Err(_) => Ok(compressed_sibling(paths, &l.path).filter(|sibling| {
                fs.read_link(sibling)
                    .is_ok_and(|t| same_or_compressed_link(&l.path, &l.target, sibling, &t))
            })),
        },
    }
}

/// Checks the whole layout; returns one line per problem (empty = sound).
pub fn verify(paths: &InstallPaths) -> Result<Vec<String>, ManifestError> {
    let mut problems = default_link_problems(paths);
    let active = read_active(paths);
    let versions = list(paths)?;
    let fs = paths.fs();
    let interrupted = fs.is_there(&paths.switch_journal());
    problems.extend(switch_link_problems(paths, &active, interrupted));
    for info in &versions {
        // A lone tree that dpkg (or nobody) put there is not an installed
        // version: Debian's ganeti-3.0 ships /usr/share/ganeti/2.16 with one
        // diverted file for 2.16's upgrade code. `list` shows it as
        // incomplete; it is no fault of the layout.
        let lone_foreign_tree =
            !info.active && info.lib_tree != info.share_tree && info.source != "ganeti-layout";
        if lone_foreign_tree {
            continue;
        }
        for p in &info.problems {
            problems.push(format!("version {}: {p}", info.version));
        }
        // Links recorded in a manifest must be there, as recorded.
        for (_, _, inv) in inventories(paths, &info.version)? {
            let Some(Inventory::Layout(m)) = inv else {
                continue;
            };
            for l in &m.links {
                match find_recorded_link(paths, l) {
                    Ok(Some(_)) => {}
                    Err(Occupied::Link(t)) => problems.push(format!(
                        "{}: links to {}, version {} needs {}",
                        fs.shown(&l.path).display(),
                        t.display(),
                        info.version,
                        l.target.display()
                    )),
                    Err(Occupied::NotALink { directory }) => problems.push(format!(
                        "{}: a {} is where version {} needs the link to {}; move it aside (check what it is first), then reinstall {} to put the link back: {}",
                        fs.shown(&l.path).display(),
                        if directory { "directory" } else { "regular file" },
                        info.version,
                        l.target.display(),
                        info.version,
                        paths.tool("ganeti-layout", "install --stage STAGE")
                    )),
                    Ok(None) => problems.push(format!(
                        "{}: missing; version {} needs it to link to {}",
                        fs.shown(&l.path).display(),
                        info.version,
                        l.target.display()
                    )),
                }
            }
        }
    }
    // Every farm link the active version needs must resolve.
    if let Some(v) = active.version() {
        let invs = inventories(paths, v)?;
        for (link, target, tree, rel) in discover_farm(paths) {
            let (_, top, inv) = &invs[if tree == Tree::Lib { 0 } else { 1 }];
            let needed = inv
                .as_ref()
                .and_then(|i| i.holds(top, &rel))
                .unwrap_or(true);
            if needed && resolve_in_root(paths, &link).is_none_or(|r| !fs.is_there(&r)) {
                problems.push(format!(
                    "{}: link to {} dangles, and the active version {v} needs it",
                    fs.shown(&link).display(),
                    target.display()
                ));
            }
        }
    }
    problems.sort();
    problems.dedup();
    Ok(problems)
}
