//! Snapshots of what the admin and the packager read from `ganeti-layout`:
//! every `--help` page, and each refusal with its exit code, run against
//! real trees in a temporary root (shown as `[ROOT]`).

use ganeti_test_support::{every_help_page, transcript, two_version_node};

const EXE: &str = env!("CARGO_BIN_EXE_ganeti-layout");

#[test]
fn help_pages() {
    let text = every_help_page(ganeti_layout::command::command(), 100);
    insta::assert_snapshot!("help", text);
}

#[test]
fn refusals_and_their_exit_codes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = two_version_node(base);
    let r = root.display().to_string();
    let stage = base.join("stage-3.1.0").display().to_string();
    let other_root = base.join("other").display().to_string();
    fs_err::create_dir_all(base.join("other/usr/sbin")).expect("mkdir");
    fs_err::write(base.join("other/usr/sbin/gnt-cluster"), "#!/bin/sh\n").expect("write");
    let mut text = String::new();
    for args in [
        vec!["list", "--root", &r],
        vec!["remove", "--root", &r, "3.0"],
        vec!["remove", "--root", &r, "2.16"],
        vec!["remove", "--root", &r, "3"],
        vec!["remove", "--root", &r, "3.1.0"],
        vec!["demo", "--root", &r],
        vec!["remove", "--root", &r, "--version", "3.0"],
        vec!["remove", "--root", &r],
        vec!["install", "--stage", "/nonexistent", "--root", &r],
        vec![
            "install",
            "--stage",
            &stage,
            "--release",
            "3.1.1",
            "--root",
            &r,
        ],
        vec!["install", "--stage", &stage, "--dest", &other_root],
    ] {
        text.push_str(&transcript(EXE, base, &args));
    }
    // A version with a tree file gone: list and verify name it.
    fs_err::remove_file(root.join("usr/share/ganeti/3.1/gnt-cluster")).expect("rm");
    text.push_str(&transcript(EXE, base, &["list", "--root", &r]));
    text.push_str(&transcript(EXE, base, &["verify", "--root", &r]));
    insta::assert_snapshot!("refusals", text);
}

