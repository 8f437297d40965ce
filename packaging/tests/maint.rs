//! `ganeti-packaging` as maintainer scripts call it, on demo nodes in
//! temporary roots: every rule of postinst, prerm and postrm, idempotence,
//! interrupted switches, refusals and exit codes; and the debian/rules
//! helper's split.

use std::path::{Path, PathBuf};
use std::process::Command;

use ganeti_layout::install::demo;
use ganeti_layout::node::active;
use ganeti_layout::node::{DirVersion, InstallPaths};
use ganeti_packaging::maint::{decide_postinst, Decision, KeepReason, LinkReason, Membership};

struct Node {
    _dir: tempfile::TempDir,
    root: PathBuf,
    paths: InstallPaths,
}

/// A node root with demo 3.0 and 3.1 installed side by side, none active.
fn node() -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    let paths = InstallPaths::default().with_root(&root).expect("paths");
    for release in ["3.0.2", "3.1.0"] {
        demo::install(
            &dir.path().join(format!("stage-{release}")),
            &paths,
            &release.parse().expect("release"),
            false,
        )
        .expect("demo install");
    }
    Node {
        _dir: dir,
        root,
        paths,
    }
}

impl Node {
    fn run(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_ganeti-packaging"))
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .env_remove("DPKG_ROOT")
            .env_remove("GANETI_PACKAGING_ALLOW_ACTIVE_REMOVAL")
            .output()
            .expect("run ganeti-packaging");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }
    fn active(&self) -> Option<String> {
        active::read_active(&self.paths)
            .version()
            .map(|v| v.to_string())
    }
    fn host(&self, logical: &str) -> PathBuf {
        self.paths.fs().host_path(Path::new(logical))
    }
    fn join_cluster(&self) {
        fs_err::create_dir_all(self.host("/var/lib/ganeti")).expect("mkdir");
        fs_err::write(self.host("/var/lib/ganeti/server.pem"), "cert").expect("write");
    }
    fn leave_cluster(&self) {
        fs_err::remove_file(self.host("/var/lib/ganeti/server.pem")).expect("rm");
    }
    fn link(&self, name: &str) -> Option<PathBuf> {
        fs_err::read_link(self.host(&format!("/etc/ganeti/{name}"))).ok()
    }
    fn remove_version(&self, v: &str) {
        for top in ["/usr/lib/ganeti", "/usr/share/ganeti"] {
            fs_err::remove_dir_all(self.host(&format!("{top}/{v}"))).expect("rm tree");
        }
    }
}

fn v(s: &str) -> DirVersion {
    s.parse().expect("version")
}

