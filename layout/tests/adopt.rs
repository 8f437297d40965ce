//! `ganeti-layout adopt`: a flat (single-version) Ganeti in a scratch
//! root, converted into the versioned layout and back, byte for byte;
//! its refusals, each with its exit code; a crash in the middle; the
//! next version installed beside the adopted one.
//!
//! The flat node is the built-in demo build written straight into the
//! root (`make install` without DESTDIR, as a source or RPM install lays
//! it out): programs as files in /usr/sbin, /usr/bin and /usr/lib/ganeti,
//! the Python package in /usr/lib/python3/dist-packages, man pages.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ganeti_layout::install::demo;
use ganeti_layout::node::installed::{
    check_complete, flat_install, list, render_list, switch_link_problems,
};
use ganeti_layout::node::{active::read_active, InstallPaths};
use ganeti_test_support::{transcript, two_version_node};

const EXE: &str = env!("CARGO_BIN_EXE_ganeti-layout");

/// A flat Ganeti 3.0.2 under `base/root`; the root.
fn flat_node(base: &Path) -> PathBuf {
    let root = base.join("root");
    demo::write_stage(
        &root,
        &"3.0.2".parse().expect("release"),
        &InstallPaths::default(),
    )
    .expect("flat node");
    root
}

/// Every entry under `root`: its kind, mode, and content or target;
/// directories by mode only (an adoption and its undo change their times).
fn tree(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).sort_by_file_name().min_depth(1) {
        let e = e.expect("walk");
        let rel = e
            .path()
            .strip_prefix(root)
            .expect("under root")
            .to_path_buf();
        let meta = e.path().symlink_metadata().expect("meta");
        let mode = meta.permissions().mode() & 0o7777;
        let what = if meta.file_type().is_symlink() {
            format!(
                "link -> {}",
                fs_err::read_link(e.path()).expect("link").display()
            )
        } else if meta.is_dir() {
            format!("dir {mode:o}")
        } else {
            format!(
                "file {mode:o} mtime {}.{} {:?}",
                meta.mtime(),
                meta.mtime_nsec(),
                String::from_utf8_lossy(&fs_err::read(e.path()).expect("read"))
            )
        };
        out.insert(rel, what);
    }
    out
}

/// `transcript` with the backup's epoch shown as `EPOCH`.
fn run(base: &Path, args: &[&str]) -> String {
    let text = transcript(EXE, base, args);
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("adopt-backup-") {
        let (head, tail) = rest.split_at(i + "adopt-backup-".len());
        out.push_str(head);
        out.push_str("EPOCH");
        rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

fn exit_of(text: &str) -> i32 {
    text.lines()
        .find_map(|l| l.strip_prefix("exit "))
        .and_then(|c| c.parse().ok())
        .unwrap_or(-1)
}

/// The backup directory (there is one) under `root`.
fn backup_dir(root: &Path) -> PathBuf {
    let state = root.join("var/lib/ganeti-layout");
    fs_err::read_dir(&state)
        .expect("state dir")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("adopt-backup-"))
        })
        .expect("a backup")
}

