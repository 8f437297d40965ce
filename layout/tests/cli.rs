//! Snapshots of what the admin and the packager read from `ganeti-layout`:
//! every `--help` page, and each refusal with its exit code, run against
//! real trees in a temporary root (shown as `[ROOT]`).

use std::path::Path;
use std::process::Command;

use ganeti_layout::{demo, InstallPaths};

#[test]
fn help_pages() {
    let text = ganeti_layout::cli::every_help_page(ganeti_layout::command::command(), 100);
    insta::assert_snapshot!("help", text);
}

/// `$ ganeti-layout ARGS`, its exit code, stdout then stderr, the
/// temporary directory replaced by `[ROOT]`.
fn transcript(base: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ganeti-layout"))
        .args(args)
        .output()
        .expect("run ganeti-layout");
    let text = format!(
        "$ ganeti-layout {}\nexit {}\n{}{}---\n",
        args.join(" "),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.replace(&base.display().to_string(), "[ROOT]")
}

#[test]
fn refusals_and_their_exit_codes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let base = tmp.path();
    let root = base.join("root");
    let paths = InstallPaths::default().with_root(&root).expect("paths");
    for (release, activate) in [("3.0.2", true), ("3.1.0", false)] {
        demo::install(
            &base.join(format!("stage-{release}")),
            &paths,
            &release.parse().expect("release"),
            activate,
        )
        .expect("demo install");
    }
    let r = root.display().to_string();
    let stage = base.join("stage-3.1.0").display().to_string();
    let other_root = base.join("other").display().to_string();
    std::fs::create_dir_all(base.join("other/usr/sbin")).expect("mkdir");
    std::fs::write(base.join("other/usr/sbin/gnt-cluster"), "#!/bin/sh\n").expect("write");
    let mut text = String::new();
    for args in [
        vec!["list", "--root", &r],
        vec!["remove", "--root", &r, "3.0"],
        vec!["remove", "--root", &r, "2.16"],
        vec!["remove", "--root", &r, "3"],
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
        text.push_str(&transcript(base, &args));
    }
    // A version with a tree file gone: list and verify name it.
    std::fs::remove_file(root.join("usr/share/ganeti/3.1/gnt-cluster")).expect("rm");
    text.push_str(&transcript(base, &["list", "--root", &r]));
    text.push_str(&transcript(base, &["verify", "--root", &r]));
    insta::assert_snapshot!("refusals", text);
}
