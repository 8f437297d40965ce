//! The switch itself, its repair and the check: the steps in the crate
//! doc, on top of the lock, the directory handle and the daemon test.

use ganeti_layout::cli::Output;
use std::path::PathBuf;

use ganeti_layout::node::active::{self, Active, DefaultLink, DefaultState};
use ganeti_layout::node::fs::resolve_in_root;
use ganeti_layout::node::installed;
use ganeti_layout::node::paths::SWITCH_PREVIOUS_NAME;
use ganeti_layout::node::{DirVersion, InstallPaths};

use crate::confdir::{ConfDir, Journal, JOURNAL_FORMAT, JOURNAL_NAME};
use crate::daemons::{live_daemons, pid_alive};
use crate::env;
use crate::error::SwitchError;
use crate::lock::NodeLock;

/// What a node looks like from the switcher's point of view.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub active: Active,
    /// The two fixed `default` links, through which every program runs.
    pub default_links: [DefaultLink; 2],
    pub journal: Option<Journal>,
    /// Who holds the node's switch lock while `check` looked (`pid N
    /// (program)`): with a journal, a switch in progress rather than an
    /// interrupted one.
    pub lock_holder: Option<String>,
    /// A switch is running now: the journal's process is alive and the
    /// lock is held.
    pub switching_now: bool,
    pub stale_temp_links: Vec<String>,
    /// One line per problem; empty when sound.
    pub problems: Vec<String>,
}

impl Status {
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
    /// The version a reader is guaranteed to get, when stable.
    pub fn stable_version(&self) -> Option<&DirVersion> {
        if self.journal.is_some() {
            return None;
        }
        self.active.version()
    }
}

/// On a node where nothing is laid out yet, absent `default` links are no
/// fault; once either they or a switch link exist, they must be right.
fn laid_out(active: &Active, default_links: &[DefaultLink; 2]) -> bool {
    !active.is_absent()
        || default_links
            .iter()
            .any(|d| d.state != DefaultState::Missing)
}

/// Reads the node's state and judges it; changes nothing.
pub fn check(paths: &InstallPaths) -> Result<Status, SwitchError> {
    let active = active::read_active(paths);
    let (journal, stale) = match ConfDir::open(paths, false) {
        Ok(dir) => (dir.read_journal()?, dir.stale_temps()),
        Err(SwitchError::Io(e)) if e.source.kind() == std::io::ErrorKind::NotFound => {
            (None, Vec::new())
        }
        Err(e) => return Err(e),
    };
    let mut problems = Vec::new();
    let fs = paths.fs();
    // Named in the problems, for the admin.
    let confdir = fs.shown(&paths.confdir());
    let lock_file = fs.shown(&paths.lock_file());
    let lock_holder = NodeLock::held_by(paths);
    // In progress: its journal's process is alive and the lock is held.
    let switching_now = lock_holder.is_some() && journal.as_ref().is_some_and(|j| pid_alive(j.pid));
    match (&journal, &lock_holder) {
        (Some(j), Some(holder)) if switching_now => problems.push(format!(
            "{}: a switch to {} is in progress now ({holder} holds {}); wait for it to end, then check again",
            confdir.join(JOURNAL_NAME).display(),
            j.to,
            lock_file.display()
        )),
        (Some(j), Some(holder)) => problems.push(format!(
            "{}: an interrupted switch to {} (pid {}, gone) is recorded; run {} once {holder} has released {}",
            confdir.join(JOURNAL_NAME).display(),
            j.to,
            j.pid,
            paths.tool("ganeti-switch", "repair"),
            lock_file.display()
        )),
        (Some(j), None) => problems.push(format!(
            "{}: an interrupted switch to {} (pid {}) is recorded; run {}",
            confdir.join(JOURNAL_NAME).display(),
            j.to,
            j.pid,
            paths.tool("ganeti-switch", "repair")
        )),
        (None, _) => {}
    }
    // While a switch runs, its temporary links are its own, not stale.
    for t in stale.iter().filter(|_| !switching_now) {
        problems.push(format!(
            "{}: stale temporary link from an interrupted switch; {} removes it",
            confdir.join(t).display(),
            paths.tool("ganeti-switch", "repair")
        ));
    }
    // A pair caught mid-switch is the switch's business, not a fault.
    if !switching_now {
        problems.extend(installed::switch_link_problems(
            paths,
            &active,
            journal.is_some(),
        ));
    }
    let default_links = active::read_default_links(paths);
    if laid_out(&active, &default_links) {
        problems.extend(installed::default_link_problems(paths));
    }
    Ok(Status {
        active,
        default_links,
        journal,
        lock_holder,
        switching_now,
        stale_temp_links: stale,
        problems,
    })
}

