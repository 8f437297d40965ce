//! What the snapshot tests of every tool's command line share (included by
//! path from ganeti-layout's, ganeti-switch's and ganeti-packaging's
//! `tests/cli.rs`): a demo node with 3.0 (active) and 3.1 side by side in
//! a temporary root, and a transcript of one run of a tool on it.

use std::path::{Path, PathBuf};
use std::process::Command;

use ganeti_layout::install::demo;
use ganeti_layout::node::InstallPaths;

/// Demo 3.0.2 (active) and 3.1.0 laid out under `base/root`; its path.
pub fn two_version_node(base: &Path) -> PathBuf {
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
    root
}

/// `$ NAME ARGS`, the exit code, stdout then stderr, with `base` shown as
/// `[ROOT]`; `exe` runs with `DPKG_ROOT` and the packaging's override unset.
pub fn transcript(exe: &str, base: &Path, args: &[&str]) -> String {
    let out = Command::new(exe)
        .args(args)
        .env_remove("DPKG_ROOT")
        .env_remove("GANETI_PACKAGING_ALLOW_ACTIVE_REMOVAL")
        .output()
        .unwrap_or_else(|e| panic!("run {exe}: {e}"));
    let name = Path::new(exe)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = format!(
        "$ {name} {}\nexit {}\n{}{}---\n",
        args.join(" "),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.replace(&base.display().to_string(), "[ROOT]")
}
