//! A built-in demo build: a flat (pre-2.10 style) stage shaped like Debian's
//! Ganeti 3.0 packages, with every program, man page and completion of the
//! real link graph, but tiny placeholder contents. The sandbox and the tests
//! use it; nothing here is real Ganeti code.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::install::apply::{self, ApplyError, Report};
use crate::install::plan::{Conflict, Request};
use crate::install::spec::Spec;
use crate::install::stage::{Stage, StageError};
use crate::node::paths::{relative_path, InstallPaths, PathsError};
use crate::node::version::{DirStyle, Release, VersionError};

/// Python entry scripts (share tree), by original directory.
pub const SHARE_PROGRAMS: &[(&str, &[&str])] = &[
    (
        "sbin",
        &[
            "ganeti-noded",
            "ganeti-rapi",
            "ganeti-watcher",
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
        ],
    ),
    (
        "pkglib",
        &[
            "check-cert-expired",
            "ensure-dirs",
            "import-export",
            "node-daemon-setup",
            "prepare-node-join",
            "ssh-update",
            "ssl-update",
        ],
    ),
    (
        "pkglib/tools",
        &[
            "burnin",
            "cfgshell",
            "cfgupgrade",
            "cfgupgrade12",
            "cluster-merge",
            "confd-client",
            "fmtjson",
            "lvmstrap",
            "molly-guard-helper",
            "move-instance",
            "node-cleanup",
            "ovfconverter",
            "post-upgrade",
            "query-config",
            "sanitize-config",
        ],
    ),
];

/// Other programs (lib tree), by original directory.
pub const LIB_PROGRAMS: &[(&str, &[&str])] = &[
    (
        "sbin",
        &[
            "ganeti-cleaner",
            "ganeti-confd",
            "ganeti-kvmd",
            "ganeti-listrunner",
            "ganeti-luxid",
            "ganeti-metad",
            "ganeti-mond",
            "ganeti-wconfd",
        ],
    ),
    ("bin", &["htools"]),
    (
        "pkglib",
        &[
            "daemon-util",
            "kvm-ifup",
            "kvm-ifup-os",
            "mon-collector",
            "net-common",
            "vif-ganeti",
            "vif-ganeti-metad",
            "xen-ifup-os",
        ],
    ),
    (
        "pkglib/tools",
        &[
            "kvm-console-wrapper",
            "master-ip-setup",
            "users-setup",
            "vcluster-setup",
            "xen-console-wrapper",
        ],
    ),
];

pub const HTOOLS_ROLES: &[&str] = &[
    "harep", "hbal", "hcheck", "hinfo", "hroller", "hscan", "hspace", "hsqueeze",
];

pub const MAN_PAGES: &[(&str, &[&str])] = &[
    (
        "man1",
        &[
            "hail", "harep", "hbal", "hcheck", "hinfo", "hroller", "hscan", "hspace", "hsqueeze",
            "htools",
        ],
    ),
    (
        "man7",
        &[
            "ganeti",
            "ganeti-extstorage-interface",
            "ganeti-os-interface",
        ],
    ),
    (
        "man8",
        &[
            "ganeti-cleaner",
            "ganeti-confd",
            "ganeti-kvmd",
            "ganeti-listrunner",
            "ganeti-luxid",
            "ganeti-mond",
            "ganeti-noded",
            "ganeti-rapi",
            "ganeti-watcher",
            "ganeti-wconfd",
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
            "mon-collector",
        ],
    ),
];

pub const COMPLETIONS: &[&str] = &[
    "ganeti-cleaner",
    "ganeti-confd",
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
    "harep",
    "hbal",
    "hcheck",
    "hinfo",
    "hroller",
    "hscan",
    "hspace",
    "hsqueeze",
    "mon-collector",
];

fn write(dir: &Path, rel: &Path, content: &str, mode: u32) -> std::io::Result<()> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)?;
    }
    fs_err::write(&path, content)?;
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(mode))
}

fn link(dir: &Path, rel: &Path, target: &str) -> std::io::Result<()> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)?;
    }
    fs_err::os::unix::fs::symlink(target, path)
}

/// A stage-relative path for a logical one.
fn rel(logical: &Path) -> PathBuf {
    logical.strip_prefix("/").unwrap_or(logical).to_path_buf()
}

/// Where a program list's directory (`sbin`, `bin`, `pkglib/tools`) is.
fn program_dir(paths: &InstallPaths, dir: &str) -> PathBuf {
    let (base, sub) = dir.split_once('/').unwrap_or((dir, ""));
    let top = match base {
        "bin" => paths.bindir(),
        "sbin" => paths.sbindir(),
        _ => paths.pkglibdir(),
    };
    rel(&top.join(sub))
}

