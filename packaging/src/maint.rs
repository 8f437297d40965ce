//! What the maintainer scripts of a versioned Ganeti package (`ganeti-3.0`,
//! `ganeti-3.1`, ...) ask of a node, with Debian's rules and the switcher's
//! guarantees.
//!
//! * `postinst configure V`: make V active only where that cannot surprise a
//!   cluster: when no version is active, when the switch links are broken
//!   (dangling, mixed, half there), or when the node is not in a cluster
//!   (Debian's test: `${localstatedir}/lib/ganeti/server.pem` is missing) and
//!   V is not older than the active version. A clustered node with sound
//!   links is never flipped: that is `ganeti-upgrade`'s job. Nor is a
//!   clustered node whose links name no usable version while ssconf says its
//!   configuration is at another release (a dist-upgrade removed the active
//!   version by force): V would run on an unconverted configuration. The
//!   `default` links belong to the farm package and are never changed here.
//! * `prerm remove V`: refuse while V is active and another version could
//!   take over (the message names the command that switches), or while V is
//!   the last version of a clustered node; removing the last version of a
//!   node outside any cluster is allowed, as is anything an administrator
//!   overrides with [`crate::env::ALLOW_ACTIVE_REMOVAL`].
//! * `postrm remove|purge`: once no complete version is left, drop the
//!   switch links (and, on purge, the node lock and the directories this
//!   helper may have created, when empty and owned by no package).
//!
//! Every action is idempotent: run twice, the second run changes nothing.
//! Links are only ever changed through the switcher (`switch_to_locked`,
//! `repair_locked`) under the node lock, so a package install racing with
//! `ganeti-switch` or `ganeti-upgrade` waits for it instead of interleaving.
//! An interrupted switch found on the way is finished first, as the switcher
//! itself would.

use ganeti_layout::cli::Output;
use std::fmt;
use std::path::{Path, PathBuf};

use ganeti_layout::node::active::{self, configuration_fits, switch_command, Active, SwitchLink};
use ganeti_layout::node::durable::DurableError;
use ganeti_layout::node::installed;
use ganeti_layout::node::manifest::{self, ManifestError};
use ganeti_layout::node::paths::SWITCH_PREVIOUS_NAME;
use ganeti_layout::node::{DirStyle, DirVersion, InstallPaths, Node, Release};
use ganeti_switch::{Journal, NodeLock, Outcome, SwitchError, SwitchOptions, JOURNAL_NAME};

use crate::env;

/// Why removing the active version is refused (boxed in [`MaintError`]).
#[derive(Debug, thiserror::Error)]
#[error("refusing to remove Ganeti {version}: it is the active version on this node ({link} -> {target})\nhint: switch to another installed version first, then remove it again: {switch}")]
pub struct ActiveVersion {
    pub version: DirVersion,
    pub link: PathBuf,
    pub target: PathBuf,
    /// The command that moves the node to another installed version
    /// ([`switch_command`]).
    pub switch: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MaintError {
    #[error(transparent)]
    ActiveVersion(Box<ActiveVersion>),
    #[error("refusing to remove Ganeti {version}: it is the active and only complete version, and this node is in a cluster ({server_pem} exists)\nhint: install the version to move to and upgrade the cluster to it (ganeti-upgrade --to VERSION, on the master), or take this node out of its cluster; to remove it anyway: {}=yes", env::ALLOW_ACTIVE_REMOVAL)]
    LastVersionInCluster {
        version: DirVersion,
        server_pem: PathBuf,
    },
    #[error("refusing to remove Ganeti {version}: an interrupted switch involving it is recorded in {journal}\nhint: run {repair} (or {repair} --revert), then remove it again")]
    SwitchInProgress {
        version: DirVersion,
        /// `ganeti-switch repair` with this node's path options.
        repair: String,
        journal: PathBuf,
    },
    #[error(transparent)]
    Io(#[from] DurableError),
    #[error(transparent)]
    Switch(#[from] SwitchError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// Whether the node is in a cluster, and at which release the cluster's
/// configuration is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    Standalone,
    /// `release`: ssconf's release version (`None`: unknown).
    Clustered {
        release: Option<String>,
    },
}

impl Membership {
    pub fn of(paths: &InstallPaths) -> Membership {
        let node = Node::new(paths);
        if node.is_clustered() {
            Membership::Clustered {
                release: node.cluster_release(),
            }
        } else {
            Membership::Standalone
        }
    }
    pub fn is_clustered(&self) -> bool {
        matches!(self, Membership::Clustered { .. })
    }
    /// The cluster's release, when its configuration does not fit `v` as
    /// it is: then only `ganeti-upgrade` may move the node to `v`.
    pub fn needs_conversion_to(&self, v: &DirVersion) -> Option<&str> {
        match self {
            Membership::Clustered { release: Some(r) } if !configuration_fits(v, r) => {
                Some(r.as_str())
            }
            _ => None,
        }
    }
}

/// The version directory (`M.m`) of a release, or the text as it is.
fn short_version(release: &str) -> String {
    release
        .parse::<Release>()
        .map(|r| DirVersion::from_release(&r, DirStyle::Short).to_string())
        .unwrap_or_else(|_| release.to_string())
}

/// Why `postinst` links V.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkReason {
    /// Neither switch link exists.
    NoneActive,
    /// The links exist but name no usable version (dangling, mixed, half).
    Broken,
    /// A fresh node (no `server.pem`) on an older version.
    NotInCluster { from: DirVersion },
}

/// Why `postinst` leaves another version active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepReason {
    /// The node is in a cluster: only an upgrade moves it.
    Clustered,
    /// A fresh node already on a newer version: installing several
    /// versions in any order ends on the newest.
    Newer,
    /// A fresh node whose daemons are running; the switcher does not switch
    /// under running daemons.
    DaemonsRunning { daemons: Vec<String> },
}

/// The pure part of `postinst configure V`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    AlreadyActive,
    Link(LinkReason),
    Keep {
        active: DirVersion,
        reason: KeepReason,
    },
    /// No version is usable, but the cluster's configuration is at another
    /// release: linking V would run it on an unconverted configuration
    /// (a dist-upgrade that removed the active version by force).
    LeaveUnlinked {
        cluster_release: String,
    },
}

