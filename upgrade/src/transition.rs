//! Where the cluster comes from and whether Ganeti's rules let it go to the
//! target: the running release (our manifest, else ssconf), the version
//! in `config.data`, the transition (upgrade, downgrade, same), and the
//! downgrades this tool refuses because upstream carries version-specific
//! actions for them inside `gnt_cluster.py` only.
//!
//! Pure rules plus reads of the node's files; nothing here writes.

use std::cmp::Ordering;
use std::fmt;
use std::path::PathBuf;

use ganeti_layout::node::manifest::{inventory, Inventory, Tree};
use ganeti_layout::node::version::Triple;
use ganeti_layout::node::{DirVersion, InstallPaths, Node, Release};

/// A `config.data` version integer that is no version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config version {value} is not MAJOR*1000000 + MINOR*10000 + REVISION with MINOR < 100 and REVISION < 10000")]
pub struct BadConfigVersion {
    pub value: u64,
}

/// The integer Ganeti stores as `version` in `config.data`:
/// `major * 1000000 + minor * 10000 + revision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigVersion(u32);

impl ConfigVersion {
    pub fn from_triple(triple: Triple) -> Result<Self, BadConfigVersion> {
        let bad = || BadConfigVersion {
            value: u64::from(triple.major) * 1_000_000
                + u64::from(triple.minor) * 10_000
                + u64::from(triple.revision),
        };
        if triple.minor >= 100 || triple.revision >= 10_000 {
            return Err(bad());
        }
        let value = triple
            .major
            .checked_mul(1_000_000)
            .and_then(|v| v.checked_add(triple.minor * 10_000 + triple.revision))
            .ok_or_else(bad)?;
        Ok(ConfigVersion(value))
    }
    pub fn from_int(value: u64) -> Result<Self, BadConfigVersion> {
        u32::try_from(value)
            .map(ConfigVersion)
            .map_err(|_| BadConfigVersion { value })
    }
    pub fn as_int(self) -> u32 {
        self.0
    }
    pub fn triple(self) -> Triple {
        Triple::new(
            self.0 / 1_000_000,
            (self.0 % 1_000_000) / 10_000,
            self.0 % 10_000,
        )
    }
}

impl fmt::Display for ConfigVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.triple())
    }
}

/// The first version that supports automatic upgrades.
pub const FIRST_UPGRADE_VERSION: Triple = Triple::new(2, 10, 0);

/// What a permitted move does to the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transition {
    /// Same major.minor: the configuration format does not change; `cfgupgrade`
    /// still runs (it only rewrites the file and fills in missing crypto).
    Same,
    /// To a newer major.minor: the *new* version's `cfgupgrade` converts the
    /// configuration after the switch.
    Upgrade,
    /// To the previous minor (or 3.0 to 2.16): the *current, newer* version's
    /// `cfgupgrade --downgrade` converts the configuration before the switch.
    Downgrade,
}

/// Why Ganeti's compatibility rule refuses a move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("automatic upgrades are only supported from 2.10 onwards ({from} -> {to})")]
    TooOld { from: Triple, to: Triple },
    #[error("major version changes are only supported between 2.16 and 3.0 ({from} -> {to})")]
    MajorChange { from: Triple, to: Triple },
    #[error("a downgrade can only go back one minor version at a time ({from} -> {to})")]
    DowngradeTooFar { from: Triple, to: Triple },
}

/// The compatibility rule of Ganeti's `utils/version.py` (`UpgradeRange`),
/// with one upstream bug fixed: 3.0 -> 2.16 is a *downgrade* of the
/// configuration (3.0's cfgupgrade knows how to go back to 2.16), where
/// upstream would run 2.16's `cfgupgrade` forward on a 3.0 configuration.
pub fn check_transition(from: Triple, to: Triple) -> Result<Transition, Refusal> {
    if from < FIRST_UPGRADE_VERSION || to < FIRST_UPGRADE_VERSION {
        return Err(Refusal::TooOld { from, to });
    }
    if from.major != to.major {
        let is_216 = |t: Triple| t.major == 2 && t.minor == 16;
        let is_30 = |t: Triple| t.major == 3 && t.minor == 0;
        return if is_216(from) && is_30(to) {
            Ok(Transition::Upgrade)
        } else if is_30(from) && is_216(to) {
            Ok(Transition::Downgrade)
        } else {
            Err(Refusal::MajorChange { from, to })
        };
    }
    match to.minor.cmp(&from.minor) {
        Ordering::Greater => Ok(Transition::Upgrade),
        Ordering::Equal => Ok(Transition::Same),
        Ordering::Less if to.minor + 1 == from.minor => Ok(Transition::Downgrade),
        Ordering::Less => Err(Refusal::DowngradeTooFar { from, to }),
    }
}

