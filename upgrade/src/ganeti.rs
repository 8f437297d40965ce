//! Every command the upgrade runs on a node, as one typed value
//! ([`GanetiCmd`]): Ganeti's own tools (`daemon-util`, `cfgupgrade`,
//! `ensure-dirs`, `post-upgrade`, `gnt-*`), `ganeti-switch`, the node's
//! watcher-pause file, the master vote's question and the backup's `tar`.
//!
//! A step builds the value, [`Call::new`] turns it into the argv for the
//! node's paths, the executor runs the argv, and `--dry-run` shows the same
//! value ([`Call::shown`]), so the plan and the run cannot drift; the model
//! check answers by matching on the value, not by re-parsing argv.

use std::fmt;
use std::path::PathBuf;

use ganeti_layout::node::{DirVersion, InstallPaths};

use crate::ran::join_argv;

/// `daemon-util` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemons {
    StopAll,
    StartAll,
    /// `start DAEMON`: one daemon, as `start-all` starts each (after
    /// `ensure-dirs`, or through its systemd unit where daemon-util uses
    /// systemctl); a daemon already running is left as it is.
    Start(&'static str),
}

/// What `gnt-cluster redist-conf` needs running, and all it needs: noded on
/// every online node (the files are uploaded to each node's noded) and, on
/// the master, wconfd and luxid (the configuration and the job queue).
/// `LUClusterRedistConf` in Ganeti's `lib/cmdlib/cluster`; confd, rapi,
/// kvmd, mond and metad play no part. In `start-all`'s order.
pub const REDIST_NODE_DAEMONS: &[&str] = &["ganeti-noded"];
/// See [`REDIST_NODE_DAEMONS`]: the master's, after its noded.
pub const REDIST_MASTER_DAEMONS: &[&str] = &["ganeti-wconfd", "ganeti-luxid"];

/// Ganeti's drain flag, through `gnt-cluster queue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    Drain,
    Undrain,
}

/// luxid's watcher pause, through `gnt-cluster watcher`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watcher {
    /// For this many seconds from now.
    Pause {
        seconds: u64,
    },
    Continue,
}

/// Job filters, through `gnt-filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// A PAUSE filter of priority 0 with [`pause_predicates`] and `reason`.
    Add {
        reason: String,
    },
    /// `uuid reason_trail` per filter.
    List,
    Delete {
        uuid: String,
    },
}

/// What `ganeti-switch` is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Switch {
    /// Is the version completely installed (exit 0)?
    Installed(DirVersion),
    /// Make the version active.
    To(DirVersion),
    /// Could the node come back to the version (`installed --or-active`):
    /// completely installed, or the one it runs with nothing to check its
    /// completeness by (a source or RPM install)?
    Returnable(DirVersion),
    /// Would the version start on the node (`runs`): its interpreters,
    /// Python imports and shared libraries there?
    Runs(DirVersion),
    /// Which processes run code of a version other than this one
    /// (`stale V --json`): a JSON array of `ganeti_switch::stale::Stale`.
    Stale(DirVersion),
    /// The tool's own version (it takes no path options then).
    Version,
    /// What the node runs now (`current --json`: the active version and
    /// the running daemons with their code's version), for the end check.
    Current,
}

