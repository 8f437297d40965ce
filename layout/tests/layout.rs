//! End-to-end tests of `ganeti-layout`: plans, installs, verify, list,
//! remove, idempotence and every conflict class.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{install, paths, run_layout, try_plan};
use ganeti_layout::install::plan::{self, Request};
use ganeti_layout::install::spec::Spec;
use ganeti_layout::install::stage::Stage;
use ganeti_layout::install::{apply, demo, inspect};
use ganeti_layout::node::installed;
use ganeti_layout::node::{DirStyle, InstallPaths};

fn write(dir: &Path, rel: &str, content: &str, mode: u32) {
    let p = dir.join(rel);
    fs_err::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs_err::write(&p, content).expect("write");
    fs_err::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn symlink(dir: &Path, rel: &str, target: &str) {
    let p = dir.join(rel);
    fs_err::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    fs_err::os::unix::fs::symlink(target, p).expect("symlink");
}

fn demo_stage(dir: &Path, release: &str) -> PathBuf {
    let stage = dir.join(format!("stage-{release}"));
    demo::write_stage(
        &stage,
        &release.parse().expect("release"),
        &InstallPaths::default(),
    )
    .expect("demo stage");
    stage
}

/// Everything under `dir`: path -> type, mode, content or target.
fn snapshot_tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.expect("walk");
        let rel = e.path().strip_prefix(dir).expect("prefix").to_path_buf();
        let meta = e.path().symlink_metadata().expect("meta");
        let desc = if meta.file_type().is_symlink() {
            format!(
                "link {}",
                fs_err::read_link(e.path()).expect("readlink").display()
            )
        } else if meta.is_dir() {
            format!("dir {:o}", meta.permissions().mode() & 0o7777)
        } else {
            format!(
                "file {:o} {}",
                meta.permissions().mode() & 0o7777,
                String::from_utf8_lossy(&fs_err::read(e.path()).expect("read"))
            )
        };
        out.insert(rel, desc);
    }
    out
}

/// The design document's example: a 2.10 build, already versioned.
fn design_210_stage(dir: &Path) -> PathBuf {
    let s = dir.join("stage-2.10");
    write(
        &s,
        "usr/lib/ganeti/2.10/usr/bin/htools",
        "#!/bin/sh\n",
        0o755,
    );
    symlink(&s, "usr/lib/ganeti/2.10/usr/bin/harep", "htools");
    symlink(&s, "usr/lib/ganeti/2.10/usr/bin/hbal", "htools");
    write(
        &s,
        "usr/lib/ganeti/2.10/usr/sbin/ganeti-confd",
        "#!/bin/sh\n",
        0o755,
    );
    write(
        &s,
        "usr/lib/ganeti/2.10/usr/lib/ganeti/daemon-util",
        "#!/bin/bash\n",
        0o755,
    );
    for n in ["gnt-cluster", "gnt-node", "ensure-dirs", "cfgupgrade"] {
        write(
            &s,
            &format!("usr/share/ganeti/2.10/{n}"),
            "#!/usr/bin/python\nimport ganeti\n",
            0o755,
        );
    }
    write(&s, "usr/share/ganeti/2.10/ganeti/__init__.py", "", 0o644);
    write(
        &s,
        "usr/share/ganeti/2.10/ganeti/backend.py",
        "# backend\n",
        0o644,
    );
    write(
        &s,
        "usr/share/ganeti/2.10/ganeti/cmdlib/__init__.py",
        "",
        0o644,
    );
    write(
        &s,
        "usr/share/ganeti/2.10/root/usr/share/man/man8/gnt-cluster.8",
        ".TH\n",
        0o644,
    );
    // Links 2.10's own make install made: the planner must agree with them.
    symlink(
        &s,
        "usr/sbin/gnt-cluster",
        "../share/ganeti/default/gnt-cluster",
    );
    symlink(&s, "usr/bin/harep", "../lib/ganeti/default/usr/bin/harep");
    symlink(&s, "usr/lib/ganeti/default", "/etc/ganeti/lib");
    s
}

