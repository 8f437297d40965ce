//! `ganeti-layout adopt`: a node that runs a single-version ("flat")
//! Ganeti, as RPM clusters do (jfut/ganeti-rpm#24), converted into the
//! versioned layout in place, and back (`adopt --undo`).
//!
//! The model: the node's own flat files *are* a flat stage. [`flat_view`]
//! reads them as one (`Stage::scan_selected` over `${prefix}/sbin`,
//! `${prefix}/bin`, `${libdir}/ganeti`, the interpreter's `ganeti` package
//! and Ganeti's man pages), and the install planner ([`plan::desired`],
//! [`plan::reconcile`]) maps them exactly as `install --stage` maps a flat
//! stage, with `--activate`: the versioned trees `${libdir}/ganeti/V/` and
//! `${prefix}/share/ganeti/V/`, the fixed `default` links, the farm links
//! at the flat files' own paths and the switch links on V. There is no
//! second mapping.
//!
//! Carrying it out ([`adopt`]), in this order, each step idempotent:
//! 1. the record (`${localstatedir}/lib/ganeti-layout/adopt.json`, state
//!    `moving`) is written durably, naming the backup and every flat file;
//! 2. every flat file is moved (rename(2); a copy across file systems)
//!    into the backup, `${localstatedir}/lib/ganeti-layout/adopt-backup-EPOCH/`,
//!    at its own path, each directory fsynced; directories left empty and
//!    not needed by the farm are removed (the record keeps their modes);
//! 3. the backup, now a flat stage, is installed with `--activate` by the
//!    install tool ([`apply::apply`]: trees built under temp names, their
//!    manifests last, links renamed into place);
//! 4. the record says `adopted`.
//!
//! A crash anywhere leaves the record: the next `adopt` finishes the
//! steps (a file is in the backup or in place, never lost), and
//! [`undo`] can take the node back from any point. The undo removes what
//! the adoption made (switch links, `default` links, farm links, the
//! version trees, the directories it created) and moves every file back,
//! byte for byte, refusing first, with the path, what changed since
//! (another version installed, the switch links moved, a backed-up file
//! altered, a file put where a flat file goes back).
//!
//! Never while Ganeti's daemons run (their pid-file locks,
//! [`crate::node::daemons`]), unless the admin says so.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::install::apply::{self, ApplyError};
use crate::install::plan::{self, Action, Conflict, Found, Plan, Request};
use crate::install::spec::{Base, Origin, Spec};
use crate::install::stage::{Stage, StageError, StageKind};
use crate::node::active::read_active;
use crate::node::daemons::live_daemons;
use crate::node::durable::{is_temp_name, temp_sibling, DurableError};
use crate::node::fs::NodeFs;
use crate::node::installed::{flat_install, flat_python_package, inventories, list};
use crate::node::manifest::{Inventory, ManifestError};
use crate::node::paths::InstallPaths;
use crate::node::version::{DirStyle, DirVersion, Release, VersionError};

/// The format of the adopt record this tool writes and reads.
pub const RECORD_FORMAT: u32 = 1;

/// Why `adopt` or `adopt --undo` refused or failed. Each names the path
/// (as found on the host) and, where known, the fix.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    #[error("no flat Ganeti is installed under {root}: {program} is not a regular file\nhint: adopt converts a node whose Ganeti programs are files in {sbindir} (a single-version install); a versioned node needs nothing")]
    NoFlatInstall {
        root: PathBuf,
        program: PathBuf,
        sbindir: PathBuf,
    },
    #[error("this node is already in the versioned layout ({what}); there is nothing to adopt\nhint: ganeti-layout list shows its versions")]
    AlreadyVersioned { what: String },
    #[error("cannot tell which release the flat Ganeti at {program} is: {}\nhint: its Python package must be installed (the file that states the release: ganeti/_constants.py RELEASE_VERSION or ganeti/_autoconf.py PACKAGE_VERSION in the interpreter's dist-packages or site-packages)", match package { Some(p) => format!("its Python package {} states no release", p.display()), None => "no ganeti Python package was found".to_string() })]
    ReleaseUnknown {
        program: PathBuf,
        package: Option<PathBuf>,
    },
    #[error("the flat Ganeti says it is release {text:?} ({package}), which is not a release this tool can lay out")]
    ReleaseUnusable {
        text: String,
        package: PathBuf,
        #[source]
        source: VersionError,
    },
    #[error("Ganeti daemons run on this node: {}\nhint: stop them first (/etc/init.d/ganeti stop, or {} stop-all), then run again; --daemons-running-ok goes on anyway (dangerous: a daemon's files move under it)", daemons.join(", "), daemon_util.display())]
    DaemonsRunning {
        daemons: Vec<String>,
        daemon_util: PathBuf,
    },
    #[error("the flat install cannot be laid out as it is:\n{}\nnothing was changed", conflicts.iter().map(|c| format!("  conflict: {c}")).collect::<Vec<_>>().join("\n"))]
    Conflicts { conflicts: Vec<Conflict> },
    #[error("the flat files were moved to {backup}, but laying them out found:\n{}\nhint: ganeti-layout adopt --undo puts them back", conflicts.iter().map(|c| format!("  conflict: {c}")).collect::<Vec<_>>().join("\n"))]
    ConflictsAfterMove {
        backup: PathBuf,
        conflicts: Vec<Conflict>,
    },
    #[error("an undo of the adoption was interrupted ({record} says so)\nhint: ganeti-layout adopt --undo finishes it")]
    UndoPending { record: PathBuf },
    #[error("the adoption of Ganeti {release} is retired: version {version} was removed ({record} says so), so there is nothing to adopt and nothing adopt --undo can put back; this node is in the versioned layout\nhint: ganeti-layout list shows its versions; the flat files are still in {backup}: delete that directory by hand once you no longer need it")]
    Retired {
        release: String,
        version: String,
        record: PathBuf,
        backup: PathBuf,
    },
    #[error("nothing to undo: there is no adopt record at {record}")]
    NothingToUndo { record: PathBuf },
    #[error("cannot read the adopt record {record}: {reason}\nhint: check it by hand; move it aside only once the node is sound (ganeti-layout verify)")]
    BadRecord { record: PathBuf, reason: String },
    #[error(
        "{path}: {what} since the adoption, so undo stops before changing anything\nhint: {hint}"
    )]
    ChangedSince {
        path: PathBuf,
        what: String,
        hint: String,
    },
    #[error("the version trees of {version} changed since the adoption, and undo would discard that with them:\n{}{}\nnothing was changed\nhint: put each back as the adoption left it, or copy your change aside (the trees are removed), then run again", changes.iter().take(20).map(|c| format!("  {c}")).collect::<Vec<_>>().join("\n"), match changes.len() { n if n > 20 => format!("\n  ... and {} more ({n} in all)", n - 20), _ => String::new() })]
    TreesChanged {
        version: String,
        /// One line each, `PATH: what`.
        changes: Vec<String>,
    },
    #[error("{path}: lost: neither in its place nor in the backup ({backup})")]
    Lost { path: PathBuf, backup: PathBuf },
    #[error("{path}: is both in its place and in the backup ({backup}); which one is the flat install's cannot be told\nhint: compare the two, remove the one that is not, and run again")]
    Twice { path: PathBuf, backup: PathBuf },
    #[error(transparent)]
    Stage(#[from] StageError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Durable(#[from] DurableError),
}

