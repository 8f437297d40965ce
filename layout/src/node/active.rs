//! Reading a node's active version: the two switch links
//! `${sysconfdir}/ganeti/{lib,share}` and the two fixed `default` links.
//! It reads, never writes, and knows nothing of manifests or of how a
//! version was installed (that is [`crate::node::installed`]).

use std::path::{Path, PathBuf};

use crate::node::paths::{same_link_destination, InstallPaths};
use crate::node::reader::Node;
use crate::node::version::{DirStyle, DirVersion, Release};

/// The state of one of `${sysconfdir}/ganeti/{lib,share}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum SwitchLink {
    Missing,
    NotASymlink,
    /// A symlink; `version` is set when the target is one of the version
    /// directories (`${libdir}/ganeti/V`), `exists` when it is a directory.
    Points {
        target: PathBuf,
        version: Option<DirVersion>,
        exists: bool,
    },
}

/// Both switch links, as found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Active {
    pub lib: SwitchLink,
    pub share: SwitchLink,
}

impl Active {
    /// The active version, when both links agree on an existing one.
    pub fn version(&self) -> Option<&DirVersion> {
        match (&self.lib, &self.share) {
            (
                SwitchLink::Points {
                    version: Some(a),
                    exists: true,
                    ..
                },
                SwitchLink::Points {
                    version: Some(b),
                    exists: true,
                    ..
                },
            ) if a == b => Some(a),
            _ => None,
        }
    }
    pub fn is_absent(&self) -> bool {
        self.lib == SwitchLink::Missing && self.share == SwitchLink::Missing
    }
    /// Does either link name `v`?
    pub fn mentions(&self, v: &DirVersion) -> bool {
        [&self.lib, &self.share]
            .iter()
            .any(|l| matches!(l, SwitchLink::Points { version: Some(x), .. } if x == v))
    }
}

fn read_switch_link(paths: &InstallPaths, link: &Path, top: &Path) -> SwitchLink {
    let fs = paths.fs();
    match fs.symlink_metadata(link) {
        Err(_) => SwitchLink::Missing,
        Ok(m) if !m.file_type().is_symlink() => SwitchLink::NotASymlink,
        Ok(_) => {
            let target = fs.read_link(link).unwrap_or_default();
            let version = target
                .strip_prefix(top)
                .ok()
                .filter(|rest| rest.components().count() == 1)
                .and_then(|rest| rest.to_str())
                .and_then(|s| s.parse::<DirVersion>().ok());
            let exists = target.is_absolute() && fs.is_dir(&target);
            SwitchLink::Points {
                target,
                version,
                exists,
            }
        }
    }
}

/// Reads both switch links.
pub fn read_active(paths: &InstallPaths) -> Active {
    Active {
        lib: read_switch_link(paths, &paths.active_lib_link(), &paths.pkglibdir()),
        share: read_switch_link(paths, &paths.active_share_link(), &paths.sharedir()),
    }
}

/// The command that makes `v` the version this node runs: outside a
/// cluster a switch; in one, the cluster's upgrade, on the master, since a
/// bare switch would skip the conversion of the configuration.
pub fn switch_command(paths: &InstallPaths, v: &DirVersion) -> String {
    if Node::new(paths).is_clustered() {
        format!(
            "{} (on the master: the whole cluster moves together)",
            paths.tool("ganeti-upgrade", &format!("--to {v}"))
        )
    } else {
        paths.tool("ganeti-switch", &format!("to {v}"))
    }
}

/// What one of the two fixed `default` links is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum DefaultState {
    /// It leads to its switch link (in this tool's form or any equivalent).
    Sound,
    Missing,
    /// A real directory or file.
    NotASymlink,
    /// A link somewhere else (Gentoo's ebuild points it straight at a
    /// version): programs run that, whatever the switch links say.
    Foreign {
        target: PathBuf,
    },
}

/// `${libdir}/ganeti/default` or `${prefix}/share/ganeti/default`, as found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DefaultLink {
    /// Its logical path.
    pub path: PathBuf,
    /// What it must link to: `${sysconfdir}/ganeti/lib` or `.../share`.
    pub wanted: PathBuf,
    pub state: DefaultState,
}

/// Reads both `default` links.
pub fn read_default_links(paths: &InstallPaths) -> [DefaultLink; 2] {
    let read = |path: PathBuf, wanted: PathBuf| {
        let fs = paths.fs();
        let state = match fs.symlink_metadata(&path) {
            Err(_) => DefaultState::Missing,
            Ok(m) if !m.file_type().is_symlink() => DefaultState::NotASymlink,
            Ok(_) => match fs.read_link(&path) {
                Ok(t) if same_link_destination(&path, &t, &wanted) => DefaultState::Sound,
                Ok(target) => DefaultState::Foreign { target },
                Err(_) => DefaultState::Missing,
            },
        };
        DefaultLink {
            path,
            wanted,
            state,
        }
    };
    [
        read(paths.default_lib(), paths.active_lib_link()),
        read(paths.default_share(), paths.active_share_link()),
    ]
}

/// Does a cluster configuration last written by `release` fit version
/// directory `v` without conversion: the same major.minor (`3.0` for
/// 3.0.x), or, for a full-version directory, the same release? An
/// unreadable release fits (nothing is known against it).
pub fn configuration_fits(v: &DirVersion, release: &str) -> bool {
    match release.parse::<Release>() {
        Ok(r) => v.as_str() == release || DirVersion::from_release(&r, DirStyle::Short) == *v,
        Err(_) => true,
    }
}
