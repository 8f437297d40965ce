//! Which program goes to which versioned tree, and where its farm link goes.
//!
//! The built-in lists follow Ganeti's `Makefile.am` (the `install-exec-local`
//! link farm), not a guess from each file's contents: `ganeti-listrunner` is
//! Python but lives in the lib tree, `fmtjson` imports nothing from `ganeti`
//! but lives in the share tree. A spec file (`--spec`, TOML) overrides or
//! extends these entries; a program that no entry names falls back to a
//! content rule, with a warning (see `plan`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::node::manifest::Tree;
use crate::node::paths::InstallPaths;

/// The directories a farm link can live in, as configure names them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Base {
    /// `${prefix}/bin`
    Bin,
    /// `${prefix}/sbin`
    Sbin,
    /// `${libdir}/ganeti` (and below it: `tools/`, `iallocators/`, `network/`)
    Pkglib,
}

impl Base {
    pub fn dir(self, paths: &InstallPaths) -> PathBuf {
        match self {
            Base::Bin => paths.bindir(),
            Base::Sbin => paths.sbindir(),
            Base::Pkglib => paths.pkglibdir(),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Base::Bin => "bin",
            Base::Sbin => "sbin",
            Base::Pkglib => "pkglib",
        }
    }
}

/// A program's original location: `sbin/gnt-cluster`, `pkglib/tools/cfgupgrade`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub base: Base,
    pub rel: PathBuf,
}

impl Origin {
    pub fn logical(&self, paths: &InstallPaths) -> PathBuf {
        self.base.dir(paths).join(&self.rel)
    }
    pub fn file_name(&self) -> String {
        self.rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base.name(), self.rel.display())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramSpec {
    pub tree: Tree,
    /// Whether a farm link is made at the original location. `htools` has
    /// none (only its role links do), `molly-guard-helper` neither.
    pub link: bool,
}

/// The program lists: original location -> tree and link.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    programs: BTreeMap<Origin, ProgramSpec>,
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("spec file {path} is not valid")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("spec file {path}: program path {value:?} must be bin/NAME, sbin/NAME or pkglib/[SUBDIR/]NAME without '..'")]
    BadPath { path: PathBuf, value: String },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    #[serde(default)]
    program: Vec<SpecFileEntry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFileEntry {
    path: String,
    tree: Tree,
    #[serde(default = "default_true")]
    link: bool,
}

fn default_true() -> bool {
    true
}

const SHARE_SBIN: &[&str] = &[
    "gnt-backup",
    "gnt-cluster",
    "gnt-debug",
    "gnt-filter",
    "gnt-group",
    "gnt-instance",
    "gnt-job",
    "gnt-network",
    "gnt-node",
    "gnt-os",
    "gnt-storage",
    "ganeti-noded",
    "ganeti-rapi",
    "ganeti-watcher",
];
const SHARE_PKGLIB: &[&str] = &[
    "check-cert-expired",
    "ensure-dirs",
    "import-export",
    "node-daemon-setup",
    "prepare-node-join",
    "ssh-update",
    "ssl-update",
];
const SHARE_TOOLS: &[&str] = &[
    "burnin",
    "cfgshell",
    "cfgupgrade",
    "cfgupgrade12",
    "cluster-merge",
    "confd-client",
    "fmtjson",
    "lvmstrap",
    "move-instance",
    "node-cleanup",
    "ovfconverter",
    "post-upgrade",
    "query-config",
    "sanitize-config",
];
const LIB_BIN: &[&str] = &[
    "harep", "hbal", "hcheck", "hinfo", "hroller", "hscan", "hspace", "hsqueeze",
];
const LIB_SBIN: &[&str] = &[
    "ganeti-cleaner",
    "ganeti-confd",
    "ganeti-kvmd",
    "ganeti-listrunner",
    "ganeti-luxid",
    "ganeti-metad",
    "ganeti-mond",
    "ganeti-wconfd",
];
const LIB_PKGLIB: &[&str] = &[
    "daemon-util",
    "kvm-ifup",
    "kvm-ifup-os",
    "kvm-nic-setup",
    "mon-collector",
    "net-common",
    "vif-ganeti",
    "vif-ganeti-metad",
    "xen-ifup-os",
];
const LIB_TOOLS: &[&str] = &[
    "kvm-console-wrapper",
    "master-ip-setup",
    "users-setup",
    "vcluster-setup",
    "xen-console-wrapper",
];

