//! The pure planner: from a scanned stage, the program lists and what is
//! already at the destination, compute every change `install` would make,
//! and every conflict, before anything is touched.
//!
//! Two steps, both pure:
//! 1. [`desired`]: the versioned trees, the fixed links, the link farm and
//!    the unchanged files, from the stage alone;
//! 2. [`reconcile`]: the desired state against an [`Observed`] snapshot of the
//!    destination, giving a [`Plan`] of actions or the list of conflicts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::install::spec::{Base, Origin, ProgramSpec, Spec};
use crate::install::stage::{Script, Stage, StageEntry, StageKind};
use crate::node::manifest::{
    EntryKind, Manifest, ManifestEntry, ManifestLink, Tree, MANIFEST_FORMAT, MANIFEST_NAME,
};
use crate::node::paths::{relative_path, resolve_lexically, same_link_destination, InstallPaths};
use crate::node::version::{DirStyle, DirVersion, Release};

/// Something that makes the install impossible as asked. Each names the
/// path and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(tag = "conflict", rename_all = "kebab-case")]
pub enum Conflict {
    /// A regular file, directory or foreign link where a link must go.
    Occupied {
        path: PathBuf,
        found: String,
        wanted: PathBuf,
    },
    /// A stage symlink that leaves the stage.
    LinkOutsideStage { path: PathBuf, target: PathBuf },
    /// A stage symlink that would dangle once its file moves to its tree.
    LinkBrokenByRelocation { path: PathBuf, target: PathBuf },
    /// An absolute symlink inside a version tree would not follow the version.
    AbsoluteLinkInTree { path: PathBuf, target: PathBuf },
    /// Two stage entries want the same destination.
    ClaimedTwice {
        destination: PathBuf,
        first: PathBuf,
        second: PathBuf,
    },
    /// A fifo, socket or device in the stage.
    SpecialFile { path: PathBuf },
    /// Nothing in the stage is a Ganeti program under the given paths.
    NoPrograms {
        sbindir: PathBuf,
        pkglibdir: PathBuf,
    },
    /// `--release` says one release, the build's own files another.
    ReleaseDisagrees {
        given: String,
        found: String,
        path: PathBuf,
        constant: &'static str,
    },
    /// The build says it was configured for another directory than the
    /// layout's (an RPM spec that passed the build root to --sysconfdir):
    /// Ganeti would look for its files there.
    BuildDirectory {
        path: PathBuf,
        constant: &'static str,
        build: PathBuf,
        layout: PathBuf,
        /// The option that sets it, its value here, and the value that
        /// would give the build's.
        option: &'static str,
        given: PathBuf,
        wanted: Option<PathBuf>,
    },
    /// The stage is versioned, but not for the version given.
    WrongVersionInStage {
        found: Vec<String>,
        expected: String,
    },
    /// The stage ships a farm link that the program lists do not give.
    StageLinkDisagrees {
        path: PathBuf,
        stage_target: PathBuf,
        derived: Option<PathBuf>,
    },
    /// The version tree exists and was not made by ganeti-layout.
    ForeignTree { path: PathBuf },
    /// The version tree exists with a manifest this tool cannot read.
    UnreadableManifest { path: PathBuf, reason: String },
    /// A file outside the versioned set exists with other content.
    FileDiffers { path: PathBuf },
    /// `--activate`, but the node already runs another version.
    ActiveElsewhere { link: PathBuf, target: PathBuf },
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Conflict::*;
        match self {
            Occupied { path, found, wanted } => write!(
                f,
                "{}: {found} is where the link to {} must go; move it away or remove it, then run again",
                path.display(),
                wanted.display()
            ),
            LinkOutsideStage { path, target } => write!(
                f,
                "{}: stage symlink to {} points outside the stage; fix the build so the link stays inside it",
                path.display(),
                target.display()
            ),
            LinkBrokenByRelocation { path, target } => write!(
                f,
                "{}: stage symlink to {} would dangle once the files move to their version trees; make its target part of the same tree",
                path.display(),
                target.display()
            ),
            AbsoluteLinkInTree { path, target } => write!(
                f,
                "{}: absolute symlink to {} inside a version tree would not follow the version; make it relative",
                path.display(),
                target.display()
            ),
            ClaimedTwice { destination, first, second } => write!(
                f,
                "{}: claimed by both {} and {}; rename one or list it in a --spec file",
                destination.display(),
                first.display(),
                second.display()
            ),
            NoPrograms { sbindir, pkglibdir } => write!(
                f,
                "the stage holds no Ganeti program under {} or {} and no version directory; pass the --prefix (and --libdir) the build was configured with",
                sbindir.display(),
                pkglibdir.display()
            ),
            SpecialFile { path } => write!(f, "{}: a fifo, socket or device has no place in a Ganeti build; remove it from the stage", path.display()),
            ReleaseDisagrees { given, found, path, constant } => write!(
                f,
                "--release is {given}, but the build says it is {found} ({}: {constant}); leave --release out to use the build's own, or pass --release {found}",
                path.display()
            ),
            BuildDirectory { path, constant, build, layout, option, given, wanted } => write!(
                f,
                "the build says {constant} = {} ({}), but this layout has it at {} ({option} {}): Ganeti looks for its files where its build says; rebuild with ./configure {option}={}{}",
                build.display(),
                path.display(),
                layout.display(),
                given.display(),
                given.display(),
                wanted
                    .as_ref()
                    .map(|w| format!(", or lay it out with {option} {} if that is where this node keeps them", w.display()))
                    .unwrap_or_default()
            ),
            WrongVersionInStage { found, expected } => write!(
                f,
                "the stage holds version directories [{}] but --release and --dir-version give {expected}; pass the matching --release or --dir-version",
                found.join(", ")
            ),
            StageLinkDisagrees { path, stage_target, derived } => match derived {
                Some(d) => write!(
                    f,
                    "{}: the stage links to {}, the program lists give {}; delete the link from the stage (ganeti-layout writes the farm itself), or, if the build is right, list the program in a --spec file",
                    path.display(),
                    stage_target.display(),
                    d.display()
                ),
                None => write!(
                    f,
                    "{}: the stage links to {} but no program list names it; add it to a --spec file",
                    path.display(),
                    stage_target.display()
                ),
            },
            ForeignTree { path } => write!(
                f,
                "{}: exists and was not installed by ganeti-layout (no manifest); remove it (or its package) first",
                path.display()
            ),
            UnreadableManifest { path, reason } => write!(
                f,
                "{}: {reason}; if the tree is damaged, move it aside and install again",
                path.display()
            ),
            FileDiffers { path } => write!(
                f,
                "{}: exists with other content; move it aside to have it replaced, or pass --keep-existing to keep it",
                path.display()
            ),
            ActiveElsewhere { link, target } => write!(
                f,
                "{}: already points to {}; --activate only sets up a node with no active version: install without it, then, to move the node to this version: ganeti-switch to VERSION (in a cluster: ganeti-upgrade --to VERSION, on the master)",
                link.display(),
                target.display()
            ),
        }
    }
}