#[test]
fn plan_of_the_design_document_210_example() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = design_210_stage(tmp.path());
    let plan = try_plan(&stage, &tmp.path().join("dest"), "2.10.0", true).expect("no conflicts");
    insta::assert_snapshot!(plan::render_text(&plan));
}

#[test]
fn plan_of_a_debian_30_shaped_stage() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = demo_stage(tmp.path(), "3.0.2");
    let plan = try_plan(&stage, &tmp.path().join("dest"), "3.0.2", false).expect("no conflicts");
    insta::assert_snapshot!(plan::render_text(&plan));
}

/// The farm matches Debian's ganeti 3.0.2 link graph (real-ganeti.md 2.3).
#[test]
fn farm_matches_debian_link_graph() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = demo_stage(tmp.path(), "3.0.2");
    let dest = tmp.path().join("dest");
    install(&stage, &dest, "3.0.2", true);
    let link = |p: &str| {
        fs_err::read_link(dest.join(p))
            .expect(p)
            .display()
            .to_string()
    };
    assert_eq!(
        link("usr/sbin/gnt-cluster"),
        "../share/ganeti/default/gnt-cluster"
    );
    assert_eq!(
        link("usr/sbin/ganeti-wconfd"),
        "../lib/ganeti/default/usr/sbin/ganeti-wconfd"
    );
    assert_eq!(
        link("usr/sbin/ganeti-listrunner"),
        "../lib/ganeti/default/usr/sbin/ganeti-listrunner"
    );
    assert_eq!(link("usr/bin/hbal"), "../lib/ganeti/default/usr/bin/hbal");
    assert_eq!(
        link("usr/lib/ganeti/ensure-dirs"),
        "../../share/ganeti/default/ensure-dirs"
    );
    assert_eq!(
        link("usr/lib/ganeti/daemon-util"),
        "default/usr/lib/ganeti/daemon-util"
    );
    assert_eq!(
        link("usr/lib/ganeti/tools/cfgupgrade"),
        "../../../share/ganeti/default/cfgupgrade"
    );
    assert_eq!(
        link("usr/lib/ganeti/tools/fmtjson"),
        "../../../share/ganeti/default/fmtjson"
    );
    assert_eq!(
        link("usr/lib/ganeti/tools/master-ip-setup"),
        "../default/usr/lib/ganeti/tools/master-ip-setup"
    );
    assert_eq!(
        link("usr/lib/ganeti/iallocators/hail"),
        "../default/usr/lib/ganeti/iallocators/hail"
    );
    assert_eq!(
        link("usr/share/man/man8/gnt-cluster.8.gz"),
        "../../ganeti/default/root/usr/share/man/man8/gnt-cluster.8.gz"
    );
    assert_eq!(link("usr/lib/ganeti/default"), "/etc/ganeti/lib");
    assert_eq!(link("usr/share/ganeti/default"), "/etc/ganeti/share");
    assert_eq!(link("etc/ganeti/lib"), "/usr/lib/ganeti/3.0");
    assert_eq!(link("etc/ganeti/share"), "/usr/share/ganeti/3.0");
    assert_eq!(
        link("usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail"),
        "../../../bin/htools"
    );
    assert!(dest.join("usr/share/ganeti/3.0/gnt-cluster").is_file());
    assert!(dest
        .join("usr/share/ganeti/3.0/ganeti/client/gnt_cluster.py")
        .is_file());
    assert!(dest
        .join("usr/lib/ganeti/3.0/usr/sbin/ganeti-listrunner")
        .is_file());
    assert!(
        !dest.join("usr/bin/htools").exists(),
        "Debian has no /usr/bin/htools"
    );
    assert!(
        !dest.join("usr/lib/python3").exists(),
        "the Python package moved to the share tree"
    );
    assert_eq!(
        link("usr/share/bash-completion/completions/gnt-cluster"),
        "ganeti"
    );
    // Counted as in Debian's ganeti package: farm links through default.
    let farm: Vec<_> = walkdir::WalkDir::new(&dest)
        .into_iter()
        .flatten()
        .filter(|e| e.path_is_symlink())
        .filter(|e| {
            fs_err::read_link(e.path()).is_ok_and(|t| {
                let t = t.to_string_lossy();
                t.starts_with("default/") || t.contains("/default/")
            })
        })
        .collect();
    assert_eq!(farm.len(), 22 + 8 + 15 + 19 + 1 + 35);
}