/// What `switch_to` or `repair` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Switched {
        from: Option<DirVersion>,
        to: DirVersion,
        /// `default` links that bypassed the switch links and now go
        /// through them again.
        default_links_mended: Vec<PathBuf>,
    },
    AlreadyActive {
        version: DirVersion,
    },
    /// `version` was active already; the `default` links that bypassed it
    /// were pointed back through the switch links.
    DefaultLinksMended {
        version: DirVersion,
        links: Vec<PathBuf>,
    },
    Repaired {
        to: DirVersion,
    },
    Reverted {
        lib: Option<PathBuf>,
        share: Option<PathBuf>,
    },
    NothingToRepair,
}

/// Options of a switch.
#[derive(Debug, Clone, Copy, Default)]
pub struct SwitchOptions {
    /// Switch even though Ganeti daemons are running.
    pub force: bool,
    /// Wait at most this long for the node lock (`None`: for as long as
    /// it is held).
    pub wait: Option<std::time::Duration>,
}

/// Switches the node to `version`, taking the node lock.
pub fn switch_to(
    paths: &InstallPaths,
    version: &DirVersion,
    options: SwitchOptions,
) -> Result<Outcome, SwitchError> {
    let _lock = NodeLock::acquire_within(
        paths,
        |holder| {
            ganeti_layout::cli::Stderr::default()
                .line(&format!("waiting for the node lock ({holder})"))
        },
        options.wait,
    )?;
    switch_to_locked(paths, version, options)
}

/// The same, for a caller that already holds the [`NodeLock`] (the upgrade).
///
/// A switch takes effect only through the two `default` links: one that is
/// missing or points elsewhere (Gentoo's ebuild points it straight at a
/// version) is pointed back through the switch links as part of the switch,
/// and the outcome names it; a real file or directory there is refused.
pub fn switch_to_locked(
    paths: &InstallPaths,
    version: &DirVersion,
    options: SwitchOptions,
) -> Result<Outcome, SwitchError> {
    switch(paths, version, options, DefaultLinks::Mend)
}