/// Why the cluster cannot go from where it is to the target.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    /// `switch`: `ganeti-switch` with this node's path options.
    #[error("this node has no consistent active version ({lib} and {share})\nhint: {switch} check shows what is wrong, {switch} repair mends an interrupted switch")]
    NoActiveVersion {
        lib: PathBuf,
        share: PathBuf,
        switch: String,
    },
    #[error("cannot upgrade from {from} to {to}: {refusal}")]
    Incompatible {
        from: DirVersion,
        to: DirVersion,
        refusal: Refusal,
    },
    #[error("the downgrade from {release} to {to} needs version-specific actions that this tool does not carry out: {actions}\nhint: downgrade with gnt-cluster upgrade --to={to} of Ganeti {release} itself, which has them, or upgrade to a release that does not need them first")]
    DowngradeActions {
        release: String,
        to: DirVersion,
        actions: &'static str,
    },
}

/// The transition's kind, for messages.
pub fn transition_name(t: Transition) -> &'static str {
    match t {
        Transition::Upgrade => "upgrade",
        Transition::Downgrade => "downgrade",
        Transition::Same => "re-apply of the same version",
    }
}

/// A source release range whose downgrade needs version-specific actions.
struct DowngradeActions {
    major: u32,
    minor: u32,
    revisions: std::ops::RangeInclusive<u32>,
    actions: &'static str,
}

/// Version-specific downgrade actions of the design ("after `cfgupgrade
/// --downgrade`"), which upstream carries inside `gnt_cluster.py` only and
/// which this tool does not repeat: such downgrades are refused.
const DOWNGRADE_ACTIONS: &[DowngradeActions] = &[
    DowngradeActions {
        major: 2,
        minor: 11,
        revisions: 0..=99,
        actions: "delete ssconf_master_candidates_certs and client.pem on every node",
    },
    DowngradeActions {
        major: 2,
        minor: 12,
        revisions: 5..=6,
        actions: "ssl-update with the delete action on every node (per-node certificates)",
    },
    DowngradeActions {
        major: 2,
        minor: 13,
        revisions: 3..=3,
        actions: "copy the master's DSA ssh keys to every node",
    },
];

/// The downgrade actions `release` needs, if any (pure; tested).
pub fn downgrade_actions(release: &str, transition: Transition) -> Option<&'static str> {
    if transition != Transition::Downgrade {
        return None;
    }
    let t = release.parse::<Release>().ok()?.triple();
    DOWNGRADE_ACTIONS
        .iter()
        .find(|d| t.major == d.major && t.minor == d.minor && d.revisions.contains(&t.revision))
        .map(|d| d.actions)
}

/// The release the cluster runs now: our manifest, else ssconf, else the
/// directory name.
fn running_release(paths: &InstallPaths, dir: &DirVersion) -> String {
    if let Ok(Inventory::Layout(m)) = inventory(paths, dir, Tree::Lib) {
        return m.release;
    }
    Node::new(paths)
        .cluster_release()
        .unwrap_or_else(|| dir.to_string())
}

/// Where the cluster really comes from: the active links' release, unless
/// ssconf says the cluster last ran another major.minor (the active version
/// was removed by force, e.g. by a dist-upgrade, and the links flipped to
/// what was left): then ssconf's release, which the configuration matches.
fn source_release(paths: &InstallPaths, dir: &DirVersion) -> (String, Triple) {
    let linked = running_release(paths, dir);
    let linked_triple = linked
        .parse::<Release>()
        .map(|r| r.triple())
        .unwrap_or_else(|_| dir.triple());
    if let Some(ssconf) = Node::new(paths).cluster_release() {
        if let Ok(r) = ssconf.parse::<Release>() {
            let t = r.triple();
            if (t.major, t.minor) != (linked_triple.major, linked_triple.minor) {
                return (ssconf, t);
            }
        }
    }
    (linked, linked_triple)
}

/// The version in `config.data`, if it can be read.
pub fn config_version(paths: &InstallPaths) -> Option<ConfigVersion> {
    let raw = Node::new(paths).config_version().ok()??;
    ConfigVersion::from_int(raw).ok()
}

/// Where `config.data` stands between an upgrade's two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigAt {
    /// At the version the upgrade started from.
    Source,
    /// At the target (the configuration step has run).
    Target,
    /// Readable, at a version that is neither: the cluster has moved on
    /// since the journal was written (a stale journal).
    Elsewhere(ConfigVersion),
    /// Unreadable, or both versions share a major.minor.
    Unknown,
}