/// A flat node adopted is sound with 3.0 active and complete, and no
/// longer flat; adopting again says so; the undo gives the flat node back
/// exactly.
#[test]
fn adopt_then_undo_gives_the_flat_node_back_byte_for_byte() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = flat_node(base);
    let r = root.display().to_string();
    let paths = common::paths(&root);
    let before = tree(&root);
    assert!(flat_install(&paths).is_some());

    let mut text = String::new();
    text.push_str(&run(base, &["list", "--root", &r]));
    let plan = run(base, &["adopt", "--dry-run", "--root", &r]);
    assert_eq!(exit_of(&plan), 0, "{plan}");
    text.push_str(&plan);
    assert_eq!(tree(&root), before, "--dry-run changed nothing");
    let adopted = run(base, &["adopt", "--root", &r]);
    assert_eq!(exit_of(&adopted), 0, "{adopted}");
    text.push_str(&adopted);
    for args in [
        vec!["verify", "--root", &r],
        vec!["list", "--root", &r],
        vec!["adopt", "--root", &r],
        vec!["adopt", "--dry-run", "--root", &r],
    ] {
        let out = run(base, &args);
        assert_eq!(exit_of(&out), 0, "{out}");
        text.push_str(&out);
    }
    insta::assert_snapshot!("adopt_plan_and_run", text);

    // What ganeti-switch check and list ask of the node (the same kernel).
    assert_eq!(flat_install(&paths), None);
    let v = "3.0".parse().expect("version");
    assert_eq!(
        check_complete(&paths, &v).expect("check"),
        Vec::<String>::new()
    );
    let active = read_active(&paths);
    assert_eq!(active.version(), Some(&v));
    assert_eq!(
        switch_link_problems(&paths, &active, false),
        Vec::<String>::new()
    );
    let versions = list(&paths).expect("list");
    assert_eq!(versions.len(), 1);
    assert!(versions[0].active && versions[0].complete);
    assert!(!render_list(&versions, true, &paths).contains("note:"));
    assert_eq!(
        ganeti_layout::install::inspect::verify(&paths).expect("verify"),
        Vec::<String>::new()
    );
    // The flat programs are links through `default` now.
    let gnt = root.join("usr/sbin/gnt-cluster");
    assert!(gnt
        .symlink_metadata()
        .expect("meta")
        .file_type()
        .is_symlink());
    let runs = ganeti_layout::node::fs::resolve_in_root(&paths, Path::new("/usr/sbin/gnt-cluster"))
        .expect("the farm link leads somewhere");
    assert_eq!(runs, Path::new("/usr/share/ganeti/3.0/gnt-cluster"));
    assert!(paths
        .fs()
        .read_to_string(&runs)
        .expect("read")
        .contains("3.0.2"));

    let undone = run(base, &["adopt", "--undo", "--root", &r]);
    assert_eq!(exit_of(&undone), 0, "{undone}");
    assert!(undone.contains("undone:"), "{undone}");
    let after = tree(&root);
    let gone: Vec<_> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let new: Vec<_> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert!(
        gone.is_empty() && new.is_empty(),
        "gone {gone:?}, new {new:?}"
    );
    assert_eq!(after, before);
    assert!(flat_install(&paths).is_some());
    let again = run(base, &["adopt", "--undo", "--root", &r]);
    assert_eq!(exit_of(&again), 1, "{again}");
    assert!(again.contains("nothing to undo"), "{again}");
}

/// The point of the adoption: the next version installs beside it, with
/// no "move it away" line, and verify and list see both. Before the
/// adoption, install refuses once, with the flat line that names adopt
/// (regression: it listed every flat file as a conflict to move away).
#[test]
fn install_of_the_next_version_works_on_an_adopted_node() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = flat_node(base);
    let r = root.display().to_string();
    let stage = base.join("stage-3.1.0");
    demo::write_stage(
        &stage,
        &"3.1.0".parse().expect("release"),
        &InstallPaths::default(),
    )
    .expect("stage");
    let s = stage.display().to_string();
    // Before: refused once, naming adopt, not each of the running
    // version's own files with "move it away".
    let refused = run(base, &["install", "--stage", &s, "--root", &r]);
    assert_eq!(exit_of(&refused), 1, "{refused}");
    assert!(!refused.contains("move it away"), "{refused}");
    assert!(!refused.contains("conflict:"), "{refused}");
    insta::assert_snapshot!("adopt_install_on_a_flat_node", refused);
    let adopted = run(base, &["adopt", "--root", &r]);
    assert_eq!(exit_of(&adopted), 0, "{adopted}");
    let installed = run(base, &["install", "--stage", &s, "--root", &r]);
    assert_eq!(exit_of(&installed), 0, "{installed}");
    let listed = run(base, &["list", "--root", &r]);
    assert!(
        listed.contains("* 3.0") && listed.contains("  3.1"),
        "{listed}"
    );
    let verified = run(base, &["verify", "--root", &r]);
    assert_eq!(exit_of(&verified), 0, "{verified}");
    // And undo now refuses, naming the version to remove first.
    let undo = run(base, &["adopt", "--undo", "--root", &r]);
    assert_eq!(exit_of(&undo), 1, "{undo}");
    assert!(undo.contains("remove 3.1"), "{undo}");
}