/// One command of the upgrade, on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GanetiCmd {
    DaemonUtil(Daemons),
    /// `cfgupgrade -f`, or `--downgrade -f`.
    Cfgupgrade {
        downgrade: bool,
    },
    /// A version's own `cfgupgrade` (`tool`, in its versioned tree) on a
    /// scratch copy of the data directory: `--path DIR --confdir DIR/conf
    /// --ignore-hostname -f`, and `--downgrade` (the rehearsal).
    Rehearse {
        tool: PathBuf,
        dir: PathBuf,
        downgrade: bool,
    },
    /// `ensure-dirs`, and `--full-run` when `full_run`: the plain run
    /// creates Ganeti's directories and sets the owner and mode of its
    /// fixed list of files (what the daemons need to start); the full run
    /// also walks every file of the job archive
    /// (`${localstatedir}/lib/ganeti/queue/archive`), which on a busy
    /// master candidate is tens of thousands of files.
    EnsureDirs {
        full_run: bool,
    },
    /// `gnt-cluster redist-conf --yes-do-it`.
    RedistConf,
    /// `gnt-cluster verify --error-codes`, each code in `ignore` given as
    /// `-I CODE`.
    Verify {
        ignore: Vec<String>,
    },
    /// `post-upgrade FROM-RELEASE`.
    PostUpgrade {
        from_release: String,
    },
    Queue(Queue),
    Watcher(Watcher),
    Filter(Filter),
    /// `gnt-job list --no-headers -o id,status`.
    ListJobs,
    /// `gnt-instance list --no-headers -o name,status` (the health
    /// baseline, [`crate::health`]).
    InstanceStates,
    /// `ganeti-switch` as found on the nodes (`tool`, `--switch-command`),
    /// with the node's path options.
    Switch {
        tool: String,
        action: Switch,
    },
    /// Our watcher pause on a node, written where there is none or it has
    /// run out ([`NODE_PAUSE_SCRIPT`]); `until` and `now` in epoch seconds.
    NodeWatcherPause {
        until: u64,
        now: u64,
    },
    /// Removes a node's watcher pause whose end is one of `values`
    /// ([`NODE_UNPAUSE_SCRIPT`]).
    NodeWatcherUnpause {
        values: Vec<u64>,
    },
    /// The copy of the master's journal on a master candidate: `text`,
    /// written atomically (0600) ([`JOURNAL_COPY_SCRIPT`]).
    JournalCopy {
        text: String,
    },
    /// Removes the copy of the journal (the upgrade is over).
    DropJournalCopy,
    /// Ends Ganeti daemons' processes that run another version's code
    /// (TERM, then KILL after 10 s), each `(pid, daemon)`, and starts with
    /// `daemon-util start` each daemon whose pid file named the process
    /// ended (one started beside the daemon's own is only ended)
    /// ([`RESTART_STALE_SCRIPT`]).
    RestartStale {
        daemons: Vec<(i32, String)>,
    },
    /// `gnt-node modify -O no NODE`: an offline node back online.
    MarkOnline {
        node: String,
    },
    /// The master vote's question: the node's `ssconf_master_node`.
    ReadMasterNode,
    /// Not a Ganeti tool: the ssh client's version (`ssh -V`), asked only
    /// of a cluster whose root keys are DSA.
    SshVersion {
        ssh: String,
    },
    /// Not a Ganeti tool: the backup's `tar` with these arguments.
    Tar(Vec<String>),
    /// Not a Ganeti tool: the node's `openssl version`, then each of the
    /// cluster certificate and the node certificate as `openssl x509
    /// -text` shows it ([`CERT_CHECK_SCRIPT`]; the crypto preflight).
    CertCheck,
}

/// Writes the watcher pause on a node where there is none, or only an
/// expired one: `sh -c SCRIPT sh FILE UNTIL NOW`.
/// `sh -c RESTART_STALE_SCRIPT sh DAEMON-UTIL RUNDIR PID:NAME...`: notes
/// which pids their daemon's pid file (`RUNDIR/NAME.pid`) names, sends
/// TERM to every pid, KILL to those alive after 10 s, then runs
/// `daemon-util start NAME` for the noted ones (exit 1 when one does not
/// start).
pub const RESTART_STALE_SCRIPT: &str = r#"du=$1; run=$2; shift 2; pids=""; start=""; for a in "$@"; do p=${a%%:*}; d=${a#*:}; pids="$pids $p"; [ "$(cat "$run/$d.pid" 2>/dev/null)" = "$p" ] && start="$start $d"; done; kill -TERM $pids 2>/dev/null; i=0; alive=$pids; while [ -n "$alive" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); left=""; for p in $alive; do kill -0 "$p" 2>/dev/null && left="$left $p"; done; alive=$left; done; [ -z "$alive" ] || kill -KILL $alive 2>/dev/null; for d in $start; do "$du" start "$d" || exit 1; done"#;

/// `sh -c CERT_CHECK_SCRIPT sh CERT...`: `openssl version`, then for each
/// certificate there `== PATH` and `openssl x509 -noout -text`; nothing
/// when there is no `openssl`. Always exit 0 (the caller judges).
pub const CERT_CHECK_SCRIPT: &str = r#"command -v openssl >/dev/null 2>&1 || exit 0; openssl version; for f in "$@"; do [ -e "$f" ] || continue; echo "== $f"; openssl x509 -in "$f" -noout -text 2>&1; done; exit 0"#;

