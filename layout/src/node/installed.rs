//! What is installed on a node, and whether it runs: the versions
//! there ([`list`]), the completeness of each ([`check_trees`], by the
//! rule in [`crate::node::manifest`]), whether switching to one would take
//! effect ([`check_complete`], `ganeti-switch installed V`), and what is
//! wrong with the switch and `default` links, each problem with its fix.
//! Reads, never writes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::node::active::{
    configuration_fits, read_active, read_default_links, Active, DefaultState, SwitchLink,
};
use crate::node::build::{missing_packages, missing_program_lines};
use crate::node::durable::is_temp_name;
use crate::node::fs::resolve_in_root;
use crate::node::manifest::{inventory, Inventory, ManifestError, Tree, TreeCheck};
use crate::node::paths::InstallPaths;
use crate::node::reader::Node;
use crate::node::version::{DirStyle, DirVersion, Release};

fn version_dirs(paths: &InstallPaths, top: &Path) -> BTreeSet<DirVersion> {
    let Ok(entries) = paths.fs().read_dir(top) else {
        return BTreeSet::new();
    };
    entries
        .iter()
        .filter(|e| e.file_type.is_some_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.name_lossy();
            (!is_temp_name(&name))
                .then(|| name.parse::<DirVersion>().ok())
                .flatten()
        })
        .collect()
}

/// One installed version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VersionInfo {
    pub version: DirVersion,
    pub release: Option<String>,
    pub active: bool,
    pub lib_tree: bool,
    pub share_tree: bool,
    pub source: &'static str,
    pub complete: bool,
    /// What makes it incomplete (empty when complete).
    pub problems: Vec<String>,
    /// Changes since the install that leave it complete (a strip or
    /// compress pass), one line each.
    pub changed: Vec<String>,
}

/// The inventories of both trees of `v` (an absent tree has `None`).
pub fn inventories(
    paths: &InstallPaths,
    v: &DirVersion,
) -> Result<[(Tree, PathBuf, Option<Inventory>); 2], ManifestError> {
    let mut out = [
        (Tree::Lib, paths.version_lib(v), None),
        (Tree::Share, paths.version_share(v), None),
    ];
    for (tree, logical, inv) in out.iter_mut() {
        if paths.fs().is_dir(logical) {
            *inv = Some(inventory(paths, v, *tree)?);
        }
    }
    Ok(out)
}

/// Every installed version, sorted.
pub fn list(paths: &InstallPaths) -> Result<Vec<VersionInfo>, ManifestError> {
    let active = read_active(paths);
    let mut versions = version_dirs(paths, &paths.pkglibdir());
    versions.extend(version_dirs(paths, &paths.sharedir()));
    let mut out = Vec::new();
    for v in versions {
        let invs = inventories(paths, &v)?;
        let mut release = None;
        let mut source = "unknown";
        for (_, _, inv) in &invs {
            if let Some(inv) = inv {
                source = inv.source_name();
                if let Inventory::Layout(m) = inv {
                    release = Some(m.release.clone());
                }
            }
        }
        let check = judge_trees(paths, &v, &invs);
        out.push(VersionInfo {
            active: active.version() == Some(&v),
            lib_tree: invs[0].2.is_some(),
            share_tree: invs[1].2.is_some(),
            complete: check.missing.is_empty(),
            version: v,
            release,
            source,
            problems: check.missing,
            changed: check.changed,
        });
    }
    Ok(out)
}