/// Decides what `postinst configure V` does, from the switch links as found
/// (after any interrupted switch was finished) and cluster membership.
pub fn decide_postinst(version: &DirVersion, active: &Active, membership: &Membership) -> Decision {
    let Some(current) = active.version() else {
        if let Some(release) = membership.needs_conversion_to(version) {
            return Decision::LeaveUnlinked {
                cluster_release: release.to_string(),
            };
        }
        return Decision::Link(if active.is_absent() {
            LinkReason::NoneActive
        } else {
            LinkReason::Broken
        });
    };
    if current == version {
        Decision::AlreadyActive
    } else if membership.is_clustered() {
        Decision::Keep {
            active: current.clone(),
            reason: KeepReason::Clustered,
        }
    } else if current > version {
        Decision::Keep {
            active: current.clone(),
            reason: KeepReason::Newer,
        }
    } else {
        Decision::Link(LinkReason::NotInCluster {
            from: current.clone(),
        })
    }
}

/// What `postinst configure V` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostinstOutcome {
    Linked {
        version: DirVersion,
        reason: LinkReason,
        clustered: bool,
    },
    AlreadyActive {
        version: DirVersion,
    },
    Kept {
        version: DirVersion,
        active: DirVersion,
        reason: KeepReason,
        /// The command that moves this node (the cluster) to `version`,
        /// with the node's path options.
        to_use: String,
    },
    /// See [`Decision::LeaveUnlinked`].
    LeftUnlinked {
        version: DirVersion,
        cluster_release: String,
        /// `ganeti-upgrade --to VERSION` with the node's path options.
        upgrade: String,
    },
    /// V's trees are not complete yet (another package of V still to come,
    /// or a damaged install): the links are left alone.
    Incomplete {
        version: DirVersion,
        problems: Vec<String>,
    },
}

/// A result plus what happened on the way (finished switches, warnings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report<T> {
    pub notes: Vec<String>,
    pub outcome: T,
}

fn wait_message(holder: &str) {
    ganeti_layout::cli::Stderr::default().line(&format!(
        "ganeti-packaging: waiting for the node lock ({holder})"
    ));
}

/// The node lock, without creating `${localstatedir}/lib/ganeti` on a node
/// that has none (nothing can be switching there).
fn lock_if_present(paths: &InstallPaths) -> Result<Option<NodeLock>, SwitchError> {
    if paths.fs().is_dir(&paths.datadir()) {
        NodeLock::acquire(paths, wait_message).map(Some)
    } else {
        Ok(None)
    }
}