impl Spec {
    /// Ganeti's own lists (`Makefile.am`, 2.10 to 3.1).
    pub fn builtin() -> Spec {
        let mut spec = Spec::default();
        let mut add = |base: Base, dir: &str, names: &[&str], tree: Tree, link: bool| {
            for name in names {
                spec.programs.insert(
                    Origin {
                        base,
                        rel: Path::new(dir).join(name),
                    },
                    ProgramSpec { tree, link },
                );
            }
        };
        add(Base::Sbin, "", SHARE_SBIN, Tree::Share, true);
        add(Base::Pkglib, "", SHARE_PKGLIB, Tree::Share, true);
        add(Base::Pkglib, "tools", SHARE_TOOLS, Tree::Share, true);
        add(
            Base::Pkglib,
            "tools",
            &["molly-guard-helper"],
            Tree::Share,
            false,
        );
        add(Base::Bin, "", LIB_BIN, Tree::Lib, true);
        add(Base::Bin, "", &["htools"], Tree::Lib, false);
        add(Base::Sbin, "", LIB_SBIN, Tree::Lib, true);
        add(Base::Pkglib, "", LIB_PKGLIB, Tree::Lib, true);
        add(Base::Pkglib, "tools", LIB_TOOLS, Tree::Lib, true);
        add(Base::Pkglib, "iallocators", &["hail"], Tree::Lib, true);
        for mode in ["bridged", "ovs", "routed"] {
            add(
                Base::Pkglib,
                &format!("network/{mode}"),
                &["up", "down"],
                Tree::Lib,
                true,
            );
        }
        spec
    }

    /// The built-in lists with a spec file's entries laid over them.
    pub fn builtin_with_file(path: Option<&Path>) -> Result<Spec, SpecError> {
        let mut spec = Spec::builtin();
        if let Some(path) = path {
            spec.extend_from_file(path)?;
        }
        Ok(spec)
    }

    pub fn extend_from_file(&mut self, path: &Path) -> Result<(), SpecError> {
        let text = fs_err::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.extend_from_str(path, &text)
    }

    pub fn extend_from_str(&mut self, path: &Path, text: &str) -> Result<(), SpecError> {
        let file: SpecFile = toml::from_str(text).map_err(|source| SpecError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        for entry in file.program {
            let origin = parse_origin(&entry.path).ok_or_else(|| SpecError::BadPath {
                path: path.to_path_buf(),
                value: entry.path.clone(),
            })?;
            self.programs.insert(
                origin,
                ProgramSpec {
                    tree: entry.tree,
                    link: entry.link,
                },
            );
        }
        Ok(())
    }

    pub fn lookup(&self, origin: &Origin) -> Option<ProgramSpec> {
        self.programs.get(origin).copied()
    }

    /// The share-tree program named `name`, if the spec has exactly one.
    pub fn share_origin(&self, name: &str) -> Option<(&Origin, ProgramSpec)> {
        let mut found = self
            .programs
            .iter()
            .filter(|(o, s)| s.tree == Tree::Share && o.file_name() == name);
        let first = found.next()?;
        found.next().is_none().then_some((first.0, *first.1))
    }
}

fn parse_origin(value: &str) -> Option<Origin> {
    let (base, rest) = value.split_once('/')?;
    let base = match base {
        "bin" => Base::Bin,
        "sbin" => Base::Sbin,
        "pkglib" => Base::Pkglib,
        _ => return None,
    };
    let rel = PathBuf::from(rest);
    let normal = rel
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    (normal && !rest.is_empty() && (base == Base::Pkglib || !rest.contains('/')))
        .then_some(Origin { base, rel })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_follows_makefile_not_shebang() {
        let spec = Spec::builtin();
        let o = |s: &str| parse_origin(s).expect("valid origin");
        assert_eq!(
            spec.lookup(&o("sbin/ganeti-listrunner")).map(|s| s.tree),
            Some(Tree::Lib)
        );
        assert_eq!(
            spec.lookup(&o("pkglib/tools/fmtjson")).map(|s| s.tree),
            Some(Tree::Share)
        );
        assert_eq!(spec.lookup(&o("bin/htools")).map(|s| s.link), Some(false));
        assert_eq!(
            spec.share_origin("cfgupgrade").map(|(o, _)| o.to_string()),
            Some("pkglib/tools/cfgupgrade".into())
        );
    }

    #[test]
    fn spec_file_overrides_and_extends() {
        let mut spec = Spec::builtin();
        spec.extend_from_str(
            Path::new("s.toml"),
            "[[program]]\npath = \"sbin/ganeti-listrunner\"\ntree = \"share\"\n[[program]]\npath = \"pkglib/tools/my-tool\"\ntree = \"lib\"\nlink = false\n",
        )
        .expect("valid spec");
        let o = |s: &str| parse_origin(s).expect("valid origin");
        assert_eq!(
            spec.lookup(&o("sbin/ganeti-listrunner")).map(|s| s.tree),
            Some(Tree::Share)
        );
        assert_eq!(
            spec.lookup(&o("pkglib/tools/my-tool")),
            Some(ProgramSpec {
                tree: Tree::Lib,
                link: false
            })
        );
        let err = spec
            .extend_from_str(
                Path::new("s.toml"),
                "[[program]]\npath = \"../x\"\ntree = \"lib\"\n",
            )
            .expect_err("bad path");
        assert!(err.to_string().contains("\"../x\""), "{err}");
    }
}