/// Each refusal, its message and exit code: daemons running (without the
/// flag), a release that cannot be told, a node already versioned, an
/// undo after a change.
#[test]
fn refusals_and_their_exit_codes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let mut text = String::new();

    // Daemons running: noded holds the lock on its pid file.
    let root = flat_node(base);
    let r = root.display().to_string();
    let rundir = root.join("var/run/ganeti");
    fs_err::create_dir_all(&rundir).expect("rundir");
    let pid_file = fs_err::File::create(rundir.join("ganeti-noded.pid")).expect("pid");
    fs_err::write(rundir.join("ganeti-noded.pid"), "4242\n").expect("pid");
    rustix::fs::flock(&pid_file, rustix::fs::FlockOperation::LockExclusive).expect("flock");
    let before = tree(&root);
    text.push_str(&run(base, &["adopt", "--root", &r]));
    assert_eq!(tree(&root), before, "a refusal changes nothing");
    text.push_str(&run(base, &["adopt", "--undo", "--root", &r]));
    // The flag goes on anyway (and the undo with it).
    let forced = run(base, &["adopt", "--daemons-running-ok", "--root", &r]);
    assert_eq!(exit_of(&forced), 0, "{forced}");
    let undone = run(
        base,
        &["adopt", "--undo", "--daemons-running-ok", "--root", &r],
    );
    assert_eq!(exit_of(&undone), 0, "{undone}");
    drop(pid_file);
    fs_err::remove_dir_all(&root).expect("rm");

    // The release cannot be told: no _constants.py in the package.
    let root = flat_node(base);
    fs_err::remove_file(root.join("usr/lib/python3/dist-packages/ganeti/_constants.py"))
        .expect("rm");
    text.push_str(&run(base, &["adopt", "--dry-run", "--root", &r]));
    text.push_str(&run(base, &["adopt", "--root", &r]));
    fs_err::remove_dir_all(&root).expect("rm");

    // Nothing flat here at all.
    fs_err::create_dir_all(&root).expect("mkdir");
    text.push_str(&run(base, &["adopt", "--root", &r]));
    fs_err::remove_dir_all(&root).expect("rm");

    // Already versioned: the two-version demo node.
    let root = two_version_node(&base.join("versioned"));
    let v = root.display().to_string();
    text.push_str(&run(base, &["adopt", "--root", &v]));
    text.push_str(&run(base, &["adopt", "--undo", "--root", &v]));

    // Undo after a change: a backed-up file edited, then a file put
    // where a flat program goes back.
    let root = flat_node(base);
    run(base, &["adopt", "--root", &r]);
    let kept = backup_dir(&root).join("usr/sbin/gnt-node");
    let original = fs_err::read(&kept).expect("read");
    fs_err::write(&kept, "#!/bin/sh\n# edited\n").expect("edit");
    text.push_str(&run(base, &["adopt", "--undo", "--root", &r]));
    // The same size, other bytes: the content counts.
    let mut same_size = original.clone();
    same_size[original.len() - 2] ^= 1;
    fs_err::write(&kept, &same_size).expect("edit");
    let out = run(base, &["adopt", "--undo", "--root", &r]);
    assert!(out.contains("(content differs)"), "{out}");
    // Put back byte for byte, its time now another (as a `touch` leaves
    // it): content, mode and size count, not times, so the undo goes on.
    fs_err::write(&kept, &original).expect("restore");
    let out = run(base, &["adopt", "--undo", "--root", &r]);
    assert_eq!(exit_of(&out), 0, "a touch alone blocks no undo: {out}");
    fs_err::remove_dir_all(&root).expect("rm");
    let root = flat_node(base);
    run(base, &["adopt", "--root", &r]);
    let farm = root.join("usr/sbin/gnt-job");
    fs_err::remove_file(&farm).expect("rm");
    fs_err::write(&farm, "#!/bin/sh\n# someone's\n").expect("write");
    text.push_str(&run(base, &["adopt", "--undo", "--root", &r]));
    // The switch links moved away from 3.0.
    fs_err::remove_file(&farm).expect("rm");
    fs_err::remove_file(root.join("etc/ganeti/lib")).expect("rm");
    text.push_str(&run(base, &["adopt", "--undo", "--root", &r]));

    insta::assert_snapshot!("adopt_refusals", text);
}