pub const NODE_PAUSE_SCRIPT: &str = r#"t=$(cat "$1" 2>/dev/null); t=${t%%.*}; case $t in ''|*[!0-9]*) t=0;; esac; [ "$t" -gt "$3" ] || { printf '%s\n' "$2" >"$1.ganeti-upgrade" && mv -f "$1.ganeti-upgrade" "$1"; }"#;

/// Removes a node's watcher pause if it is one this upgrade wrote (its end
/// is exactly one of the VALUEs): `sh -c SCRIPT sh FILE VALUE...`.
pub const NODE_UNPAUSE_SCRIPT: &str = r#"t=$(cat "$1" 2>/dev/null) || exit 0; f=$1; shift; for v do if [ "${t%%.*}" = "$v" ]; then rm -f "$f" || exit 1; fi; done; exit 0"#;

/// Writes FILE's copy atomically: `sh -c SCRIPT sh FILE TEXT`.
pub const JOURNAL_COPY_SCRIPT: &str =
    r#"umask 077; printf '%s' "$2" >"$1.tmp" && mv -f "$1.tmp" "$1""#;

/// How long a node's `ganeti-switch to` waits for its node lock (held by a
/// package's maintainer script, say) before it gives up: well below the
/// default `--command-timeout`, after which the upgrade stops waiting for
/// the node and may roll back; a switch that outlived that would act on a
/// node the upgrade has given up.
pub const SWITCH_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// The predicates of the upgrade's PAUSE filter, in Ganeti's filter
/// language: every job but the one the upgrade itself submits while the
/// filter is in place (redist-conf), which would wait forever.
const PAUSE_PREDICATES: &str = r#"[["opcode", ["!", ["=", "OP_ID", "OP_CLUSTER_REDIST_CONF"]]]]"#;

/// [`PAUSE_PREDICATES`] as JSON (for LUXI and `gnt-filter add`).
pub fn pause_predicates() -> serde_json::Value {
    // A constant, parsed by a unit test: it cannot fail.
    serde_json::from_str(PAUSE_PREDICATES).unwrap_or_default()
}

/// `ganeti-switch`'s path options for this node: all four, and `--root`
/// when it is not `/`.
pub fn switch_path_args(paths: &InstallPaths) -> Vec<String> {
    let mut args = vec![
        format!("--prefix={}", paths.prefix().display()),
        format!("--sysconfdir={}", paths.sysconfdir().display()),
        format!("--libdir={}", paths.libdir().display()),
        format!("--localstatedir={}", paths.localstatedir().display()),
    ];
    if paths.root() != std::path::Path::new("/") {
        args.push(format!("--root={}", paths.root().display()));
    }
    args
}