/// One entry of a version tree to be built.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TreeItem {
    pub rel: PathBuf,
    /// The stage path the content comes from (files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<PathBuf>,
    #[serde(flatten)]
    pub kind: EntryKind,
    #[serde(skip)]
    pub mtime: Option<(i64, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TreePlan {
    pub tree: Tree,
    pub logical: PathBuf,
    pub items: Vec<TreeItem>,
    pub links: Vec<ManifestLink>,
}

impl TreePlan {
    pub fn manifest(&self, release: &Release, dir_version: &DirVersion) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            release: release.to_string(),
            dir_version: dir_version.clone(),
            tree: self.tree,
            entries: self
                .items
                .iter()
                .map(|i| ManifestEntry {
                    path: i.rel.clone(),
                    kind: i.kind.clone(),
                })
                .collect(),
            links: self.links.clone(),
        }
    }
}

/// A link the install makes: a fixed `default` link or a farm link.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct LinkItem {
    pub path: PathBuf,
    pub target: PathBuf,
}

/// A file outside the versioned set, copied as it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnchangedItem {
    pub path: PathBuf,
    #[serde(flatten)]
    pub kind: EntryKind,
    #[serde(skip)]
    pub mtime: Option<(i64, u32)>,
    /// Ganeti's own documentation (`${prefix}/share/doc/ganeti*/`): shared
    /// by every version like the farm, so the last install's copy wins.
    pub last_install_wins: bool,
}

/// Everything the stage asks for, before looking at the destination.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Desired {
    pub release: Release,
    pub dir_version: DirVersion,
    pub versioned_stage: bool,
    pub lib: TreePlan,
    pub share: TreePlan,
    pub fixed_links: Vec<LinkItem>,
    pub farm: Vec<LinkItem>,
    pub unchanged: Vec<UnchangedItem>,
    /// Directories that must exist (created with this mode when missing).
    pub dirs: BTreeMap<PathBuf, u32>,
    /// `${sysconfdir}/ganeti/{lib,share}` targets when `--activate`.
    pub activate: Option<[LinkItem; 2]>,
    pub keep_existing: bool,
    pub warnings: Vec<String>,
    pub conflicts: Vec<Conflict>,
}

impl Desired {
    /// Every destination path whose current state the reconciler needs.
    pub fn paths_to_observe(&self) -> BTreeSet<PathBuf> {
        let mut out = BTreeSet::new();
        out.insert(self.lib.logical.clone());
        out.insert(self.share.logical.clone());
        out.extend(self.fixed_links.iter().map(|l| l.path.clone()));
        out.extend(self.farm.iter().map(|l| l.path.clone()));
        out.extend(self.unchanged.iter().map(|u| u.path.clone()));
        out.extend(self.dirs.keys().cloned());
        if let Some(links) = &self.activate {
            out.extend(links.iter().map(|l| l.path.clone()));
            out.extend(links.iter().map(|l| l.target.clone()));
        }
        out
    }
}

/// What the install input is.
pub struct Request<'a> {
    pub stage: &'a Stage,
    pub spec: &'a Spec,
    pub paths: &'a InstallPaths,
    pub release: Release,
    pub style: DirStyle,
    pub activate: bool,
    /// Keep unversioned files that exist with other content (warn) instead
    /// of refusing.
    pub keep_existing: bool,
}

#[derive(Clone, Copy)]
enum Placement {
    Lib,
    Share,
    Unchanged,
    Skip,
}

/// Step 1: the desired state, from the stage alone. Each step below decides
/// one thing; a builder collects what they decide.
pub fn desired(req: &Request<'_>) -> Desired {
    let mut b = Builder::new(req);
    b.check_release();
    b.find_stage_versions();
    for e in &req.stage.entries {
        b.take_stage_entry(e);
    }
    if b.versioned() {
        b.derive_lib_farm();
        b.derive_share_farm();
    }
    let fixed_links = b.fixed_links();
    b.check_stage_links(&fixed_links);
    b.check_tree_symlinks();
    b.check_has_programs();
    b.want_dirs();
    let activate = b.activation();
    b.finish(fixed_links, activate)
}

/// A link the stage itself ships at a farm (or fixed) path; checked against
/// the one derived from the program lists.
struct StageLink {
    path: PathBuf,
    target: PathBuf,
    fixed: bool,
}

struct Builder<'a> {
    req: &'a Request<'a>,
    paths: &'a InstallPaths,
    dv: DirVersion,
    lib_top: PathBuf,
    share_top: PathBuf,
    /// Version directories a versioned stage holds (empty: a flat stage).
    found_versions: BTreeSet<String>,
    stage_links: Vec<StageLink>,
    stage_modes: BTreeMap<PathBuf, u32>,
    lib: BTreeMap<PathBuf, TreeItem>,
    share: BTreeMap<PathBuf, TreeItem>,
    /// destination -> stage path that claimed it
    claims: BTreeMap<PathBuf, PathBuf>,
    /// farm link path -> (relative target, tree, stage path of the program)
    farm: BTreeMap<PathBuf, (PathBuf, Tree, PathBuf)>,
    unchanged: Vec<UnchangedItem>,
    dirs: BTreeMap<PathBuf, u32>,
    warnings: Vec<String>,
    conflicts: Vec<Conflict>,
    /// stage logical path -> logical path after relocation into a tree
    relocated: BTreeMap<PathBuf, PathBuf>,
}

/// Where a program of a flat stage came from: bin, sbin or `${libdir}/ganeti`.
fn origin_of(paths: &InstallPaths, logical: &Path) -> Option<Origin> {
    [Base::Bin, Base::Sbin, Base::Pkglib]
        .iter()
        .find_map(|base| {
            logical
                .strip_prefix(base.dir(paths))
                .ok()
                .filter(|rel| !rel.as_os_str().is_empty())
                .map(|rel| Origin {
                    base: *base,
                    rel: rel.to_path_buf(),
                })
        })
}

