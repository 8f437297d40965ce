//! Processes on the node: whether Ganeti's daemons run (by the locks on
//! their pid files, as Ganeti itself tells) and whether a process exists.

pub use ganeti_layout::node::daemons::live_daemons;
use ganeti_layout::node::daemons::{pid_files, PidFile};
use ganeti_layout::node::{DirVersion, InstallPaths};

/// Does process `pid` exist (kill(pid, 0); EPERM counts as existing)?
pub fn pid_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// A Ganeti daemon that runs on this node, and the version whose code it
/// runs when that can be told.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunningDaemon {
    pub name: String,
    pub pid: Option<i32>,
    /// The version tree its executable comes from (`/proc/PID/exe` under
    /// `${libdir}/ganeti/V/`: the Haskell daemons). `None` when that
    /// cannot be told (Python daemons run the interpreter, whose script
    /// path goes through the links as they are now).
    pub version: Option<DirVersion>,
}

/// Every daemon whose pid file is locked (see [`live_daemons`], Ganeti's
/// rule: `ganeti_layout::node::daemons`), with the
/// version of the code it runs where it can be told.
pub fn running_daemons(paths: &InstallPaths) -> Vec<RunningDaemon> {
    let mut out: Vec<RunningDaemon> = pid_files(paths)
        .into_iter()
        .filter_map(|(name, state)| {
            let pid = match state {
                PidFile::Locked { pid } => pid,
                PidFile::Unknown(_) => None,
                PidFile::Stale | PidFile::Ignored => return None,
            };
            Some(RunningDaemon {
                name,
                pid,
                version: pid.and_then(|p| code_version(paths, p)),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The version tree `/proc/PID/exe` lies in, if it is one of ours (a
/// process sees paths as the node does: the root does not apply).
fn code_version(paths: &InstallPaths, pid: i32) -> Option<DirVersion> {
    let exe =
        ganeti_layout::node::durable::read_link(std::path::Path::new(&format!("/proc/{pid}/exe")))
            .ok()?;
    [paths.pkglibdir(), paths.sharedir()]
        .iter()
        .find_map(|top| {
            exe.strip_prefix(top)
                .ok()?
                .iter()
                .next()?
                .to_str()?
                .parse()
                .ok()
        })
}