/// Where `config.data` stands between `from` and `to`.
pub fn config_at(paths: &InstallPaths, from: &DirVersion, to: &DirVersion) -> ConfigAt {
    let major_minor = |t: Triple| (t.major, t.minor);
    let (from, to) = (major_minor(from.triple()), major_minor(to.triple()));
    if from == to {
        return ConfigAt::Unknown;
    }
    match config_version(paths) {
        Some(v) if major_minor(v.triple()) == from => ConfigAt::Source,
        Some(v) if major_minor(v.triple()) == to => ConfigAt::Target,
        Some(v) => ConfigAt::Elsewhere(v),
        None => ConfigAt::Unknown,
    }
}

/// Is `config.data` still at `from`'s major.minor?
pub fn config_unchanged(paths: &InstallPaths, from: &DirVersion) -> bool {
    let from = from.triple();
    config_version(paths).is_some_and(|v| {
        let t = v.triple();
        (t.major, t.minor) == (from.major, from.minor)
    })
}

/// Where this node is (`active`, the version its links name), and whether
/// Ganeti's rules allow going to `to` from there: (the active directory
/// version, the transition, the source release).
pub fn transition_to(
    paths: &InstallPaths,
    active: Option<DirVersion>,
    to: &DirVersion,
) -> Result<(DirVersion, Transition, String), TransitionError> {
    let from_dir = active.ok_or_else(|| TransitionError::NoActiveVersion {
        lib: paths.fs().shown(&paths.active_lib_link()),
        share: paths.fs().shown(&paths.active_share_link()),
        switch: paths.tool("ganeti-switch", ""),
    })?;
    let (from_release, from_triple) = source_release(paths, &from_dir);
    let transition = check_transition(from_triple, to.triple()).map_err(|refusal| {
        TransitionError::Incompatible {
            from: from_dir.clone(),
            to: to.clone(),
            refusal,
        }
    })?;
    if let Some(actions) = downgrade_actions(&from_release, transition) {
        return Err(TransitionError::DowngradeActions {
            release: from_release,
            to: to.clone(),
            actions,
        });
    }
    Ok((from_dir, transition, from_release))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_versions_both_ways() {
        let c = ConfigVersion::from_triple(Triple::new(3, 1, 0)).expect("fits");
        assert_eq!(c.as_int(), 3_010_000);
        assert_eq!(
            ConfigVersion::from_int(2_160_000).expect("fits").triple(),
            Triple::new(2, 16, 0)
        );
        assert!(ConfigVersion::from_triple(Triple::new(3, 100, 0)).is_err());
        for major in 2..5 {
            for minor in [0, 1, 16, 99] {
                let t = Triple::new(major, minor, 7);
                assert_eq!(ConfigVersion::from_triple(t).expect("fits").triple(), t);
            }
        }
    }

    #[test]
    fn compatibility_rule() {
        let t = |s: &str| s.parse::<DirVersion>().expect("valid").triple();
        assert_eq!(
            check_transition(t("3.0"), t("3.1")),
            Ok(Transition::Upgrade)
        );
        assert_eq!(
            check_transition(t("3.1"), t("3.0")),
            Ok(Transition::Downgrade)
        );
        assert_eq!(check_transition(t("3.0"), t("3.0")), Ok(Transition::Same));
        assert_eq!(
            check_transition(t("2.10"), t("2.16")),
            Ok(Transition::Upgrade)
        );
        assert_eq!(
            check_transition(t("2.16"), t("3.0")),
            Ok(Transition::Upgrade)
        );
        assert_eq!(
            check_transition(t("3.0"), t("2.16")),
            Ok(Transition::Downgrade)
        );
        assert!(matches!(
            check_transition(t("2.9"), t("2.10")),
            Err(Refusal::TooOld { .. })
        ));
        assert!(matches!(
            check_transition(t("2.15"), t("3.0")),
            Err(Refusal::MajorChange { .. })
        ));
        assert!(matches!(
            check_transition(t("3.1"), t("2.16")),
            Err(Refusal::MajorChange { .. })
        ));
        assert!(matches!(
            check_transition(t("3.2"), t("3.0")),
            Err(Refusal::DowngradeTooFar { .. })
        ));
        let msg = check_transition(t("3.2"), t("3.0"))
            .expect_err("refused")
            .to_string();
        assert!(msg.contains("one minor version"), "{msg}");
    }

    #[test]
    fn downgrades_with_version_specific_actions_are_known() {
        let d = Transition::Downgrade;
        assert!(downgrade_actions("2.13.3", d).is_some());
        assert!(downgrade_actions("2.12.5", d).is_some());
        assert!(downgrade_actions("2.12.6", d).is_some());
        assert!(downgrade_actions("2.11.0", d).is_some());
        assert!(downgrade_actions("2.11.8", d).is_some());
        assert_eq!(downgrade_actions("2.12.4", d), None);
        assert_eq!(downgrade_actions("2.13.2", d), None);
        assert_eq!(downgrade_actions("3.1.0", d), None);
        assert_eq!(downgrade_actions("2.13.3", Transition::Upgrade), None);
    }
}