/// The path inside the `ganeti` Python package, for a file of it.
fn python_package_path(logical: &Path) -> Option<PathBuf> {
    let comps: Vec<_> = logical.iter().collect();
    comps
        .windows(2)
        .position(|w| {
            let dir = w[0].to_string_lossy();
            (dir == "site-packages" || dir == "dist-packages") && w[1] == "ganeti"
        })
        .map(|i| comps[i + 1..].iter().collect())
}

impl<'a> Builder<'a> {
    fn new(req: &'a Request<'a>) -> Self {
        let paths = req.paths;
        let dv = DirVersion::from_release(&req.release, req.style);
        Builder {
            req,
            paths,
            lib_top: paths.version_lib(&dv),
            share_top: paths.version_share(&dv),
            dv,
            found_versions: BTreeSet::new(),
            stage_links: Vec::new(),
            stage_modes: req
                .stage
                .entries
                .iter()
                .filter_map(|e| match e.kind {
                    StageKind::Dir { mode } => Some((e.logical.clone(), mode)),
                    _ => None,
                })
                .collect(),
            lib: BTreeMap::new(),
            share: BTreeMap::new(),
            claims: BTreeMap::new(),
            farm: BTreeMap::new(),
            unchanged: Vec::new(),
            dirs: BTreeMap::new(),
            warnings: Vec::new(),
            conflicts: Vec::new(),
            relocated: BTreeMap::new(),
        }
    }

    fn versioned(&self) -> bool {
        !self.found_versions.is_empty()
    }

    /// A release taken on trust would name a directory the build never looks
    /// for (`3.1.0.rc2` for `3.1.0~rc2`), or lay one version out as another.
    fn check_release(&mut self) {
        let paths = self.paths;
        for own in &self.req.stage.own_directories {
            // (the directory here, the option, its value, what the
            // option's value is under the directory)
            let (layout, option, given, below) = match own.constant {
                "SYSCONFDIR" => (
                    paths.sysconfdir().to_path_buf(),
                    "--sysconfdir",
                    paths.sysconfdir(),
                    "",
                ),
                "LOCALSTATEDIR" => (
                    paths.localstatedir().to_path_buf(),
                    "--localstatedir",
                    paths.localstatedir(),
                    "",
                ),
                "PKGLIBDIR" => (paths.pkglibdir(), "--libdir", paths.libdir(), "ganeti"),
                "SHAREDIR" => (paths.sharedir(), "--prefix", paths.prefix(), "share/ganeti"),
                _ => continue,
            };
            if own.value != layout {
                let wanted = if below.is_empty() {
                    Some(own.value.clone())
                } else {
                    own.value
                        .ends_with(below)
                        .then(|| own.value.ancestors().nth(Path::new(below).iter().count()))
                        .flatten()
                        .map(Path::to_path_buf)
                };
                self.conflicts.push(Conflict::BuildDirectory {
                    path: own.path.clone(),
                    constant: own.constant,
                    build: own.value.clone(),
                    layout,
                    option,
                    given: given.to_path_buf(),
                    wanted,
                });
            }
        }
        if let Some(own) = &self.req.stage.own_release {
            if own.text != self.req.release.as_str() {
                self.conflicts.push(Conflict::ReleaseDisagrees {
                    given: self.req.release.to_string(),
                    found: own.text.clone(),
                    path: own.path.clone(),
                    constant: own.constant,
                });
            }
        }
    }

    /// Is the stage already versioned (Ganeti 2.10+'s own make install),
    /// and for the version asked?
    fn find_stage_versions(&mut self) {
        let tops = [self.paths.pkglibdir(), self.paths.sharedir()];
        for e in &self.req.stage.entries {
            if !matches!(e.kind, StageKind::Dir { .. }) {
                continue;
            }
            let under_top = tops.iter().any(|t| e.logical.parent() == Some(t.as_path()));
            let name = e
                .logical
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if under_top && name.parse::<DirVersion>().is_ok() {
                self.found_versions.insert(name);
            }
        }
        let found = &self.found_versions;
        if !found.is_empty() && (found.len() != 1 || !found.contains(self.dv.as_str())) {
            self.conflicts.push(Conflict::WrongVersionInStage {
                found: found.iter().cloned().collect(),
                expected: self.dv.to_string(),
            });
        }
    }

    /// Decides where one stage entry goes, and places it.
    fn take_stage_entry(&mut self, e: &StageEntry) {
        let l = &e.logical;
        if self.is_own_state(l) {
            return;
        }
        // `make install` with `--enable-symlinks` ships the switch links;
        // installed as plain files they would switch a node behind the
        // switcher's back.
        if *l == self.paths.active_lib_link() || *l == self.paths.active_share_link() {
            self.warnings.push(format!(
                "{}: the stage's switch link is not installed; --activate sets it on a node with no active version, ganeti-switch on one that has",
                l.display()
            ));
            return;
        }
        if matches!(e.kind, StageKind::Special) {
            self.conflicts
                .push(Conflict::SpecialFile { path: l.clone() });
            return;
        }
        let (placement, rel) = if self.versioned() {
            self.placement_in_versioned_stage(e)
        } else {
            self.placement_in_flat_stage(e)
        };
        match placement {
            Placement::Skip => {}
            // The tree's top itself is made by the install.
            Placement::Lib | Placement::Share if rel.as_os_str().is_empty() => {}
            Placement::Lib => self.place(Tree::Lib, rel, e),
            Placement::Share => self.place(Tree::Share, rel, e),
            Placement::Unchanged => self.unchanged(e),
        }
    }

    /// This tool's own state in a stage made from an installed tree: the
    /// manifests are written anew, the lock belongs to the destination.
    fn is_own_state(&self, l: &Path) -> bool {
        *l == self.paths.layout_lock_file()
            || (l.file_name() == Some(MANIFEST_NAME.as_ref())
                && (l.parent() == Some(self.lib_top.as_path())
                    || l.parent() == Some(self.share_top.as_path())))
    }