/// A crash after some files moved, before the layout: the record says
/// `moving`; adopt again finishes it, and undo from there works too.
#[test]
fn a_crash_in_the_middle_is_finished_by_the_next_run() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = flat_node(base);
    let r = root.display().to_string();
    let before = tree(&root);
    let adopted = run(base, &["adopt", "--root", &r]);
    assert_eq!(exit_of(&adopted), 0, "{adopted}");
    // Back to the state of a crash: the layout not made, half the files
    // still in place, the record `moving`.
    let paths = common::paths(&root);
    let record_path = root.join("var/lib/ganeti-layout/adopt.json");
    let mut record: ganeti_layout::install::adopt::AdoptRecord =
        serde_json::from_str(&fs_err::read_to_string(&record_path).expect("read")).expect("json");
    assert_eq!(
        record.state,
        ganeti_layout::install::adopt::AdoptState::Adopted
    );
    for link in [
        "etc/ganeti/lib",
        "etc/ganeti/share",
        "usr/lib/ganeti/default",
        "usr/share/ganeti/default",
    ] {
        fs_err::remove_file(root.join(link)).expect("rm link");
    }
    fs_err::remove_dir_all(root.join("usr/lib/ganeti/3.0")).expect("rm tree");
    fs_err::remove_dir_all(root.join("usr/share/ganeti/3.0")).expect("rm tree");
    let backup = backup_dir(&root);
    for d in record.displaced.iter().step_by(2) {
        let rel = d.path.strip_prefix("/").expect("absolute");
        let here = root.join(rel);
        if here.symlink_metadata().is_ok() {
            fs_err::remove_file(&here).expect("rm farm link");
        }
        if let Some(parent) = here.parent() {
            fs_err::create_dir_all(parent).expect("mkdir");
        }
        fs_err::rename(backup.join(rel), &here).expect("move back");
    }
    record.state = ganeti_layout::install::adopt::AdoptState::Moving;
    fs_err::write(&record_path, serde_json::to_vec(&record).expect("json")).expect("write");
    assert!(read_active(&paths).is_absent());

    let finished = run(base, &["adopt", "--root", &r]);
    assert_eq!(exit_of(&finished), 0, "{finished}");
    assert_eq!(
        ganeti_layout::install::inspect::verify(&paths).expect("verify"),
        Vec::<String>::new()
    );
    assert_eq!(flat_install(&paths), None);
    let undone = run(base, &["adopt", "--undo", "--root", &r]);
    assert_eq!(exit_of(&undone), 0, "{undone}");
    assert_same_tree(&tree(&root), &before);
}