fn words(program: std::path::PathBuf, args: &[&str]) -> Vec<String> {
    std::iter::once(program.display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .collect()
}

impl GanetiCmd {
    /// The command line for a node with these paths (no shell; over ssh it
    /// is quoted with [`join_argv`]).
    pub fn argv(&self, paths: &InstallPaths) -> Vec<String> {
        match self {
            GanetiCmd::RedistConf
            | GanetiCmd::Verify { .. }
            | GanetiCmd::Queue(_)
            | GanetiCmd::Watcher(_)
            | GanetiCmd::Filter(_)
            | GanetiCmd::ListJobs
            | GanetiCmd::InstanceStates
            | GanetiCmd::MarkOnline { .. } => self.gnt_argv(paths),
            GanetiCmd::DaemonUtil(Daemons::StopAll) => words(paths.daemon_util(), &["stop-all"]),
            GanetiCmd::DaemonUtil(Daemons::StartAll) => words(paths.daemon_util(), &["start-all"]),
            GanetiCmd::DaemonUtil(Daemons::Start(daemon)) => {
                words(paths.daemon_util(), &["start", daemon])
            }
            GanetiCmd::Cfgupgrade { downgrade: false } => words(paths.cfgupgrade(), &["-f"]),
            GanetiCmd::Cfgupgrade { downgrade: true } => {
                words(paths.cfgupgrade(), &["--downgrade", "-f"])
            }
            GanetiCmd::Rehearse {
                tool,
                dir,
                downgrade,
            } => {
                let (path, confdir) = (dir.display().to_string(), dir.join("conf"));
                let confdir = confdir.display().to_string();
                let args = [
                    "--path",
                    &path,
                    "--confdir",
                    &confdir,
                    "--ignore-hostname",
                    "-f",
                ];
                let down: &[&str] = if *downgrade { &["--downgrade"] } else { &[] };
                words(tool.clone(), &[&args[..], down].concat())
            }
            GanetiCmd::EnsureDirs { full_run } => {
                let full: &[&str] = if *full_run { &["--full-run"] } else { &[] };
                words(paths.ensure_dirs(), full)
            }
            GanetiCmd::PostUpgrade { from_release } => {
                words(paths.post_upgrade(), &[from_release.as_str()])
            }
            GanetiCmd::Switch { tool, action } => switch_argv(tool, action, paths),
            GanetiCmd::NodeWatcherPause { until, now } => {
                let mut argv = node_script(NODE_PAUSE_SCRIPT, paths);
                argv.extend([until.to_string(), now.to_string()]);
                argv
            }
            GanetiCmd::RestartStale { daemons } => {
                let mut argv = vec![
                    "sh".into(),
                    "-c".into(),
                    RESTART_STALE_SCRIPT.into(),
                    "sh".into(),
                    paths.daemon_util().display().to_string(),
                    paths.rundir().display().to_string(),
                ];
                argv.extend(daemons.iter().map(|(pid, name)| format!("{pid}:{name}")));
                argv
            }
            GanetiCmd::NodeWatcherUnpause { values } => {
                let mut argv = node_script(NODE_UNPAUSE_SCRIPT, paths);
                argv.extend(values.iter().map(u64::to_string));
                argv
            }
            GanetiCmd::JournalCopy { text } => vec![
                "sh".into(),
                "-c".into(),
                JOURNAL_COPY_SCRIPT.into(),
                "sh".into(),
                paths.upgrade_journal_copy().display().to_string(),
                text.clone(),
            ],
            GanetiCmd::DropJournalCopy => vec![
                "rm".into(),
                "-f".into(),
                paths.upgrade_journal_copy().display().to_string(),
            ],
            GanetiCmd::ReadMasterNode => vec![
                "cat".into(),
                paths.ssconf("master_node").display().to_string(),
            ],
            GanetiCmd::SshVersion { ssh } => vec![ssh.clone(), "-V".into()],
            GanetiCmd::Tar(args) => std::iter::once("tar".to_string())
                .chain(args.iter().cloned())
                .collect(),
            GanetiCmd::CertCheck => vec![
                "sh".into(),
                "-c".into(),
                CERT_CHECK_SCRIPT.into(),
                "sh".into(),
                paths.server_pem().display().to_string(),
                paths.datadir().join("client.pem").display().to_string(),
            ],
        }
    }

    /// The argv of the `gnt-*` commands ([`GanetiCmd::argv`] sends only
    /// those here; any other is empty).
    fn gnt_argv(&self, paths: &InstallPaths) -> Vec<String> {
        let gnt = |tool: &str, args: &[&str]| words(paths.gnt(tool), args);
        match self {
            GanetiCmd::RedistConf => gnt("gnt-cluster", &["redist-conf", "--yes-do-it"]),
            GanetiCmd::Verify { ignore } => {
                let mut argv = words(paths.gnt("gnt-cluster"), &["verify", "--error-codes"]);
                for code in ignore {
                    argv.extend(["-I".to_string(), code.clone()]);
                }
                argv
            }
            GanetiCmd::Queue(Queue::Drain) => gnt("gnt-cluster", &["queue", "drain"]),
            GanetiCmd::Queue(Queue::Undrain) => gnt("gnt-cluster", &["queue", "undrain"]),
            GanetiCmd::Watcher(Watcher::Pause { seconds }) => {
                gnt("gnt-cluster", &["watcher", "pause", &seconds.to_string()])
            }
            GanetiCmd::Watcher(Watcher::Continue) => gnt("gnt-cluster", &["watcher", "continue"]),
            GanetiCmd::Filter(Filter::Add { reason }) => gnt(
                "gnt-filter",
                &[
                    "add",
                    "--action=PAUSE",
                    "--priority=0",
                    &format!("--predicates={}", pause_predicates()),
                    &format!("--reason={reason}"),
                ],
            ),
            GanetiCmd::Filter(Filter::List) => gnt(
                "gnt-filter",
                &["list", "--no-headers", "-o", "uuid,reason_trail"],
            ),
            GanetiCmd::Filter(Filter::Delete { uuid }) => gnt("gnt-filter", &["delete", uuid]),
            GanetiCmd::ListJobs => gnt("gnt-job", &["list", "--no-headers", "-o", "id,status"]),
            GanetiCmd::InstanceStates => gnt(
                "gnt-instance",
                &["list", "--no-headers", "-o", "name,status"],
            ),
            GanetiCmd::MarkOnline { node } => gnt("gnt-node", &["modify", "-O", "no", node]),
            _ => Vec::new(),
        }
    }
}

/// `ganeti-switch` (`tool`) asked `action`, with the node's path options.
fn switch_argv(tool: &str, action: &Switch, paths: &InstallPaths) -> Vec<String> {
    let mut argv = vec![tool.to_string()];
    match action {
        Switch::Version => argv.push("--version".into()),
        Switch::Current => {
            argv.extend(switch_path_args(paths));
            argv.extend(["current".into(), "--json".into()]);
        }
        Switch::Installed(v) => {
            argv.extend(switch_path_args(paths));
            argv.extend(["installed".into(), v.to_string()]);
        }
        Switch::To(v) => {
            argv.extend(switch_path_args(paths));
            // Never wait for the node lock past the point where
            // the upgrade may have given the node up.
            argv.extend([
                "to".into(),
                "--wait".into(),
                SWITCH_LOCK_WAIT.as_secs().to_string(),
                v.to_string(),
            ]);
        }
        Switch::Returnable(v) => {
            argv.extend(switch_path_args(paths));
            argv.extend(["installed".into(), "--or-active".into(), v.to_string()]);
        }
        Switch::Runs(v) => {
            argv.extend(switch_path_args(paths));
            argv.extend(["runs".into(), v.to_string()]);
        }
        Switch::Stale(v) => {
            argv.extend(switch_path_args(paths));
            argv.extend(["stale".into(), "--json".into(), v.to_string()]);
        }
    }
    argv
}

/// `sh -c SCRIPT sh WATCHER-PAUSE-FILE`, its arguments to follow.
fn node_script(script: &str, paths: &InstallPaths) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        script.into(),
        "sh".into(),
        paths.watcher_pause().display().to_string(),
    ]
}