    /// A versioned stage: its trees as they are; links through `default`
    /// (or straight into the trees) are farm links to check; the rest is
    /// copied unchanged.
    fn placement_in_versioned_stage(&mut self, e: &StageEntry) -> (Placement, PathBuf) {
        let l = &e.logical;
        let paths = self.paths;
        if let Ok(rel) = l.strip_prefix(&self.lib_top) {
            return (Placement::Lib, rel.to_path_buf());
        }
        if let Ok(rel) = l.strip_prefix(&self.share_top) {
            return (Placement::Share, rel.to_path_buf());
        }
        let in_other_version = self.found_versions.iter().any(|v| {
            l.starts_with(paths.pkglibdir().join(v)) || l.starts_with(paths.sharedir().join(v))
        });
        if in_other_version {
            return (Placement::Skip, PathBuf::new()); // already a conflict
        }
        let StageKind::Symlink { target } = &e.kind else {
            return (Placement::Unchanged, PathBuf::new());
        };
        let fixed = *l == paths.default_lib() || *l == paths.default_share();
        // Through `default`, or straight into this version's trees (which
        // would not follow a switch): either way a farm link, checked
        // against the derived one.
        let farm_like = resolve_lexically(l, target).is_some_and(|r| {
            [
                &paths.default_lib(),
                &paths.default_share(),
                &self.lib_top,
                &self.share_top,
            ]
            .iter()
            .any(|top| r.starts_with(top))
        });
        if fixed || farm_like {
            self.stage_links.push(StageLink {
                path: l.clone(),
                target: target.clone(),
                fixed,
            });
            (Placement::Skip, PathBuf::new())
        } else {
            (Placement::Unchanged, PathBuf::new())
        }
    }

    /// A flat stage: the Python package and the man pages go to the share
    /// tree, programs where the program lists say, the rest unchanged.
    fn placement_in_flat_stage(&mut self, e: &StageEntry) -> (Placement, PathBuf) {
        let l = &e.logical;
        let paths = self.paths;
        let is_dir = matches!(e.kind, StageKind::Dir { .. });
        if let Some(rel) = python_package_path(l) {
            return (Placement::Share, rel);
        }
        let mandir = paths.mandir();
        if l.strip_prefix(&mandir)
            .is_ok_and(|r| r.components().count() >= 2)
        {
            let rel = Path::new("root").join(l.strip_prefix("/").unwrap_or(l));
            if !is_dir {
                self.add_farm(l, &paths.default_share().join(&rel), Tree::Share, l);
            }
            return (Placement::Share, rel);
        }
        match origin_of(paths, l) {
            // Program directories are mirrored in the lib tree as needed.
            Some(_) if is_dir => (Placement::Skip, PathBuf::new()),
            Some(origin) => self.place_program(e, &origin),
            None => (Placement::Unchanged, PathBuf::new()),
        }
    }

    /// A program of a flat stage: its tree and farm link from the program
    /// lists, or from the fallback rule (with a warning).
    fn place_program(&mut self, e: &StageEntry, origin: &Origin) -> (Placement, PathBuf) {
        let l = &e.logical;
        let paths = self.paths;
        let spec = self.req.spec.lookup(origin).unwrap_or_else(|| {
            let tree = match &e.kind {
                StageKind::File {
                    script: Script::Python { imports_ganeti: true },
                    ..
                } => Tree::Share,
                _ => Tree::Lib,
            };
            self.warnings.push(format!(
                "{}: in no program list; placed in the {tree} tree by the fallback rule ({}); list it in a --spec file to silence this",
                l.display(),
                if tree == Tree::Share { "a Python script importing ganeti" } else { "not a Python script importing ganeti" }
            ));
            ProgramSpec { tree, link: true }
        });
        let (placement, rel, wanted) = match spec.tree {
            Tree::Lib => {
                let rel = l.strip_prefix("/").unwrap_or(l).to_path_buf();
                let wanted = paths.default_lib().join(&rel);
                (Placement::Lib, rel, wanted)
            }
            Tree::Share => {
                let rel = PathBuf::from(origin.file_name());
                let wanted = paths.default_share().join(&rel);
                (Placement::Share, rel, wanted)
            }
        };
        if spec.link {
            self.add_farm(&origin.logical(paths), &wanted, spec.tree, l);
        }
        (placement, rel)
    }

    /// Farm links for the programs of a versioned stage's lib tree, which
    /// mirrors `/`: each at the program's mirrored path.
    fn derive_lib_farm(&mut self) {
        let paths = self.paths;
        let programs: Vec<PathBuf> = self
            .lib
            .iter()
            .filter(|(_, i)| !matches!(i.kind, EntryKind::Dir { .. }))
            .map(|(rel, _)| rel.clone())
            .collect();
        for rel in programs {
            let mirrored = Path::new("/").join(&rel);
            let Some(origin) = origin_of(paths, &mirrored) else {
                continue;
            };
            let source = self.lib_top.join(&rel);
            let spec = self.req.spec.lookup(&origin).unwrap_or_else(|| {
                self.warnings.push(format!(
                    "{}: in no program list; linked at {} by the fallback rule; list it in a --spec file to silence this",
                    source.display(),
                    mirrored.display()
                ));
                ProgramSpec { tree: Tree::Lib, link: true }
            });
            if spec.link {
                self.add_farm(
                    &mirrored,
                    &paths.default_lib().join(&rel),
                    Tree::Lib,
                    &source,
                );
            }
        }
    }

    /// Farm links for a versioned stage's share tree: man pages under
    /// `root/`, entry scripts where the program lists or the stage's own
    /// links put them.
    fn derive_share_farm(&mut self) {
        let paths = self.paths;
        let mandir = paths.mandir();
        let files: Vec<PathBuf> = self
            .share
            .iter()
            .filter(|(_, i)| !matches!(i.kind, EntryKind::Dir { .. }))
            .map(|(rel, _)| rel.clone())
            .collect();
        for rel in files {
            let source = self.share_top.join(&rel);
            let wanted = paths.default_share().join(&rel);
            if let Ok(page) = rel.strip_prefix("root") {
                let logical = Path::new("/").join(page);
                if logical.starts_with(&mandir) {
                    self.add_farm(&logical, &wanted, Tree::Share, &source);
                }
                continue;
            }
            if rel.components().count() != 1 {
                continue; // inside the Python package
            }
            let name = rel.to_string_lossy().into_owned();
            if let Some((origin, spec)) = self.req.spec.share_origin(&name) {
                if spec.link {
                    self.add_farm(&origin.logical(paths), &wanted, Tree::Share, &source);
                }
            } else if let Some(link) = self.stage_links.iter().find(|s| {
                resolve_lexically(&s.path, &s.target).as_deref() == Some(wanted.as_path())
            }) {
                let path = link.path.clone();
                self.add_farm(&path, &wanted, Tree::Share, &source);
            } else {
                self.warnings.push(format!(
                    "{}: in no program list and no stage link points to it; it gets no farm link",
                    source.display()
                ));
            }
        }
    }

    fn fixed_links(&self) -> Vec<LinkItem> {
        vec![
            LinkItem {
                path: self.paths.default_lib(),
                target: self.paths.active_lib_link(),
            },
            LinkItem {
                path: self.paths.default_share(),
                target: self.paths.active_share_link(),
            },
        ]
    }