/// Finishes an interrupted switch and removes stale temp links, if any.
fn finish_interrupted(paths: &InstallPaths, notes: &mut Vec<String>) -> Result<(), MaintError> {
    let status = ganeti_switch::check(paths)?;
    if status.journal.is_none() && status.stale_temp_links.is_empty() {
        return Ok(());
    }
    match ganeti_switch::repair_locked(paths, false)? {
        Outcome::Repaired { to } => notes.push(format!("finished an interrupted switch to {to}")),
        _ => notes.push(format!(
            "removed stale temporary links in {}",
            paths.fs().shown(&paths.confdir()).display()
        )),
    }
    Ok(())
}

/// `postinst configure V`.
pub fn postinst_configure(
    paths: &InstallPaths,
    version: &DirVersion,
) -> Result<Report<PostinstOutcome>, MaintError> {
    let _lock = NodeLock::acquire(paths, wait_message)?;
    let mut notes = Vec::new();
    finish_interrupted(paths, &mut notes)?;
    // The trees only: the `default` links come with the farm package,
    // which dpkg may unpack after this one.
    let problems = installed::check_trees(paths, version)?.missing;
    if !problems.is_empty() {
        return Ok(Report {
            notes,
            outcome: PostinstOutcome::Incomplete {
                version: version.clone(),
                problems,
            },
        });
    }
    let membership = Membership::of(paths);
    let clustered = membership.is_clustered();
    let active = active::read_active(paths);
    let outcome = match decide_postinst(version, &active, &membership) {
        Decision::AlreadyActive => PostinstOutcome::AlreadyActive {
            version: version.clone(),
        },
        Decision::Keep { active, reason } => PostinstOutcome::Kept {
            version: version.clone(),
            active,
            to_use: switch_command(paths, version),
            reason,
        },
        Decision::LeaveUnlinked { cluster_release } => PostinstOutcome::LeftUnlinked {
            version: version.clone(),
            cluster_release,
            upgrade: paths.tool("ganeti-upgrade", &format!("--to {version}")),
        },
        Decision::Link(reason) => {
            // With no usable version active there is nothing a running
            // daemon could be relying on; on a sound fresh node the
            // switcher's daemon check applies.
            let force = !matches!(reason, LinkReason::NotInCluster { .. });
            match ganeti_switch::switch_to_locked_leaving_default_links(
                paths,
                version,
                SwitchOptions {
                    force,
                    ..SwitchOptions::default()
                },
            ) {
                Ok(_) => PostinstOutcome::Linked {
                    version: version.clone(),
                    reason,
                    clustered,
                },
                Err(SwitchError::DaemonsRunning { daemons }) => PostinstOutcome::Kept {
                    version: version.clone(),
                    active: active.version().cloned().unwrap_or_else(|| version.clone()),
                    reason: KeepReason::DaemonsRunning { daemons },
                    to_use: switch_command(paths, version),
                },
                Err(e) => return Err(e.into()),
            }
        }
    };
    // Said, not mended: the links belong to the farm package.
    if matches!(
        outcome,
        PostinstOutcome::Linked { .. } | PostinstOutcome::AlreadyActive { .. }
    ) {
        notes.extend(
            installed::default_link_problems(paths)
                .into_iter()
                .map(|p| format!("warning: {p}")),
        );
    }
    Ok(Report { notes, outcome })
}

/// What `prerm remove V` decided, when it lets the removal go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrermOutcome {
    NotActive {
        version: DirVersion,
    },
    /// The last version of a node outside any cluster.
    LastVersion {
        version: DirVersion,
    },
    /// Active, but the administrator set the override.
    AllowedByAdministrator {
        version: DirVersion,
        clustered: bool,
    },
}

fn journal_involves(paths: &InstallPaths, journal: &Journal, version: &DirVersion) -> bool {
    journal.to == *version
        || journal.from_lib.as_deref() == Some(paths.version_lib(version).as_path())
        || journal.from_share.as_deref() == Some(paths.version_share(version).as_path())
}

/// Complete versions other than `except`, oldest first.
fn other_complete_versions(
    paths: &InstallPaths,
    except: Option<&DirVersion>,
) -> Result<Vec<DirVersion>, MaintError> {
    Ok(installed::list(paths)?
        .into_iter()
        .filter(|info| info.complete && Some(&info.version) != except)
        .map(|info| info.version)
        .collect())
}