impl AdoptError {
    /// Is it about the caller's input (exit 2) rather than the node's
    /// state (exit 1)? Only the release that cannot be told or used.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            AdoptError::ReleaseUnknown { .. } | AdoptError::ReleaseUnusable { .. }
        )
    }
}

/// A flat file that the adoption moves into the backup, as it was.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Displaced {
    /// Its logical path (`/usr/sbin/gnt-cluster`).
    pub path: PathBuf,
    #[serde(flatten)]
    pub kind: DisplacedKind,
}

/// What a displaced file was: what undo expects to find in the backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DisplacedKind {
    File {
        mode: u32,
        size: u64,
        mtime: (i64, u32),
        /// [`content_digest`] of its bytes. Undo compares content, mode
        /// and size, not times (a `touch` is no change); a record written
        /// without it (before it was kept) is compared by time instead.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
    },
    Symlink {
        target: PathBuf,
    },
}

/// A directory of the flat install, with its mode (recreated by undo when
/// the adoption removed it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordedDir {
    pub path: PathBuf,
    pub mode: u32,
}

/// Where an adoption stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdoptState {
    /// Recorded; the files are being moved or laid out.
    Moving,
    /// Done: the node runs V in the versioned layout.
    Adopted,
    /// `adopt --undo` started.
    Undoing,
    /// The adopted version was removed (`ganeti-layout remove`): the
    /// adoption can no longer be undone; the record stays to say so and
    /// to name the backup.
    Retired,
}

impl std::fmt::Display for AdoptState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AdoptState::Moving => "moving",
            AdoptState::Adopted => "adopted",
            AdoptState::Undoing => "undoing",
            AdoptState::Retired => "retired",
        })
    }
}

/// The adopt record, `${localstatedir}/lib/ganeti-layout/adopt.json`:
/// everything undo needs, written before the first change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AdoptRecord {
    pub format: u32,
    pub state: AdoptState,
    pub release: String,
    pub dir_version: String,
    /// The backup directory (logical).
    pub backup: PathBuf,
    pub displaced: Vec<Displaced>,
    /// The flat install's directories (those the view walked).
    pub dirs: Vec<RecordedDir>,
    /// Directories the adoption created (the install's, and its own state
    /// directory's), removed by undo when empty.
    pub created_dirs: Vec<PathBuf>,
    /// Whether `${libdir}/ganeti/.ganeti-layout.lock` was there before.
    pub had_lock_file: bool,
    /// Whether `${sysconfdir}/ganeti/.ganeti-switch.previous` and the
    /// switch/upgrade lock `${localstatedir}/lib/ganeti/ganeti-upgrade.lock`
    /// were there before. `ganeti-switch` on the adopted node makes them;
    /// undo removes them when the flat node had none (records written
    /// before these were kept: left alone).
    #[serde(default = "present")]
    pub had_switch_previous: bool,
    #[serde(default = "present")]
    pub had_switch_lock: bool,
}

/// What a record without the field says: there before, keep it.
fn present() -> bool {
    true
}

/// The adoption as planned: what moves, and the install plan of the
/// moved files. Pure data; [`render_text`] shows it.
#[derive(Debug, Clone)]
pub struct Adoption {
    pub release: Release,
    pub dir_version: DirVersion,
    /// The backup directory (logical).
    pub backup: PathBuf,
    pub displaced: Vec<Displaced>,
    pub dirs: Vec<RecordedDir>,
    /// What `install --stage BACKUP --activate` will do once the files
    /// are in the backup.
    pub install: Plan,
    /// Ganeti daemons found running (the plan is shown anyway).
    pub daemons: Vec<String>,
}

/// Is `name` (a file in bin or sbin) a Ganeti program: one the program
/// lists name, or a `gnt-*`/`ganeti-*` one they do not (the planner then
/// places it by its fallback rule, with a warning)?
fn is_ganeti_program(spec: &Spec, base: Base, name: &str) -> bool {
    let origin = Origin {
        base,
        rel: PathBuf::from(name),
    };
    spec.lookup(&origin).is_some() || name.starts_with("gnt-") || name.starts_with("ganeti-")
}

/// Is the man page `name` (`gnt-cluster.8.gz`) Ganeti's: named after one
/// of `programs`, or `ganeti*`?
fn is_ganeti_page(name: &str, programs: &BTreeSet<String>) -> bool {
    let stem = name.split('.').next().unwrap_or("");
    !stem.is_empty()
        && (stem.starts_with("gnt-") || stem.starts_with("ganeti") || programs.contains(stem))
}