    /// Links the stage itself ships must agree with what is derived.
    /// Ganeti's own `make install` writes absolute links through `default`:
    /// the same link as the relative one derived here.
    fn check_stage_links(&mut self, fixed_links: &[LinkItem]) {
        for link in &self.stage_links {
            let derived = if link.fixed {
                fixed_links
                    .iter()
                    .find(|l| l.path == link.path)
                    .map(|l| l.target.clone())
            } else {
                self.farm.get(&link.path).map(|(t, _, _)| t.clone())
            };
            let agrees = derived
                .as_ref()
                .is_some_and(|d| same_link_destination(&link.path, d, &link.target));
            if !agrees {
                self.conflicts.push(Conflict::StageLinkDisagrees {
                    path: link.path.clone(),
                    stage_target: link.target.clone(),
                    derived,
                });
            }
        }
    }

    /// A stage built for another prefix would be copied as "unchanged"
    /// files all over the destination: refuse it.
    fn check_has_programs(&mut self) {
        let has_program = self
            .lib
            .values()
            .any(|i| !matches!(i.kind, EntryKind::Dir { .. }))
            || self.share.values().any(|i| {
                i.rel.components().count() == 1 && !matches!(i.kind, EntryKind::Dir { .. })
            });
        if !has_program {
            self.conflicts.push(Conflict::NoPrograms {
                sbindir: self.paths.sbindir(),
                pkglibdir: self.paths.pkglibdir(),
            });
        }
    }

    /// Directories that must exist: the trees' parents, every link's and
    /// copied file's parent, and the stage's empty directories outside the
    /// trees (Debian ships `/var/lib/ganeti`).
    fn want_dirs(&mut self) {
        self.want_dir_chain(&self.paths.pkglibdir());
        self.want_dir_chain(&self.paths.sharedir());
        let is_dir = |u: &UnchangedItem| matches!(u.kind, EntryKind::Dir { .. });
        let parents: Vec<PathBuf> = self
            .farm
            .keys()
            .chain(
                self.unchanged
                    .iter()
                    .filter(|u| !is_dir(u))
                    .map(|u| &u.path),
            )
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .collect();
        for p in parents {
            self.want_dir_chain(&p);
        }
        let occupied: BTreeSet<PathBuf> = self
            .unchanged
            .iter()
            .filter(|u| !is_dir(u))
            .flat_map(|u| u.path.ancestors().skip(1).map(Path::to_path_buf))
            .collect();
        let empty_dirs: Vec<PathBuf> = self
            .unchanged
            .iter()
            .filter(|u| is_dir(u))
            .map(|u| u.path.clone())
            .filter(|d| {
                !occupied.contains(d)
                    && !self
                        .req
                        .stage
                        .entries
                        .iter()
                        .any(|e| e.logical.parent() == Some(d.as_path()))
            })
            .collect();
        for d in empty_dirs {
            self.want_dir_chain(&d);
        }
        self.unchanged.retain(|u| !is_dir(u));
    }

    /// `${sysconfdir}/ganeti/{lib,share}` for this version, with
    /// `--activate`.
    fn activation(&mut self) -> Option<[LinkItem; 2]> {
        if !self.req.activate {
            return None;
        }
        self.want_dir_chain(&self.paths.confdir());
        Some([
            LinkItem {
                path: self.paths.active_lib_link(),
                target: self.lib_top.clone(),
            },
            LinkItem {
                path: self.paths.active_share_link(),
                target: self.share_top.clone(),
            },
        ])
    }

    fn finish(self, fixed_links: Vec<LinkItem>, activate: Option<[LinkItem; 2]>) -> Desired {
        let links_into = |tree: Tree| -> Vec<ManifestLink> {
            self.farm
                .iter()
                .filter(|(_, (_, t, _))| *t == tree)
                .map(|(p, (target, _, _))| ManifestLink {
                    path: p.clone(),
                    target: target.clone(),
                })
                .collect()
        };
        let lib = TreePlan {
            tree: Tree::Lib,
            logical: self.lib_top.clone(),
            items: self.lib.values().cloned().collect(),
            links: links_into(Tree::Lib),
        };
        let share = TreePlan {
            tree: Tree::Share,
            logical: self.share_top.clone(),
            items: self.share.values().cloned().collect(),
            links: links_into(Tree::Share),
        };
        let versioned_stage = self.versioned();
        let mut conflicts = self.conflicts;
        conflicts.sort();
        conflicts.dedup();
        Desired {
            release: self.req.release.clone(),
            dir_version: self.dv,
            versioned_stage,
            lib,
            share,
            fixed_links,
            farm: self
                .farm
                .into_iter()
                .map(|(path, (target, _, _))| LinkItem { path, target })
                .collect(),
            unchanged: self.unchanged,
            dirs: self.dirs,
            activate,
            keep_existing: self.req.keep_existing,
            warnings: self.warnings,
            conflicts,
        }
    }
}