/// The switch a versioned package's postinst makes (see `ganeti-packaging`):
/// the same, but the `default` links are left as they are, since the
/// package that ships them may be unpacked after this one.
pub fn switch_to_locked_leaving_default_links(
    paths: &InstallPaths,
    version: &DirVersion,
    options: SwitchOptions,
) -> Result<Outcome, SwitchError> {
    switch(paths, version, options, DefaultLinks::Leave)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DefaultLinks {
    Mend,
    Leave,
}

/// A `default` link that must be pointed back, and whether that changes
/// what runs (it led somewhere other than where it will).
struct DefaultFix {
    link: DefaultLink,
    changes_what_runs: bool,
}

/// The `default` links to point back once the switch links lead to `to`
/// (`None`: to where they lead now). Refuses a real file or directory.
fn default_fixes(
    paths: &InstallPaths,
    to: Option<&DirVersion>,
) -> Result<Vec<DefaultFix>, SwitchError> {
    let mut fixes = Vec::new();
    for link in active::read_default_links(paths) {
        match link.state {
            DefaultState::Sound => continue,
            DefaultState::NotASymlink => {
                return Err(SwitchError::NotASymlink {
                    path: paths.fs().shown(&link.path),
                })
            }
            DefaultState::Missing | DefaultState::Foreign { .. } => {}
        }
        let now = resolve_in_root(paths, &link.path);
        let then = match to {
            Some(v) if link.path == paths.default_lib() => Some(paths.version_lib(v)),
            Some(v) => Some(paths.version_share(v)),
            None => resolve_in_root(paths, &link.wanted),
        };
        fixes.push(DefaultFix {
            changes_what_runs: now != then,
            link,
        });
    }
    Ok(fixes)
}

fn mend_default_links(
    paths: &InstallPaths,
    fixes: &[DefaultFix],
) -> Result<Vec<PathBuf>, SwitchError> {
    let fs = paths.fs();
    let mut mended = Vec::new();
    for fix in fixes {
        fs.replace_symlink(&fix.link.path, &fix.link.wanted)?;
        // Reported where it is, for the admin.
        mended.push(fs.shown(&fix.link.path));
    }
    Ok(mended)
}

fn refuse_if_daemons_run(options: SwitchOptions, paths: &InstallPaths) -> Result<(), SwitchError> {
    if !options.force {
        let daemons = live_daemons(paths);
        if !daemons.is_empty() {
            return Err(SwitchError::DaemonsRunning { daemons });
        }
    }
    Ok(())
}

fn switch(
    paths: &InstallPaths,
    version: &DirVersion,
    options: SwitchOptions,
    defaults: DefaultLinks,
) -> Result<Outcome, SwitchError> {
    refuse_unless_installed(paths, version)?;
    let fixes = match defaults {
        DefaultLinks::Mend => default_fixes(paths, Some(version))?,
        DefaultLinks::Leave => Vec::new(),
    };
    let dir = ConfDir::open(paths, true)?;
    if dir.read_journal()?.is_some() {
        repair_in(&dir, paths, false)?;
    }
    remove_stale(&dir)?;
    let lib_target = paths.version_lib(version);
    let share_target = paths.version_share(version);
    let from_lib = dir.read_link("lib")?;
    let from_share = dir.read_link("share")?;
    if from_lib.as_deref() == Some(lib_target.as_path())
        && from_share.as_deref() == Some(share_target.as_path())
    {
        if fixes.is_empty() {
            return Ok(Outcome::AlreadyActive {
                version: version.clone(),
            });
        }
        if fixes.iter().any(|f| f.changes_what_runs) {
            refuse_if_daemons_run(options, paths)?;
        }
        return Ok(Outcome::DefaultLinksMended {
            version: version.clone(),
            links: mend_default_links(paths, &fixes)?,
        });
    }
    refuse_if_daemons_run(options, paths)?;
    let from = active::read_active(paths).version().cloned();
    // Recorded before the links change: the way back to it stays open.
    // Made durable by the journal's directory fsync, in the same directory.
    if let Some(f) = from.as_ref().filter(|f| *f != version) {
        dir.stage_file(SWITCH_PREVIOUS_NAME, format!("{f}\n").as_bytes(), 0o644)?;
    }
    let journal = Journal {
        format: JOURNAL_FORMAT,
        pid: std::process::id(),
        to: version.clone(),
        from_lib,
        from_share,
    };
    dir.write_journal(&journal)?;
    env::crash_point("after-journal");
    dir.replace_link("lib", &lib_target)?;
    env::crash_point("after-lib");
    dir.replace_link("share", &share_target)?;
    env::crash_point("after-share");
    dir.fsync()?;
    // After the pair, before the journal goes: a crash here leaves a
    // switch that `repair` finishes, and `default` links it points back.
    let default_links_mended = mend_default_links(paths, &fixes)?;
    dir.remove(JOURNAL_NAME)?;
    dir.fsync()?;
    Ok(Outcome::Switched {
        from,
        to: version.clone(),
        default_links_mended,
    })
}

/// `version` must be completely installed, or be the version this node
/// switched away from last (see below).
fn refuse_unless_installed(paths: &InstallPaths, version: &DirVersion) -> Result<(), SwitchError> {
    let problems = installed::check_trees(paths, version)?.missing;
    // A version without a manifest or dpkg list that this node ran until
    // the last switch: coming back to it is allowed (an upgrade's rollback
    // from a source or RPM install).
    let returning = installed::switched_away_from(paths).as_ref() == Some(version)
        && installed::unverifiable(paths, version);
    if !problems.is_empty() && !returning {
        Err(SwitchError::NotInstalled {
            version: version.clone(),
            absent: !paths.fs().is_dir(&paths.version_lib(version))
                && !paths.fs().is_dir(&paths.version_share(version)),
            problems,
            hint: installed::install_hint(paths, version),
        })
    } else {
        Ok(())
    }
}

fn remove_stale(dir: &ConfDir) -> Result<(), SwitchError> {
    let stale = dir.stale_temps();
    for t in &stale {
        dir.remove(t)?;
    }
    if !stale.is_empty() {
        dir.fsync()?;
    }
    Ok(())
}

fn repair_in(dir: &ConfDir, paths: &InstallPaths, revert: bool) -> Result<Outcome, SwitchError> {
    let journal = dir.read_journal()?;
    remove_stale(dir)?;
    let outcome = match (journal, revert) {
        (None, true) => {
            return Err(SwitchError::NothingToRevert {
                path: dir.path(JOURNAL_NAME),
            })
        }
        (None, false) => Outcome::NothingToRepair,
        (Some(j), false) => {
            dir.replace_link("lib", &paths.version_lib(&j.to))?;
            dir.replace_link("share", &paths.version_share(&j.to))?;
            Outcome::Repaired { to: j.to }
        }
        (Some(j), true) => {
            for (name, target) in [("lib", &j.from_lib), ("share", &j.from_share)] {
                match target {
                    Some(t) => dir.replace_link(name, t)?,
                    None => dir.remove(name)?,
                }
            }
            Outcome::Reverted {
                lib: j.from_lib,
                share: j.from_share,
            }
        }
    };
    dir.fsync()?;
    dir.remove(JOURNAL_NAME)?;
    dir.fsync()?;
    Ok(outcome)
}

/// Options of `ganeti-switch repair`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RepairOptions {
    /// Undo an interrupted switch instead of finishing it.
    pub revert: bool,
    /// Point a `default` link back even though Ganeti daemons are running
    /// and that changes what runs.
    pub force: bool,
}

