//! `ganeti-switch stale VERSION`: the processes on this node that run code
//! of a version other than VERSION, the one the node has switched to
//! (issue 22 item 4: no stale code before the job queue reopens). A
//! process counts when
//! * its program (`/proc/PID/exe`) lies in another version's tree
//!   (`${libdir}/ganeti/V/`, `${prefix}/share/ganeti/V/`): the Haskell
//!   daemons (a program in the active version's tree is what runs, so
//!   the script rule below does not apply to it);
//! * it maps a file of another version's tree (`/proc/PID/maps`);
//! * its script (the first word of `/proc/PID/cmdline`, or the first after
//!   it that is not an option nor an option's value: the Python daemons
//!   and tools run `python3 [-u] [-W ignore] SCRIPT`) names another
//!   version's tree,
//!   or reaches the active version only through the switch links and the
//!   process started before the links were last switched: Python resolved
//!   the links when it started, so it runs what they named then.
//!
//! Start times come from `/proc/PID/stat` (clock ticks after boot) and
//! `/proc/stat`'s `btime` (whole seconds): a process counts as started
//! before the switch only when it started more than [`CLOCK_SLACK_S`]
//! earlier, so a daemon started right after the switch is never taken for
//! a stale one. Processes this one cannot read (gone, or another user's
//! without privileges) are passed over.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ganeti_layout::node::{DirVersion, InstallPaths};

/// What `btime`'s whole seconds can be off by.
pub const CLOCK_SLACK_S: f64 = 1.5;

/// Ganeti's daemons (`daemon-util`'s names): one of these running stale
/// code is restarted by `ganeti-upgrade`; any other process is named.
pub const DAEMONS: &[&str] = &[
    "ganeti-noded",
    "ganeti-confd",
    "ganeti-wconfd",
    "ganeti-rapi",
    "ganeti-luxid",
    "ganeti-kvmd",
    "ganeti-mond",
    "ganeti-metad",
];

/// One process that runs another version's code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stale {
    pub pid: i32,
    /// Its Ganeti daemon name (one of [`DAEMONS`]), when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon: Option<String>,
    /// Its command line, shortened to 120 characters.
    pub command: String,
    /// Why it counts, with the file.
    pub why: String,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} ({}): {}", self.pid, self.command, self.why)
    }
}

/// The version tree `path` (as this process sees it: under `--root`, the
/// root included) lies in, and which: `Some((V, path))`.
fn tree_of<'a>(paths: &InstallPaths, path: &'a Path) -> Option<(DirVersion, &'a Path)> {
    let fs = paths.fs();
    [
        fs.host_path(&paths.pkglibdir()),
        fs.host_path(&paths.sharedir()),
    ]
    .iter()
    .find_map(|top| {
        let rest = path.strip_prefix(top).ok()?;
        let v: DirVersion = rest.iter().next()?.to_str()?.parse().ok()?;
        Some((v, path))
    })
}

/// `path` in another version's tree: that version.
fn other_version(paths: &InstallPaths, path: &Path, active: &DirVersion) -> Option<DirVersion> {
    tree_of(paths, path).map(|(v, _)| v).filter(|v| v != active)
}

/// When the switch links were last changed (the later of the pair's
/// mtimes; a link's mtime is its creation, and the switch renames a new
/// link into place).
pub fn switched_at(paths: &InstallPaths) -> Option<SystemTime> {
    [paths.active_lib_link(), paths.active_share_link()]
        .iter()
        .filter_map(|l| fs_err::symlink_metadata(paths.fs().host_path(l)).ok())
        .filter_map(|m| m.modified().ok())
        .max()
}

/// The boot time and clock ticks per second, for start times.
struct Clock {
    boot: f64,
    hz: f64,
}

impl Clock {
    fn read() -> Option<Clock> {
        let stat = fs_err::read_to_string("/proc/stat").ok()?;
        let boot = stat
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        // USER_HZ: what /proc/PID/stat counts in (100 on every Linux
        // architecture Ganeti runs on; sysconf would say the same).
        Some(Clock { boot, hz: 100.0 })
    }
    /// Seconds since the epoch when `pid` started.
    fn started(&self, pid: i32) -> Option<f64> {
        let stat = fs_err::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The fields after the command (which may hold spaces) in ")".
        let after = &stat[stat.rfind(')')? + 1..];
        // Field 22 overall is the 20th after the command.
        let ticks: f64 = after.split_whitespace().nth(19)?.parse().ok()?;
        Some(self.boot + ticks / self.hz)
    }
}