#[test]
fn fresh_node_gets_links_and_a_rerun_changes_nothing() {
    let n = node();
    let (code, out) = n.run(&["postinst", "configure", "3.0"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no version was active"), "{out}");
    assert_eq!(n.active().as_deref(), Some("3.0"));
    let before = (n.link("lib"), n.link("share"));
    assert_eq!(before.0, Some(PathBuf::from("/usr/lib/ganeti/3.0")));
    let (code, out) = n.run(&["postinst", "configure", "3.0"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("already active"), "{out}");
    assert_eq!((n.link("lib"), n.link("share")), before);
}

#[test]
fn a_clustered_node_is_never_flipped_and_refuses_to_lose_its_version() {
    let n = node();
    n.run(&["postinst", "configure", "3.0"]);
    n.join_cluster();
    let (code, out) = n.run(&["postinst", "configure", "3.1"]);
    assert_eq!(code, 0, "{out}");
    // Every command printed carries the node's path options (its root).
    let upgrade = format!("ganeti-upgrade --root {} --to 3.1", n.root.display());
    assert!(out.contains(&upgrade), "{out}");
    assert_eq!(n.active().as_deref(), Some("3.0"));

    let (code, out) = n.run(&["prerm", "remove", "3.0"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("refusing to remove Ganeti 3.0"), "{out}");
    assert!(out.contains("hint:") && out.contains(&upgrade), "{out}");
    let (code, out) = n.run(&["prerm", "remove", "3.1"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_fresh_node_moves_to_the_newest_version_only() {
    let n = node();
    n.run(&["postinst", "configure", "3.0"]);
    let (code, out) = n.run(&["postinst", "configure", "3.1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not in a cluster"), "{out}");
    assert_eq!(n.active().as_deref(), Some("3.1"));
    let (code, out) = n.run(&["postinst", "configure", "3.0"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("newer"), "{out}");
    assert_eq!(n.active().as_deref(), Some("3.1"));
    // Removing the inactive one is fine, the active one is refused with
    // the switch command (no cluster: ganeti-switch).
    assert_eq!(n.run(&["prerm", "remove", "3.0"]).0, 0);
    let (code, out) = n.run(&["prerm", "remove", "3.1"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("ganeti-switch --root {} to 3.0", n.root.display())),
        "{out}"
    );
}

#[test]
fn broken_links_are_repaired_even_on_a_clustered_node() {
    let n = node();
    n.run(&["postinst", "configure", "3.0"]);
    n.join_cluster();
    fs_err::os::unix::fs::symlink("/usr/lib/ganeti/9.9", n.host("/etc/ganeti/lib.new"))
        .expect("ln");
    fs_err::rename(n.host("/etc/ganeti/lib.new"), n.host("/etc/ganeti/lib")).expect("mv");
    assert_eq!(n.active(), None);
    let (code, out) = n.run(&["postinst", "configure", "3.1"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("broken") && out.contains("gnt-cluster verify"),
        "{out}"
    );
    assert_eq!(n.active().as_deref(), Some("3.1"));
    assert!(ganeti_switch::check(&n.paths).expect("check").is_sound());
}

/// A switch to 3.1 cut after lib: journal present, lib on 3.1, share on 3.0.
fn interrupt_switch_to_31(n: &Node) {
    let journal = serde_journal("3.1", "/usr/lib/ganeti/3.0", "/usr/share/ganeti/3.0");
    fs_err::write(n.host("/etc/ganeti/.ganeti-switch.journal"), journal).expect("journal");
    fs_err::remove_file(n.host("/etc/ganeti/lib")).expect("rm");
    fs_err::os::unix::fs::symlink("/usr/lib/ganeti/3.1", n.host("/etc/ganeti/lib")).expect("ln");
}

fn serde_journal(to: &str, lib: &str, share: &str) -> String {
    format!(r#"{{"format":1,"pid":1,"to":"{to}","from_lib":"{lib}","from_share":"{share}"}}"#)
}

#[test]
fn an_interrupted_switch_is_finished_first_and_blocks_removal() {
    let n = node();
    n.run(&["postinst", "configure", "3.0"]);
    n.join_cluster();
    interrupt_switch_to_31(&n);
    for version in ["3.0", "3.1"] {
        let (code, out) = n.run(&["prerm", "remove", version]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("interrupted switch"), "{out}");
        assert!(
            out.contains(&format!("ganeti-switch --root {} repair", n.root.display())),
            "{out}"
        );
    }
    let (code, out) = n.run(&["postinst", "configure", "3.0"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("finished an interrupted switch to 3.1"),
        "{out}"
    );
    assert!(out.contains("3.1 stays active"), "{out}");
    assert_eq!(n.active().as_deref(), Some("3.1"));
    assert!(ganeti_switch::check(&n.paths).expect("check").is_sound());
}

#[test]
fn the_last_version_goes_only_outside_a_cluster_or_when_allowed() {
    let n = node();
    n.run(&["postinst", "configure", "3.0"]);
    n.remove_version("3.1");
    n.join_cluster();
    let (code, out) = n.run(&["prerm", "remove", "3.0"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("only complete version") && out.contains("in a cluster"),
        "{out}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ganeti-packaging"))
        .args(["prerm", "remove", "3.0"])
        .env("DPKG_ROOT", &n.root)
        .env("GANETI_PACKAGING_ALLOW_ACTIVE_REMOVAL", "yes")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("warning"));
    n.leave_cluster();
    let (code, out) = n.run(&["prerm", "remove", "3.0"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("last version"), "{out}");
}

#[test]
fn postrm_cleans_up_only_when_no_version_is_left() {
    let n = node();
    n.run(&["postinst", "configure", "3.0"]);
    n.remove_version("3.1");
    let (code, out) = n.run(&["postrm", "remove"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("still installed: 3.0"), "{out}");
    assert!(n.link("lib").is_some());

    // What a switch leaves beside the links: the version it switched away
    // from (a file of the switch's own, gone with the last version).
    fs_err::write(n.host("/etc/ganeti/.ganeti-switch.previous"), "3.1\n").expect("previous");
    n.remove_version("3.0");
    let (code, out) = n.run(&["postrm", "remove"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        n.link("lib").is_none() && n.link("share").is_none(),
        "{out}"
    );
    assert!(
        !n.host("/etc/ganeti/.ganeti-switch.previous").exists(),
        "{out}"
    );
    assert!(n.host("/var/lib/ganeti/ganeti-upgrade.lock").exists());
    let (code, out) = n.run(&["postrm", "purge"]);
    assert_eq!(code, 0, "{out}");
    assert!(!n.host("/var/lib/ganeti").exists(), "{out}");
    assert!(!n.host("/etc/ganeti").exists(), "{out}");
    let (code, out) = n.run(&["postrm", "purge"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nothing to clean up"), "{out}");
}

#[test]
fn an_incomplete_version_leaves_the_links_alone() {
    let n = node();
    n.run(&["postinst", "configure", "3.0"]);
    fs_err::remove_file(n.host("/usr/share/ganeti/3.1/gnt-cluster")).expect("rm");
    let (code, out) = n.run(&["postinst", "configure", "3.1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not completely installed"), "{out}");
    assert_eq!(n.active().as_deref(), Some("3.0"));
}

#[test]
fn a_real_directory_where_a_link_goes_fails_and_stays() {
    let n = node();
    fs_err::create_dir_all(n.host("/etc/ganeti/lib")).expect("mkdir");
    let (code, out) = n.run(&["postinst", "configure", "3.0"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not a symlink"), "{out}");
    assert!(n.host("/etc/ganeti/lib").is_dir());
    // postrm never removes it either.
    n.remove_version("3.0");
    n.remove_version("3.1");
    let (code, out) = n.run(&["postrm", "purge"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not a symlink"), "{out}");
    assert!(n.host("/etc/ganeti/lib").is_dir());
}

#[test]
fn other_actions_do_nothing_and_bad_input_is_usage() {
    let n = node();
    for args in [
        &["postinst", "abort-remove", "3.0"][..],
        &["prerm", "upgrade", "3.0"],
        &["postrm", "upgrade"],
    ] {
        let (code, out) = n.run(args);
        assert_eq!(code, 0, "{args:?}: {out}");
    }
    assert_eq!(n.link("lib"), None);
    for args in [
        &["postinst", "configure", "../3.0"][..],
        &["postinst", "frobnicate", "3.0"],
        &["prerm", "remove"],
        &["snippet", "postinst", "3.0;rm"],
    ] {
        let (code, out) = n.run(args);
        assert_eq!(code, 2, "{args:?}: {out}");
    }
}

#[test]
fn dpkg_root_is_the_default_root() {
    let n = node();
    let out = Command::new(env!("CARGO_BIN_EXE_ganeti-packaging"))
        .args(["postinst", "configure", "3.1"])
        .env("DPKG_ROOT", &n.root)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(n.active().as_deref(), Some("3.1"));
}

#[test]
fn decisions() {
    let n = node();
    let clustered = Membership::Clustered { release: None };
    let active = active::read_active(&n.paths);
    assert_eq!(
        decide_postinst(&v("3.0"), &active, &clustered),
        Decision::Link(LinkReason::NoneActive)
    );
    n.run(&["postinst", "configure", "3.0"]);
    let active = active::read_active(&n.paths);
    assert_eq!(
        decide_postinst(&v("3.0"), &active, &clustered),
        Decision::AlreadyActive
    );
    assert_eq!(
        decide_postinst(&v("3.1"), &active, &clustered),
        Decision::Keep {
            active: v("3.0"),
            reason: KeepReason::Clustered
        }
    );
    assert_eq!(
        decide_postinst(&v("3.1"), &active, &Membership::Standalone),
        Decision::Link(LinkReason::NotInCluster { from: v("3.0") })
    );
    assert_eq!(
        decide_postinst(&v("2.16"), &active, &Membership::Standalone),
        Decision::Keep {
            active: v("3.0"),
            reason: KeepReason::Newer
        }
    );
    // No usable version on a clustered node whose configuration is at
    // another release: only the upgrade may convert it.
    let none = active::read_active(
        &InstallPaths::default()
            .with_root(&n.root.join("empty"))
            .expect("paths"),
    );
    let at = |r: &str| Membership::Clustered {
        release: Some(r.to_string()),
    };
    assert_eq!(
        decide_postinst(&v("3.0"), &none, &at("2.16.2")),
        Decision::LeaveUnlinked {
            cluster_release: "2.16.2".into()
        }
    );
    assert_eq!(
        decide_postinst(&v("3.0"), &none, &at("3.0.2")),
        Decision::Link(LinkReason::NoneActive)
    );
    assert_eq!(
        decide_postinst(&v("3.0.2"), &none, &at("3.0.1")),
        Decision::LeaveUnlinked {
            cluster_release: "3.0.1".into()
        }
    );
    assert_eq!(
        decide_postinst(&v("3.0"), &none, &Membership::Standalone),
        Decision::Link(LinkReason::NoneActive)
    );
}

#[test]
fn debian_install_splits_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stage = dir.path().join("stage");
    let release = "3.1.0".parse().expect("release");
    demo::write_stage(&stage, &release, &InstallPaths::default()).expect("stage");
    let run = |destdir: &str, farm: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_ganeti-packaging"))
            .current_dir(dir.path())
            .args(["debian-install", "--stage", "stage", "--release", "3.1.0"])
            .args(["--destdir", destdir, "--debian-dir", "debian"])
            .args(["--farm-package", farm, "--trees-package", "ganeti-3.1"])
            .output()
            .expect("run");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run("debian/tmp", "ganeti");
    assert_eq!(code, 0, "{err}");
    let pkg = dir.path().join("debian");
    assert!(pkg.join("ganeti-3.1/usr/lib/ganeti/3.1").is_dir());
    assert!(pkg.join("ganeti-3.1/usr/share/ganeti/3.1").is_dir());
    assert!(!pkg.join("ganeti-3.1/usr/sbin").exists());
    assert_eq!(
        fs_err::read_link(pkg.join("ganeti/usr/sbin/gnt-cluster")).expect("farm link"),
        PathBuf::from("../share/ganeti/default/gnt-cluster")
    );
    assert_eq!(
        fs_err::read_link(pkg.join("ganeti/usr/lib/ganeti/default")).expect("fixed link"),
        PathBuf::from("/etc/ganeti/lib")
    );
    assert!(
        !pkg.join("ganeti/etc/ganeti").exists(),
        "no switch links in a package"
    );
    // Nothing but empty directories is left in debian/tmp.
    let leftovers: Vec<_> = walk_files(&pkg.join("tmp"));
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Again into the same packages: refused, names what is in the way.
    let (code, err) = run("debian/tmp2", "ganeti");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already exist"), "{err}");
    let (code, err) = run("debian/tmp3", "Bad/Name");
    assert_eq!(code, 2, "{err}");
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs_err::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}