/// The one list format of `ganeti-layout list` and `ganeti-switch list`:
/// a header (unless `headers` is false), then one line per version, the
/// active one marked `*` (as update-alternatives and rustup mark theirs).
/// Columns: VERSION (the directory version), RELEASE (from our manifest;
/// `-` when a tree has none), SOURCE (`ganeti-layout`, `dpkg` or
/// `unknown`: what recorded the tree's files), STATE (`complete`, with how
/// many files a strip or compress pass changed since, or `INCOMPLETE` with
/// the command that names what is missing, with the options `paths` need).
pub fn render_list(versions: &[VersionInfo], headers: bool, paths: &InstallPaths) -> String {
    if versions.is_empty() {
        return match flat_install(paths) {
            Some(flat) => format!(
                "no Ganeti version is installed under {} in the versioned layout\nnote: {}\n",
                paths.root().display(),
                flat_install_line(paths, &flat)
            ),
            None => format!(
                "no Ganeti version is installed under {}\n",
                paths.root().display()
            ),
        };
    }
    let rows: Vec<[String; 4]> = versions
        .iter()
        .map(|v| {
            let state = if !v.complete {
                format!(
                    "INCOMPLETE ({} problem(s); `{}` names them)",
                    v.problems.len(),
                    paths.tool("ganeti-switch", &format!("installed {}", v.version))
                )
            } else if v.changed.is_empty() {
                "complete".to_string()
            } else {
                format!(
                    "complete ({} file(s) changed since install, e.g. stripped)",
                    v.changed.len()
                )
            };
            [
                v.version.to_string(),
                v.release.clone().unwrap_or_else(|| "-".into()),
                v.source.to_string(),
                state,
            ]
        })
        .collect();
    let header = ["VERSION", "RELEASE", "SOURCE", "STATE"].map(String::from);
    let mut width = [0usize; 3];
    for row in rows.iter().chain(std::iter::once(&header)) {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |mark: &str, row: &[String; 4]| {
        format!(
            "{mark} {:<w0$}  {:<w1$}  {:<w2$}  {}\n",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2]
        )
    };
    let mut out = String::new();
    if headers {
        out.push_str(&line(" ", &header));
    }
    for (v, row) in versions.iter().zip(&rows) {
        out.push_str(&line(if v.active { "*" } else { " " }, row));
    }
    if let Some(warning) = links_warning(paths) {
        out.push_str(&format!("warning: {warning}\n"));
    }
    if let Some(flat) = flat_install(paths) {
        out.push_str(&format!("note: {}\n", flat_install_line(paths, &flat)));
    }
    out
}

/// A single-version ("flat") Ganeti, installed outside the versioned
/// layout: its programs are files in `${prefix}/sbin`, not links through
/// `default`, and its Python package is the interpreter's (RPM clusters
/// run one version this way, jfut/ganeti-rpm#24).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatInstall {
    /// `gnt-cluster` as found (host path).
    pub program: PathBuf,
    /// The Python package's file that states the release (host path).
    pub package: Option<PathBuf>,
    pub release: Option<String>,
}

/// The flat Ganeti on this node, if one is installed.
pub fn flat_install(paths: &InstallPaths) -> Option<FlatInstall> {
    let fs = paths.fs();
    let program = paths.sbindir().join("gnt-cluster");
    let meta = fs.symlink_metadata(&program).ok()?;
    if !meta.is_file() {
        return None;
    }
    let dirs = python_package_candidates(paths);
    let (package, release) = dirs
        .iter()
        .flat_map(|d| {
            [
                ("_constants.py", "RELEASE_VERSION"),
                ("_autoconf.py", "PACKAGE_VERSION"),
            ]
            .map(|(f, c)| (d.join(f), c))
        })
        .find_map(|(file, constant)| {
            let text = fs.read_to_string(&file).ok()?;
            let release = crate::node::build::python_string_constant(&text, constant)?;
            Some((Some(fs.shown(&file)), Some(release)))
        })
        .unwrap_or((None, None));
    Some(FlatInstall {
        program: fs.shown(&program),
        package,
        release,
    })
}

/// Where distributions put the `ganeti` Python package, as logical
/// directories: dist-packages (Debian), site-packages (RPM, source), under
/// `${prefix}/lib`, `${prefix}/lib64` or `${libdir}`, for every python2*
/// and python3* found there.
fn python_package_candidates(paths: &InstallPaths) -> Vec<PathBuf> {
    let fs = paths.fs();
    let mut dirs = Vec::new();
    for lib in [
        paths.prefix().join("lib"),
        paths.prefix().join("lib64"),
        paths.libdir().to_path_buf(),
    ] {
        let Ok(entries) = fs.read_dir(&lib) else {
            continue;
        };
        for e in entries {
            let name = e.name_lossy();
            if name.starts_with("python3") || name.starts_with("python2") {
                for sub in ["dist-packages", "site-packages"] {
                    let dir = lib.join(&e.name).join(sub).join("ganeti");
                    if !dirs.contains(&dir) {
                        dirs.push(dir);
                    }
                }
            }
        }
    }
    dirs
}