/// An RPM-shaped flat node (the package in `python3.11/site-packages`,
/// as jfut/ganeti-rpm installs it): the plan, computed by the library with
/// a fixed backup name, then the round trip, and an undo that keeps a
/// backup holding a file that is not the adoption's.
#[test]
fn plan_of_an_rpm_shaped_flat_node_and_its_round_trip() {
    use ganeti_layout::install::{adopt, spec::Spec};
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = base.join("root");
    demo::write_stage(
        &root,
        &"3.1.0".parse().expect("release"),
        &InstallPaths::default(),
    )
    .expect("flat node");
    let site = root.join("usr/lib/python3.11/site-packages");
    fs_err::create_dir_all(&site).expect("mkdir");
    fs_err::rename(
        root.join("usr/lib/python3/dist-packages/ganeti"),
        site.join("ganeti"),
    )
    .expect("move package");
    fs_err::remove_dir_all(root.join("usr/lib/python3")).expect("rm");
    // The interpreter's other packages are not Ganeti's.
    fs_err::create_dir_all(site.join("six")).expect("mkdir");
    fs_err::write(site.join("six/__init__.py"), "").expect("write");
    let paths = common::paths(&root);
    let before = tree(&root);

    let adoption = adopt::plan_adoption(&paths, &Spec::builtin(), 1_700_000_000).expect("plan");
    assert_eq!(adoption.dir_version.to_string(), "3.1");
    assert!(adoption
        .displaced
        .iter()
        .all(|d| !d.path.starts_with("/usr/lib/python3.11/site-packages/six")));
    insta::assert_snapshot!(
        "adopt_plan_rpm_shaped",
        adopt::render_text(&paths, &adoption)
    );
    assert_eq!(tree(&root), before, "planning changes nothing");

    let r = root.display().to_string();
    let adopted = run(base, &["adopt", "--root", &r]);
    assert_eq!(exit_of(&adopted), 0, "{adopted}");
    assert_eq!(
        ganeti_layout::install::inspect::verify(&paths).expect("verify"),
        Vec::<String>::new()
    );
    assert!(root
        .join("usr/lib/python3.11/site-packages/six/__init__.py")
        .is_file());
    assert!(!root
        .join("usr/lib/python3.11/site-packages/ganeti")
        .exists());
    let stray = backup_dir(&root).join("notes.txt");
    fs_err::write(&stray, "the admin's\n").expect("write");
    let undone = run(base, &["adopt", "--undo", "--root", &r]);
    assert_eq!(exit_of(&undone), 0, "{undone}");
    assert!(undone.contains("is kept"), "{undone}");
    let mut after = tree(&root);
    let kept: Vec<PathBuf> = after
        .keys()
        .filter(|p| p.starts_with("var/lib/ganeti-layout"))
        .cloned()
        .collect();
    assert_eq!(kept.len(), 3, "{kept:?}"); // the state dir, the backup, the stray file
    for k in kept {
        after.remove(&k);
    }
    assert_eq!(after, before);
}

/// An undo cut short (the record says `undoing`, the switch links gone,
/// half the files back): adopt refuses and names the undo; the next undo
/// finishes it.
#[test]
fn an_undo_cut_short_is_finished_by_the_next_undo() {
    use ganeti_layout::install::adopt::{AdoptRecord, AdoptState};
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = flat_node(base);
    let r = root.display().to_string();
    let before = tree(&root);
    let adopted = run(base, &["adopt", "--root", &r]);
    assert_eq!(exit_of(&adopted), 0, "{adopted}");
    let record_path = root.join("var/lib/ganeti-layout/adopt.json");
    let mut record: AdoptRecord =
        serde_json::from_str(&fs_err::read_to_string(&record_path).expect("read")).expect("json");
    record.state = AdoptState::Undoing;
    fs_err::write(&record_path, serde_json::to_vec(&record).expect("json")).expect("write");
    fs_err::remove_file(root.join("etc/ganeti/lib")).expect("rm");
    fs_err::remove_file(root.join("etc/ganeti/share")).expect("rm");
    let backup = backup_dir(&root);
    for d in record.displaced.iter().step_by(3) {
        let rel = d.path.strip_prefix("/").expect("absolute");
        let here = root.join(rel);
        if here.symlink_metadata().is_ok() {
            fs_err::remove_file(&here).expect("rm farm link");
        }
        if let Some(parent) = here.parent() {
            fs_err::create_dir_all(parent).expect("mkdir");
        }
        fs_err::rename(backup.join(rel), &here).expect("move back");
    }
    let refused = run(base, &["adopt", "--root", &r]);
    assert_eq!(exit_of(&refused), 1, "{refused}");
    assert!(refused.contains("adopt --undo finishes it"), "{refused}");
    let undone = run(base, &["adopt", "--undo", "--root", &r]);
    assert_eq!(exit_of(&undone), 0, "{undone}");
    assert_same_tree(&tree(&root), &before);
}