/// `prerm remove V`: `Ok` lets dpkg go on, `Err` stops the removal.
pub fn prerm_remove(
    paths: &InstallPaths,
    version: &DirVersion,
) -> Result<PrermOutcome, MaintError> {
    let _lock = lock_if_present(paths)?;
    let status = ganeti_switch::check(paths)?;
    if let Some(journal) = &status.journal {
        if journal_involves(paths, journal, version) {
            return Err(MaintError::SwitchInProgress {
                version: version.clone(),
                repair: paths.tool("ganeti-switch", "repair"),
                journal: paths.fs().shown(&paths.switch_journal()),
            });
        }
    }
    if !status.active.mentions(version) {
        return Ok(PrermOutcome::NotActive {
            version: version.clone(),
        });
    }
    let clustered = Node::new(paths).is_clustered();
    if env::active_removal_allowed() {
        return Ok(PrermOutcome::AllowedByAdministrator {
            version: version.clone(),
            clustered,
        });
    }
    if let Some(other) = other_complete_versions(paths, Some(version))?.pop() {
        let (link, target) = match &status.active.lib {
            SwitchLink::Points { target, .. } => {
                (paths.fs().shown(&paths.active_lib_link()), target.clone())
            }
            _ => (
                paths.fs().shown(&paths.active_share_link()),
                paths.version_share(version),
            ),
        };
        return Err(MaintError::ActiveVersion(Box::new(ActiveVersion {
            version: version.clone(),
            link,
            target,
            switch: switch_command(paths, &other),
        })));
    }
    if clustered {
        return Err(MaintError::LastVersionInCluster {
            version: version.clone(),
            server_pem: paths.fs().shown(&paths.server_pem()),
        });
    }
    Ok(PrermOutcome::LastVersion {
        version: version.clone(),
    })
}

/// What `postrm remove|purge` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostrmOutcome {
    /// Other versions remain; `active` is None when the links are broken.
    VersionsRemain {
        remaining: Vec<DirVersion>,
        active: Option<DirVersion>,
        /// How to fix the links when they are broken
        /// ([`installed::relink_advice`]).
        advice: String,
    },
    /// No version remains: these paths were removed (empty when nothing
    /// was there any more).
    Cleaned { removed: Vec<PathBuf> },
}

/// `postrm remove` (`purge: false`) or `postrm purge` (`purge: true`).
pub fn postrm(paths: &InstallPaths, purge: bool) -> Result<Report<PostrmOutcome>, MaintError> {
    let mut notes = Vec::new();
    let remaining = other_complete_versions(paths, None)?;
    if !remaining.is_empty() {
        let active = active::read_active(paths).version().cloned();
        return Ok(Report {
            notes,
            outcome: PostrmOutcome::VersionsRemain {
                remaining,
                advice: installed::relink_advice(paths),
                active,
            },
        });
    }
    let lock = lock_if_present(paths)?;
    let fs = paths.fs();
    let confdir = paths.confdir();
    let mut removed = Vec::new();
    if fs.is_dir(&confdir) {
        let status = ganeti_switch::check(paths)?;
        // The switch's own files: its journal and the version it last left.
        let files = [JOURNAL_NAME, SWITCH_PREVIOUS_NAME];
        let mut names: Vec<String> = vec!["lib".into(), "share".into()];
        names.extend(files.iter().map(|f| f.to_string()));
        names.extend(status.stale_temp_links);
        for name in names {
            let path = confdir.join(&name);
            match fs.symlink_metadata(&path) {
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
                // The switch's files (and a crashed write's temp copies of
                // them) are files; everything else must be a link: an
                // administrator's real file or directory stays.
                Ok(m)
                    if m.file_type().is_symlink()
                        || (m.is_file()
                            && files.iter().any(|f| {
                                name == *f || name.starts_with(&format!(".{f}.tmp-"))
                            })) =>
                {
                    fs.remove_file(&path)?;
                    // Reported where it was, for the admin.
                    removed.push(fs.shown(&path));
                }
                Ok(_) => notes.push(format!(
                    "left {} alone: it is not a symlink",
                    fs.shown(&path).display()
                )),
            }
        }
    }
    if purge {
        if lock.is_some() {
            let lock_file = paths.lock_file();
            // Unlinked while held: nobody else can be between open and lock.
            if fs.is_there(&lock_file) {
                fs.remove_file(&lock_file)?;
                removed.push(fs.shown(&lock_file));
            }
        }
        drop(lock);
        for dir in [paths.confdir(), paths.datadir()] {
            if remove_dir_if_unowned(paths, &dir)? {
                removed.push(fs.shown(&dir));
            }
        }
    }
    Ok(Report {
        notes,
        outcome: PostrmOutcome::Cleaned { removed },
    })
}

/// Removes `dir` if it is empty and no installed package lists it.
fn remove_dir_if_unowned(paths: &InstallPaths, dir: &Path) -> Result<bool, MaintError> {
    let fs = paths.fs();
    let empty = match fs.read_dir(dir) {
        Ok(entries) => entries.is_empty(),
        Err(_) => return Ok(false),
    };
    if !empty || listed_by_dpkg(paths, dir) {
        return Ok(false);
    }
    Ok(fs.remove_dir(dir)?)
}