/// The logical directory of a flat install's `ganeti` Python package (the
/// interpreter's, not a version tree's): the first of the places
/// distributions use that is a real directory. `None` when there is none.
pub fn flat_python_package(paths: &InstallPaths) -> Option<PathBuf> {
    let fs = paths.fs();
    python_package_candidates(paths)
        .into_iter()
        .find(|d| fs.symlink_metadata(d).is_ok_and(|m| m.is_dir()))
}

/// The line `list` and `check` give a flat install: what it is, and the way
/// into the versioned layout.
pub fn flat_install_line(paths: &InstallPaths, flat: &FlatInstall) -> String {
    format!(
        "a single-version (flat) Ganeti {}is installed here, outside the versioned layout: {} is a program, not a link through {}{}; no switch or upgrade of this toolkit can move it. To convert it into the versioned layout (with its daemons stopped): {} (see what it would do with --dry-run; --undo reverses it)",
        flat.release.as_ref().map(|r| format!("{r} ")).unwrap_or_default(),
        flat.program.display(),
        paths.host(&paths.default_share()).display(),
        flat.package
            .as_ref()
            .map(|p| format!(", and its Python package ({}) is the interpreter's", p.display()))
            .unwrap_or_default(),
        paths.tool("ganeti-layout", "adopt")
    )
}

/// Why no row is marked active although switch links are there (a mixed
/// or dangling pair): `list` says so under the table, with the command
/// that names the fix, rather than showing a healthy node with none
/// active. `None` when the links name one version, or none is set.
pub fn links_warning(paths: &InstallPaths) -> Option<String> {
    let active = read_active(paths);
    if active.version().is_some() || active.is_absent() {
        return None;
    }
    let side = |l: &SwitchLink| match l {
        SwitchLink::Missing => "missing".to_string(),
        SwitchLink::NotASymlink => "not a link".to_string(),
        SwitchLink::Points {
            version: Some(v),
            exists: true,
            ..
        } => format!("on {v}"),
        SwitchLink::Points { target, .. } => format!("dangling ({})", target.display()),
    };
    Some(format!(
        "the switch links are inconsistent (lib {}, share {}), so no version is active; {} names the fix",
        side(&active.lib),
        side(&active.share),
        paths.tool("ganeti-switch", "check")
    ))
}

/// When `v` is not installed but reads like the release of one that is
/// (`3.1.0` typed for the directory `3.1`, as `list` shows both): the
/// hint that names the directory version.
pub fn release_typed_for_version(paths: &InstallPaths, v: &DirVersion) -> Option<String> {
    let t = v.triple();
    let installed = list(paths).ok()?;
    installed
        .iter()
        .find(|i| {
            let d = i.version.triple();
            i.version != *v
                && (d.major, d.minor) == (t.major, t.minor)
                && i.release.as_deref() == Some(v.as_str())
        })
        .map(|i| {
            format!(
                "{v} is the release installed as version {0}; versions are named by their directory: use {0}",
                i.version
            )
        })
}