/// `left == right`, naming only the entries that differ.
fn assert_same_tree(after: &BTreeMap<PathBuf, String>, before: &BTreeMap<PathBuf, String>) {
    let differ: Vec<String> = before
        .keys()
        .chain(after.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| {
            format!(
                "{}: {:?} then {:?}",
                k.display(),
                before.get(k),
                after.get(k)
            )
        })
        .collect();
    assert!(differ.is_empty(), "{differ:#?}");
}

/// Points the switch links at `v`, as `ganeti-switch to V` does.
fn switch_to(root: &Path, v: &str) {
    for (link, tree) in [("etc/ganeti/lib", "lib"), ("etc/ganeti/share", "share")] {
        let link = root.join(link);
        fs_err::remove_file(&link).expect("rm link");
        fs_err::os::unix::fs::symlink(format!("/usr/{tree}/ganeti/{v}"), &link).expect("link");
    }
}

/// Regression: removing the adopted version left a dead end. `remove 3.0`
/// said nothing about the adoption; `adopt --undo` then hinted "remove
/// 3.1 first" (the active version), `adopt` said "already adopted" of a
/// version that was gone, and the backup was orphaned. Now remove retires
/// the record and says so, naming the backup; adopt and undo say the
/// adoption is retired and name the backup; the backup stays.
#[test]
fn removing_the_adopted_version_retires_the_adoption() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = flat_node(base);
    let r = root.display().to_string();
    let stage = base.join("stage-3.1.0");
    demo::write_stage(
        &stage,
        &"3.1.0".parse().expect("release"),
        &InstallPaths::default(),
    )
    .expect("stage");
    let s = stage.display().to_string();
    let adopted = run(base, &["adopt", "--root", &r]);
    assert_eq!(exit_of(&adopted), 0, "{adopted}");
    let installed = run(base, &["install", "--stage", &s, "--root", &r]);
    assert_eq!(exit_of(&installed), 0, "{installed}");
    let mut text = String::new();
    // Before the removal: 3.1 active, undo names only commands that work
    // (switch back first; then remove 3.1).
    switch_to(&root, "3.1");
    text.push_str(&run(base, &["adopt", "--undo", "--root", &r]));
    let backup = backup_dir(&root);
    text.push_str(
        &run(base, &["remove", "3.0", "--root", &r])
            .lines()
            .filter(|l| !l.starts_with("removed "))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    text.push('\n');
    text.push_str(&run(base, &["adopt", "--undo", "--root", &r]));
    text.push_str(&run(base, &["adopt", "--root", &r]));
    text.push_str(&run(base, &["adopt", "--dry-run", "--root", &r]));
    assert!(backup.is_dir(), "the backup stays for the admin");
    let record = fs_err::read_to_string(root.join("var/lib/ganeti-layout/adopt.json"))
        .expect("the record stays");
    assert!(record.contains("\"retired\""), "{record}");
    assert!(!text.contains("remove 3.1"), "{text}");
    assert!(!text.contains("already adopted"), "{text}");
    insta::assert_snapshot!("adopt_retired", text);
}

/// A record that says `adopted` while its version is gone (a removal cut
/// short before it retired the record, or by an older tool) reads as
/// retired too.
#[test]
fn an_adopted_record_whose_version_is_gone_reads_as_retired() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = flat_node(base);
    let r = root.display().to_string();
    let adopted = run(base, &["adopt", "--root", &r]);
    assert_eq!(exit_of(&adopted), 0, "{adopted}");
    for tree in ["usr/lib/ganeti/3.0", "usr/share/ganeti/3.0"] {
        fs_err::remove_dir_all(root.join(tree)).expect("rm");
    }
    for args in [
        &["adopt", "--root", &r][..],
        &["adopt", "--undo", "--root", &r],
    ] {
        let out = run(base, args);
        assert_eq!(exit_of(&out), 1, "{out}");
        assert!(out.contains("is retired"), "{out}");
        assert!(out.contains("adopt-backup-"), "{out}");
    }
}