/// Does any package's file list (`/var/lib/dpkg/info/*.list`) name `logical`?
fn listed_by_dpkg(paths: &InstallPaths, logical: &Path) -> bool {
    !manifest::dpkg_listed(paths, |p| p == logical).is_empty()
}

impl fmt::Display for PostinstOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostinstOutcome::Linked {
                version,
                reason,
                clustered,
            } => {
                write!(f, "made Ganeti {version} active")?;
                match reason {
                    LinkReason::NoneActive => write!(f, " (no version was active)"),
                    LinkReason::Broken if *clustered => write!(
                        f,
                        " (the switch links were broken); this node is in a cluster: check it with gnt-cluster verify"
                    ),
                    LinkReason::Broken => write!(f, " (the switch links were broken)"),
                    LinkReason::NotInCluster { from } => write!(
                        f,
                        " instead of {from} (this node is not in a cluster)"
                    ),
                }
            }
            PostinstOutcome::AlreadyActive { version } => {
                write!(f, "Ganeti {version} is already active")
            }
            PostinstOutcome::Kept {
                version,
                active,
                reason,
                to_use,
            } => match reason {
                KeepReason::Clustered => write!(
                    f,
                    "Ganeti {active} stays active: this node is in a cluster; to move the cluster to {version}, run {to_use}"
                ),
                KeepReason::Newer => write!(
                    f,
                    "Ganeti {active} stays active: it is newer than {version}; to use {version}: {to_use}"
                ),
                KeepReason::DaemonsRunning { daemons } => write!(
                    f,
                    "Ganeti {active} stays active: Ganeti daemons are running ({}); to use {version}: stop them, then {to_use}",
                    daemons.join(", ")
                ),
            },
            PostinstOutcome::LeftUnlinked {
                version,
                cluster_release,
                upgrade,
            } => write!(
                f,
                "the switch links name no installed version, and this node is in a cluster whose configuration is at {cluster_release} (ssconf_release_version): Ganeti {version} would run on it unconverted, so the links were left alone; reinstall Ganeti {}, then run on the master: {upgrade}",
                short_version(cluster_release)
            ),
            PostinstOutcome::Incomplete { version, problems } => write!(
                f,
                "Ganeti {version} is not completely installed yet, so the links were left alone ({}); once it is: ganeti-packaging postinst configure {version}",
                problems.first().map(String::as_str).unwrap_or("?")
            ),
        }
    }
}

impl fmt::Display for PrermOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrermOutcome::NotActive { version } => {
                write!(f, "Ganeti {version} is not active: removing it is fine")
            }
            PrermOutcome::LastVersion { version } => write!(
                f,
                "removing Ganeti {version}, the last version on a node outside any cluster; the switch links go with it"
            ),
            PrermOutcome::AllowedByAdministrator {
                version,
                clustered: false,
            } => write!(
                f,
                "warning: removing the active Ganeti {version} because {}=yes; the switch links dangle until another version is activated (ganeti-switch to VERSION)",
                env::ALLOW_ACTIVE_REMOVAL
            ),
            PrermOutcome::AllowedByAdministrator {
                version,
                clustered: true,
            } => write!(
                f,
                "warning: removing the active Ganeti {version} because {}=yes; this node is in a cluster, whose configuration stays at {version} until an upgrade converts it: until then no version runs here; reinstall Ganeti {version}, then run on the master: ganeti-upgrade --to VERSION",
                env::ALLOW_ACTIVE_REMOVAL
            ),
        }
    }
}

impl fmt::Display for PostrmOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostrmOutcome::VersionsRemain {
                remaining,
                active: Some(active),
                ..
            } => write!(
                f,
                "still installed: {}; {active} is active",
                join(remaining)
            ),
            PostrmOutcome::VersionsRemain {
                remaining,
                active: None,
                advice,
            } => write!(
                f,
                "warning: still installed: {}, but the switch links are broken; to fix them: {advice}",
                join(remaining),
            ),
            PostrmOutcome::Cleaned { removed } if removed.is_empty() => {
                write!(f, "no Ganeti version remains; nothing to clean up")
            }
            PostrmOutcome::Cleaned { removed } => write!(
                f,
                "no Ganeti version remains; removed {}",
                removed
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

fn join(versions: &[DirVersion]) -> String {
    versions
        .iter()
        .map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