fn shortened(s: &str) -> String {
    if s.chars().count() > 120 {
        format!("{}...", s.chars().take(117).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Every process on this node that runs code of a version other than
/// `active` (see the module's rules), by pid.
pub fn stale(paths: &InstallPaths, active: &DirVersion) -> Vec<Stale> {
    let switched = switched_at(paths)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64());
    let clock = Clock::read();
    let me = std::process::id();
    let mut out = Vec::new();
    let Ok(entries) = fs_err::read_dir("/proc") else {
        return out;
    };
    let mut pids: Vec<i32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|p: &i32| u32::try_from(*p).ok() != Some(me))
        .collect();
    pids.sort_unstable();
    for pid in pids {
        let Ok(raw) = fs_err::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let argv: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if argv.is_empty() {
            continue; // a kernel thread or a zombie
        }
        let link = ganeti_layout::node::durable::read_link(Path::new(&format!("/proc/{pid}/exe")))
            .ok()
            .map(|e| e.to_string_lossy().into_owned());
        let deleted = link.as_deref().is_some_and(|l| l.ends_with(" (deleted)"));
        let exe = link
            .as_deref()
            .map(|l| PathBuf::from(l.strip_suffix(" (deleted)").unwrap_or(l)));
        // A program in a version's tree is what runs: its script words
        // (argv[0], a link path) say nothing more.
        let program_in_tree = exe.as_deref().and_then(|e| tree_of(paths, e));
        let why = program_in_tree
            .as_ref()
            .and_then(|(v, e)| {
                if v != active {
                    Some(format!("its program {} is {v}'s", e.display()))
                } else if deleted {
                    Some(format!(
                        "its program {} was replaced or removed after it started (a package upgrade of {v} while it ran)",
                        e.display()
                    ))
                } else {
                    None
                }
            })
            .or_else(|| mapped(paths, pid, active))
            .or_else(|| {
                if program_in_tree.is_some() {
                    return None;
                }
                script(
                    paths,
                    &argv,
                    active,
                    clock.as_ref().and_then(|c| c.started(pid)),
                    switched,
                )
            });
        let Some(why) = why else { continue };
        let daemon = daemon_name(exe.as_deref(), &argv);
        out.push(Stale {
            pid,
            daemon,
            command: shortened(&argv.join(" ")),
            why,
        });
    }
    out
}

/// The Ganeti daemon a process is: its program is the daemon (the Haskell
/// daemons), or its program is a Python interpreter and its first
/// argument the daemon's script (the Python daemons, as their `#!` line
/// starts them). An admin's `less` or `cat` of a daemon's file is none.
fn daemon_name(exe: Option<&Path>, argv: &[String]) -> Option<String> {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let program = exe.and_then(name)?;
    let candidate = if program.starts_with("python") {
        name(Path::new(script_word(argv)?))?
    } else {
        program
    };
    DAEMONS.contains(&candidate.as_str()).then_some(candidate)
}

/// A file of another version's tree in `/proc/PID/maps`.
fn mapped(paths: &InstallPaths, pid: i32, active: &DirVersion) -> Option<String> {
    let maps = fs_err::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    maps.lines().find_map(|l| {
        let file = l.split_whitespace().nth(5)?;
        let v = other_version(paths, Path::new(file), active)?;
        Some(format!("it maps {file}, which is {v}'s"))
    })
}

/// The script of `python3 [OPTION...] SCRIPT`: the first word after the
/// program that is not an option nor an option's value (`-W ignore`, `-X
/// dev`); none after `-c` or `-m` (a command or a module, no script).
fn script_word(argv: &[String]) -> Option<&String> {
    let mut words = argv.iter().skip(1);
    while let Some(w) = words.next() {
        match w.as_str() {
            "-W" | "-X" | "-Q" => {
                words.next();
            }
            "-c" | "-m" => return None,
            "--" => return words.next(),
            _ if w.starts_with('-') => {}
            _ => return Some(w),
        }
    }
    None
}

/// The script among the program's word and [`script_word`]: in another
/// version's tree, or reached through the switch links
/// by a process older than the switch.
fn script(
    paths: &InstallPaths,
    argv: &[String],
    active: &DirVersion,
    started: Option<f64>,
    switched: Option<f64>,
) -> Option<String> {
    for word in argv.iter().take(1).chain(script_word(argv)) {
        let p = Path::new(word);
        if !p.is_absolute() {
            continue;
        }
        if let Some(v) = other_version(paths, p, active) {
            return Some(format!("its script {word} is {v}'s"));
        }
        let Ok(real) = fs_err::canonicalize(p) else {
            continue;
        };
        let Some((now, _)) = tree_of(paths, &real) else {
            continue;
        };
        if now != *active {
            return Some(format!("its script {word} is {now}'s ({})", real.display()));
        }
        // Reached through the links: what they named when it started.
        if let (Some(s), Some(w)) = (started, switched) {
            if s + CLOCK_SLACK_S < w {
                let ago = Duration::from_secs_f64((w - s).max(0.0)).as_secs();
                return Some(format!(
                    "its script {word} goes through the switch links, and it started {ago} s before they were switched to {active}"
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_judged_by_its_tree() {
        let paths = InstallPaths::default();
        let active: DirVersion = "3.1".parse().expect("v");
        let old = Path::new("/usr/lib/ganeti/3.0/usr/sbin/ganeti-luxid");
        assert_eq!(
            other_version(&paths, old, &active),
            Some("3.0".parse().expect("v"))
        );
        let new = Path::new("/usr/lib/ganeti/3.1/usr/sbin/ganeti-luxid");
        assert_eq!(other_version(&paths, new, &active), None);
        assert_eq!(
            other_version(&paths, Path::new("/usr/lib/ganeti/default/x"), &active),
            None
        );
        assert_eq!(
            other_version(&paths, Path::new("/usr/bin/python3"), &active),
            None
        );
        let argv = vec![
            "/usr/bin/python3".to_string(),
            "/usr/share/ganeti/3.0/ganeti-noded".to_string(),
        ];
        let why = script(&paths, &argv, &active, Some(10.0), Some(5.0)).expect("stale");
        assert!(
            why.contains("/usr/share/ganeti/3.0/ganeti-noded is 3.0's"),
            "{why}"
        );
    }

    #[test]
    fn only_the_daemons_own_processes_are_daemons() {
        let argv = |a: &[&str]| a.iter().map(ToString::to_string).collect::<Vec<_>>();
        let luxid = Path::new("/usr/lib/ganeti/3.0/usr/sbin/ganeti-luxid");
        assert_eq!(
            daemon_name(Some(luxid), &argv(&["/usr/sbin/ganeti-luxid"])).as_deref(),
            Some("ganeti-luxid")
        );
        let python = Path::new("/usr/bin/python3.11");
        assert_eq!(
            daemon_name(
                Some(python),
                &argv(&["/usr/bin/python3", "/usr/sbin/ganeti-noded"])
            )
            .as_deref(),
            Some("ganeti-noded")
        );
        let cat = Path::new("/usr/bin/cat");
        assert_eq!(
            daemon_name(
                Some(cat),
                &argv(&["cat", "/usr/share/ganeti/3.0/ganeti-noded"])
            ),
            None
        );
        let sleep = Path::new("/usr/bin/sleep");
        assert_eq!(
            daemon_name(
                Some(sleep),
                &argv(&["/usr/share/ganeti/3.0/ganeti-rapi", "600"])
            ),
            None
        );
        assert_eq!(
            daemon_name(
                Some(python),
                &argv(&["/usr/bin/python3", "/usr/sbin/gnt-cluster"])
            ),
            None
        );
    }

    #[test]
    fn the_script_is_found_past_pythons_options() {
        let argv = |a: &[&str]| a.iter().map(ToString::to_string).collect::<Vec<_>>();
        let python = Path::new("/usr/bin/python3.11");
        for words in [
            &["python3", "-u", "/usr/share/ganeti/3.1/ganeti-rapi"][..],
            &[
                "python3",
                "-W",
                "ignore",
                "/usr/share/ganeti/3.1/ganeti-rapi",
                "-b",
                "x",
            ],
            &[
                "python3",
                "-u",
                "-X",
                "dev",
                "/usr/share/ganeti/3.1/ganeti-rapi",
            ],
            &[
                "python3",
                "-Wignore",
                "--",
                "/usr/share/ganeti/3.1/ganeti-rapi",
            ],
        ] {
            assert_eq!(
                daemon_name(Some(python), &argv(words)).as_deref(),
                Some("ganeti-rapi"),
                "{words:?}"
            );
        }
        assert_eq!(
            daemon_name(
                Some(python),
                &argv(&["python3", "-c", "import x", "/usr/sbin/ganeti-rapi"])
            ),
            None
        );
        let paths = InstallPaths::default();
        let why = script(
            &paths,
            &argv(&[
                "python3",
                "-W",
                "ignore",
                "/usr/share/ganeti/3.1/ganeti-rapi",
            ]),
            &"3.0".parse().expect("v"),
            None,
            None,
        )
        .expect("stale");
        assert!(why.contains("ganeti-rapi is 3.1's"), "{why}");
    }

    #[test]
    fn this_process_and_its_parents_are_not_stale() {
        // Nothing here runs a Ganeti tree: the scan finds nothing, and it
        // reads the real /proc without failing.
        let dir = tempfile::tempdir().expect("tmp");
        let paths = InstallPaths::default()
            .with_root(dir.path())
            .expect("paths");
        let found = stale(&paths, &"3.1".parse().expect("v"));
        assert!(found.iter().all(|s| s.pid != std::process::id() as i32));
    }
}