/// Regression: undo removed the version trees whole, discarding a local
/// edit inside them (a program changed, a file added) unseen. Now it
/// refuses, naming each, by the manifest the install wrote; Python's
/// bytecode caches do not count; once put back, the undo goes on.
#[test]
fn undo_refuses_to_discard_changes_inside_the_version_trees() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = flat_node(base);
    let r = root.display().to_string();
    let before = tree(&root);
    let adopted = run(base, &["adopt", "--root", &r]);
    assert_eq!(exit_of(&adopted), 0, "{adopted}");
    let share = root.join("usr/share/ganeti/3.0");
    let edited = share.join("gnt-cluster");
    let original = fs_err::read(&edited).expect("read");
    fs_err::write(&edited, "#!/bin/sh\n# a local fix\nexec true\n").expect("edit");
    fs_err::write(share.join("local-notes.txt"), "mine\n").expect("add");
    fs_err::create_dir_all(share.join("ganeti/__pycache__")).expect("cache");
    fs_err::write(share.join("ganeti/__pycache__/x.cpython-311.pyc"), "b").expect("pyc");
    let refused = run(base, &["adopt", "--undo", "--root", &r]);
    assert_eq!(exit_of(&refused), 1, "{refused}");
    assert!(edited.is_file(), "a refusal changes nothing");
    insta::assert_snapshot!("adopt_undo_trees_changed", refused);
    fs_err::write(&edited, &original).expect("put back");
    fs_err::remove_file(share.join("local-notes.txt")).expect("rm");
    let undone = run(base, &["adopt", "--undo", "--root", &r]);
    assert_eq!(exit_of(&undone), 0, "{undone}");
    let after = tree(&root);
    assert_eq!(after.len(), before.len(), "{after:#?}");
}

/// `adopt --undo --dry-run` (a clap error before) shows what the undo
/// would do after its checks, and changes nothing; it refuses what the
/// undo would refuse.
#[test]
fn undo_dry_run_shows_the_undo_and_changes_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = flat_node(base);
    let r = root.display().to_string();
    let mut text = run(base, &["adopt", "--undo", "--dry-run", "--root", &r]);
    let adopted = run(base, &["adopt", "--root", &r]);
    assert_eq!(exit_of(&adopted), 0, "{adopted}");
    let before = tree(&root);
    text.push_str(&run(base, &["adopt", "--undo", "--dry-run", "--root", &r]));
    assert_eq!(tree(&root), before, "a dry run changes nothing");
    fs_err::remove_file(root.join("etc/ganeti/lib")).expect("rm");
    text.push_str(&run(base, &["adopt", "--undo", "--dry-run", "--root", &r]));
    insta::assert_snapshot!("adopt_undo_dry_run", text);
}

/// `ganeti-switch` on the adopted node leaves `.ganeti-switch.previous`
/// and its lock file; undo removes them when the flat node had neither,
/// and keeps them when it had.
#[test]
fn undo_removes_the_switch_files_the_flat_node_did_not_have() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = flat_node(base);
    let r = root.display().to_string();
    let previous = root.join("etc/ganeti/.ganeti-switch.previous");
    let lock = root.join("var/lib/ganeti/ganeti-upgrade.lock");
    let adopted = run(base, &["adopt", "--root", &r]);
    assert_eq!(exit_of(&adopted), 0, "{adopted}");
    fs_err::create_dir_all(lock.parent().expect("dir")).expect("mkdir");
    fs_err::write(&previous, "3.0\n").expect("previous");
    fs_err::write(&lock, "").expect("lock");
    let undone = run(base, &["adopt", "--undo", "--root", &r]);
    assert_eq!(exit_of(&undone), 0, "{undone}");
    assert!(!previous.exists() && !lock.exists(), "left behind");
    // There before the adoption: kept.
    fs_err::create_dir_all(previous.parent().expect("dir")).expect("mkdir");
    fs_err::write(&previous, "2.16\n").expect("previous");
    fs_err::write(&lock, "").expect("lock");
    let adopted = run(base, &["adopt", "--root", &r]);
    assert_eq!(exit_of(&adopted), 0, "{adopted}");
    let undone = run(base, &["adopt", "--undo", "--root", &r]);
    assert_eq!(exit_of(&undone), 0, "{undone}");
    assert!(previous.exists() && lock.exists(), "the flat node's own");
}
