//! Where the cluster comes from and whether Ganeti's rules let it go to the
//! target: the running release (our manifest, else ssconf), the version
//! in `config.data`, the transition (upgrade, downgrade, same), and the
//! downgrades this tool refuses because upstream carries version-specific
//! actions for them inside `gnt_cluster.py` only.
//!
//! Pure rules plus reads of the node's files; nothing here writes.

use std::path::PathBuf;

use ganeti_layout::active::cluster_release;
use ganeti_layout::manifest::{inventory, Inventory};
use ganeti_layout::spec::Tree;
use ganeti_layout::version::Triple;
pub use ganeti_layout::version::{check_transition, ConfigVersion, Refusal, Transition};
use ganeti_layout::{DirVersion, InstallPaths, Release};

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
    cluster_release(paths).unwrap_or_else(|| dir.to_string())
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
    if let Some(ssconf) = cluster_release(paths) {
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
    let text = std::fs::read_to_string(paths.host(&paths.datadir().join("config.data"))).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    ConfigVersion::from_int(json.get("version")?.as_u64()?).ok()
}

/// Where `config.data` stands between an upgrade's two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigAt {
    /// At the version the upgrade started from.
    Source,
    /// At the target (the configuration step has run).
    Target,
    /// Neither, unreadable, or both versions share a major.minor.
    Unknown,
}

/// Where `config.data` stands between `from` and `to`.
pub fn config_at(paths: &InstallPaths, from: &DirVersion, to: &DirVersion) -> ConfigAt {
    let major_minor = |t: Triple| (t.major, t.minor);
    let (from, to) = (major_minor(from.triple()), major_minor(to.triple()));
    if from == to {
        return ConfigAt::Unknown;
    }
    match config_version(paths).map(|v| major_minor(v.triple())) {
        Some(v) if v == from => ConfigAt::Source,
        Some(v) if v == to => ConfigAt::Target,
        _ => ConfigAt::Unknown,
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
        lib: paths.host(&paths.active_lib_link()),
        share: paths.host(&paths.active_share_link()),
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