impl Builder<'_> {
    fn claim(&mut self, destination: PathBuf, source: &Path) -> bool {
        if let Some(first) = self.claims.get(&destination) {
            if first != source {
                self.conflicts.push(Conflict::ClaimedTwice {
                    destination,
                    first: first.clone(),
                    second: source.to_path_buf(),
                });
            }
            return false;
        }
        self.claims.insert(destination, source.to_path_buf());
        true
    }

    fn add_farm(&mut self, link: &Path, wanted: &Path, tree: Tree, source: &Path) {
        if !self.claim(link.to_path_buf(), source) {
            return;
        }
        let target = relative_path(link.parent().unwrap_or(Path::new("/")), wanted);
        self.farm
            .insert(link.to_path_buf(), (target, tree, source.to_path_buf()));
    }

    /// Puts a stage entry at `rel` in `tree`, with the parent directories
    /// it needs there.
    fn place(&mut self, tree: Tree, rel: PathBuf, e: &StageEntry) {
        let (kind, source, mtime) = match &e.kind {
            StageKind::Dir { mode } => (EntryKind::Dir { mode: *mode }, None, None),
            StageKind::File {
                mode, size, mtime, ..
            } => (
                EntryKind::File {
                    mode: *mode,
                    size: *size,
                },
                Some(e.logical.clone()),
                Some(*mtime),
            ),
            StageKind::Symlink { target } => (
                EntryKind::Symlink {
                    target: target.clone(),
                },
                None,
                None,
            ),
            StageKind::Special => return,
        };
        let destination = Path::new(&format!("{tree}:")).join(&rel);
        if !matches!(kind, EntryKind::Dir { .. }) && !self.claim(destination, &e.logical) {
            return;
        }
        // Parent directories inside the tree, with the stage's modes.
        let mut parent = rel.parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            let map = match tree {
                Tree::Lib => &mut self.lib,
                Tree::Share => &mut self.share,
            };
            if !map.contains_key(p) {
                let stage_dir = match tree {
                    Tree::Lib => Path::new("/").join(p),
                    Tree::Share => e
                        .logical
                        .ancestors()
                        .nth(rel.components().count() - p.components().count())
                        .map(Path::to_path_buf)
                        .unwrap_or_default(),
                };
                let mode = self.stage_modes.get(&stage_dir).copied().unwrap_or(0o755);
                map.insert(
                    p.to_path_buf(),
                    TreeItem {
                        rel: p.to_path_buf(),
                        source: None,
                        kind: EntryKind::Dir { mode },
                        mtime: None,
                    },
                );
            }
            parent = p.parent();
        }
        self.relocated
            .insert(e.logical.clone(), Path::new(&format!("/{tree}")).join(&rel));
        let map = match tree {
            Tree::Lib => &mut self.lib,
            Tree::Share => &mut self.share,
        };
        map.insert(
            rel.clone(),
            TreeItem {
                rel,
                source,
                kind,
                mtime,
            },
        );
    }

    /// Keeps a stage entry outside the trees, at its own path.
    fn unchanged(&mut self, e: &StageEntry) {
        let (kind, mtime) = match &e.kind {
            StageKind::Dir { mode } => (EntryKind::Dir { mode: *mode }, None),
            StageKind::File {
                mode, size, mtime, ..
            } => (
                EntryKind::File {
                    mode: *mode,
                    size: *size,
                },
                Some(*mtime),
            ),
            StageKind::Symlink { target } => {
                if resolve_lexically(&e.logical, target).is_none() {
                    self.conflicts.push(Conflict::LinkOutsideStage {
                        path: e.logical.clone(),
                        target: target.clone(),
                    });
                    return;
                }
                (
                    EntryKind::Symlink {
                        target: target.clone(),
                    },
                    None,
                )
            }
            StageKind::Special => return,
        };
        if !matches!(kind, EntryKind::Dir { .. }) && !self.claim(e.logical.clone(), &e.logical) {
            return;
        }
        let last_install_wins = is_ganeti_doc(self.paths, &e.logical);
        self.unchanged.push(UnchangedItem {
            path: e.logical.clone(),
            kind,
            mtime,
            last_install_wins,
        });
    }

    fn want_dir_chain(&mut self, dir: &Path) {
        for d in dir.ancestors() {
            if d == Path::new("/") || d.as_os_str().is_empty() {
                break;
            }
            let mode = self.stage_modes.get(d).copied().unwrap_or(0o755);
            self.dirs.entry(d.to_path_buf()).or_insert(mode);
        }
    }

    /// Symlinks placed in a tree must still reach their target afterwards.
    fn check_tree_symlinks(&mut self) {
        let stage = self.req.stage;
        let versioned = self.versioned();
        let mut found = Vec::new();
        for (tree, map) in [(Tree::Lib, &self.lib), (Tree::Share, &self.share)] {
            let top = if tree == Tree::Lib {
                &self.lib_top
            } else {
                &self.share_top
            };
            for item in map.values() {
                let EntryKind::Symlink { target } = &item.kind else {
                    continue;
                };
                let stage_path = if versioned {
                    top.join(&item.rel)
                } else {
                    self.stage_path_of(tree, &item.rel)
                };
                if target.is_absolute() {
                    found.push(Conflict::AbsoluteLinkInTree {
                        path: stage_path,
                        target: target.clone(),
                    });
                    continue;
                }
                let Some(resolved) = resolve_lexically(&stage_path, target) else {
                    found.push(Conflict::LinkOutsideStage {
                        path: stage_path,
                        target: target.clone(),
                    });
                    continue;
                };
                let in_stage = stage.entries.iter().any(|e| e.logical == resolved);
                let new_home = Path::new(&format!("/{tree}")).join(&item.rel);
                let after = resolve_lexically(&new_home, target);
                let ok = if versioned {
                    in_stage && resolved.starts_with(top)
                } else {
                    in_stage && self.relocated.get(&resolved) == after.as_ref()
                };
                if !ok {
                    found.push(Conflict::LinkBrokenByRelocation {
                        path: stage_path,
                        target: target.clone(),
                    });
                }
            }
        }
        self.conflicts.extend(found);
    }

    fn stage_path_of(&self, tree: Tree, rel: &Path) -> PathBuf {
        let home = Path::new(&format!("/{tree}")).join(rel);
        self.relocated
            .iter()
            .find(|(_, v)| **v == home)
            .map(|(k, _)| k.clone())
            .unwrap_or(home)
    }
}

/// Is `logical` Ganeti's own documentation, `${prefix}/share/doc/ganeti*/...`?
/// Every version ships its own copy and none is a conffile; any other file
/// outside the trees (a conffile, another package's doc) is not.
fn is_ganeti_doc(paths: &InstallPaths, logical: &Path) -> bool {
    logical
        .strip_prefix(paths.docdir())
        .ok()
        .and_then(|rel| rel.iter().next())
        .is_some_and(|package| package.to_string_lossy().starts_with("ganeti"))
        && logical.components().count() > paths.docdir().components().count() + 1
}

/// What is at a destination path now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Found {
    Missing,
    Dir,
    /// A regular file; `same` tells whether it equals the stage's copy.
    File {
        same: bool,
    },
    Symlink {
        target: PathBuf,
    },
    Other,
}

/// A snapshot of the destination, taken by [`crate::install::apply::observe`].
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub found: BTreeMap<PathBuf, Found>,
    /// Existing manifests of this version's trees (or why unreadable).
    pub manifests: BTreeMap<Tree, Result<Option<Manifest>, String>>,
    /// What a tree with a manifest lacks on disk by that manifest (a
    /// program made non-executable, a file removed): such a tree is
    /// reinstalled even when its manifest is the stage's, so that
    /// installing again repairs it.
    pub damage: BTreeMap<Tree, Vec<String>>,
}

