//! Environment variables `ganeti-upgrade` reads, each with its purpose.
//!
//! The test hooks (`GANETI_UPGRADE_CRASH_AT`, `_CRASH_IN`, `_WAIT_AT`) ship
//! in release builds on purpose: the suites that matter most run the binary
//! an admin runs, not a test build. The real-Ganeti scenarios and the
//! booted-node reboots install this toolkit from its own `.deb` (built as a
//! buildd would, `--release`) and hold or kill it at a named step; a hook
//! compiled only into test builds would leave those tests exercising a
//! different program. The hooks are inert unless their variable is set,
//! which nothing in the package does (the boot-time unit runs with a bare
//! environment plus `/etc/default/ganeti-upgrade`); and each acts only at
//! the one named step (the executor's `Checkpoint`).

/// Overrides this host's name (tests run several nodes on one machine).
pub const HOSTNAME: &str = "GANETI_UPGRADE_HOSTNAME";
/// Test hook: SIGKILL ourselves right after this step is recorded done.
pub const CRASH_AT: &str = "GANETI_UPGRADE_CRASH_AT";
/// Test hook: SIGKILL ourselves right after this step started.
pub const CRASH_IN: &str = "GANETI_UPGRADE_CRASH_IN";
/// Test hook: before this step, create `${localstatedir}/run/ganeti/ganeti-upgrade.waiting-STEP`
/// and wait until it is removed (so a test can signal us at an exact point).
/// A comma-separated list of steps waits before each of them.
pub const WAIT_AT: &str = "GANETI_UPGRADE_WAIT_AT";
/// How often (seconds) the job queue is polled while waiting; default 1.
pub const POLL_INTERVAL: &str = "GANETI_UPGRADE_POLL_INTERVAL";
/// Set to 1: never talk LUXI to luxid, use Ganeti's command-line tools for
/// everything (the way taken anyway when luxid cannot be reached).
pub const NO_LUXI: &str = "GANETI_UPGRADE_NO_LUXI";

pub fn matches(var: &str, step: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == step)
}

/// Whether `var` names `step` in its comma-separated list.
pub fn lists(var: &str, step: &str) -> bool {
    std::env::var(var).is_ok_and(|v| in_list(&v, step))
}

fn in_list(list: &str, step: &str) -> bool {
    list.split(',').any(|s| s.trim() == step)
}

pub fn kill_self() {
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
}

#[cfg(test)]
mod tests {
    use super::in_list;

    #[test]
    fn a_wait_list_names_each_of_its_steps_and_nothing_else() {
        assert!(in_list("backup", "backup"));
        assert!(in_list("stop-daemons,backup, upgrade-config", "backup"));
        assert!(in_list(
            "stop-daemons,backup, upgrade-config",
            "upgrade-config"
        ));
        assert!(!in_list("stop-daemons,backup", "stop"));
        assert!(!in_list("", "backup"));
    }
}
