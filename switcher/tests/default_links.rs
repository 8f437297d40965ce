//! The two fixed `default` links re-pointed or missing (issue 12, item 4):
//! every program runs through them, so while one bypasses the switch links
//! a switch changes nothing that runs. `check` and `installed` report it,
//! `to` points it back as part of the switch, `repair` mends it where that
//! is safe. Input: two versions laid out, 3.0 active, then
//! `ln -sfn 3.0 .../default` as Gentoo's ebuild does on a re-emerge.

mod common;

use std::path::{Path, PathBuf};

use common::{cli, node, sw};
use ganeti_layout::node::InstallPaths;

/// `ln -sfn TARGET LINK`.
fn repoint(link: &Path, target: &str) {
    let _ = fs_err::remove_file(link);
    fs_err::os::unix::fs::symlink(target, link).expect("symlink");
}

fn gentoo_repoint(paths: &InstallPaths, version: &str) {
    repoint(&paths.default_lib(), version);
    repoint(&paths.default_share(), version);
}

/// The release of the program that runs as `gnt-cluster` through the farm.
fn running(paths: &InstallPaths) -> &'static str {
    let text = fs_err::read_to_string(paths.sbindir().join("gnt-cluster")).expect("read");
    if text.contains("3.0.2") {
        "3.0"
    } else if text.contains("3.1.0") {
        "3.1"
    } else {
        "?"
    }
}

fn link(path: &Path) -> PathBuf {
    fs_err::read_link(path).expect("readlink")
}

#[test]
fn repointed_default_links_are_reported_and_a_switch_takes_effect() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let paths = node(base);
    assert_eq!(running(&paths), "3.0");
    gentoo_repoint(&paths, "3.0");

    let (code, out) = cli(base, &["check"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "{}: links to 3.0 instead of {}, so programs run {} whatever version is active: {} points it back",
            paths.default_lib().display(),
            paths.active_lib_link().display(),
            paths.version_lib(&"3.0".parse().expect("v")).display(),
            sw(base, "repair")
        )),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "one line per link: {out}");

    // What the upgrade asks every node before it starts.
    let (code, out) = cli(base, &["installed", "3.1"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("default: links to 3.0 instead of"), "{out}");

    // A switch points them back, says so, and takes effect.
    let (code, out) = cli(base, &["to", "3.1"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("from 3.0 to 3.1"), "{out}");
    assert!(
        out.contains(&format!(
            "pointed {} back to {}",
            paths.default_lib().display(),
            paths.active_lib_link().display()
        )),
        "{out}"
    );
    assert_eq!(link(&paths.default_lib()), paths.active_lib_link());
    assert_eq!(link(&paths.default_share()), paths.active_share_link());
    assert_eq!(running(&paths), "3.1");
    assert_eq!(cli(base, &["current"]), (0, "3.1\n".to_string()));
    let (code, out) = cli(base, &["check"]);
    assert_eq!((code, out.as_str()), (0, "sound: 3.1 is active\n"));
    assert_eq!(cli(base, &["installed", "3.0"]).0, 0);
}

#[test]
fn to_the_active_version_still_mends_the_default_links() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let paths = node(base);
    fs_err::remove_file(paths.default_share()).expect("rm");
    let (code, out) = cli(base, &["to", "3.0"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3.0 is already active"), "{out}");
    assert!(
        out.contains(&format!("pointed {} back", paths.default_share().display())),
        "{out}"
    );
    assert_eq!(link(&paths.default_share()), paths.active_share_link());
    let (code, out) = cli(base, &["to", "3.0"]);
    assert_eq!((code, out.as_str()), (0, "3.0 is already active\n"));
}

#[test]
fn repair_points_default_back_to_the_active_version() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let paths = node(base);
    // Re-emerging 3.1 pointed default at it, while the node is on 3.0.
    gentoo_repoint(&paths, "3.1");
    assert_eq!(running(&paths), "3.1");
    let (code, out) = cli(base, &["repair"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("nothing to repair"), "{out}");
    assert_eq!(running(&paths), "3.0", "the version the switch links name");
    let (code, out) = cli(base, &["repair"]);
    assert_eq!((code, out.as_str()), (0, "nothing to repair\n"));
}

#[test]
fn repair_that_changes_what_runs_waits_for_stopped_daemons_or_force() {
    if !common::have_python3() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let paths = node(base);
    gentoo_repoint(&paths, "3.1");
    let rundir = paths.fs().host_path(&paths.rundir());
    fs_err::create_dir_all(&rundir).expect("mkdir");
    let pid_file = rundir.join("ganeti-noded.pid");
    fs_err::write(&pid_file, "").expect("write");
    let holder = common::Holder::new(&pid_file, "flock");
    let (code, out) = cli(base, &["repair"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("Ganeti daemons are running on this node (ganeti-noded"),
        "{out}"
    );
    assert!(
        out.contains("hint: stop them (daemon-util stop-all) or pass --force"),
        "{out}"
    );
    assert_eq!(running(&paths), "3.1", "nothing changed");
    // Where nothing that runs changes, daemons are no reason to wait.
    repoint(&paths.default_lib(), "3.0");
    repoint(&paths.default_share(), "3.0");
    let (code, out) = cli(base, &["repair"]);
    assert_eq!(code, 0, "{out}");
    gentoo_repoint(&paths, "3.1");
    let (code, out) = cli(base, &["repair", "--force"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(running(&paths), "3.0");
    drop(holder);
}

#[test]
fn a_real_directory_at_default_is_refused_and_nothing_changes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let paths = node(base);
    fs_err::remove_file(paths.default_lib()).expect("rm");
    fs_err::create_dir(paths.default_lib()).expect("mkdir");
    let (code, out) = cli(base, &["check"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("a real file or directory, not the link to"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "move it aside, then: {} creates it",
            sw(base, "repair")
        )),
        "{out}"
    );
    let (code, out) = cli(base, &["to", "3.1"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "{} is a real file or directory, not a symlink; refusing to replace it",
            paths.default_lib().display()
        )),
        "{out}"
    );
    assert_eq!(
        link(&paths.active_lib_link()),
        paths.version_lib(&"3.0".parse().expect("v"))
    );
    // The fix the message names works.
    fs_err::remove_dir(paths.default_lib()).expect("move aside");
    let (code, out) = cli(base, &["repair"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(cli(base, &["check"]).0, 0);
}

#[test]
fn with_no_active_version_repair_names_the_switch_that_fixes_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let paths = node(base);
    fs_err::remove_file(paths.active_lib_link()).expect("rm");
    fs_err::remove_file(paths.active_share_link()).expect("rm");
    gentoo_repoint(&paths, "3.0");
    let (code, out) = cli(base, &["repair"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("but no version is active"), "{out}");
    assert!(
        out.contains(&format!(
            "hint: make a version active first, which also points it back: {}",
            sw(base, "to VERSION")
        )),
        "{out}"
    );
    assert_eq!(running(&paths), "3.0", "nothing changed");
    let (code, out) = cli(base, &["to", "3.0"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(cli(base, &["check"]).0, 0);
}

#[test]
fn a_node_with_nothing_laid_out_is_sound() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let (code, out) = cli(base, &["check"]);
    assert_eq!((code, out.as_str()), (0, "sound: no version is active\n"));
    let (code, out) = cli(base, &["repair"]);
    assert_eq!((code, out.as_str()), (0, "nothing to repair\n"));
}