impl Observed {
    fn at(&self, p: &Path) -> &Found {
        self.found.get(p).unwrap_or(&Found::Missing)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Build the tree under a temporary name and rename it into place.
    InstallTree {
        tree: Tree,
        path: PathBuf,
        entries: usize,
        replaces: bool,
        /// Why a tree with the same manifest is installed again: what it
        /// lacks on disk (empty for a new or different tree).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        repairs: Vec<String>,
    },
    KeepTree {
        tree: Tree,
        path: PathBuf,
    },
    CreateDir {
        path: PathBuf,
        /// In JSON an octal string, as `ls` and chmod(1) write it ("0755").
        #[serde(serialize_with = "octal_mode")]
        mode: u32,
    },
    CreateLink {
        role: LinkRole,
        path: PathBuf,
        target: PathBuf,
    },
    KeepLink {
        role: LinkRole,
        path: PathBuf,
        target: PathBuf,
    },
    /// A link that already leads to the right place, written another way
    /// (absolute, `//`): rewritten in this tool's canonical form.
    RewriteLink {
        role: LinkRole,
        path: PathBuf,
        found: PathBuf,
        target: PathBuf,
    },
    CopyFile {
        path: PathBuf,
        /// In JSON an octal string ("0644").
        #[serde(serialize_with = "octal_mode")]
        mode: u32,
        size: u64,
    },
    CopyLink {
        path: PathBuf,
        target: PathBuf,
    },
    KeepFile {
        path: PathBuf,
    },
}

/// A file mode as the plan's JSON gives it: four octal digits ("0755"),
/// the way chmod(1) and the text plan write it, not a decimal 493.
fn octal_mode<S: serde::Serializer>(mode: &u32, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&format!("{mode:04o}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkRole {
    Fixed,
    Farm,
    Active,
}

/// The reconciled plan: ordered actions, nothing conflicting.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub release: Release,
    pub dir_version: DirVersion,
    pub actions: Vec<Action>,
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub desired: Desired,
}

impl Plan {
    pub fn changes(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| {
                !matches!(
                    a,
                    Action::KeepTree { .. } | Action::KeepLink { .. } | Action::KeepFile { .. }
                )
            })
            .count()
    }
}

fn describe(found: &Found) -> String {
    match found {
        Found::Missing => "nothing".into(),
        Found::Dir => "a directory".into(),
        Found::File { .. } => "a regular file".into(),
        Found::Symlink { target } => format!("a link to {}", target.display()),
        Found::Other => "a special file".into(),
    }
}

/// Step 2: the desired state against the destination. Each step decides
/// one kind of entry: an action for it, or a conflict.
pub fn reconcile(desired: Desired, observed: &Observed) -> Result<Plan, Vec<Conflict>> {
    let mut r = Reconciler {
        observed,
        actions: Vec::new(),
        conflicts: desired.conflicts.clone(),
        warnings: desired.warnings.clone(),
    };
    r.dirs(&desired.dirs);
    r.trees(&desired);
    r.links(LinkRole::Fixed, &desired.fixed_links);
    r.links(LinkRole::Farm, &desired.farm);
    r.unchanged_files(&desired.unchanged, desired.keep_existing);
    if let Some(links) = &desired.activate {
        r.activation(links);
    }
    r.finish(desired)
}

/// What [`reconcile`] has decided so far.
struct Reconciler<'a> {
    observed: &'a Observed,
    actions: Vec<Action>,
    conflicts: Vec<Conflict>,
    warnings: Vec<String>,
}