#[test]
fn two_versions_side_by_side_then_verify_list_remove() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dest = tmp.path().join("dest");
    install(&demo_stage(tmp.path(), "3.0.2"), &dest, "3.0.2", true);
    let s31 = demo_stage(tmp.path(), "3.1.0");
    // Ganeti's docs differ between the builds: the last install wins, said.
    let plan = try_plan(&s31, &dest, "3.1.0", false).expect("docs are no conflict");
    assert_eq!(
        plan.warnings,
        vec!["/usr/share/doc/ganeti/NEWS: replaced by this build's copy (Ganeti's documentation is shared by all versions: the last install wins)".to_string()]
    );
    install(&s31, &dest, "3.1.0", false);
    assert_eq!(
        fs_err::read_to_string(dest.join("usr/share/doc/ganeti/NEWS")).expect("read"),
        "Demo Ganeti 3.1.0\n"
    );

    let p = paths(&dest);
    assert_eq!(inspect::verify(&p).expect("verify"), Vec::<String>::new());
    let versions = installed::list(&p).expect("list");
    let summary: Vec<_> = versions
        .iter()
        .map(|v| (v.version.to_string(), v.active, v.complete))
        .collect();
    assert_eq!(
        summary,
        vec![("3.0".into(), true, true), ("3.1".into(), false, true)]
    );

    // The active version cannot be removed.
    let err = apply::remove_version(&p, &"3.0".parse().expect("v")).expect_err("active");
    assert!(err.to_string().contains("is the active one"), "{err}");
    apply::remove_version(&p, &"3.1".parse().expect("v")).expect("remove inactive");
    assert!(!dest.join("usr/lib/ganeti/3.1").exists());
    assert!(!dest.join("usr/share/ganeti/3.1").exists());
    // Links 3.0 still needs stay.
    assert!(dest.join("usr/sbin/gnt-cluster").symlink_metadata().is_ok());
    assert_eq!(inspect::verify(&p).expect("verify"), Vec::<String>::new());
    let err = apply::remove_version(&p, &"3.1".parse().expect("v")).expect_err("gone");
    assert!(err.to_string().contains("not installed"), "{err}");
}

#[test]
fn remove_drops_links_only_that_version_needed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dest = tmp.path().join("dest");
    install(&demo_stage(tmp.path(), "3.0.2"), &dest, "3.0.2", true);
    let s31 = demo_stage(tmp.path(), "3.1.0");
    write(&s31, "usr/lib/ganeti/tools/new-in-31", "#!/bin/sh\n", 0o755);
    install(&s31, &dest, "3.1.0", false);
    let new_link = dest.join("usr/lib/ganeti/tools/new-in-31");
    assert!(new_link.symlink_metadata().is_ok());
    // Dangling while 3.0 is active, which the design allows.
    assert!(!new_link.exists());
    assert_eq!(
        inspect::verify(&paths(&dest)).expect("verify"),
        Vec::<String>::new()
    );
    apply::remove_version(&paths(&dest), &"3.1".parse().expect("v")).expect("remove");
    assert!(new_link.symlink_metadata().is_err());
}

#[test]
fn install_is_idempotent_and_reproducible() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = demo_stage(tmp.path(), "3.0.2");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    install(&stage, &a, "3.0.2", true);
    let first = snapshot_tree(&a);
    let again = install(&stage, &a, "3.0.2", true);
    assert_eq!(again.changed, 0, "second install changes nothing");
    assert_eq!(snapshot_tree(&a), first);
    // Never upstream #623's nested ganeti/ganeti links.
    assert!(!a
        .join("usr/share/ganeti/default/ganeti")
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink()));
    assert!(!a.join("usr/lib/ganeti/3.0/3.0").exists());
    install(&stage, &b, "3.0.2", true);
    assert_eq!(
        snapshot_tree(&b),
        first,
        "identical input, identical output"
    );
}