/// A command ready to run: what it is, and its argv for the node's paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub cmd: GanetiCmd,
    pub argv: Vec<String>,
}

impl Call {
    pub fn new(cmd: GanetiCmd, paths: &InstallPaths) -> Call {
        let argv = cmd.argv(paths);
        Call { cmd, argv }
    }

    /// How the plan shows it to the admin: the command line, but for
    /// `ganeti-switch` without its path options, the filter without its
    /// predicates, and the job and pause commands by name.
    pub fn shown(&self) -> String {
        let program = || self.argv.first().cloned().unwrap_or_default();
        match &self.cmd {
            GanetiCmd::Switch { tool, action } => match action {
                Switch::Installed(v) => format!("{tool} installed {v}"),
                Switch::To(v) => format!("{tool} to {v}"),
                Switch::Returnable(v) => format!("{tool} installed --or-active {v}"),
                Switch::Runs(v) => format!("{tool} runs {v}"),
                Switch::Stale(v) => format!("{tool} stale {v}"),
                Switch::Version => format!("{tool} --version"),
                Switch::Current => format!("{tool} current --json"),
            },
            GanetiCmd::Filter(Filter::Add { reason }) => {
                format!("{} add --action=PAUSE --reason={reason}", program())
            }
            GanetiCmd::ListJobs => format!("{} list", program()),
            GanetiCmd::JournalCopy { .. } => {
                format!("write {}", self.argv.get(4).cloned().unwrap_or_default())
            }
            GanetiCmd::Watcher(Watcher::Pause { .. }) => format!("{} watcher pause", program()),
            _ => join_argv(&self.argv),
        }
    }
}

/// In JSON a call is its argv.
impl serde::Serialize for Call {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.argv.serialize(s)
    }
}