impl Reconciler<'_> {
    fn occupied(&mut self, path: &Path, found: &Found, wanted: PathBuf) {
        self.conflicts.push(Conflict::Occupied {
            path: path.to_path_buf(),
            found: describe(found),
            wanted,
        });
    }

    /// Missing directories are made; a symlink to a directory is fine as a
    /// parent (merged `/usr`); anything else is in the way.
    fn dirs(&mut self, dirs: &BTreeMap<PathBuf, u32>) {
        for (dir, mode) in dirs {
            match self.observed.at(dir) {
                Found::Missing => self.actions.push(Action::CreateDir {
                    path: dir.clone(),
                    mode: *mode,
                }),
                Found::Dir | Found::Symlink { .. } => {}
                other => self.occupied(dir, other, PathBuf::from("(a directory)")),
            }
        }
    }

    /// A version tree is installed, kept when its manifest says it is the
    /// same and the tree on disk is complete by it, replaced when it is
    /// this tool's (also to repair it), and refused otherwise.
    fn trees(&mut self, desired: &Desired) {
        for plan in [&desired.lib, &desired.share] {
            let wanted = plan.manifest(&desired.release, &desired.dir_version);
            let damage = self
                .observed
                .damage
                .get(&plan.tree)
                .cloned()
                .unwrap_or_default();
            let replaces = match self.observed.at(&plan.logical) {
                Found::Missing => false,
                Found::Dir => match self.observed.manifests.get(&plan.tree) {
                    // A manifest of an older format with the same content
                    // is the same tree: keep it, if nothing is lost.
                    Some(Ok(Some(existing)))
                        if existing.same_content(&wanted) && damage.is_empty() =>
                    {
                        self.actions.push(Action::KeepTree {
                            tree: plan.tree,
                            path: plan.logical.clone(),
                        });
                        continue;
                    }
                    Some(Ok(Some(_))) => true,
                    Some(Err(reason)) => {
                        self.conflicts.push(Conflict::UnreadableManifest {
                            path: plan.logical.clone(),
                            reason: reason.clone(),
                        });
                        continue;
                    }
                    _ => {
                        self.conflicts.push(Conflict::ForeignTree {
                            path: plan.logical.clone(),
                        });
                        continue;
                    }
                },
                other => {
                    self.occupied(&plan.logical, other, PathBuf::from("(a version tree)"));
                    continue;
                }
            };
            let same = matches!(
                self.observed.manifests.get(&plan.tree),
                Some(Ok(Some(existing))) if existing.same_content(&wanted)
            );
            self.actions.push(Action::InstallTree {
                tree: plan.tree,
                path: plan.logical.clone(),
                entries: plan.items.len(),
                replaces,
                repairs: if same { damage } else { Vec::new() },
            });
        }
    }

    /// A link is made, kept, or rewritten when it already leads to the
    /// same place another way; anything else is in the way.
    fn links(&mut self, role: LinkRole, links: &[LinkItem]) {
        for l in links {
            let action = match self.observed.at(&l.path) {
                Found::Missing => Action::CreateLink {
                    role,
                    path: l.path.clone(),
                    target: l.target.clone(),
                },
                Found::Symlink { target } if *target == l.target => Action::KeepLink {
                    role,
                    path: l.path.clone(),
                    target: l.target.clone(),
                },
                Found::Symlink { target } if same_link_destination(&l.path, target, &l.target) => {
                    Action::RewriteLink {
                        role,
                        path: l.path.clone(),
                        found: target.clone(),
                        target: l.target.clone(),
                    }
                }
                other => {
                    self.occupied(&l.path, other, l.target.clone());
                    continue;
                }
            };
            self.actions.push(action);
        }
    }

    /// Files outside the trees are copied or kept; one with other content
    /// is kept with `--keep-existing`, replaced when it is Ganeti's own
    /// shared documentation, and refused otherwise.
    fn unchanged_files(&mut self, items: &[UnchangedItem], keep_existing: bool) {
        for u in items {
            let keep = Action::KeepFile {
                path: u.path.clone(),
            };
            match (&u.kind, self.observed.at(&u.path)) {
                (EntryKind::File { mode, size }, Found::Missing) => {
                    self.actions.push(Action::CopyFile {
                        path: u.path.clone(),
                        mode: *mode,
                        size: *size,
                    })
                }
                (EntryKind::File { .. }, Found::File { same: true }) => self.actions.push(keep),
                (EntryKind::Symlink { target }, Found::Missing) => {
                    self.actions.push(Action::CopyLink {
                        path: u.path.clone(),
                        target: target.clone(),
                    })
                }
                (EntryKind::Symlink { target }, Found::Symlink { target: t }) if t == target => {
                    self.actions.push(keep)
                }
                (EntryKind::Dir { .. }, _) => {}
                (_, Found::File { same: false }) if keep_existing => {
                    self.warnings.push(format!(
                        "{}: exists with other content; kept as it is (--keep-existing)",
                        u.path.display()
                    ));
                    self.actions.push(keep);
                }
                (EntryKind::File { mode, size }, Found::File { same: false })
                    if u.last_install_wins =>
                {
                    self.warnings.push(format!(
                        "{}: replaced by this build's copy (Ganeti's documentation is shared by all versions: the last install wins)",
                        u.path.display()
                    ));
                    self.actions.push(Action::CopyFile {
                        path: u.path.clone(),
                        mode: *mode,
                        size: *size,
                    });
                }
                (_, Found::File { same: false }) => self.conflicts.push(Conflict::FileDiffers {
                    path: u.path.clone(),
                }),
                (_, other) => self.occupied(&u.path, other, u.path.clone()),
            }
        }
    }

    /// `--activate` sets the switch links on a node with none, or repairs
    /// dangling ones (upstream #1131); it never moves an active node.
    fn activation(&mut self, links: &[LinkItem; 2]) {
        for l in links {
            let action = match self.observed.at(&l.path) {
                Found::Symlink { target } if *target == l.target => Action::KeepLink {
                    role: LinkRole::Active,
                    path: l.path.clone(),
                    target: l.target.clone(),
                },
                Found::Missing => Action::CreateLink {
                    role: LinkRole::Active,
                    path: l.path.clone(),
                    target: l.target.clone(),
                },
                Found::Symlink { target } if matches!(self.observed.at(target), Found::Missing) => {
                    Action::CreateLink {
                        role: LinkRole::Active,
                        path: l.path.clone(),
                        target: l.target.clone(),
                    }
                }
                Found::Symlink { target } => {
                    self.conflicts.push(Conflict::ActiveElsewhere {
                        link: l.path.clone(),
                        target: target.clone(),
                    });
                    continue;
                }
                other => {
                    self.occupied(&l.path, other, l.target.clone());
                    continue;
                }
            };
            self.actions.push(action);
        }
    }

    fn finish(self, desired: Desired) -> Result<Plan, Vec<Conflict>> {
        let mut conflicts = self.conflicts;
        if !conflicts.is_empty() {
            conflicts.sort();
            conflicts.dedup();
            return Err(conflicts);
        }
        Ok(Plan {
            release: desired.release.clone(),
            dir_version: desired.dir_version.clone(),
            actions: self.actions,
            warnings: self.warnings,
            desired,
        })
    }
}

/// The plan as stable, sorted text lines (one per action).
pub fn render_text(plan: &Plan) -> String {
    let mut lines: Vec<String> = plan
        .actions
        .iter()
        .map(|a| match a {
            Action::InstallTree {
                tree,
                path,
                entries,
                replaces,
                repairs,
            } if !repairs.is_empty() => format!(
                "repair  {tree} tree {} ({entries} entries; it is damaged: {}{})",
                path.display(),
                repairs[0],
                if repairs.len() > 1 {
                    format!(", and {} more", repairs.len() - 1)
                } else {
                    String::new()
                }
            ),
            Action::InstallTree {
                tree,
                path,
                entries,
                replaces,
                ..
            } => format!(
                "{} {tree} tree {} ({entries} entries)",
                if *replaces { "replace" } else { "install" },
                path.display()
            ),
            Action::KeepTree { tree, path } => {
                format!("keep    {tree} tree {} (identical)", path.display())
            }
            Action::CreateDir { path, mode } => format!("mkdir   {} ({mode:04o})", path.display()),
            Action::CreateLink { role, path, target } => {
                format!(
                    "link    {} -> {} ({})",
                    path.display(),
                    target.display(),
                    role_name(*role)
                )
            }
            Action::KeepLink { role, path, target } => {
                format!(
                    "keep    {} -> {} ({})",
                    path.display(),
                    target.display(),
                    role_name(*role)
                )
            }
            Action::RewriteLink {
                role,
                path,
                found,
                target,
            } => format!(
                "relink  {} -> {} ({}; was {})",
                path.display(),
                target.display(),
                role_name(*role),
                found.display()
            ),
            Action::CopyFile { path, mode, size } => {
                format!("copy    {} ({mode:04o}, {size} bytes)", path.display())
            }
            Action::CopyLink { path, target } => {
                format!("copy    {} -> {}", path.display(), target.display())
            }
            Action::KeepFile { path } => format!("keep    {} (identical)", path.display()),
        })
        .collect();
    lines.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
    let mut out = format!(
        "ganeti-layout plan: release {}, directory version {}: {} changes\n",
        plan.release,
        plan.dir_version,
        plan.changes()
    );
    for w in &plan.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

fn role_name(role: LinkRole) -> &'static str {
    match role {
        LinkRole::Fixed => "fixed",
        LinkRole::Farm => "farm",
        LinkRole::Active => "active version",
    }
}

fn sort_key(line: &str) -> (&str, &str) {
    let mut parts = line.splitn(2, char::is_whitespace);
    let verb = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("").trim_start();
    (rest, verb)
}
