//! A built-in demo build: a flat (pre-2.10 style) stage shaped like Debian's
//! Ganeti 3.0 packages, with every program, man page and completion of the
//! real link graph, but tiny placeholder contents. The sandbox and the tests
//! use it; nothing here is real Ganeti code.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::version::Release;

/// Python entry scripts (share tree), by original directory.
pub const SHARE_PROGRAMS: &[(&str, &[&str])] = &[
    (
        "usr/sbin",
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
        "usr/lib/ganeti",
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
        "usr/lib/ganeti/tools",
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
        "usr/sbin",
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
    ("usr/bin", &["htools"]),
    (
        "usr/lib/ganeti",
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
        "usr/lib/ganeti/tools",
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

fn write(dir: &Path, rel: &str, content: &str, mode: u32) -> std::io::Result<()> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, content)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
}

fn link(dir: &Path, rel: &str, target: &str) -> std::io::Result<()> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::os::unix::fs::symlink(target, path)
}

/// Writes the demo stage of `release` into `dir` (which should be empty).
pub fn write_stage(dir: &Path, release: &Release) -> std::io::Result<()> {
    for (d, names) in SHARE_PROGRAMS {
        for n in *names {
            let module = n.replace('-', "_");
            write(
                dir,
                &format!("{d}/{n}"),
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
            write(dir, &format!("{d}/{n}"), &body, mode)?;
        }
    }
    for role in HTOOLS_ROLES {
        link(dir, &format!("usr/bin/{role}"), "htools")?;
    }
    link(
        dir,
        "usr/lib/ganeti/iallocators/hail",
        "../../../bin/htools",
    )?;
    let py = "usr/lib/python3/dist-packages/ganeti";
    write(dir, &format!("{py}/__init__.py"), "", 0o644)?;
    write(
        dir,
        &format!("{py}/_constants.py"),
        &format!("RELEASE_VERSION = \"{release}\"\n"),
        0o644,
    )?;
    write(dir, &format!("{py}/client/__init__.py"), "", 0o644)?;
    write(
        dir,
        &format!("{py}/client/gnt_cluster.py"),
        &format!("# demo gnt-cluster of {release}\n"),
        0o644,
    )?;
    for (section, pages) in MAN_PAGES {
        let n = &section[3..];
        for p in *pages {
            write(
                dir,
                &format!("usr/share/man/{section}/{p}.{n}.gz"),
                &format!("demo page {p} {release}\n"),
                0o644,
            )?;
        }
    }
    write(
        dir,
        "usr/share/bash-completion/completions/ganeti",
        "# demo completion\n",
        0o644,
    )?;
    for c in COMPLETIONS {
        link(
            dir,
            &format!("usr/share/bash-completion/completions/{c}"),
            "ganeti",
        )?;
    }
    write(
        dir,
        "etc/default/ganeti",
        "RAPI_ARGS=\"-b 127.0.0.1 --require-authentication\"\n",
        0o644,
    )?;
    write(
        dir,
        "usr/share/doc/ganeti/NEWS",
        &format!("Demo Ganeti {release}\n"),
        0o644,
    )?;
    std::fs::create_dir_all(dir.join("var/lib/ganeti"))?;
    std::fs::create_dir_all(dir.join("var/log/ganeti"))?;
    Ok(())
}