/// What `repair` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RepairReport {
    /// About the interrupted switch.
    pub switch: Outcome,
    /// `default` links pointed back through the switch links (host paths).
    pub default_links_mended: Vec<PathBuf>,
}

/// Finishes (or, with `revert`, undoes) an interrupted switch, removes stale
/// temp links, then points `default` links that bypass the switch links
/// back through them. The latter only while a version is active (otherwise
/// nothing would be left to run) and, where it changes what runs, not under
/// running daemons without `force`.
pub fn repair(paths: &InstallPaths, options: RepairOptions) -> Result<RepairReport, SwitchError> {
    let _lock = NodeLock::acquire(paths, |holder| {
        ganeti_layout::cli::Stderr::default().line(&format!("waiting for the node lock ({holder})"))
    })?;
    let switch = repair_locked(paths, options.revert)?;
    let status = check(paths)?;
    let fixes = if laid_out(&status.active, &status.default_links) {
        default_fixes(paths, None)?
    } else {
        Vec::new()
    };
    if status.active.version().is_none() {
        if let Some(fix) = fixes.iter().find(|f| f.changes_what_runs) {
            return Err(SwitchError::NothingActive {
                link: paths.fs().shown(&fix.link.path),
                target: match &fix.link.state {
                    DefaultState::Foreign { target } => target.clone(),
                    _ => PathBuf::from("nothing"),
                },
                wanted: fix.link.wanted.clone(),
                switch: paths.tool("ganeti-switch", "to VERSION"),
            });
        }
    }
    if fixes.iter().any(|f| f.changes_what_runs) {
        refuse_if_daemons_run(
            SwitchOptions {
                force: options.force,
                ..SwitchOptions::default()
            },
            paths,
        )?;
    }
    Ok(RepairReport {
        switch,
        default_links_mended: mend_default_links(paths, &fixes)?,
    })
}

/// Finishes (or, with `revert`, undoes) an interrupted switch and removes
/// stale temp links, for a caller that holds the [`NodeLock`]; the
/// `default` links are left alone.
pub fn repair_locked(paths: &InstallPaths, revert: bool) -> Result<Outcome, SwitchError> {
    let dir = match ConfDir::open(paths, false) {
        Ok(d) => d,
        Err(SwitchError::Io(e)) if e.source.kind() == std::io::ErrorKind::NotFound && !revert => {
            return Ok(Outcome::NothingToRepair)
        }
        Err(e) => return Err(e),
    };
    repair_in(&dir, paths, revert)
}