/// The versions installed here, for a "not installed" message: `3.0
/// (active), 3.1 (incomplete)`, or `none`.
pub fn installed_summary(paths: &InstallPaths) -> String {
    let versions = list(paths).unwrap_or_default();
    if versions.is_empty() {
        return "none".to_string();
    }
    versions
        .iter()
        .map(|i| {
            let marks: Vec<&str> = [(i.active, "active"), (!i.complete, "incomplete")]
                .into_iter()
                .filter_map(|(on, mark)| on.then_some(mark))
                .collect();
            if marks.is_empty() {
                i.version.to_string()
            } else {
                format!("{} ({})", i.version, marks.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `hint:` for a version that is not (completely) installed: the
/// directory version when a release was typed for it; else what is
/// installed here and how to install (or, for a damaged tree, repair) it.
///
/// On a flat node the flat line comes first: installing beside the
/// running flat Ganeti conflicts with its own files, so `adopt` is the
/// first step.
pub fn install_hint(paths: &InstallPaths, v: &DirVersion) -> String {
    if let Some(flat) = flat_install(paths) {
        return format!(
            "{}; then install {v} beside it",
            flat_install_line(paths, &flat)
        );
    }
    if let Some(hint) = release_typed_for_version(paths, v) {
        return hint;
    }
    let here = installed_summary(paths);
    let present =
        paths.fs().is_dir(&paths.version_lib(v)) || paths.fs().is_dir(&paths.version_share(v));
    let packages = missing_packages(paths, v);
    if !packages.is_empty() {
        return format!(
            "install the part of {v} that is missing: apt-get install {}",
            packages.join(" ")
        );
    }
    if present {
        format!(
            "reinstall {v} to repair it: its packages (apt-get install --reinstall), or {}, which puts back what is missing or damaged; installed here: {here}",
            paths.tool("ganeti-layout", "install --stage STAGE")
        )
    } else {
        format!(
            "installed here: {here}; install {v} with its packages or {} first",
            paths.tool("ganeti-layout", "install --stage STAGE")
        )
    }
}

/// The JSON document of both tools' `list --json`:
/// `{"format": 1, "versions": [VersionInfo...]}`.
pub fn list_json(versions: &[VersionInfo]) -> serde_json::Value {
    serde_json::json!({ "format": 1, "versions": versions })
}

/// Both trees judged by their inventories, then by what the version's own
/// build says it has ([`crate::node::build`]: a daemon no list names, as
/// Debian's `ganeti-haskell-V` left out, is missing too).
fn judge_trees(
    paths: &InstallPaths,
    v: &DirVersion,
    invs: &[(Tree, PathBuf, Option<Inventory>); 2],
) -> TreeCheck {
    let mut check = TreeCheck::default();
    for (tree, logical, inv) in invs {
        match inv {
            None => check.missing.push(format!(
                "{}: {tree} tree of {v} is not installed",
                paths.host(logical).display()
            )),
            Some(inv) => {
                let one = inv.check(paths, logical);
                check.missing.extend(one.missing);
                check.changed.extend(one.changed);
            }
        }
    }
    if invs.iter().all(|(_, _, inv)| inv.is_some()) {
        for line in missing_program_lines(paths, v) {
            let name = line.split(':').next().unwrap_or("");
            let named = check
                .missing
                .iter()
                .any(|m| m.contains(&format!("/{name}:")));
            if !named {
                check.missing.push(line);
            }
        }
    }
    check
}

/// Are both trees of `v` complete (see [`crate::node::manifest`] for what that
/// means)? `missing` is empty when they are.
pub fn check_trees(paths: &InstallPaths, v: &DirVersion) -> Result<TreeCheck, ManifestError> {
    Ok(judge_trees(paths, v, &inventories(paths, v)?))
}

/// Are both trees of `v` there, with nothing to judge their completeness
/// by (no manifest of ours, no dpkg list: a source build, an RPM)?
pub fn unverifiable(paths: &InstallPaths, v: &DirVersion) -> bool {
    inventories(paths, v).is_ok_and(|invs| {
        invs.iter()
            .all(|(_, _, inv)| matches!(inv, Some(Inventory::Unknown)))
    })
}

/// The version the last switch on this node left, if recorded.
pub fn switched_away_from(paths: &InstallPaths) -> Option<DirVersion> {
    paths
        .fs()
        .read_if_there(&paths.switch_previous())
        .ok()
        .flatten()?
        .trim()
        .parse()
        .ok()
}

/// Whether a node may come back to `v` although its completeness cannot be
/// checked: `v` has both trees but nothing to judge them by, and it is the
/// version the node runs now or the one the last switch left. Such a
/// version ran until then; refusing to switch back to it would close the
/// way back of an upgrade (a source or RPM install of the running version).
pub fn may_return_to(paths: &InstallPaths, v: &DirVersion) -> bool {
    let here =
        read_active(paths).version() == Some(v) || switched_away_from(paths).as_ref() == Some(v);
    here && unverifiable(paths, v)
}

/// `ganeti-switch installed --or-active V`: as [`check_complete`], but a
/// version the node may come back to ([`may_return_to`]) counts as
/// installed. What the upgrade asks of the version it starts from, on
/// every node, before it leaves it.
pub fn check_returnable(
    paths: &InstallPaths,
    v: &DirVersion,
) -> Result<Vec<String>, ManifestError> {
    if may_return_to(paths, v) {
        return Ok(default_link_problems(paths));
    }
    check_complete(paths, v)
}

/// Is version `v` completely installed, and would switching to it take
/// effect: both trees complete, and the two `default` links leading
/// through the switch links (see [`default_link_problems`])? This is
/// `ganeti-switch installed V`, the switcher's and the upgrade's pre-check
/// on every node. Empty when all is well.
pub fn check_complete(paths: &InstallPaths, v: &DirVersion) -> Result<Vec<String>, ManifestError> {
    let mut problems = check_trees(paths, v)?.missing;
    problems.extend(default_link_problems(paths));
    Ok(problems)
}

/// One line per `default` link that does not lead through its switch link
/// (missing, a real directory, or pointing elsewhere), each with its fix:
/// while one is wrong, a switch changes nothing that runs.
pub fn default_link_problems(paths: &InstallPaths) -> Vec<String> {
    let links = read_default_links(paths);
    if links.iter().all(|d| d.state == DefaultState::Sound) {
        return Vec::new();
    }
    // `repair` points a link back only while a version is active.
    let (creates, points_back) = if read_active(paths).version().is_some() {
        (
            format!("{} creates it", paths.tool("ganeti-switch", "repair")),
            format!("{} points it back", paths.tool("ganeti-switch", "repair")),
        )
    } else {
        let first = format!("no version is active: {}", relink_advice(paths));
        (
            format!("{first}, which also creates it"),
            format!("{first}, which also points it back"),
        )
    };
    links
        .iter()
        .filter_map(|d| {
            let host = paths.host(&d.path);
            let wanted = d.wanted.display();
            match &d.state {
                DefaultState::Sound => None,
                DefaultState::Missing => Some(format!(
                    "{}: missing, so no Ganeti program runs through it; it must link to {wanted}: {creates}",
                    host.display()
                )),
                DefaultState::NotASymlink => Some(format!(
                    "{}: a real file or directory, not the link to {wanted}, so programs run what it holds whatever version is active: move it aside, then: {creates}",
                    host.display()
                )),
                DefaultState::Foreign { target } => Some(format!(
                    "{}: links to {} instead of {wanted}, so programs run {} whatever version is active: {points_back}",
                    host.display(),
                    target.display(),
                    resolve_in_root(paths, &d.path)
                        .map(|r| r.display().to_string())
                        .unwrap_or_else(|| "nothing (it dangles)".into())
                )),
            }
        })
        .collect()
}

/// Problems of the switch links, one line each, each with its fix: one
/// that is a real file, dangles or names no version directory; lib and
/// share on different versions, or only one of them there. `interrupted`:
/// the switcher's journal records a switch that `ganeti-switch repair`
/// finishes, which is then the fix.
pub fn switch_link_problems(
    paths: &InstallPaths,
    active: &Active,
    interrupted: bool,
) -> Vec<String> {
    let confdir = paths.host(&paths.confdir());
    let mut found = Vec::new();
    if active.is_absent() {
        if let Some(flat) = flat_install(paths) {
            return vec![flat_install_line(paths, &flat)];
        }
    }
    // No links at all is a node outside any layout, but not on a node of a
    // cluster with versions installed: every Ganeti command goes through
    // the links (Debian's ganeti postrm deletes both when the farm package
    // is removed), so every one of them dangles.
    if active.is_absent()
        && Node::new(paths).is_clustered()
        && !list(paths).unwrap_or_default().is_empty()
    {
        return vec![format!(
            "{}: neither lib nor share exists, but this node is in a cluster ({} exists) and has versions installed: every Ganeti command and daemon goes through them and dangles; to fix: {}",
            confdir.display(),
            paths.host(&paths.server_pem()).display(),
            relink_advice(paths)
        )];
    }
    for (name, state) in [("lib", &active.lib), ("share", &active.share)] {
        let link = confdir.join(name);
        match state {
            SwitchLink::Missing => {}
            SwitchLink::NotASymlink => found.push((
                format!(
                    "{}: a real file or directory, not a symlink",
                    link.display()
                ),
                true,
            )),
            SwitchLink::Points {
                target,
                version,
                exists,
            } => {
                if !exists {
                    found.push((
                        format!(
                            "{}: dangles ({} does not exist)",
                            link.display(),
                            target.display()
                        ),
                        false,
                    ));
                } else if version.is_none() {
                    found.push((
                        format!(
                            "{}: points to {}, which is not a version directory",
                            link.display(),
                            target.display()
                        ),
                        false,
                    ));
                }
            }
        }
    }
    match (&active.lib, &active.share) {
        (
            SwitchLink::Points {
                version: Some(a), ..
            },
            SwitchLink::Points {
                version: Some(b), ..
            },
        ) if a != b => found.push((
            format!("{}: lib is on {a} but share is on {b}", confdir.display()),
            false,
        )),
        (SwitchLink::Missing, SwitchLink::Points { .. })
        | (SwitchLink::Points { .. }, SwitchLink::Missing) => found.push((
            format!("{}: only one of lib and share exists", confdir.display()),
            false,
        )),
        _ => {}
    }
    if found.is_empty() {
        return Vec::new();
    }
    let advice = if interrupted {
        format!(
            "{} finishes the interrupted switch",
            paths.tool("ganeti-switch", "repair")
        )
    } else {
        relink_advice(paths)
    };
    found
        .into_iter()
        .map(|(problem, real_file)| {
            if real_file {
                format!("{problem}; move it aside after checking what it holds, then: {advice}")
            } else {
                format!("{problem}; to fix: {advice}")
            }
        })
        .collect()
}

/// How to make the switch links name an installed version again on this
/// node: outside a cluster, a switch to the newest complete version; in one,
/// the switch to the version the cluster's configuration is at, or, when
/// that version is gone, its reinstall and the cluster's upgrade (a bare
/// switch would skip the conversion of the configuration).
pub fn relink_advice(paths: &InstallPaths) -> String {
    let complete: Vec<DirVersion> = list(paths)
        .map(|versions| {
            versions
                .into_iter()
                .filter(|i| i.complete)
                .map(|i| i.version)
                .collect()
        })
        .unwrap_or_default();
    let Some(newest) = complete.last() else {
        return "install a Ganeti version (its packages, or ganeti-layout install --activate)"
            .to_string();
    };
    let node = Node::new(paths);
    if !node.is_clustered() {
        return paths.tool("ganeti-switch", &format!("to {newest}"));
    }
    let Some(release) = node.cluster_release() else {
        return format!(
            "check which version the cluster's configuration is at (gnt-cluster version, on the master); if {newest}: {}, else reinstall that version and run on the master: {}",
            paths.tool("ganeti-switch", &format!("to {newest}")),
            paths.tool("ganeti-upgrade", &format!("--to {newest}"))
        );
    };
    match complete.iter().rev().find(|v| configuration_fits(v, &release)) {
        Some(v) => format!(
            "{} (the cluster's configuration is at {release})",
            paths.tool("ganeti-switch", &format!("to {v}"))
        ),
        None => format!(
            "the cluster's configuration is at {release}, which a bare switch would not convert: reinstall Ganeti {}, then run on the master: {}",
            release
                .parse::<Release>()
                .map(|r| DirVersion::from_release(&r, DirStyle::Short).to_string())
                .unwrap_or_else(|_| release.clone()),
            paths.tool("ganeti-upgrade", &format!("--to {newest}"))
        ),
    }
}
