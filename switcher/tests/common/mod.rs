//! Helpers shared by the switcher's integration tests: a demo node, the
//! binary run on it, and lock holders.
//!
//! The lock holders are `python3` children, because that is what Ganeti's
//! Python daemons are and because Python has both lock calls: `lockf` is a
//! POSIX record lock (`fcntl`), as the Haskell daemons take; `flock` is the
//! BSD lock the Python daemons take. Without `python3` the tests that need
//! one say so and skip.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use ganeti_layout::node::InstallPaths;

/// Two demo versions (3.0 active, 3.1) installed under `base`, with the
/// root `/` so that the absolute switch links resolve through the kernel.
pub fn node(base: &Path) -> InstallPaths {
    ganeti_test_support::node_under(base)
}

/// The command the tools print for the node under `base`: `ganeti-switch`
/// with its path options, then `args`.
pub fn sw(base: &Path, args: &str) -> String {
    format!(
        "ganeti-switch --prefix {0}/usr --sysconfdir {0}/etc --localstatedir {0}/var {args}",
        base.display()
    )
}

/// `ganeti-switch ARGS` on the node under `base`: exit code, and stdout
/// followed by stderr.
pub fn cli(base: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ganeti-switch"))
        .arg("--prefix")
        .arg(base.join("usr"))
        .arg("--sysconfdir")
        .arg(base.join("etc"))
        .arg("--localstatedir")
        .arg(base.join("var"))
        .args(args)
        .output()
        .expect("run ganeti-switch");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

pub fn have_python3() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import fcntl"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIPPED: python3 is needed to hold the locks a Ganeti daemon holds");
    }
    ok
}

/// A child process that holds a lock on `path` until dropped.
pub struct Holder(Child);

impl Holder {
    /// `call` is `lockf` (POSIX record lock) or `flock` (BSD lock).
    pub fn new(path: &Path, call: &str) -> Holder {
        let script = format!(
            "import fcntl, sys, time\n\
             f = open(sys.argv[1], 'r+')\n\
             fcntl.{call}(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n\
             print('locked', flush=True)\n\
             time.sleep(120)\n"
        );
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(path)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        assert_eq!(line.trim(), "locked", "the holder could not lock {path:?}");
        Holder(child)
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
