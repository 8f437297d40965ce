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
