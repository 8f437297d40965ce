//! Every problem `ganeti-switch check` reports names a fix, and the fix
//! works (issue 12, item 8): each test breaks a node, takes the command the
//! message names, runs it, and expects a sound node. Before, a mixed
//! lib/share pair without a journal said "run ganeti-switch repair", and
//! repair answered "nothing to repair".

mod common;

use std::path::Path;
use std::process::Command;

use common::{cli, node, sw};

fn relink(link: &Path, target: &Path) {
    let _ = fs_err::remove_file(link);
    fs_err::os::unix::fs::symlink(target, link).expect("symlink");
}

/// `check` fails, every line names the same `ganeti-switch ...` fix after
/// `marker`; running it makes the node sound.
fn the_named_fix_works(base: &Path, marker: &str) -> String {
    let (code, out) = cli(base, &["check"]);
    assert_eq!(code, 1, "{out}");
    let fixes: Vec<&str> = out
        .lines()
        .map(|line| {
            let (_, fix) = line
                .split_once(marker)
                .unwrap_or_else(|| panic!("no {marker:?} in {line:?}"));
            fix.split(" (").next().unwrap_or(fix)
        })
        .collect();
    assert!(fixes.windows(2).all(|w| w[0] == w[1]), "{out}");
    // Run exactly as printed: the node's path options must be in it.
    let args: Vec<&str> = fixes[0]
        .strip_prefix("ganeti-switch ")
        .unwrap_or_else(|| panic!("not a ganeti-switch command: {}", fixes[0]))
        .split_whitespace()
        .collect();
    let ran = Command::new(env!("CARGO_BIN_EXE_ganeti-switch"))
        .args(&args)
        .output()
        .expect("run the named fix");
    assert!(
        ran.status.success(),
        "{} -> {}{}",
        fixes[0],
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    let (code, after) = cli(base, &["check"]);
    assert_eq!(code, 0, "after {}: {after}", fixes[0]);
    fixes[0].to_string()
}

#[test]
fn mixed_pair_without_a_journal_names_a_switch_not_repair() {
    let tmp = tempfile::tempdir().expect("tmp");
    let paths = node(tmp.path());
    relink(
        &paths.active_share_link(),
        &paths.version_share(&"3.1".parse().expect("v")),
    );
    let (_, out) = cli(tmp.path(), &["check"]);
    assert!(
        out.contains(&format!(
            "lib is on 3.0 but share is on 3.1; to fix: {}",
            sw(tmp.path(), "to 3.1")
        )),
        "{out}"
    );
    assert!(!out.contains("repair"), "{out}");
    assert_eq!(
        the_named_fix_works(tmp.path(), "to fix: "),
        sw(tmp.path(), "to 3.1")
    );
}

#[test]
fn one_link_missing_or_dangling_names_a_switch() {
    let tmp = tempfile::tempdir().expect("tmp");
    let paths = node(tmp.path());
    fs_err::remove_file(paths.active_share_link()).expect("rm");
    the_named_fix_works(tmp.path(), "to fix: ");
    relink(&paths.active_lib_link(), &paths.pkglibdir().join("9.9"));
    let (_, out) = cli(tmp.path(), &["check"]);
    assert!(out.contains("lib: dangles ("), "{out}");
    the_named_fix_works(tmp.path(), "to fix: ");
}

#[test]
fn an_interrupted_switch_names_repair_and_repair_finishes_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let paths = node(tmp.path());
    let status = Command::new(env!("CARGO_BIN_EXE_ganeti-switch"))
        .arg("--prefix")
        .arg(tmp.path().join("usr"))
        .arg("--sysconfdir")
        .arg(tmp.path().join("etc"))
        .arg("--localstatedir")
        .arg(tmp.path().join("var"))
        .args(["to", "3.1"])
        .env("GANETI_SWITCH_CRASH_AT", "after-lib")
        .status()
        .expect("run");
    assert!(!status.success(), "the crash point was hit");
    assert!(paths
        .confdir()
        .join(ganeti_switch::JOURNAL_NAME)
        .symlink_metadata()
        .is_ok());
    // The lock held by another process while the journal's switcher is
    // gone: still an interrupted switch, to repair once the lock is free.
    let journal = paths.confdir().join(ganeti_switch::JOURNAL_NAME);
    let text = fs_err::read_to_string(&journal).expect("journal");
    {
        let _held = ganeti_switch::NodeLock::acquire(&paths, |_| {}).expect("lock");
        let (code, out) = cli(tmp.path(), &["check"]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("an interrupted switch to 3.1"), "{out}");
        assert!(
            out.contains(&format!("run {} once pid ", sw(tmp.path(), "repair"))),
            "{out}"
        );
    }
    // The journal's process alive and holding the lock (a switch still
    // running): a switch in progress, not one to repair: check and
    // current name the holder and advise waiting.
    let mut live: serde_json::Value = serde_json::from_str(&text).expect("json");
    live["pid"] = std::process::id().into();
    fs_err::write(&journal, live.to_string()).expect("write");
    {
        let _held = ganeti_switch::NodeLock::acquire(&paths, |_| {}).expect("lock");
        let (code, out) = cli(tmp.path(), &["check"]);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("a switch to 3.1 is in progress now (pid "),
            "{out}"
        );
        assert!(
            out.contains("wait for it to end, then check again"),
            "{out}"
        );
        assert!(!out.contains("repair"), "{out}");
        let (code, out) = cli(tmp.path(), &["current"]);
        assert_eq!(code, 1, "{out}");
        assert!(out.starts_with("switching to 3.1 now (pid "), "{out}");
    }
    fs_err::write(&journal, &text).expect("write");
    let (_, out) = cli(tmp.path(), &["check"]);
    assert!(
        out.contains(&format!("run {}", sw(tmp.path(), "repair"))),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "to fix: {} finishes the interrupted switch",
            sw(tmp.path(), "repair")
        )),
        "{out}"
    );
    let (code, out) = cli(tmp.path(), &["repair"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(cli(tmp.path(), &["current"]), (0, "3.1\n".to_string()));
}

#[test]
fn on_a_clustered_node_the_fix_is_the_version_the_configuration_is_at() {
    let tmp = tempfile::tempdir().expect("tmp");
    let paths = node(tmp.path());
    let datadir = paths.datadir();
    fs_err::create_dir_all(&datadir).expect("mkdir");
    fs_err::write(paths.server_pem(), "cert").expect("write");
    fs_err::write(paths.ssconf("release_version"), "3.0.2\n").expect("write");
    // Both dangle (a removed 2.16): the newest installed version (3.1) is
    // not what the cluster's configuration is at.
    relink(&paths.active_lib_link(), &paths.pkglibdir().join("2.16"));
    relink(&paths.active_share_link(), &paths.sharedir().join("2.16"));
    let (_, out) = cli(tmp.path(), &["check"]);
    assert!(
        out.contains(&format!(
            "to fix: {} (the cluster's configuration is at 3.0.2)",
            sw(tmp.path(), "to 3.0")
        )),
        "{out}"
    );
    assert_eq!(
        the_named_fix_works(tmp.path(), "to fix: "),
        sw(tmp.path(), "to 3.0")
    );
    // Configuration at a version that is gone: no switch is offered.
    fs_err::write(paths.ssconf("release_version"), "2.16.2\n").expect("write");
    relink(&paths.active_lib_link(), &paths.pkglibdir().join("2.16"));
    let (_, out) = cli(tmp.path(), &["check"]);
    assert!(
        out.contains(&format!("to fix: the cluster's configuration is at 2.16.2, which a bare switch would not convert: reinstall Ganeti 2.16, then run on the master: {}", sw(tmp.path(), "--to 3.1").replace("ganeti-switch", "ganeti-upgrade"))),
        "{out}"
    );
}
