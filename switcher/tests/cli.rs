//! Snapshots of what the admin reads from `ganeti-switch`: every `--help`
//! page, and each refusal with its exit code, run against a demo node in a
//! temporary root (shown as `[ROOT]`).

use ganeti_test_support::{every_help_page, transcript, two_version_node};

const EXE: &str = env!("CARGO_BIN_EXE_ganeti-switch");

#[test]
fn help_pages() {
    let text = every_help_page(ganeti_switch::command::command(), 100);
    insta::assert_snapshot!("help", text);
}

#[test]
fn refusals_and_their_exit_codes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = two_version_node(base);
    let r = root.display().to_string();
    let mut text = String::new();
    for args in [
        vec!["list", "--root", &r],
        vec!["current", "--root", &r],
        vec!["to", "--root", &r, "2.16"],
        vec!["to", "--root", &r, "3.x"],
        vec!["to", "--root", &r, "3.1.0"],
        vec!["installed", "--root", &r, "2.16"],
        vec!["repair", "--root", &r],
    ] {
        text.push_str(&transcript(EXE, base, &args));
    }
    // A tree file gone: installed and every switch to it name it.
    fs_err::remove_file(root.join("usr/share/ganeti/3.1/gnt-cluster")).expect("rm");
    for args in [
        vec!["installed", "--root", &r, "3.1"],
        vec!["to", "--root", &r, "3.1"],
    ] {
        text.push_str(&transcript(EXE, base, &args));
    }
    // A mixed pair with no journal (a hand-made half switch): check,
    // current and repair each name the way out, and repair's way works.
    fs_err::remove_file(root.join("etc/ganeti/share")).expect("rm");
    fs_err::os::unix::fs::symlink("/usr/share/ganeti/3.1", root.join("etc/ganeti/share"))
        .expect("symlink");
    for args in [
        vec!["list", "--root", &r],
        vec!["check", "--root", &r],
        vec!["current", "--root", &r],
        vec!["repair", "--root", &r],
        vec!["to", "--root", &r, "3.0"],
        vec!["check", "--root", &r],
    ] {
        text.push_str(&transcript(EXE, base, &args));
    }
    insta::assert_snapshot!("refusals", text);
}

/// `ganeti-switch list | head -1`, `to 3.1 >/dev/full`: no panic (exit 101
/// after the switch, before); the switch reports itself done (exit 0), a
/// listing whose output is lost to a full disk fails (exit 1), one whose
/// reader is gone does not.
#[test]
fn a_closed_pipe_or_a_full_disk_never_kills_the_work() {
    use ganeti_test_support::{run_with_stdout, Sink};
    for sink in [Sink::ClosedPipe, Sink::Full] {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = two_version_node(tmp.path());
        let r = root.display().to_string();
        let (code, err) = run_with_stdout(EXE, &["to", "--root", &r, "3.1"], &[], sink);
        assert_eq!(code, 0, "{sink:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            fs_err::read_link(root.join("etc/ganeti/lib")).expect("link"),
            std::path::Path::new("/usr/lib/ganeti/3.1"),
            "{sink:?}: the switch happened"
        );
        for args in [
            vec!["list", "--root", &r],
            vec!["current", "--root", &r],
            vec!["check", "--root", &r],
            vec!["check", "--root", &r, "--json"],
            vec!["installed", "--root", &r, "3.0"],
        ] {
            let (code, err) = run_with_stdout(EXE, &args, &[], sink);
            assert!(!err.contains("panicked"), "{args:?}: {err}");
            assert_eq!(
                code,
                i32::from(sink == Sink::Full),
                "{sink:?} {args:?}: {err}"
            );
        }
        let (code, err) = run_with_stdout(EXE, &["repair", "--root", &r], &[], sink);
        assert_eq!(code, 0, "{sink:?}: {err}");
    }
}