/// The node's own flat install read as a flat stage (rooted at the node's
/// root): the Ganeti programs in `${prefix}/sbin` and `${prefix}/bin`,
/// everything in `${libdir}/ganeti` but version trees, `default` and this
/// tool's own files, the interpreter's `ganeti` package, and Ganeti's man
/// pages. Reads only.
///
/// Errors: [`AdoptError::Stage`] naming a path that could not be read.
pub fn flat_view(paths: &InstallPaths, spec: &Spec) -> Result<Stage, AdoptError> {
    let package = flat_python_package(paths);
    let mut tops = vec![paths.sbindir(), paths.bindir(), paths.pkglibdir()];
    if let Some(parent) = package.as_ref().and_then(|p| p.parent()) {
        tops.push(parent.to_path_buf());
    }
    let (sbindir, bindir, pkglibdir, mandir) = (
        paths.sbindir(),
        paths.bindir(),
        paths.pkglibdir(),
        paths.mandir(),
    );
    let lock = paths.layout_lock_file();
    let keep = |l: &Path, is_dir: bool| -> bool {
        let name = l
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if is_temp_name(&name) {
            return false;
        }
        if let Some(p) = &package {
            if l.starts_with(p) {
                return true;
            }
            if p.parent() == l.parent() {
                return false; // the interpreter's other packages
            }
        }
        if l.parent() == Some(sbindir.as_path()) {
            return !is_dir && is_ganeti_program(spec, Base::Sbin, &name);
        }
        if l.parent() == Some(bindir.as_path()) {
            return !is_dir && is_ganeti_program(spec, Base::Bin, &name);
        }
        if l.starts_with(&pkglibdir) {
            let top_level = l.parent() == Some(pkglibdir.as_path());
            return !(top_level
                && (name == "default" || (is_dir && name.parse::<DirVersion>().is_ok())))
                && *l != lock;
        }
        false
    };
    // Man pages are Ganeti's when named after one of its programs (or
    // `ganeti*`): the programs first, then the pages.
    let programs: BTreeSet<String> = Stage::scan_selected(paths.root(), paths, &tops, keep)?
        .entries
        .iter()
        .filter(|e| !matches!(e.kind, StageKind::Dir { .. }))
        .filter_map(|e| e.logical.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    tops.push(mandir.clone());
    let with_pages = |l: &Path, is_dir: bool| -> bool {
        let name = l
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if l.parent() == Some(mandir.as_path()) {
            return is_dir && name.starts_with("man");
        }
        if l.parent().and_then(Path::parent) == Some(mandir.as_path()) {
            return !is_dir && !is_temp_name(&name) && is_ganeti_page(&name, &programs);
        }
        keep(l, is_dir)
    };
    Ok(Stage::scan_selected(
        paths.root(),
        paths,
        &tops,
        with_pages,
    )?)
}

/// The release of the flat install, from its Python package (as
/// [`flat_install`] reads it).
fn flat_release(paths: &InstallPaths) -> Result<Release, AdoptError> {
    let fs = paths.fs();
    let program = paths.sbindir().join("gnt-cluster");
    let Some(flat) = flat_install(paths) else {
        return Err(AdoptError::NoFlatInstall {
            root: paths.root().to_path_buf(),
            program: fs.shown(&program),
            sbindir: fs.shown(&paths.sbindir()),
        });
    };
    let (Some(text), Some(package)) = (flat.release, flat.package.clone()) else {
        return Err(AdoptError::ReleaseUnknown {
            program: flat.program,
            package: flat_python_package(paths).map(|p| fs.shown(&p)),
        });
    };
    text.parse().map_err(|source| AdoptError::ReleaseUnusable {
        text,
        package,
        source,
    })
}

/// `Err(AlreadyVersioned)` when a version is installed or switch links
/// are there.
fn refuse_if_versioned(paths: &InstallPaths) -> Result<(), AdoptError> {
    let versions = list(paths)?;
    if !versions.is_empty() {
        return Err(AdoptError::AlreadyVersioned {
            what: format!(
                "installed: {}",
                versions
                    .iter()
                    .map(|v| v.version.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    if !read_active(paths).is_absent() {
        return Err(AdoptError::AlreadyVersioned {
            what: format!(
                "{} exists",
                paths.fs().shown(&paths.active_lib_link()).display()
            ),
        });
    }
    Ok(())
}

/// `Err(DaemonsRunning)` when a Ganeti daemon holds its pid file, unless
/// `daemons_running_ok`.
pub fn refuse_if_daemons_run(
    paths: &InstallPaths,
    daemons_running_ok: bool,
) -> Result<(), AdoptError> {
    let daemons = live_daemons(paths);
    if daemons.is_empty() || daemons_running_ok {
        return Ok(());
    }
    Err(AdoptError::DaemonsRunning {
        daemons,
        daemon_util: paths.daemon_util(),
    })
}

/// The request that lays a flat stage out as the adoption does: the
/// built-in directory style (short, Ganeti's and Debian's), activated.
fn request<'a>(
    stage: &'a Stage,
    spec: &'a Spec,
    paths: &'a InstallPaths,
    release: Release,
) -> Request<'a> {
    Request {
        stage,
        spec,
        paths,
        release,
        style: DirStyle::Short,
        activate: true,
        keep_existing: false,
    }
}

/// Plans the adoption of the flat install under `paths`, its backup
/// named for `epoch` (seconds since the epoch: the caller's clock, so
/// that the plan is a function of the node alone). Changes nothing.
///
/// Errors: [`AdoptError::NoFlatInstall`], [`AdoptError::AlreadyVersioned`],
/// [`AdoptError::ReleaseUnknown`] / [`AdoptError::ReleaseUnusable`] (exit
/// 2), [`AdoptError::Conflicts`] (everything the planner found, e.g. a
/// build configured for other directories), or a read failure.
pub fn plan_adoption(
    paths: &InstallPaths,
    spec: &Spec,
    epoch: u64,
) -> Result<Adoption, AdoptError> {
    refuse_if_versioned(paths)?;
    let release = flat_release(paths)?;
    let stage = flat_view(paths, spec)?;
    let req = request(&stage, spec, paths, release.clone());
    let mut desired = plan::desired(&req);
    if !desired.conflicts.is_empty() {
        return Err(AdoptError::Conflicts {
            conflicts: desired.conflicts,
        });
    }
    // Files the planner leaves where they are (none in a Ganeti build's
    // program, package and man page directories) stay in place.
    let unchanged: BTreeSet<PathBuf> = desired.unchanged.iter().map(|u| u.path.clone()).collect();
    desired.unchanged.clear();
    let mut displaced = Vec::new();
    let mut dirs = Vec::new();
    for e in &stage.entries {
        match &e.kind {
            StageKind::Dir { mode } => dirs.push(RecordedDir {
                path: e.logical.clone(),
                mode: *mode,
            }),
            StageKind::File {
                mode, size, mtime, ..
            } if !unchanged.contains(&e.logical) => displaced.push(Displaced {
                path: e.logical.clone(),
                kind: DisplacedKind::File {
                    mode: *mode,
                    size: *size,
                    mtime: *mtime,
                    digest: Some(content_digest(&paths.fs().read(&e.logical)?)),
                },
            }),
            StageKind::Symlink { target } if !unchanged.contains(&e.logical) => {
                displaced.push(Displaced {
                    path: e.logical.clone(),
                    kind: DisplacedKind::Symlink {
                        target: target.clone(),
                    },
                })
            }
            _ => {}
        }
    }
    // The flat files leave before the links come: where they are is free.
    let mut observed = apply::observe(&desired, paths, &stage);
    for d in &displaced {
        if observed.found.contains_key(&d.path) {
            observed.found.insert(d.path.clone(), Found::Missing);
        }
    }
    let install = plan::reconcile(desired, &observed)
        .map_err(|conflicts| AdoptError::Conflicts { conflicts })?;
    Ok(Adoption {
        dir_version: install.dir_version.clone(),
        release,
        backup: paths.adopt_backup(epoch),
        displaced,
        dirs,
        install,
        daemons: live_daemons(paths),
    })
}

/// The plan as `adopt --dry-run` prints it: the release and version, the
/// backup, each flat file moved there, then the install plan.
pub fn render_text(paths: &InstallPaths, a: &Adoption) -> String {
    let mut out = format!(
        "adopt the flat Ganeti {} as version {} (the versioned layout, {} active)\n",
        a.release, a.dir_version, a.dir_version
    );
    out.push_str(&format!(
        "record  {} (written first: what undo needs)\n",
        paths.adopt_record().display()
    ));
    out.push_str(&format!(
        "move    {} flat file(s) into {}, each at its own path:\n",
        a.displaced.len(),
        a.backup.display()
    ));
    for d in &a.displaced {
        out.push_str(&format!("  {}\n", d.path.display()));
    }
    out.push_str(&format!(
        "then lay them out as `install --stage {} --activate` does:\n",
        a.backup.display()
    ));
    for line in plan::render_text(&a.install).lines() {
        out.push_str(&format!("  {line}\n"));
    }
    if !a.daemons.is_empty() {
        out.push_str(&format!(
            "note: Ganeti daemons run ({}): adopt refuses until they are stopped\n",
            a.daemons.join(", ")
        ));
    }
    out
}

/// What [`adopt`] or [`undo`] did, for the admin.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub dir_version: String,
    pub release: String,
    /// The backup (host path).
    pub backup: PathBuf,
    pub moved: usize,
    /// `adopt` found it done already.
    pub already: bool,
    /// `adopt --undo` found files in the backup that were not the
    /// adoption's, and kept them there.
    pub backup_kept: bool,
}

/// The adopt record, if there is one.
///
/// Errors: [`AdoptError::BadRecord`] (unreadable, not ours, a newer
/// format).
pub fn read_record(paths: &InstallPaths) -> Result<Option<AdoptRecord>, AdoptError> {
    let fs = paths.fs();
    let path = paths.adopt_record();
    let bad = |reason: String| AdoptError::BadRecord {
        record: fs.shown(&path),
        reason,
    };
    let Some(text) = fs.read_if_there(&path).map_err(|e| bad(e.to_string()))? else {
        return Ok(None);
    };
    let record: AdoptRecord = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if record.format != RECORD_FORMAT {
        return Err(bad(format!(
            "format {} (this tool knows {RECORD_FORMAT})",
            record.format
        )));
    }
    Ok(Some(record))
}

fn write_record(paths: &InstallPaths, record: &AdoptRecord) -> Result<(), AdoptError> {
    let mut bytes = serde_json::to_vec_pretty(record).map_err(|e| AdoptError::BadRecord {
        record: paths.fs().shown(&paths.adopt_record()),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    Ok(paths
        .fs()
        .write_file(&paths.adopt_record(), &bytes, 0o600)?)
}

/// Creates `dir` and its missing ancestors (mode 0755), returning those it
/// created, shallowest first.
fn create_dirs(fs: NodeFs<'_>, dir: &Path) -> Result<Vec<PathBuf>, AdoptError> {
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|a| !fs.is_there(a))
        .map(Path::to_path_buf)
        .collect();
    let mut created = Vec::new();
    for d in missing.into_iter().rev() {
        match fs.create_dir(&d) {
            Ok(()) => {
                fs.set_mode(&d, 0o755)?;
                if let Some(parent) = d.parent() {
                    fs.fsync_dir(parent)?;
                }
                created.push(d);
            }
            Err(e) if e.already_exists() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(created)
}

/// Moves the file or symlink `from` to `to` (its parent there): rename(2),
/// or, across file systems, a durable copy then the removal. Both
/// directories are fsynced.
fn move_entry(fs: NodeFs<'_>, from: &Path, to: &Path) -> Result<(), AdoptError> {
    match fs.rename(from, to) {
        Ok(()) => {}
        Err(e) if e.source.kind() == std::io::ErrorKind::CrossesDevices => {
            let meta = fs.symlink_metadata(from)?;
            if meta.file_type().is_symlink() {
                fs.replace_symlink(to, &fs.read_link(from)?)?;
            } else {
                use std::os::unix::fs::PermissionsExt;
                fs.install_file(&fs.host_path(from), to, meta.permissions().mode() & 0o7777)?;
            }
            fs.remove_file(from)?;
        }
        Err(e) => return Err(e.into()),
    }
    for dir in [from.parent(), to.parent()].into_iter().flatten() {
        fs.fsync_dir(dir)?;
    }
    Ok(())
}

/// `path` under the backup `backup`, both logical.
fn in_backup(backup: &Path, path: &Path) -> PathBuf {
    backup.join(path.strip_prefix("/").unwrap_or(path))
}

/// Carries out a planned adoption: record, move, lay out, record done.
/// The caller has checked the daemons ([`refuse_if_daemons_run`]).
///
/// Errors: as [`finish`]; a failure leaves the record, and `adopt` or
/// `adopt --undo` go on from it.
pub fn adopt(paths: &InstallPaths, spec: &Spec, adoption: &Adoption) -> Result<Report, AdoptError> {
    let fs = paths.fs();
    let had_lock_file = fs.is_there(&paths.layout_lock_file());
    let had_switch_previous = fs.is_there(&paths.switch_previous());
    let had_switch_lock = fs.is_there(&paths.lock_file());
    let created_dirs = create_dirs(fs, &paths.layout_statedir())?;
    let record = AdoptRecord {
        format: RECORD_FORMAT,
        state: AdoptState::Moving,
        release: adoption.release.to_string(),
        dir_version: adoption.dir_version.to_string(),
        backup: adoption.backup.clone(),
        displaced: adoption.displaced.clone(),
        dirs: adoption.dirs.clone(),
        created_dirs,
        had_lock_file,
        had_switch_previous,
        had_switch_lock,
    };
    write_record(paths, &record)?;
    finish(paths, spec, record)
}

/// Goes on with a recorded adoption (state `moving`): moves what is still
/// in place into the backup, removes the directories left empty that the
/// farm does not need, lays the backup out, and records it `adopted`.
/// Every step finds what an earlier run did and goes on.
///
/// Errors: [`AdoptError::Lost`], [`AdoptError::Twice`] (a file neither or
/// both in place and in the backup), [`AdoptError::ConflictsAfterMove`],
/// or a failed file-system call naming its path.
pub fn finish(
    paths: &InstallPaths,
    spec: &Spec,
    mut record: AdoptRecord,
) -> Result<Report, AdoptError> {
    let fs = paths.fs();
    let modes: std::collections::BTreeMap<&Path, u32> = record
        .dirs
        .iter()
        .map(|d| (d.path.as_path(), d.mode))
        .collect();
    // Two adopts never move files at once; apply takes the same lock
    // again for the layout.
    let lock = apply::lock(paths)?;
    let mut moved = 0;
    for d in &record.displaced {
        let to = in_backup(&record.backup, &d.path);
        let here = fs.is_there(&d.path) && !points_into_default(paths, &d.path, &d.kind);
        match (here, fs.is_there(&to)) {
            (true, false) => {
                // The backup's directories, with the flat install's modes.
                let mut parents: Vec<&Path> = d
                    .path
                    .ancestors()
                    .skip(1)
                    .filter(|a| *a != Path::new("/"))
                    .collect();
                parents.reverse();
                for p in parents {
                    let dir = in_backup(&record.backup, p);
                    if fs.is_there(&dir) {
                        continue;
                    }
                    create_dirs(fs, &dir)?;
                    let mode = modes.get(p).copied().unwrap_or(0o755);
                    fs.set_mode(&dir, mode)?;
                }
                move_entry(fs, &d.path, &to)?;
                moved += 1;
            }
            (false, true) => {}
            (true, true) => {
                return Err(AdoptError::Twice {
                    path: fs.shown(&d.path),
                    backup: fs.shown(&record.backup),
                })
            }
            (false, false) => {
                return Err(AdoptError::Lost {
                    path: fs.shown(&d.path),
                    backup: fs.shown(&record.backup),
                })
            }
        }
    }
    drop(lock);
    // The backup is a flat stage now.
    let stage = Stage::scan(&fs.host_path(&record.backup), paths)?;
    let release: Release =
        record
            .release
            .parse()
            .map_err(|e: VersionError| AdoptError::BadRecord {
                record: fs.shown(&paths.adopt_record()),
                reason: e.to_string(),
            })?;
    let req = request(&stage, spec, paths, release);
    let install =
        crate::install::plan_install(&req).map_err(|conflicts| AdoptError::ConflictsAfterMove {
            backup: fs.shown(&record.backup),
            conflicts,
        })?;
    // Directories of the flat install now empty and not needed by the
    // farm go (the deepest first); undo makes them again.
    let needed: BTreeSet<PathBuf> = install
        .desired
        .farm
        .iter()
        .flat_map(|l| l.path.ancestors().skip(1).map(Path::to_path_buf))
        .chain(install.desired.dirs.keys().cloned())
        .collect();
    for dir in record.dirs.iter().rev() {
        if needed.contains(&dir.path) {
            continue;
        }
        match fs.remove_dir(&dir.path) {
            Ok(true) => {
                if let Some(parent) = dir.path.parent() {
                    fs.fsync_dir(parent)?;
                }
            }
            Ok(false) => {}
            Err(e) if e.source.kind() == std::io::ErrorKind::DirectoryNotEmpty => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut created = BTreeSet::new();
    for a in &install.actions {
        if let Action::CreateDir { path, .. } = a {
            if !fs.is_there(path) && !record.created_dirs.contains(path) {
                created.insert(path.clone());
            }
        }
    }
    if !created.is_empty() {
        record.created_dirs.extend(created);
        write_record(paths, &record)?;
    }
    apply::apply(&install, paths, &stage)?;
    record.state = AdoptState::Adopted;
    write_record(paths, &record)?;
    Ok(Report {
        dir_version: record.dir_version.clone(),
        release: record.release.clone(),
        backup: fs.shown(&record.backup),
        moved,
        already: false,
        backup_kept: false,
    })
}

/// Is the symlink at `path` one the adoption made (a farm link), where the
/// flat file was not itself a symlink to the same target?
fn points_into_default(paths: &InstallPaths, path: &Path, kind: &DisplacedKind) -> bool {
    let Ok(target) = paths.fs().read_link(path) else {
        return false;
    };
    if let DisplacedKind::Symlink { target: own } = kind {
        if *own == target {
            return false;
        }
    }
    crate::node::paths::resolve_lexically(path, &target)
        .is_some_and(|r| r.starts_with(paths.default_lib()) || r.starts_with(paths.default_share()))
}

/// Records that the adopted version `v` was removed: an `adopted` record
/// naming `v` becomes `retired`, durably. Returns the backup (host path)
/// when the record names `v`, `None` when there is no adoption of `v`.
///
/// Errors: [`AdoptError::BadRecord`], or a failed write naming its path.
pub fn retire(paths: &InstallPaths, v: &DirVersion) -> Result<Option<PathBuf>, AdoptError> {
    let Some(mut record) = read_record(paths)? else {
        return Ok(None);
    };
    if record.dir_version != v.as_str()
        || !matches!(record.state, AdoptState::Adopted | AdoptState::Retired)
    {
        return Ok(None);
    }
    if record.state == AdoptState::Adopted {
        record.state = AdoptState::Retired;
        write_record(paths, &record)?;
    }
    Ok(Some(paths.fs().shown(&record.backup)))
}

/// `Some(Retired)` when the record is retired, or says `adopted` while
/// its version is gone (a removal cut short before it retired the
/// record, or one by an older tool): the adoption cannot be undone.
pub fn retired(
    paths: &InstallPaths,
    record: &AdoptRecord,
) -> Result<Option<AdoptError>, AdoptError> {
    let gone = match record.state {
        AdoptState::Retired => true,
        AdoptState::Adopted => !list(paths)?
            .iter()
            .any(|i| i.version.as_str() == record.dir_version),
        AdoptState::Moving | AdoptState::Undoing => false,
    };
    Ok(gone.then(|| AdoptError::Retired {
        release: record.release.clone(),
        version: record.dir_version.clone(),
        record: paths.fs().shown(&paths.adopt_record()),
        backup: paths.fs().shown(&record.backup),
    }))
}

/// `adopt` on a node with a record: finishes an interrupted adoption,
/// says an adopted one is done, refuses while an undo is pending or when
/// the adopted version was removed.
///
/// Errors: [`AdoptError::UndoPending`], [`AdoptError::Retired`], or as
/// [`finish`].
pub fn resume(
    paths: &InstallPaths,
    spec: &Spec,
    record: AdoptRecord,
) -> Result<Report, AdoptError> {
    if let Some(e) = retired(paths, &record)? {
        return Err(e);
    }
    match record.state {
        AdoptState::Retired => unreachable!("retired() refused it"),
        AdoptState::Adopted => Ok(Report {
            dir_version: record.dir_version.clone(),
            release: record.release.clone(),
            backup: paths.fs().shown(&record.backup),
            moved: 0,
            already: true,
            backup_kept: false,
        }),
        AdoptState::Undoing => Err(AdoptError::UndoPending {
            record: paths.fs().shown(&paths.adopt_record()),
        }),
        AdoptState::Moving => finish(paths, spec, record),
    }
}

/// The checks before undo changes anything: no other version beside the
/// adopted one, the switch links on it, every backed-up file as it was
/// moved, nothing new where a flat file goes back.
fn check_undo(paths: &InstallPaths, record: &AdoptRecord) -> Result<(), AdoptError> {
    let fs = paths.fs();
    let v = &record.dir_version;
    // The switch links first: another version may be removed only once
    // it is not the active one (the hint must be a command that works).
    if record.state == AdoptState::Adopted {
        let active = read_active(paths);
        if active.version().map(ToString::to_string).as_deref() != Some(v.as_str()) {
            return Err(AdoptError::ChangedSince {
                path: fs.shown(&paths.active_lib_link()),
                what: format!("the switch links no longer name {v}"),
                hint: format!(
                    "point them back first: {}",
                    paths.tool("ganeti-switch", &format!("to {v}"))
                ),
            });
        }
    }
    let others: Vec<String> = list(paths)?
        .into_iter()
        .map(|i| i.version.to_string())
        .filter(|w| w != v)
        .collect();
    if let Some(first) = others.first() {
        return Err(AdoptError::ChangedSince {
            path: fs.shown(&paths.pkglibdir().join(first)),
            what: format!(
                "another version is installed ({}), which the flat install would not run",
                others.join(", ")
            ),
            hint: format!(
                "remove it first: {}",
                paths.tool("ganeti-layout", &format!("remove {first}"))
            ),
        });
    }
    if record.state == AdoptState::Adopted {
        let changes = tree_changes(paths, record)?;
        if !changes.is_empty() {
            return Err(AdoptError::TreesChanged {
                version: v.clone(),
                changes,
            });
        }
    }
    let hint = "check what changed; put it back as the adoption left it, or keep the node in the versioned layout".to_string();
    for d in &record.displaced {
        let kept = in_backup(&record.backup, &d.path);
        let Ok(meta) = fs.symlink_metadata(&kept) else {
            // Back in place already (an undo that was cut short)?
            if fs.is_there(&d.path) && !points_into_default(paths, &d.path, &d.kind) {
                continue;
            }
            return Err(AdoptError::Lost {
                path: fs.shown(&d.path),
                backup: fs.shown(&record.backup),
            });
        };
        let changed = what_changed(fs, &kept, &meta, &d.kind);
        if !changed.is_empty() {
            return Err(AdoptError::ChangedSince {
                path: fs.shown(&kept),
                what: format!(
                    "the backed-up copy of {} was changed ({})",
                    d.path.display(),
                    changed.join(", ")
                ),
                hint: hint.clone(),
            });
        }
        if fs.is_there(&d.path) && !points_into_default(paths, &d.path, &d.kind) {
            return Err(AdoptError::ChangedSince {
                path: fs.shown(&d.path),
                what: "something that is not the adoption's farm link was put there".into(),
                hint: hint.clone(),
            });
        }
    }
    Ok(())
}

/// Is `path` Python's bytecode cache (`__pycache__/`, `*.pyc`), which
/// running Ganeti from the trees writes and undo may discard?
fn is_bytecode(path: &Path) -> bool {
    path.iter().any(|c| c == "__pycache__")
        || path.extension().is_some_and(|e| e == "pyc" || e == "pyo")
}

/// What changed inside the adopted version's trees since the install
/// wrote them: the manifest's own verdict ([`Inventory::check`], as
/// `verify` judges: missing, and changed size, mode or link), then every
/// entry the manifest does not name (added). Bytecode caches aside. One
/// line each, `HOST-PATH: what`.
fn tree_changes(paths: &InstallPaths, record: &AdoptRecord) -> Result<Vec<String>, AdoptError> {
    let fs = paths.fs();
    let v: DirVersion =
        record
            .dir_version
            .parse()
            .map_err(|e: VersionError| AdoptError::BadRecord {
                record: fs.shown(&paths.adopt_record()),
                reason: e.to_string(),
            })?;
    let mut changes = Vec::new();
    for (_, logical, inv) in inventories(paths, &v)? {
        let Some(inv) = inv else { continue };
        let check = inv.check(paths, &logical);
        changes.extend(
            check
                .missing
                .into_iter()
                .chain(check.changed)
                .filter(|line| !is_bytecode(Path::new(line.split(": ").next().unwrap_or(""))))
                // verify's guess at a cause; here the admin's edit is likelier.
                .map(|line| line.replace(" (stripped?)", "")),
        );
        if let Inventory::Layout(m) = &inv {
            let known: BTreeSet<&Path> = m.entries.iter().map(|e| e.path.as_path()).collect();
            let mut added = Vec::new();
            unrecorded(fs, &logical, Path::new(""), &known, &mut added)?;
            added.sort();
            changes.extend(added.into_iter().map(|rel| {
                format!(
                    "{}: added since the adoption",
                    fs.shown(&logical.join(rel)).display()
                )
            }));
        }
    }
    Ok(changes)
}

/// Collects into `out` the entries under `top/rel` (relative paths) that
/// `known` does not name, bytecode caches and the manifest aside; an
/// added directory is one line, not its contents.
fn unrecorded(
    fs: NodeFs<'_>,
    top: &Path,
    rel: &Path,
    known: &BTreeSet<&Path>,
    out: &mut Vec<PathBuf>,
) -> Result<(), AdoptError> {
    for e in fs.read_dir(&top.join(rel))? {
        let path = rel.join(&e.name);
        if is_bytecode(&path) || path == Path::new(crate::node::manifest::MANIFEST_NAME) {
            continue;
        }
        if !known.contains(path.as_path()) {
            out.push(path);
        } else if e.file_type.is_some_and(|t| t.is_dir()) {
            unrecorded(fs, top, &path, known, out)?;
        }
    }
    Ok(())
}

/// FNV-1a (64 bits) of `bytes`, as 16 hex digits: enough to tell an
/// edited backup from the file adopt moved (not a defence against
/// forgery: whoever can write the backup can write the record), and
/// stable across builds, unlike std's hasher.
pub fn content_digest(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// What differs between the backed-up entry at `kept` (its metadata
/// `meta`) and what adopt moved there: one phrase each (empty: nothing).
/// Content, mode and link target count, times do not, unless the record
/// has no digest.
fn what_changed(
    fs: NodeFs<'_>,
    kept: &Path,
    meta: &std::fs::Metadata,
    kind: &DisplacedKind,
) -> Vec<String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut out = Vec::new();
    match kind {
        DisplacedKind::File {
            mode,
            size,
            mtime,
            digest,
        } => {
            if !meta.is_file() {
                out.push("no longer a regular file".to_string());
                return out;
            }
            let found_mode = meta.permissions().mode() & 0o7777;
            if found_mode != *mode {
                out.push(format!("mode {found_mode:o}, was {mode:o}"));
            }
            if meta.len() != *size {
                out.push(format!("size {}, was {size}", meta.len()));
            }
            match digest {
                Some(want) => match fs.read(kept) {
                    Ok(bytes) if content_digest(&bytes) == *want => {}
                    Ok(_) if meta.len() != *size => {}
                    Ok(_) => out.push("content differs".to_string()),
                    Err(e) => out.push(format!("unreadable: {e}")),
                },
                None => {
                    let found = (meta.mtime(), meta.mtime_nsec() as u32);
                    if found != *mtime {
                        out.push(format!(
                            "modified at {}.{:09}, was {}.{:09} (a record without content digests is compared by time)",
                            found.0, found.1, mtime.0, mtime.1
                        ));
                    }
                }
            }
        }
        DisplacedKind::Symlink { target } => match fs.read_link(kept) {
            Ok(found) if found == *target => {}
            Ok(found) => out.push(format!(
                "links to {}, was a link to {}",
                found.display(),
                target.display()
            )),
            Err(_) => out.push(format!(
                "no longer a link (was one to {})",
                target.display()
            )),
        },
    }
    out
}

/// `adopt --undo --dry-run`: what the undo would do, after the same
/// checks (it refuses what the undo would refuse), changing nothing.
///
/// Errors: as [`undo`] before its first change.
pub fn render_undo(paths: &InstallPaths) -> Result<String, AdoptError> {
    let fs = paths.fs();
    let Some(record) = read_record(paths)? else {
        return Err(AdoptError::NothingToUndo {
            record: fs.shown(&paths.adopt_record()),
        });
    };
    if let Some(e) = retired(paths, &record)? {
        return Err(e);
    }
    if record.state != AdoptState::Undoing {
        check_undo(paths, &record)?;
    }
    let v: DirVersion =
        record
            .dir_version
            .parse()
            .map_err(|e: VersionError| AdoptError::BadRecord {
                record: fs.shown(&paths.adopt_record()),
                reason: e.to_string(),
            })?;
    let back = record
        .displaced
        .iter()
        .filter(|d| fs.is_there(&in_backup(&record.backup, &d.path)))
        .count();
    let mut text = format!(
        "adopt --undo would, under {} (the record says {}):\n",
        paths.root().display(),
        record.state
    );
    text.push_str(&format!(
        "  remove the switch links {} and {}, and the default links {} and {}\n",
        fs.shown(&paths.active_lib_link()).display(),
        fs.shown(&paths.active_share_link()).display(),
        fs.shown(&paths.default_lib()).display(),
        fs.shown(&paths.default_share()).display()
    ));
    text.push_str(&format!(
        "  remove the farm links that lead through default, and the version trees of {v} ({} and {})\n",
        fs.shown(&paths.version_lib(&v)).display(),
        fs.shown(&paths.version_share(&v)).display()
    ));
    text.push_str(&format!(
        "  move {back} flat file(s) back from {} to their places, and remove the backup and the record {}\n",
        fs.shown(&record.backup).display(),
        fs.shown(&paths.adopt_record()).display()
    ));
    text.push_str("nothing was changed (dry run)\n");
    Ok(text)
}

/// `adopt --undo`: puts the flat install back as it was before `adopt`
/// and removes what the adoption made. Refuses, before any change, what
/// changed since ([`AdoptError::ChangedSince`]); an undo cut short is
/// finished by the next one. The caller has checked the daemons.
///
/// Errors: [`AdoptError::NothingToUndo`], [`AdoptError::Retired`] (the
/// adopted version was removed), [`AdoptError::ChangedSince`],
/// [`AdoptError::Lost`], or a failed file-system call naming its path.
pub fn undo(paths: &InstallPaths) -> Result<Report, AdoptError> {
    let fs = paths.fs();
    let Some(mut record) = read_record(paths)? else {
        return Err(AdoptError::NothingToUndo {
            record: fs.shown(&paths.adopt_record()),
        });
    };
    if let Some(e) = retired(paths, &record)? {
        return Err(e);
    }
    if record.state != AdoptState::Undoing {
        check_undo(paths, &record)?;
        record.state = AdoptState::Undoing;
        write_record(paths, &record)?;
    }
    let v: DirVersion =
        record
            .dir_version
            .parse()
            .map_err(|e: VersionError| AdoptError::BadRecord {
                record: fs.shown(&paths.adopt_record()),
                reason: e.to_string(),
            })?;
    let lock = apply::lock(paths)?;
    // The links first: once the switch links are gone, nothing runs V.
    // The node had none of these four before (adopt refuses otherwise).
    for link in [
        paths.active_lib_link(),
        paths.active_share_link(),
        paths.default_lib(),
        paths.default_share(),
    ] {
        if fs
            .symlink_metadata(&link)
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            fs.remove_file(&link)?;
        }
    }
    // Farm links: those the trees' manifests record and those at the flat
    // files' paths, each only while it leads through `default` (a flat
    // symlink already back in place, `hbal -> htools`, stays).
    let kinds: std::collections::BTreeMap<&Path, &DisplacedKind> = record
        .displaced
        .iter()
        .map(|d| (d.path.as_path(), &d.kind))
        .collect();
    let mut farm: BTreeSet<PathBuf> = record.displaced.iter().map(|d| d.path.clone()).collect();
    for (_, _, inv) in inventories(paths, &v)? {
        if let Some(Inventory::Layout(m)) = inv {
            farm.extend(m.links.into_iter().map(|l| l.path));
        }
    }
    let not_a_symlink = DisplacedKind::File {
        mode: 0,
        size: 0,
        mtime: (0, 0),
        digest: None,
    };
    for link in &farm {
        let kind = kinds.get(link.as_path()).copied().unwrap_or(&not_a_symlink);
        if points_into_default(paths, link, kind) {
            fs.remove_file(link)?;
        }
    }
    for tree in [paths.version_lib(&v), paths.version_share(&v)] {
        if fs.is_dir(&tree) {
            let tmp = temp_sibling(&tree);
            fs.rename(&tree, &tmp)?;
            fs.fsync_dir(tree.parent().unwrap_or(Path::new("/")))?;
            fs.remove_dir_all(&tmp)?;
        }
    }
    // The flat directories the adoption removed, the shallowest first.
    for dir in &record.dirs {
        if !fs.is_there(&dir.path) {
            fs.create_dir(&dir.path)?;
            fs.set_mode(&dir.path, dir.mode)?;
        }
    }
    let mut moved = 0;
    for d in &record.displaced {
        let kept = in_backup(&record.backup, &d.path);
        if fs.is_there(&kept) {
            move_entry(fs, &kept, &d.path)?;
            moved += 1;
        }
    }
    if !record.had_lock_file {
        fs.remove_file(&paths.layout_lock_file())?;
    }
    // What the versioned node's switches left: the version it names is
    // gone, and the flat node had neither.
    if !record.had_switch_previous {
        fs.remove_file(&paths.switch_previous())?;
    }
    if !record.had_switch_lock {
        fs.remove_file(&paths.lock_file())?;
    }
    drop(lock);
    // The backup's directories go; anything else found there (not the
    // adoption's) stays, and so does the backup with it.
    let backup_kept = !remove_empty_dirs(fs, &record.backup)?;
    fs.remove_file(&paths.adopt_record())?;
    // What the adoption created, the deepest first, where empty now.
    let mut created = record.created_dirs.clone();
    created.sort();
    for dir in created.iter().rev() {
        match fs.remove_dir(dir) {
            Ok(_) => {}
            Err(e) if e.source.kind() == std::io::ErrorKind::DirectoryNotEmpty => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Report {
        dir_version: record.dir_version.clone(),
        release: record.release.clone(),
        backup: fs.shown(&record.backup),
        moved,
        already: false,
        backup_kept,
    })
}

/// Removes the directory `dir` and every directory below it that holds
/// nothing else; `Ok(true)` when `dir` is gone (or was not there),
/// `Ok(false)` when something not a directory kept it.
fn remove_empty_dirs(fs: NodeFs<'_>, dir: &Path) -> Result<bool, AdoptError> {
    let entries = match fs.read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.is_not_found() => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    let mut empty = true;
    for e in entries {
        let is_dir = e.file_type.is_some_and(|t| t.is_dir());
        if !is_dir || !remove_empty_dirs(fs, &dir.join(&e.name))? {
            empty = false;
        }
    }
    if !empty {
        return Ok(false);
    }
    fs.remove_dir(dir)?;
    if let Some(parent) = dir.parent() {
        fs.fsync_dir(parent)?;
    }
    Ok(true)
}