#[test]
fn reinstall_of_a_new_build_replaces_the_tree_atomically() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dest = tmp.path().join("dest");
    let s1 = demo_stage(tmp.path(), "3.0.2");
    install(&s1, &dest, "3.0.2", true);
    let s2 = demo_stage(tmp.path(), "3.0.3");
    fs_err::remove_dir_all(s2.join("usr/share/doc")).expect("rm docs");
    fs_err::remove_file(s2.join("etc/default/ganeti")).expect("rm conffile");
    let plan = try_plan(&s2, &dest, "3.0.3", true).expect("plan");
    assert!(plan::render_text(&plan).contains("replace lib tree /usr/lib/ganeti/3.0"));
    install(&s2, &dest, "3.0.3", true);
    let m = fs_err::read_to_string(dest.join("usr/lib/ganeti/3.0/.ganeti-layout-manifest.json"))
        .expect("manifest");
    assert!(m.contains("\"release\": \"3.0.3\""));
    let leftovers: Vec<_> = fs_err::read_dir(dest.join("usr/lib/ganeti"))
        .expect("readdir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty());
    assert_eq!(
        inspect::verify(&paths(&dest)).expect("verify"),
        Vec::<String>::new()
    );
}

/// Asserts that planning fails with exactly one conflict containing `needle`
/// and that the destination is untouched.
fn assert_conflict(stage: &Path, dest: &Path, release: &str, activate: bool, needle: &str) {
    let before = if dest.exists() {
        snapshot_tree(dest)
    } else {
        BTreeMap::new()
    };
    let Err(err) = try_plan(stage, dest, release, activate) else {
        panic!("conflict expected: {needle}")
    };
    let text: Vec<String> = err.iter().map(ToString::to_string).collect();
    assert!(
        text.iter().any(|t| t.contains(needle)),
        "wanted {needle:?} in {text:#?}"
    );
    let after = if dest.exists() {
        snapshot_tree(dest)
    } else {
        BTreeMap::new()
    };
    assert_eq!(before, after, "nothing changed");
}

#[test]
fn conflict_regular_file_where_a_farm_link_goes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dest = tmp.path().join("dest");
    write(
        &dest,
        "usr/sbin/gnt-cluster",
        "an admin's own script\n",
        0o755,
    );
    assert_conflict(
        &demo_stage(tmp.path(), "3.0.2"),
        &dest,
        "3.0.2",
        false,
        "/usr/sbin/gnt-cluster: a regular file is where the link to ../share/ganeti/default/gnt-cluster must go",
    );
}

#[test]
fn conflict_foreign_link_where_a_farm_link_goes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dest = tmp.path().join("dest");
    symlink(&dest, "usr/bin/hbal", "/opt/other/hbal");
    assert_conflict(
        &demo_stage(tmp.path(), "3.0.2"),
        &dest,
        "3.0.2",
        false,
        "/usr/bin/hbal: a link to /opt/other/hbal is where",
    );
}

#[test]
fn conflict_stage_symlink_outside_the_stage() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = demo_stage(tmp.path(), "3.0.2");
    symlink(
        &stage,
        "usr/share/doc/ganeti/escape",
        "../../../../../../etc/passwd",
    );
    assert_conflict(
        &stage,
        &tmp.path().join("dest"),
        "3.0.2",
        false,
        "points outside the stage",
    );
}

#[test]
fn conflict_absolute_and_relocated_links_in_trees() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = demo_stage(tmp.path(), "3.0.2");
    symlink(&stage, "usr/bin/hspace-abs", "/usr/bin/htools");
    assert_conflict(
        &stage,
        &tmp.path().join("dest"),
        "3.0.2",
        false,
        "absolute symlink to /usr/bin/htools inside a version tree",
    );
    fs_err::remove_file(stage.join("usr/bin/hspace-abs")).expect("rm");
    // A lib-tree link to a program that moves to the share tree.
    symlink(&stage, "usr/sbin/gnt-alias", "gnt-cluster");
    assert_conflict(
        &stage,
        &tmp.path().join("dest"),
        "3.0.2",
        false,
        "would dangle once the files move",
    );
}

