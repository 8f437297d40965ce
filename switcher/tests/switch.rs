//! The switcher's guarantees, tested for real: no ENOENT for readers during
//! 10,000 switches, SIGKILL at random and at every named point, lock
//! serialisation, and every refusal with its message.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod common;

use ganeti_layout::node::{DirVersion, InstallPaths};
use ganeti_switch::{NodeLock, Outcome, SwitchOptions};

use ganeti_test_support::node_under as node;

fn v(s: &str) -> DirVersion {
    s.parse().expect("version")
}

fn cli(base: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ganeti-switch"));
    c.arg("--prefix")
        .arg(base.join("usr"))
        .arg("--sysconfdir")
        .arg(base.join("etc"))
        .arg("--localstatedir")
        .arg(base.join("var"));
    c.args(args);
    c
}

fn run(mut c: Command) -> (i32, String) {
    let out = c.output().expect("run ganeti-switch");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn version_of(file: &Path) -> std::io::Result<&'static str> {
    let text = fs_err::read_to_string(file)?;
    Ok(if text.contains("3.0.2") {
        "3.0"
    } else if text.contains("3.1.0") {
        "3.1"
    } else {
        "?"
    })
}

#[test]
fn readers_never_see_enoent_during_10000_switches() {
    let tmp = tempfile::tempdir().expect("tmp");
    let paths = node(tmp.path());
    let lib_file = paths
        .default_lib()
        .join(paths.sbindir().strip_prefix("/").expect("absolute"))
        .join("ganeti-confd");
    let share_file = paths.default_share().join("gnt-cluster");
    let stop = Arc::new(AtomicBool::new(false));
    let (reads, enoent, other, mixed) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    eprintln!(
        "reading {} and {}",
        lib_file.display(),
        share_file.display()
    );
    let reader = {
        let (stop, reads, enoent, other, mixed) = (
            stop.clone(),
            reads.clone(),
            enoent.clone(),
            other.clone(),
            mixed.clone(),
        );
        let (lib_file, share_file) = (lib_file.clone(), share_file.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let a = version_of(&lib_file);
                let b = version_of(&share_file);
                reads.fetch_add(1, Ordering::Relaxed);
                for r in [&a, &b] {
                    match r {
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            enoent.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            other.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                    }
                }
                if let (Ok(a), Ok(b)) = (a, b) {
                    if a != b {
                        mixed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    let mut stable_mismatch = 0;
    let switches: usize = std::env::var("SWITCHES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    for i in 0..switches {
        let target = if i % 2 == 0 { "3.1" } else { "3.0" };
        let outcome =
            ganeti_switch::switch_to(&paths, &v(target), SwitchOptions::default()).expect("switch");
        assert!(matches!(outcome, Outcome::Switched { .. }), "{outcome:?}");
        // Once the switch returned, `current` is stable and both trees agree.
        let status = ganeti_switch::check(&paths).expect("check");
        assert_eq!(status.stable_version(), Some(&v(target)));
        if version_of(&lib_file).ok() != Some(target)
            || version_of(&share_file).ok() != Some(target)
        {
            stable_mismatch += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("reader");
    eprintln!(
        "{switches} switches: {} concurrent reads, {} ENOENT, {} other errors, {} mixed pairs seen mid-switch, {stable_mismatch} mixed pairs once stable",
        reads.load(Ordering::Relaxed),
        enoent.load(Ordering::Relaxed),
        other.load(Ordering::Relaxed),
        mixed.load(Ordering::Relaxed)
    );
    assert!(
        reads.load(Ordering::Relaxed) > 1000,
        "the reader actually ran"
    );
    assert_eq!(enoent.load(Ordering::Relaxed), 0);
    assert_eq!(other.load(Ordering::Relaxed), 0);
    assert_eq!(stable_mismatch, 0);
}

fn assert_sound_or_repairable(base: &Path, paths: &InstallPaths) -> bool {
    let status = ganeti_switch::check(paths).expect("check");
    let was_sound = status.is_sound();
    if !was_sound {
        let (code, out) = run(cli(base, &["repair"]));
        assert_eq!(code, 0, "repair made it sound: {out}");
    }
    let status = ganeti_switch::check(paths).expect("check");
    assert!(status.is_sound(), "{:?}", status.problems);
    assert!(status.stable_version().is_some(), "a version is active");
    was_sound
}

#[test]
fn sigkill_at_random_points_is_always_recoverable() {
    let tmp = tempfile::tempdir().expect("tmp");
    let paths = node(tmp.path());
    let exe = std::env::current_exe().expect("exe");
    let looper = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("examples/switch_loop");
    assert!(
        looper.exists(),
        "cargo test builds examples: {}",
        looper.display()
    );
    let mut seed: u64 = 42;
    let (mut kills, mut needed_repair) = (0, 0);
    while kills < 200 {
        let mut child = Command::new(&looper)
            .arg(tmp.path())
            .args(["3.0", "3.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_micros(2_000 + (seed >> 33) % 20_000));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        kills += 1;
        if !assert_sound_or_repairable(tmp.path(), &paths) {
            needed_repair += 1;
        }
    }
    eprintln!("{kills} SIGKILLs at random points: {needed_repair} left a half-switched node that repair finished, the rest were sound");
}

#[test]
fn sigkill_at_every_named_point_then_repair_or_revert() {
    let tmp = tempfile::tempdir().expect("tmp");
    let paths = node(tmp.path());
    for (i, point) in [
        "after-journal",
        "after-temp-link",
        "after-lib",
        "after-share",
    ]
    .iter()
    .enumerate()
    {
        for revert in [false, true] {
            let before = ganeti_switch::check(&paths)
                .expect("check")
                .stable_version()
                .cloned()
                .expect("stable");
            let target = if before == v("3.0") { "3.1" } else { "3.0" };
            let mut c = cli(tmp.path(), &["to", target]);
            c.env(ganeti_switch::env::CRASH_AT, point);
            let status = c.status().expect("run");
            assert!(
                status.code().is_none(),
                "{point}: killed by its own SIGKILL"
            );
            let (code, out) = run(cli(tmp.path(), &["check"]));
            assert_eq!(code, 1, "{point}: check reports the half switch: {out}");
            assert!(out.contains("an interrupted switch to"), "{out}");
            let (code, out) = run(cli(tmp.path(), &["current"]));
            assert_eq!(code, 1, "{out}");
            assert!(out.contains("switching to"), "{out}");
            let args: &[&str] = if revert {
                &["repair", "--revert"]
            } else {
                &["repair"]
            };
            let (code, out) = run(cli(tmp.path(), args));
            assert_eq!(code, 0, "{point} {i}: {out}");
            let status = ganeti_switch::check(&paths).expect("check");
            assert!(status.is_sound(), "{:?}", status.problems);
            let expected = if revert { before.clone() } else { v(target) };
            assert_eq!(
                status.stable_version(),
                Some(&expected),
                "{point} revert={revert}"
            );
        }
    }
}

#[test]
fn concurrent_switches_serialize() {
    let tmp = tempfile::tempdir().expect("tmp");
    let paths = node(tmp.path());
    let held = NodeLock::acquire(&paths, |_| {}).expect("lock");
    let mut waiting = cli(tmp.path(), &["to", "3.1"])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        waiting.try_wait().expect("poll").is_none(),
        "blocked while the lock is held"
    );
    assert_eq!(
        ganeti_switch::check(&paths)
            .expect("check")
            .stable_version(),
        Some(&v("3.0"))
    );
    drop(held);
    let out = waiting.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("waiting for the node lock (pid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Many at once: all succeed one after another, the node stays sound.
    let children: Vec<_> = (0..8)
        .map(|i| {
            cli(tmp.path(), &["to", if i % 2 == 0 { "3.0" } else { "3.1" }])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    assert!(ganeti_switch::check(&paths).expect("check").is_sound());
}

#[test]
fn refusals_name_the_problem_and_change_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let paths = node(base);
    let (code, out) = run(cli(base, &["to", "3.9"]));
    assert_eq!(code, 1);
    assert!(
        out.contains("version 3.9 is not installed")
            && out.contains("installed here: 3.0 (active), 3.1"),
        "{out}"
    );
    let (code, out) = run(cli(base, &["to", "../3.1"]));
    assert_eq!(code, 2);
    assert!(out.contains("contains '/'"), "{out}");
    // Incomplete per its manifest.
    let victim = paths.version_share(&v("3.1")).join("gnt-cluster");
    fs_err::rename(&victim, base.join("saved")).expect("mv");
    let (code, out) = run(cli(base, &["to", "3.1"]));
    assert_eq!(code, 1);
    assert!(out.contains("gnt-cluster: missing"), "{out}");
    fs_err::rename(base.join("saved"), &victim).expect("mv back");
    // Daemons running (their pid file is locked): refuse without --force.
    let rundir = base.join("var/run/ganeti");
    fs_err::create_dir_all(&rundir).expect("mkdir");
    fs_err::write(rundir.join("ganeti-noded.pid"), "").expect("pid");
    let noded = common::have_python3()
        .then(|| common::Holder::new(&rundir.join("ganeti-noded.pid"), "flock"));
    if let Some(noded) = &noded {
        fs_err::write(
            rundir.join("ganeti-noded.pid"),
            format!("{}\n", noded.pid()),
        )
        .expect("pid");
        let (code, out) = run(cli(base, &["to", "3.1"]));
        assert_eq!(code, 1);
        assert!(
            out.contains(&format!(
                "Ganeti daemons are running on this node (ganeti-noded (pid {}))",
                noded.pid()
            )),
            "{out}"
        );
        assert!(out.contains("hint: stop them"), "{out}");
    }
    assert_eq!(
        ganeti_switch::check(&paths)
            .expect("check")
            .stable_version(),
        Some(&v("3.0"))
    );
    let (code, out) = run(cli(base, &["to", "3.1", "--force"]));
    assert_eq!(code, 0, "{out}");
    drop(noded);
    fs_err::remove_file(rundir.join("ganeti-noded.pid")).expect("rm");
    // A real directory where the link goes: never clobbered.
    let share = paths.active_share_link();
    fs_err::remove_file(&share).expect("rm link");
    fs_err::create_dir(&share).expect("mkdir");
    fs_err::write(share.join("admin-notes"), "keep me").expect("write");
    let (code, out) = run(cli(base, &["to", "3.0"]));
    assert_eq!(code, 1);
    assert!(
        out.contains("is a real file or directory, not a symlink; refusing to replace it"),
        "{out}"
    );
    assert_eq!(
        fs_err::read_to_string(share.join("admin-notes")).expect("kept"),
        "keep me"
    );
    let (code, out) = run(cli(base, &["check"]));
    assert_eq!(code, 1);
    assert!(
        out.contains("share: a real file or directory, not a symlink; move it aside"),
        "{out}"
    );
    // Dangling and mixed states are reported.
    fs_err::remove_dir_all(&share).expect("rm");
    fs_err::os::unix::fs::symlink(paths.version_share(&v("3.0")), &share).expect("link");
    let (_, out) = run(cli(base, &["check"]));
    assert!(out.contains("lib is on 3.1 but share is on 3.0"), "{out}");
    let (code, _) = run(cli(base, &["to", "3.1"]));
    assert_eq!(code, 0);
    // Stale temp links from a crash are cleaned and never listed.
    fs_err::os::unix::fs::symlink("/nowhere", paths.confdir().join(".lib.tmp-1-2-3"))
        .expect("stale");
    let (code, out) = run(cli(base, &["check"]));
    assert_eq!(code, 1);
    assert!(out.contains("stale temporary link"), "{out}");
    let (_, out) = run(cli(base, &["list"]));
    assert!(!out.contains("tmp"), "{out}");
    let (code, _) = run(cli(base, &["repair"]));
    assert_eq!(code, 0);
    assert!(!paths.confdir().join(".lib.tmp-1-2-3").exists());
    // The journal's and the previous record's temp files of a crashed
    // write (named as durable::temp_sibling names them) go too.
    let temps = [
        "..ganeti-switch.journal.tmp-1-2-3",
        "..ganeti-switch.previous.tmp-1-2-3",
    ];
    for t in temps {
        fs_err::write(paths.confdir().join(t), "{").expect("stale");
    }
    let (code, _) = run(cli(base, &["repair"]));
    assert_eq!(code, 0);
    for t in temps {
        assert!(!paths.confdir().join(t).exists(), "{t} left");
    }
}

#[test]
fn root_option_works_on_a_layout_destdir() {
    let tmp = tempfile::tempdir().expect("tmp");
    let demo_dir = tmp.path().join("demo");
    let status = Command::new(env!("CARGO_BIN_EXE_ganeti-switch"))
        .arg("--version")
        .status()
        .expect("run");
    assert!(status.success());
    let layout = PathBuf::from(env!("CARGO_BIN_EXE_ganeti-switch")).with_file_name("ganeti-layout");
    if !layout.exists() {
        let built = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "ganeti-layout"])
            .status()
            .expect("cargo build");
        assert!(built.success());
    }
    let out = Command::new(&layout)
        .args(["demo", "--dir"])
        .arg(&demo_dir)
        .output()
        .expect("demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = demo_dir.join("root");
    let sw = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ganeti-switch"))
            .arg("--root")
            .arg(&root)
            .args(args)
            .output()
            .expect("run");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(sw(&["current"]), (0, "3.0\n".into()));
    assert_eq!(sw(&["to", "3.1"]).0, 0);
    assert_eq!(sw(&["current"]), (0, "3.1\n".into()));
    let (code, out) = sw(&["current", "--json"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"stable\":true"), "{out}");
    assert_eq!(
        fs_err::read_link(root.join("etc/ganeti/lib")).expect("link"),
        PathBuf::from("/usr/lib/ganeti/3.1")
    );
    let mode = fs_err::metadata(root.join("usr/lib/ganeti/3.1"))
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o755);
}

/// A daemon user who can write `/var/lib/ganeti` plants a symlink where the
/// node lock goes: taking the lock fails, names the path, and neither the
/// link's target nor the node changes.
#[test]
fn node_lock_refuses_a_symlink_at_the_lock_path() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let paths = node(base);
    let lock = paths.fs().host_path(&paths.lock_file());
    let target = base.join("precious");
    fs_err::write(&target, "root's data\n").expect("write");
    fs_err::create_dir_all(lock.parent().expect("parent")).expect("mkdir");
    let _ = fs_err::remove_file(&lock);
    fs_err::os::unix::fs::symlink(&target, &lock).expect("symlink");
    let err = NodeLock::acquire(&paths, |_| {})
        .err()
        .expect("a symlinked lock is refused");
    let message = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(|s| s.to_string())
            .unwrap_or_default()
    );
    assert!(message.contains(&lock.display().to_string()), "{message}");
    let (code, out) = run(cli(base, &["to", "3.1"]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&lock.display().to_string()), "{out}");
    assert!(out.contains("symbolic links"), "{out}");
    assert_eq!(NodeLock::holder(&paths), "");
    assert_eq!(
        fs_err::read_to_string(&target).expect("read"),
        "root's data\n"
    );
    assert_eq!(
        ganeti_switch::check(&paths)
            .expect("check")
            .stable_version(),
        Some(&v("3.0"))
    );
}

/// R3-5: the running version has no manifest and no dpkg list (a source
/// build, an RPM). The upgrade asks `installed --or-active` before leaving
/// it, and the switch back to it stays allowed once the switcher itself
/// has switched away from it; a version that never ran here still needs
/// a manifest.
#[test]
fn the_way_back_to_an_unmanifested_running_version_stays_open() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let paths = node(base);
    for v30 in [paths.version_lib(&v("3.0")), paths.version_share(&v("3.0"))] {
        fs_err::remove_file(v30.join(".ganeti-layout-manifest.json")).expect("rm manifest");
    }
    let (code, out) = run(cli(base, &["installed", "3.0"]));
    assert_eq!(code, 1, "{out}");
    let (code, out) = run(cli(base, &["installed", "--or-active", "3.0"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("switching back to it is allowed"), "{out}");
    let (code, out) = run(cli(base, &["to", "3.1"]));
    assert_eq!(code, 0, "{out}");
    // Now 3.0 is the version the last switch left.
    let (code, out) = run(cli(base, &["installed", "--or-active", "3.0"]));
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(cli(base, &["to", "3.0"]));
    assert_eq!(code, 0, "the switch back: {out}");
    // An unmanifested version this node never left is still refused.
    for v31 in [paths.version_lib(&v("3.1")), paths.version_share(&v("3.1"))] {
        fs_err::remove_file(v31.join(".ganeti-layout-manifest.json")).expect("rm manifest");
    }
    fs_err::remove_file(paths.fs().host_path(&paths.switch_previous())).expect("forget");
    let (code, out) = run(cli(base, &["installed", "--or-active", "3.1"]));
    assert_eq!(code, 1, "{out}");
    let (code, out) = run(cli(base, &["to", "3.1"]));
    assert_eq!(code, 1, "{out}");
}

/// R3-10: `to --wait SECS` gives up when the node lock is still held then,
/// switching nothing (an upgrade's remote switch never outlives the
/// upgrade's interest in the node).
#[test]
fn a_switch_waits_for_the_node_lock_only_as_long_as_told() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let paths = node(base);
    let lock = NodeLock::acquire(&paths, |_| {}).expect("lock");
    let started = std::time::Instant::now();
    let (code, out) = run(cli(base, &["to", "--wait", "1", "3.1"]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("still held after 1 s"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let (_, current) = run(cli(base, &["current"]));
    assert_eq!(current.trim(), "3.0");
    drop(lock);
    let (code, out) = run(cli(base, &["to", "--wait", "1", "3.1"]));
    assert_eq!(code, 0, "{out}");
}
