//! Environment variables the switcher reads, each with its purpose.

use std::sync::OnceLock;

/// `GANETI_SWITCH_CRASH_AT=<point>`: a test hook. The process kills itself
/// with SIGKILL when it reaches the named point of a switch
/// (`after-journal`, `after-temp-link`, `after-lib`, `after-share`), so crash
/// tests can stop it at every step deterministically. Unset in production.
pub const CRASH_AT: &str = "GANETI_SWITCH_CRASH_AT";

/// Called at each named point of a switch; see [`CRASH_AT`].
pub fn crash_point(point: &str) {
    static WANTED: OnceLock<Option<String>> = OnceLock::new();
    let wanted = WANTED.get_or_init(|| std::env::var(CRASH_AT).ok());
    if wanted.as_deref() == Some(point) {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

/// The running program's name, for lock-holder messages.
pub fn program_name() -> String {
    std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "ganeti".into())
}