#[test]
fn conflict_entry_claimed_twice() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = demo_stage(tmp.path(), "3.0.2");
    // Two unlisted Python programs with one name go to the same share path.
    write(
        &stage,
        "usr/sbin/gnt-extra",
        "#!/usr/bin/python3\nimport ganeti\n",
        0o755,
    );
    write(
        &stage,
        "usr/lib/ganeti/tools/gnt-extra",
        "#!/usr/bin/python3\nfrom ganeti import cli\n",
        0o755,
    );
    assert_conflict(
        &stage,
        &tmp.path().join("dest"),
        "3.0.2",
        false,
        "claimed by both /usr/lib/ganeti/tools/gnt-extra and /usr/sbin/gnt-extra",
    );
}

#[test]
fn conflict_special_file_and_wrong_version() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = demo_stage(tmp.path(), "3.0.2");
    let fifo = stage.join("var/lib/ganeti/fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    assert_conflict(
        &stage,
        &tmp.path().join("dest"),
        "3.0.2",
        false,
        "a fifo, socket or device",
    );
    let s210 = design_210_stage(tmp.path());
    assert_conflict(
        &s210,
        &tmp.path().join("dest2"),
        "2.11.0",
        false,
        "holds version directories [2.10] but --release and --dir-version give 2.11",
    );
}

#[test]
fn conflict_foreign_tree_and_active_elsewhere() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = demo_stage(tmp.path(), "3.0.2");
    let dest = tmp.path().join("dest");
    fs_err::create_dir_all(dest.join("usr/lib/ganeti/3.0/usr")).expect("mkdir");
    assert_conflict(
        &stage,
        &dest,
        "3.0.2",
        false,
        "/usr/lib/ganeti/3.0: exists and was not installed by ganeti-layout",
    );
    let dest2 = tmp.path().join("dest2");
    fs_err::create_dir_all(dest2.join("usr/lib/ganeti/2.16")).expect("mkdir");
    symlink(&dest2, "etc/ganeti/lib", "/usr/lib/ganeti/2.16");
    assert_conflict(&stage, &dest2, "3.0.2", true, "already points to /usr/lib/ganeti/2.16; --activate only sets up a node with no active version");
}

#[test]
fn fallback_rule_warns_and_spec_file_overrides() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = demo_stage(tmp.path(), "3.0.2");
    write(
        &stage,
        "usr/sbin/gnt-new",
        "#!/usr/bin/python3\nfrom ganeti.client import gnt_new\n",
        0o755,
    );
    write(&stage, "usr/sbin/ganeti-newd", "#!/bin/sh\n", 0o755);
    let plan = try_plan(&stage, &tmp.path().join("dest"), "3.0.2", false).expect("plan");
    let text = plan::render_text(&plan);
    assert!(
        text.contains("warning: /usr/sbin/gnt-new: in no program list; placed in the share tree"),
        "{text}"
    );
    assert!(
        text.contains("warning: /usr/sbin/ganeti-newd: in no program list; placed in the lib tree"),
        "{text}"
    );
    assert!(
        text.contains("/usr/sbin/gnt-new -> ../share/ganeti/default/gnt-new"),
        "{text}"
    );

    let spec = tmp.path().join("spec.toml");
    fs_err::write(
        &spec,
        "[[program]]\npath = \"sbin/gnt-new\"\ntree = \"lib\"\n",
    )
    .expect("spec");
    let out = run_layout(&[
        "plan",
        "--stage",
        stage.to_str().expect("utf8"),
        "--release",
        "3.0.2",
        "--dest",
        tmp.path().join("dest").to_str().expect("utf8"),
        "--spec",
        spec.to_str().expect("utf8"),
    ]);
    assert_eq!(out.0, 0, "{}", out.2);
    assert!(
        out.1
            .contains("/usr/sbin/gnt-new -> ../lib/ganeti/default/usr/sbin/gnt-new"),
        "{}",
        out.1
    );
    assert!(!out.1.contains("warning: /usr/sbin/gnt-new"), "{}", out.1);
}

