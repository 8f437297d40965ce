//! What the toolkit's test suites share (uv's `uv-test` crate plays this
//! part there): demo nodes laid out in a temporary root, the transcript of
//! one run of a tool with the root filtered out, and every help page of a
//! command line. Only the test suites depend on it (`publish = false`).
//!
//! Panics instead of returning errors: a fixture that cannot be built
//! fails the test that asked for it, with the reason.

use std::path::{Path, PathBuf};
use std::process::Command;

use ganeti_layout::install::demo;
use ganeti_layout::node::InstallPaths;

/// Demo 3.0.2 (active) and 3.1.0 laid out with Debian's paths under the
/// root `base/root` (their stages in `base/stage-RELEASE`); the root.
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

/// Demo 3.0.2 (active) and 3.1.0 installed with every path under `base`
/// (`base/usr`, `base/etc`, `base/var`) and the root `/`, so that the
/// absolute switch links resolve through the kernel as on a real node;
/// the node's paths.
pub fn node_under(base: &Path) -> InstallPaths {
    demo::install_node_under(base).expect("demo node")
}

/// The paths of a node whose every directory is under `base`, as
/// [`node_under`] lays it out, with nothing installed.
pub fn paths_under(base: &Path) -> InstallPaths {
    demo::node_paths_under(base).expect("absolute test paths")
}

/// `$ NAME ARGS`, the exit code, stdout then stderr, with `base` shown as
/// `[ROOT]`; `exe` runs with `DPKG_ROOT` and the packaging's override
/// unset.
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

/// Every `--help` page of a command line, the top one and each
/// subcommand's (depth first), as the admin reads them at a terminal of
/// `width` columns: one text, each page under a `$ NAME SUB --help` line.
/// For snapshot tests of each tool, so that no help text drifts
/// unnoticed.
pub fn every_help_page(cmd: clap::Command, width: usize) -> String {
    fn walk(cmd: &mut clap::Command, path: &str, out: &mut String) {
        out.push_str(&format!("$ {path} --help\n"));
        out.push_str(&cmd.render_long_help().to_string());
        out.push_str("\n\n");
        for sub in cmd.get_subcommands_mut() {
            if sub.get_name() == "help" {
                continue;
            }
            let name = format!("{path} {}", sub.get_name());
            walk(sub, &name, out);
        }
    }
    let mut cmd = cmd.term_width(width);
    cmd.build();
    let name = cmd.get_name().to_string();
    let mut out = String::new();
    walk(&mut cmd, &name, &mut out);
    out
}

/// Where a tool's standard output goes in [`run_with_stdout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// A pipe whose reader is gone before the first write, as after
    /// `| head -1` has its line (every write fails with EPIPE; a socket
    /// pair stands in for the pipe, which std cannot make on our MSRV).
    ClosedPipe,
    /// `/dev/full`: every write fails with ENOSPC, as on a full disk.
    Full,
}

/// Runs `exe` with `args` (and `env`), its standard output going to
/// `sink`; the exit code (-1 if killed) and standard error.
pub fn run_with_stdout(
    exe: &str,
    args: &[&str],
    env: &[(&str, &str)],
    sink: Sink,
) -> (i32, String) {
    use std::os::fd::OwnedFd;
    let stdout: std::process::Stdio = match sink {
        Sink::ClosedPipe => {
            let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
            drop(ours);
            OwnedFd::from(theirs).into()
        }
        Sink::Full => fs_err::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("open /dev/full")
            .into_parts()
            .0
            .into(),
    };
    let out = Command::new(exe)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("GANETI_PACKAGING_ALLOW_ACTIVE_REMOVAL")
        .stdout(stdout)
        .output()
        .unwrap_or_else(|e| panic!("run {exe}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