impl Call {
    /// The command as commands.log and the results name it: its command
    /// line, but a journal copy by its file and size (not its text).
    pub fn logged(&self) -> String {
        match &self.cmd {
            GanetiCmd::JournalCopy { text } => format!("{} ({} bytes)", self.shown(), text.len()),
            _ => join_argv(&self.argv),
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&join_argv(&self.argv))
    }
}

/// What `ganeti-switch current --json` says of a node.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct NodeNow {
    /// The active version, when the links are stable.
    #[serde(default)]
    pub version: Option<DirVersion>,
    /// The daemons running (absent from an older ganeti-switch).
    #[serde(default)]
    pub daemons: Vec<DaemonNow>,
}

/// A daemon running on a node, and its code's version when known.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct DaemonNow {
    pub name: String,
    #[serde(default)]
    pub pid: Option<i32>,
    #[serde(default)]
    pub version: Option<DirVersion>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_predicates_parse() {
        assert!(pause_predicates().is_array());
        assert_eq!(
            pause_predicates().to_string(),
            r#"[["opcode",["!",["=","OP_ID","OP_CLUSTER_REDIST_CONF"]]]]"#
        );
    }

    #[test]
    fn switch_takes_the_nodes_path_options_but_not_for_its_version() {
        let paths = InstallPaths::default();
        let to = |action| {
            Call::new(
                GanetiCmd::Switch {
                    tool: "/usr/sbin/ganeti-switch".into(),
                    action,
                },
                &paths,
            )
        };
        assert_eq!(
            to(Switch::To("3.1".parse().expect("v"))).to_string(),
            "/usr/sbin/ganeti-switch --prefix=/usr --sysconfdir=/etc --libdir=/usr/lib --localstatedir=/var to --wait 300 3.1"
        );
        assert_eq!(
            to(Switch::Version).argv,
            ["/usr/sbin/ganeti-switch", "--version"]
        );
        assert_eq!(
            to(Switch::Installed("3.1".parse().expect("v"))).shown(),
            "/usr/sbin/ganeti-switch installed 3.1"
        );
    }
}

/// The nodes `gnt-cluster redist-conf`'s copies did not reach, from its
/// output: Ganeti's `UploadHelper` (`lib/cmdlib/common.py`) only warns
/// "Copy of file F to node N failed: WHY", one line per file, and the job
/// succeeds. Each node once, in the order found, with its first such line
/// and how many more files failed there.
pub fn copies_failed(output: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String, usize)> = Vec::new();
    for line in output.lines() {
        let Some(at) = line.find("Copy of file ") else {
            continue;
        };
        let said = line[at..].trim_end();
        let Some((_, rest)) = said.split_once(" to node ") else {
            continue;
        };
        let Some((node, _)) = rest.split_once(" failed") else {
            continue;
        };
        if node.is_empty() || node.contains(' ') {
            continue;
        }
        match found.iter_mut().find(|(n, _, _)| n == node) {
            Some((_, _, more)) => *more += 1,
            None => found.push((node.to_string(), said.to_string(), 0)),
        }
    }
    found
        .into_iter()
        .map(|(node, line, more)| match more {
            0 => (node, line),
            n => (node, format!("{line} (and {n} more file(s))")),
        })
        .collect()
}

#[cfg(test)]
mod copies_tests {
    use super::copies_failed;

    #[test]
    fn redist_conf_copy_warnings_name_their_nodes() {
        let out = "Mon Dec  7 17:30:12 2026  - WARNING: Copy of file /var/lib/ganeti/known_hosts to node node3.gnt.test failed: Error 7: Failed to connect to 192.0.2.13 port 1811\n\
                   Mon Dec  7 17:30:12 2026  - WARNING: Copy of file /etc/ganeti/ssconf to node node3.gnt.test failed: x\n\
                   Mon Dec  7 17:30:12 2026 Copying file /var/lib/ganeti/known_hosts to node node2\n\
                   Copy of file a to nodes failed\n";
        let got = copies_failed(out);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, "node3.gnt.test");
        assert!(got[0]
            .1
            .starts_with("Copy of file /var/lib/ganeti/known_hosts"));
        assert!(
            got[0].1.ends_with("port 1811 (and 1 more file(s))"),
            "{got:?}"
        );
        assert!(copies_failed("Submitted jobs 12\nWaiting for job 12 ...\n").is_empty());
    }
}