#[test]
fn cli_exit_codes_and_json() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = demo_stage(tmp.path(), "3.0.2");
    let dest = tmp.path().join("dest");
    let (s, d) = (stage.to_str().expect("utf8"), dest.to_str().expect("utf8"));
    let (code, _, err) = run_layout(&[
        "install",
        "--stage",
        s,
        "--release",
        "3.0/../..",
        "--dest",
        d,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("contains '/'"), "{err}");
    let (code, _, err) = run_layout(&[
        "install",
        "--stage",
        "/nonexistent",
        "--release",
        "3.0.2",
        "--dest",
        d,
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("stage directory /nonexistent does not exist"),
        "{err}"
    );
    let (code, out, _) = run_layout(&[
        "plan",
        "--stage",
        s,
        "--release",
        "3.0.2",
        "--dest",
        d,
        "--json",
    ]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json plan");
    assert_eq!(json["dir_version"], "3.0");
    assert!(!dest.exists(), "plan touches nothing");
    let (code, out, err) = run_layout(&[
        "install",
        "--stage",
        s,
        "--release",
        "3.0.2",
        "--dest",
        d,
        "--activate",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("installed Ganeti 3.0.2 as 3.0"), "{out}");
    let (code, out, _) = run_layout(&["verify", "--root", d]);
    assert_eq!(
        (code, out.trim_end().ends_with("layout is sound")),
        (0, true),
        "{out}"
    );
    let (code, out, _) = run_layout(&["list", "--root", d, "--json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json list");
    assert_eq!(json["format"], 1);
    assert_eq!(json["versions"][0]["version"], "3.0");
    assert_eq!(json["versions"][0]["active"], true);
    // The text list: a header, the active version marked, the same as
    // `ganeti-switch list` prints.
    let (code, out, _) = run_layout(&["list", "--root", d]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "  VERSION  RELEASE  SOURCE         STATE\n* 3.0      3.0.2    ganeti-layout  complete\n"
    );
    let (_, no_headers, _) = run_layout(&["list", "--root", d, "--no-headers"]);
    assert_eq!(no_headers, "* 3.0      3.0.2    ganeti-layout  complete\n");
    // Break the layout: verify names each problem and exits 1.
    fs_err::remove_file(dest.join("usr/share/ganeti/3.0/gnt-cluster")).expect("rm");
    fs_err::remove_file(dest.join("usr/lib/ganeti/default")).expect("rm");
    let (code, out, _) = run_layout(&["verify", "--root", d]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("usr/share/ganeti/3.0/gnt-cluster: missing"),
        "{out}"
    );
    assert!(
        out.contains(&format!("usr/lib/ganeti/default: missing, so no Ganeti program runs through it; it must link to /etc/ganeti/lib: ganeti-switch --root {d} repair creates it")),
        "{out}"
    );
    assert!(out.contains("/usr/sbin/gnt-cluster: link to ../share/ganeti/default/gnt-cluster dangles, and the active version 3.0 needs it"), "{out}");
    let (code, _, err) = run_layout(&["remove", "--root", d, "3.0"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("hint: install the version to move to, switch to it, then remove this one"),
        "{err}"
    );
}

/// A stage built for another prefix must not be spread over the destination
/// as "unchanged" files.
#[test]
fn conflict_stage_built_for_another_prefix() {
    let tmp = tempfile::tempdir().expect("tmp");
    let stage = demo_stage(tmp.path(), "3.0.2");
    let p = InstallPaths::new(
        Path::new("/"),
        &tmp.path().join("opt"),
        &tmp.path().join("etc"),
        None,
        &tmp.path().join("var"),
    )
    .expect("paths");
    let scanned = Stage::scan(&stage, &p).expect("scan");
    let spec = Spec::builtin();
    let req = Request {
        stage: &scanned,
        spec: &spec,
        paths: &p,
        release: "3.0.2".parse().expect("release"),
        style: DirStyle::Short,
        activate: false,
        keep_existing: false,
    };
    let desired = plan::desired(&req);
    let text: Vec<String> = desired.conflicts.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("holds no Ganeti program under") && t.contains("pass the --prefix")),
        "{text:#?}"
    );
}
