//! Helpers shared by the switcher's integration tests.
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