/// `ganeti-layout demo | head -1`, `list | head -1`, `... >/dev/full`:
/// no panic (it was exit 101 after the work); a command that changes the
/// node reports the change, one whose output is the work fails (exit 1)
/// when the output is lost, but not when its reader is gone.
#[test]
fn a_closed_pipe_or_a_full_disk_never_kills_the_work() {
    use ganeti_test_support::{run_with_stdout, Sink};
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    for sink in [Sink::ClosedPipe, Sink::Full] {
        let demo = base.join(format!("demo-{sink:?}"));
        let d = demo.display().to_string();
        let (code, err) = run_with_stdout(EXE, &["demo", "--dir", &d], &[], sink);
        assert_eq!(code, 0, "{sink:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        // The work was done: both versions are there and sound.
        let r = demo.join("root").display().to_string();
        let verify = std::process::Command::new(EXE)
            .args(["verify", "--root", &r])
            .output()
            .expect("verify");
        assert!(verify.status.success(), "{sink:?}: {verify:?}");
        let stage = demo.join("stage-3.1.0").display().to_string();
        let other = base.join(format!("other-{sink:?}")).display().to_string();
        for (args, changes) in [
            (vec!["list", "--root", &r], false),
            (vec!["list", "--root", &r, "--json"], false),
            (vec!["verify", "--root", &r], false),
            (vec!["plan", "--stage", &stage, "--root", &other], false),
            (vec!["install", "--stage", &stage, "--root", &other], true),
            (vec!["remove", "--root", &other, "3.1"], true),
        ] {
            let (code, err) = run_with_stdout(EXE, &args, &[], sink);
            assert!(!err.contains("panicked"), "{args:?}: {err}");
            let want = if sink == Sink::Full && !changes { 1 } else { 0 };
            assert_eq!(code, want, "{sink:?} {args:?}: {err}");
            if sink == Sink::Full {
                assert!(err.contains("cannot write to standard output"), "{err}");
            } else {
                assert_eq!(err, "", "{args:?}");
            }
        }
    }
}

/// The fixes the tools print work, and what they print names the cause:
/// installing a damaged version again repairs it (it said "127 already
/// in place" and repaired nothing); `verify` names a regular file in a
/// farm link's slot (it said "missing"); a spec file's error keeps its
/// cause (the OS error, the TOML line); a mistyped `--root` is refused
/// (exit 2; it was a healthy empty node); "not installed" lists what is.
#[test]
fn the_printed_fixes_work() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = two_version_node(base);
    let r = root.display().to_string();
    let stage = base.join("stage-3.1.0").display().to_string();
    let mut text = String::new();
    // A program of 3.1 made non-executable.
    let job = root.join("usr/share/ganeti/3.1/gnt-job");
    fs_err::set_permissions(&job, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    text.push_str(&transcript(EXE, base, &["verify", "--root", &r]));
    let plan = std::process::Command::new(EXE)
        .args(["plan", "--root", &r, "--stage", &stage])
        .output()
        .expect("plan");
    let plan = String::from_utf8_lossy(&plan.stdout).replace(&base.display().to_string(), "[ROOT]");
    let repair: Vec<&str> = plan.lines().filter(|l| !l.starts_with("keep")).collect();
    text.push_str(&format!(
        "$ ganeti-layout plan (all but keep lines)\n{}\n---\n",
        repair.join("\n")
    ));
    text.push_str(&transcript(
        EXE,
        base,
        &["install", "--root", &r, "--stage", &stage],
    ));
    let verify = transcript(EXE, base, &["verify", "--root", &r]);
    assert!(verify.contains("exit 0\n"), "{verify}");
    text.push_str(&verify);
    // A regular file where the farm link goes.
    let node = root.join("usr/sbin/gnt-node");
    fs_err::remove_file(&node).expect("rm");
    fs_err::write(&node, "#!/bin/sh\n").expect("write");
    text.push_str(&transcript(EXE, base, &["verify", "--root", &r]));
    // Spec files: missing, and not valid TOML.
    let bad = base.join("bad.toml");
    fs_err::write(&bad, "[[program]]\npath = \"sbin/x\"\ntree = 3\n").expect("write");
    let bad = bad.display().to_string();
    let missing = base.join("nospec.toml").display().to_string();
    for args in [
        vec!["plan", "--root", &r, "--stage", &stage, "--spec", &missing],
        vec!["plan", "--root", &r, "--stage", &stage, "--spec", &bad],
        vec!["list", "--root", "/nonexistent"],
        vec!["verify", "--root", "/nonexistent"],
        vec!["remove", "--root", "/nonexistent", "3.0"],
        vec!["remove", "--root", &r, "3.2"],
    ] {
        text.push_str(&transcript(EXE, base, &args));
    }
    insta::assert_snapshot!("fixes", text);
}

/// Every JSON document of ganeti-layout carries `"format": 1`, the plan's
/// and the install's too (they had none; install gave only counts).
#[test]
fn every_json_document_has_its_format() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = two_version_node(base);
    let r = root.display().to_string();
    let stage = base.join("stage-3.1.0").display().to_string();
    let other = base.join("other").display().to_string();
    for args in [
        vec!["list", "--root", &r, "--json"],
        vec!["verify", "--root", &r, "--json"],
        vec!["plan", "--root", &other, "--stage", &stage, "--json"],
        vec!["install", "--root", &other, "--stage", &stage, "--json"],
        // Now a conflict: a file where a farm link goes.
        vec![
            "install",
            "--root",
            &r,
            "--stage",
            &stage,
            "--json",
            "--spec",
            "/dev/null",
        ],
    ] {
        let out = std::process::Command::new(EXE)
            .args(&args)
            .output()
            .expect("run");
        let text = String::from_utf8_lossy(&out.stdout);
        let doc: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"));
        assert_eq!(doc["format"], 1, "{args:?}: {text}");
    }
    let out = std::process::Command::new(EXE)
        .args(["install", "--root", &other, "--stage", &stage, "--json"])
        .output()
        .expect("run");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["result"], "installed");
    assert_eq!(doc["dir_version"], "3.1");
    assert_eq!(doc["release"], "3.1.0");
}

/// A build configured for other directories than the layout's (an RPM
/// spec that passed the build root to --sysconfdir and --localstatedir):
/// its own `_constants.py` says so, and install refuses it naming both
/// (it laid it out, created the build root's directory on the node and
/// called the version complete). The same build with the layout's
/// directories installs.
#[test]
fn a_build_for_other_directories_is_refused_naming_both() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = two_version_node(base);
    let stage = base.join("stage-3.1.0");
    let constants = stage.join("usr/lib/python3/dist-packages/ganeti/_constants.py");
    let original = fs_err::read_to_string(&constants).expect("read");
    let buildroot = "/builddir/build/BUILDROOT/ganeti-3.1.0-1.x86_64";
    fs_err::write(
        &constants,
        format!(
            "{original}SYSCONFDIR = \"{buildroot}/etc\"\nLOCALSTATEDIR = \"{buildroot}/var\"\nPKGLIBDIR = \"/usr/lib/ganeti\"\nSHAREDIR = \"/usr/share/ganeti\"\n"
        ),
    )
    .expect("write");
    let other = base.join("other").display().to_string();
    let s = stage.display().to_string();
    let text = transcript(EXE, base, &["install", "--root", &other, "--stage", &s]);
    assert!(text.contains("exit 1\n"), "{text}");
    assert!(
        !base.join("other/usr/share/ganeti/3.1").exists(),
        "nothing laid out"
    );
    insta::assert_snapshot!("build_directories", text);
    fs_err::write(
        &constants,
        format!("{original}SYSCONFDIR = \"/etc\"\nLOCALSTATEDIR = \"/var\"\n"),
    )
    .expect("write");
    let text = transcript(EXE, base, &["install", "--root", &other, "--stage", &s]);
    assert!(text.contains("exit 0\n"), "{text}");
    let _ = root;
}
