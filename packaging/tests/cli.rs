//! Snapshots of what the packager and the admin read from
//! `ganeti-packaging`: every `--help` page, and each refusal a maintainer
//! script can meet, with its exit code, on a demo node in a temporary root
//! (shown as `[ROOT]`).

use std::path::Path;
use std::process::Command;

use ganeti_layout::{demo, InstallPaths};

#[test]
fn help_pages() {
    let text = ganeti_layout::cli::every_help_page(ganeti_packaging::cli::command(), 100);
    insta::assert_snapshot!("help", text);
}

fn transcript(base: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ganeti-packaging"))
        .args(args)
        .env_remove("DPKG_ROOT")
        .env_remove("GANETI_PACKAGING_ALLOW_ACTIVE_REMOVAL")
        .output()
        .expect("run ganeti-packaging");
    let text = format!(
        "$ ganeti-packaging {}\nexit {}\n{}{}---\n",
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
    let mut text = String::new();
    for args in [
        vec!["--root", &r, "prerm", "remove", "3.0"],
        vec!["--root", &r, "prerm", "remove", "3.x"],
        vec!["--root", &r, "snippet", "postinst", "3"],
        vec!["--root", &r, "snippet", "preinst", "3.1"],
    ] {
        text.push_str(&transcript(base, &args));
    }
    // In a cluster, removing the active version names the cluster-wide way.
    std::fs::create_dir_all(root.join("var/lib/ganeti")).expect("mkdir");
    std::fs::write(root.join("var/lib/ganeti/server.pem"), "cert").expect("write");
    text.push_str(&transcript(base, &["--root", &r, "prerm", "remove", "3.0"]));
    insta::assert_snapshot!("refusals", text);
}