/// Writes the demo stage of `release` into `dir` (which should be empty),
/// laid out for `paths` as `make install DESTDIR=dir` would.
pub fn write_stage(dir: &Path, release: &Release, paths: &InstallPaths) -> std::io::Result<()> {
    for (d, names) in SHARE_PROGRAMS {
        for n in *names {
            let module = n.replace('-', "_");
            write(
                dir,
                &program_dir(paths, d).join(n),
                &format!("#!/usr/bin/python3\n# {n} of demo Ganeti {release}\nfrom ganeti.client import {module}\n"),
                0o755,
            )?;
        }
    }
    for (d, names) in LIB_PROGRAMS {
        for n in *names {
            let body = if *n == "ganeti-listrunner" {
                format!("#!/usr/bin/python3\n# {n} of demo Ganeti {release}\nimport sys\n")
            } else {
                format!("#!/bin/sh\n# {n} of demo Ganeti {release}\nexit 0\n")
            };
            let mode = if *n == "net-common" { 0o644 } else { 0o755 };
            write(dir, &program_dir(paths, d).join(n), &body, mode)?;
        }
    }
    for role in HTOOLS_ROLES {
        link(dir, &rel(&paths.bindir().join(role)), "htools")?;
    }
    let hail = paths.iallocators_dir().join("hail");
    let htools = relative_path(
        hail.parent().unwrap_or(Path::new("/")),
        &paths.bindir().join("htools"),
    );
    link(dir, &rel(&hail), &htools.to_string_lossy())?;
    let py = rel(&paths.libdir().join("python3/dist-packages/ganeti"));
    write(dir, &py.join("__init__.py"), "", 0o644)?;
    write(
        dir,
        &py.join("_constants.py"),
        &format!("RELEASE_VERSION = \"{release}\"\n"),
        0o644,
    )?;
    write(dir, &py.join("client/__init__.py"), "", 0o644)?;
    write(
        dir,
        &py.join("client/gnt_cluster.py"),
        &format!("# demo gnt-cluster of {release}\n"),
        0o644,
    )?;
    for (section, pages) in MAN_PAGES {
        let n = &section[3..];
        for p in *pages {
            let page = rel(&paths.mandir().join(section).join(format!("{p}.{n}.gz")));
            write(dir, &page, &format!("demo page {p} {release}\n"), 0o644)?;
        }
    }
    let completions = rel(&paths.prefix().join("share/bash-completion/completions"));
    write(
        dir,
        &completions.join("ganeti"),
        "# demo completion\n",
        0o644,
    )?;
    for c in COMPLETIONS {
        link(dir, &completions.join(c), "ganeti")?;
    }
    write(
        dir,
        &rel(&paths.default_file("ganeti")),
        "RAPI_ARGS=\"-b 127.0.0.1 --require-authentication\"\n",
        0o644,
    )?;
    write(
        dir,
        &rel(&paths.prefix().join("share/doc/ganeti/NEWS")),
        &format!("Demo Ganeti {release}\n"),
        0o644,
    )?;
    fs_err::create_dir_all(dir.join(rel(&paths.datadir())))?;
    fs_err::create_dir_all(dir.join(rel(&paths.logdir())))?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot write the demo stage {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Stage(#[from] StageError),
    #[error(transparent)]
    Paths(#[from] PathsError),
    #[error(transparent)]
    Version(#[from] VersionError),
    #[error("the demo install has conflicts: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Conflicts(Vec<Conflict>),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// Writes the demo stage of `release` into `stage_dir` (unless it is there)
/// and installs it for `paths` (the last install's docs win). Used
/// by tests, benchmarks and examples that need an installed node.
pub fn install(
    stage_dir: &Path,
    paths: &InstallPaths,
    release: &Release,
    activate: bool,
) -> Result<Report, DemoError> {
    if !stage_dir.exists() {
        write_stage(stage_dir, release, paths).map_err(|source| DemoError::Write {
            path: stage_dir.to_path_buf(),
            source,
        })?;
    }
    let stage = Stage::scan(stage_dir, paths)?;
    let spec = Spec::builtin();
    let req = Request {
        stage: &stage,
        spec: &spec,
        paths,
        release: release.clone(),
        style: DirStyle::Short,
        activate,
        keep_existing: false,
    };
    let plan = crate::install::plan_install(&req).map_err(DemoError::Conflicts)?;
    Ok(apply::apply(&plan, paths, &stage)?)
}

/// The install paths of a node whose every directory is under `base`.
/// Test support: only with the `test-support` feature.
#[cfg(any(test, feature = "test-support"))]
pub fn node_paths_under(base: &Path) -> Result<InstallPaths, PathsError> {
    InstallPaths::new(
        Path::new("/"),
        &base.join("usr"),
        &base.join("etc"),
        None,
        &base.join("var"),
    )
}

/// A node for tests and benchmarks: the demo's 3.0.2 (active) and 3.1.0
/// installed with every path under `base` (`base/usr`, `base/etc`,
/// `base/var`) and the root `/`, so the absolute switch links resolve
/// through the kernel as on a real node. Test support: only with the
/// `test-support` feature.
#[cfg(any(test, feature = "test-support"))]
pub fn install_node_under(base: &Path) -> Result<InstallPaths, DemoError> {
    let paths = node_paths_under(base)?;
    for (release, activate) in [("3.0.2", true), ("3.1.0", false)] {
        let release: Release = release.parse()?;
        install(
            &base.join(format!("stage-{release}")),
            &paths,
            &release,
            activate,
        )?;
    }
    Ok(paths)
}