/// A mistyped `--root` is refused (exit 2; `check` said "sound: no version
/// is active"), and a version that is not installed is named with what is.
#[test]
fn a_missing_root_and_what_is_installed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = two_version_node(base);
    let r = root.display().to_string();
    let mut text = String::new();
    for args in [
        vec!["check", "--root", "/nonexistent"],
        vec!["list", "--root", "/nonexistent"],
        vec!["current", "--root", "/nonexistent"],
        vec!["to", "--root", &r, "3.2"],
        vec!["installed", "--root", &r, "3.2"],
    ] {
        text.push_str(&transcript(EXE, base, &args));
    }
    insta::assert_snapshot!("missing_root", text);
}

/// Debian's `ganeti` postrm deletes both switch links when the farm
/// package is removed: on a node of a cluster every Ganeti command then
/// dangles. `check` said "sound: no version is active" (and `ganeti-layout
/// verify` "sound"); it is not, and the fix is named (the version the
/// cluster's configuration is at), and works.
#[test]
fn a_clustered_node_without_switch_links_is_not_sound() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = two_version_node(base);
    let r = root.display().to_string();
    fs_err::create_dir_all(root.join("var/lib/ganeti")).expect("mkdir");
    fs_err::write(root.join("var/lib/ganeti/server.pem"), "cert").expect("pem");
    fs_err::write(
        root.join("var/lib/ganeti/ssconf_release_version"),
        "3.0.2\n",
    )
    .expect("ssconf");
    for link in ["lib", "share"] {
        fs_err::remove_file(root.join("etc/ganeti").join(link)).expect("rm");
    }
    let mut text = String::new();
    let check = transcript(EXE, base, &["check", "--root", &r]);
    assert!(check.contains("exit 1\n"), "{check}");
    text.push_str(&check);
    // ganeti-layout verify says the same (its binary is there when the
    // workspace's tests are built together).
    let layout = EXE.replace("ganeti-switch", "ganeti-layout");
    if std::path::Path::new(&layout).exists() {
        let verify = transcript(&layout, base, &["verify", "--root", &r]);
        assert!(verify.contains("exit 1\n"), "{verify}");
    }
    // The fix it names works.
    let fix = check
        .lines()
        .find_map(|l| l.split("to fix: ").nth(1))
        .expect("a fix")
        .split(" (")
        .next()
        .expect("command")
        .to_string();
    let args: Vec<&str> = fix.split_whitespace().skip(1).collect();
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("[ROOT]", &base.display().to_string()))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    text.push_str(&transcript(EXE, base, &args));
    let after = transcript(EXE, base, &["check", "--root", &r]);
    assert!(after.contains("exit 0\nsound: 3.0 is active"), "{after}");
    insta::assert_snapshot!("clustered_without_links", text);
}

/// A node running a flat (single-version) Ganeti, as RPM clusters do: `list`
/// said no version is installed and `check` "sound"; both now say what is
/// there (its release from the installed Python package) and the way into
/// the versioned layout; so do `current` and the hint of `installed`.
#[test]
fn a_flat_install_is_recognised() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = base.join("root");
    fs_err::create_dir_all(root.join("usr/sbin")).expect("mkdir");
    fs_err::write(root.join("usr/sbin/gnt-cluster"), "#!/usr/bin/python3\n").expect("write");
    let package = root.join("usr/lib/python3.11/site-packages/ganeti");
    fs_err::create_dir_all(&package).expect("mkdir");
    fs_err::write(
        package.join("_constants.py"),
        "RELEASE_VERSION = \"3.0.2\"\n",
    )
    .expect("write");
    let r = root.display().to_string();
    let mut text = String::new();
    let check = transcript(EXE, base, &["check", "--root", &r]);
    assert!(check.contains("exit 1\n"), "{check}");
    text.push_str(&check);
    text.push_str(&transcript(EXE, base, &["list", "--root", &r]));
    // `current` says "none" and why; the hint for a version not
    // installed leads with adopt, not with an install that conflicts.
    text.push_str(&transcript(EXE, base, &["current", "--root", &r]));
    text.push_str(&transcript(EXE, base, &["installed", "3.1", "--root", &r]));
    insta::assert_snapshot!("flat_install", text);
}
