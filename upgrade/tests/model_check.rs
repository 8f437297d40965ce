//! The model check: `ganeti-upgrade`'s engine and step table, in-process,
//! against a scripted N-node cluster (N = 1, 2, 3) behind the `Exec` trait.
//! No root, no network: the master's files (journal, intent, lock,
//! `config.data`, ssconf, the drain flag and the watcher pause) live in a
//! temporary root; each node's version links and daemons live in the model.
//!
//! The scripted cluster behaves like Ganeti where it matters here:
//! `daemon-util start-all` aborts on a node where a daemon already runs;
//! `ganeti-switch to` refuses while daemons run; luxid (the master's
//! daemons) must run for any `gnt-*` command; cfgupgrade converts the
//! configuration to the version the master runs.
//!
//! Enumerated: every step (both directions) x every non-empty subset of
//! failing nodes x how they fail (the command fails, the node is
//! unreachable from then on, the command's effect happens but its answer is
//! lost); a failing undo at every undoable step on every node; a kill
//! (SIGKILL, as a panic that unwinds out of the engine) after every command
//! and at every checkpoint, also inside a rollback and inside a resume; a
//! signal before every step, in a first run and in a resume. SIGTERM,
//! SIGINT and SIGHUP set the same flag in `main.rs`, so one signal case
//! stands for the three. After each case `--resume` runs (faults gone), then
//! a second `--resume`; the invariants are checked after every run.
//!
//! `MODEL_CASE=NAME cargo test -p ganeti-upgrade --test model_check`
//! reruns only the cases whose name contains NAME (a violation prints its
//! case's name).
//!
//! Invariants:
//! * every online node runs one version: its links, its daemons and the
//!   cluster's configuration agree, and all nodes agree, whenever the tool
//!   says the upgrade is not pending (done, rolled back, nothing pending);
//! * our filter, the drain and the watcher pause are as the admin left
//!   them whenever the tool says it is not pending;
//! * the intent file and the journal exist exactly when the tool says the
//!   upgrade (or its rollback) is pending;
//! * the message and the exit code say what is true (done: on the target;
//!   rolled back: on the source);
//! * after the faults are gone, `--resume` ends not pending, and a second
//!   `--resume` finds nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use ganeti_layout::node::{DirVersion, InstallPaths};
use ganeti_upgrade::cluster::Cluster;
use ganeti_upgrade::context::{Mode, Options};
use ganeti_upgrade::engine::main_flow;
use ganeti_upgrade::error::Done;
use ganeti_upgrade::error::UpgradeError;
use ganeti_upgrade::events::Output;
use ganeti_upgrade::exec::{fan_out_in_order, Checkpoint, Exec, Ran};
use ganeti_upgrade::ganeti::{
    Call, Daemons as DaemonAction, Filter, GanetiCmd, Queue, Switch, Watcher,
};
use ganeti_upgrade::settings::Settings;
use ganeti_upgrade::steps::{steps_for, StepId};
use ganeti_upgrade::transition::ConfigVersion;

#[path = "model_check/luxi.rs"]
mod luxi;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Daemons {
    Stopped,
    Running(String),
    /// Some running (a stop or start that died half way).
    Partial(String),
    /// Only these, started one by one (`daemon-util start D`).
    Only(String, Vec<&'static str>),
}

#[derive(Debug, Clone)]
struct Node {
    links: String,
    daemons: Daemons,
    /// The node's own watcher.pause (the master's is a file in the root).
    pause: Option<u64>,
    /// The version `ganeti-switch to` last switched away from (its
    /// `.ganeti-switch.previous`).
    previous: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultMode {
    /// The command exits 1 and changes nothing.
    Fail,
    /// The node cannot be reached (exit 255) from this step on, for the
    /// whole run, rollback included.
    Unreachable,
    /// The command does its work, but its answer is lost (exit 255).
    Lost,
    /// `daemon-util stop-all` stops only some daemons, then fails.
    HalfStop,
    /// The command exits 0 and does nothing (a `ganeti-switch` too old to
    /// mend a `default` link that bypasses the switch links: the switch is
    /// a no-op).
    NoOp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Run(StepId),
    Undo(StepId),
    Other,
}

#[derive(Debug, Clone, Default)]
struct Faults {
    /// (phase, node) -> how its commands fail in that phase.
    at: Vec<(Phase, String, FaultMode)>,
    /// Kill after this many commands (counted over the run).
    kill_after_command: Option<usize>,
    /// Kill at this checkpoint number.
    kill_at_checkpoint: Option<usize>,
    /// Kill after this many commands of a rollback (its undos).
    kill_in_undo: Option<usize>,
    /// Kill once this step is recorded done.
    kill_at_done: Option<StepId>,
    /// Nodes that cannot be reached during the whole run.
    down: Vec<String>,
    /// Before this step, the watcher (cron, every 5 min) runs on this node.
    watcher_before: Option<(StepId, String)>,
    /// Before this step, Ganeti's own upgrade rewrites the intent file
    /// (`Some(true)`) or removes it (`Some(false)`).
    intruder_before: Option<(StepId, bool)>,
    /// Raise the signal flag before this step.
    signal_before: Option<StepId>,
    /// The master vote: this node does not answer its first N questions
    /// (its sshd not up yet after a power loss).
    vote_silent: Vec<(String, usize)>,
    /// The master vote: this node's ssconf names that master.
    vote_names: Vec<(String, String)>,
    /// From this checkpoint on, the journal takes no appends (a full or
    /// read-only file system): reads still work. Mended after the run.
    journal_broken_from: Option<usize>,
    /// At this checkpoint a write to the journal is torn: part of a record,
    /// without its newline, reaches the file.
    journal_torn_at: Option<usize>,
    /// Once this step has started, the journal takes no appends.
    journal_broken_at_step: Option<StepId>,
    /// Before this step, a second admin fails the master over to node2
    /// (`gnt-cluster master-failover`: not a job, so no filter holds it).
    master_moves_before: Option<StepId>,
    /// `gnt-filter add` adds the filter but its answer is lost (as a LUXI
    /// ReplaceFilter whose answer was lost, followed by a failing CLI add).
    lose_filter_add: bool,
    /// The job list fails this many times before it answers (a luxid
    /// restart during the wait).
    job_list_fails: usize,
    /// The job list shows one running job this many times.
    job_runs_for: usize,
    /// Once this step has started, the node reboots: its init starts its
    /// daemons (on the version its links name), and it does not answer the
    /// next N commands sent to it.
    reboot: Option<(StepId, String, usize)>,
    /// Once this step has started, the node's daemons are gone (killed,
    /// the node's OOM killer): redist-conf's copies do not reach it.
    daemons_die: Option<(StepId, String)>,
    /// luxid answers on its socket (the LUXI fake, `model_check/luxi.rs`);
    /// otherwise there is no socket and every call goes to the tools.
    luxi: bool,
    /// These LUXI calls of a run (1 = its first) take effect, but their
    /// answer is lost.
    luxi_lose: Vec<usize>,
    /// These LUXI calls of a run never reach luxid (it restarts): the
    /// connection closes without an answer.
    luxi_drop: Vec<usize>,
    /// A user's job waits in the queue (`queued`), held by the PAUSE
    /// filter once there is one; without a filter it runs and ends.
    queued_job: bool,
    /// Ganeti accepts a filter's deletion but keeps the filter (wconfd
    /// cannot write `config.data` on a full `/var/lib/ganeti`), for the
    /// whole run; room again after it.
    delete_not_kept: bool,
    /// The same for an addition: answered with a uuid, nothing kept.
    add_not_kept: bool,
    /// A fan-out runs its nodes at once, each on a thread of its own, as
    /// the real executor does (its results still come in node order).
    parallel: bool,
    /// On these nodes a version has no manifest (installed by hand, or its
    /// dpkg lists gone): `ganeti-switch to` refuses it as unverifiable,
    /// unless it is the version the node's last switch left (the way back
    /// stays open), and `installed --or-active` accepts it only while
    /// active or so left.
    unmanifested: Vec<(String, String)>,
    /// `--max-hold` for this run, in seconds (0: none).
    max_hold: u64,
    /// Before this step, the clock moves on by an hour (the step before it
    /// was slow): past any `max_hold` of these cases.
    hold_spent_before: Option<StepId>,
    /// While a job runs during the job wait, the clock moves on by an
    /// hour at each look.
    hold_spent_in_wait: bool,
}

/// How far the clock moves on in the hold-budget cases: past their
/// `max_hold`, within the watcher's 6 h pause.
const SLOW_STEP: u64 = 3600;

/// The `--max-hold` of the hold-budget cases.
const MAX_HOLD: u64 = 600;

struct Killed;

struct State {
    nodes: BTreeMap<String, Node>,
    /// (uuid, reason)
    filters: Vec<(String, String)>,
    next_uuid: usize,
    phase: Phase,
    commands: usize,
    undo_commands: usize,
    checkpoints: usize,
    unreachable: Vec<String>,
    log: Vec<String>,
    /// How often each node was asked for its master (the vote).
    vote_asks: BTreeMap<String, usize>,
    /// The copy of the master's journal each candidate holds.
    copies: BTreeMap<String, String>,
    /// Invariants broken in the middle of a run (not visible at its end).
    violations: Vec<String>,
    /// How many commands had run when the master was failed over.
    failover_at: Option<usize>,
    /// Rebooting nodes, and how many more commands they do not answer.
    rebooting: Vec<(String, usize)>,
    /// LUXI calls served in this run.
    luxi_calls: usize,
    /// A kill came while luxid served a call: the engine dies at its next
    /// line of commands.log.
    kill_pending: bool,
}

struct Model {
    paths: InstallPaths,
    /// `gnt-cluster verify` reports ENODESETUP unless told to ignore it.
    verify_error: bool,
    /// `gnt-cluster verify` reports ECLUSTERCFG (an upgrade should not
    /// start on it) unless told to ignore it.
    verify_fix_first: bool,
    master: String,
    state: Mutex<State>,
    faults: Mutex<Faults>,
    interrupted: AtomicBool,
    /// The clock of every node and of the engine ([`Exec::now`]): frozen,
    /// so that no value depends on when a second ends; moved on by hand
    /// (a reboot hours later).
    clock: AtomicU64,
}

fn cv(v: &str) -> u64 {
    let d: DirVersion = v.parse().expect("version");
    u64::from(ConfigVersion::from_triple(d.triple()).expect("cv").as_int())
}

fn ran(node: &str, argv: &[String], code: Option<i32>, stdout: String, stderr: &str) -> Ran {
    Ran {
        node: node.to_string(),
        command: argv.join(" "),
        code,
        stdout,
        stderr: stderr.to_string(),
    }
}

impl Model {
    /// The faults to inject (a poisoned lock is still usable: a killed
    /// run panics while holding it on purpose).
    fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cluster's state, the same way.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn new(n: usize, version: &str, admin: bool, filters: bool) -> (Model, tempfile::TempDir) {
        Model::with_libdir(n, version, admin, filters, None)
    }

    fn with_libdir(
        n: usize,
        version: &str,
        admin: bool,
        filters: bool,
        libdir: Option<&str>,
    ) -> (Model, tempfile::TempDir) {
        let base = if Path::new("/dev/shm").is_dir() {
            tempfile::Builder::new()
                .prefix("gu-model")
                .tempdir_in("/dev/shm")
        } else {
            tempfile::Builder::new().prefix("gu-model").tempdir()
        }
        .expect("tempdir");
        let root = base.path().to_path_buf();
        let paths = InstallPaths::new(
            &root,
            Path::new("/usr"),
            Path::new("/etc"),
            libdir.map(Path::new),
            Path::new("/var"),
        )
        .expect("paths");
        let names: Vec<String> = (1..=n).map(|i| format!("node{i}.example")).collect();
        let master = names[0].clone();
        let data = paths.fs().host_path(&paths.datadir());
        for d in [
            data.clone(),
            data.join("queue"),
            paths.fs().host_path(&paths.rundir()),
            paths.fs().host_path(&paths.logdir()),
            paths.fs().host_path(&paths.confdir()),
            paths
                .fs()
                .host_path(&paths.gnt("gnt-cluster"))
                .parent()
                .expect("dir")
                .to_path_buf(),
        ] {
            fs_err::create_dir_all(d).expect("mkdir");
        }
        // Each version's cfgupgrade in its tree, and Ganeti's tools link to
        // it through `default` (the rehearsal finds the target's there).
        let fs = paths.fs();
        for v in ["2.16", "3.0", "3.1"] {
            let v: DirVersion = v.parse().expect("v");
            fs.create_dir_all(&paths.version_share(&v)).expect("mkdir");
            fs.write_file(&paths.version_share(&v).join("cfgupgrade"), b"", 0o755)
                .expect("write");
        }
        fs.create_dir_all(&paths.toolsdir()).expect("mkdir");
        fs.replace_symlink(
            &paths.cfgupgrade(),
            &paths.default_share().join("cfgupgrade"),
        )
        .expect("link");
        let w = |name: &str, text: &str| fs_err::write(data.join(name), text).expect("write");
        w("ssconf_cluster_name", "cluster.example\n");
        w("ssconf_master_node", &format!("{master}\n"));
        w("ssconf_node_list", &(names.join("\n") + "\n"));
        w("ssconf_online_nodes", &(names.join("\n") + "\n"));
        w("ssconf_offline_nodes", "");
        // The first two nodes are master candidates, as on a real cluster
        // with candidate_pool_size 2.
        w(
            "ssconf_master_candidates",
            &(names.iter().take(2).cloned().collect::<Vec<_>>().join("\n") + "\n"),
        );
        w(
            "ssconf_release_version",
            if version == "3.0" {
                "3.0.2\n"
            } else {
                "3.1.0\n"
            },
        );
        w("config.data", &format!("{{\"version\": {}}}", cv(version)));
        if filters {
            fs_err::write(paths.fs().host_path(&paths.gnt("gnt-filter")), "").expect("stub");
        }
        let nodes = names
            .iter()
            .map(|name| {
                (
                    name.clone(),
                    Node {
                        links: version.to_string(),
                        daemons: Daemons::Running(version.to_string()),
                        pause: None,
                        previous: None,
                    },
                )
            })
            .collect();
        let mut state = State {
            nodes,
            filters: Vec::new(),
            next_uuid: 1,
            phase: Phase::Other,
            commands: 0,
            undo_commands: 0,
            checkpoints: 0,
            unreachable: Vec::new(),
            rebooting: Vec::new(),
            luxi_calls: 0,
            kill_pending: false,
            vote_asks: BTreeMap::new(),
            copies: BTreeMap::new(),
            violations: Vec::new(),
            failover_at: None,
            log: Vec::new(),
        };
        if admin {
            state.filters.push(("admin-1".into(), "admin".into()));
            w("queue/drain", "");
            w("watcher.pause", &format!("{}\n", EPOCH + 7200));
        }
        (
            Model {
                paths,
                verify_error: false,
                verify_fix_first: false,
                master,
                state: Mutex::new(state),
                faults: Mutex::new(Faults::default()),
                interrupted: AtomicBool::new(false),
                clock: AtomicU64::new(EPOCH),
            },
            base,
        )
    }

    fn data(&self, name: &str) -> PathBuf {
        self.paths.fs().host_path(&self.paths.datadir()).join(name)
    }

    fn config(&self) -> Option<u64> {
        let text = fs_err::read_to_string(self.data("config.data")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v.get("version")?.as_u64()
    }

    /// The fault for `node` now, if any.
    fn fault(&self, st: &State, node: &str) -> Option<FaultMode> {
        if st.unreachable.iter().any(|n| n == node) {
            return Some(FaultMode::Unreachable);
        }
        let f = self.faults();
        if f.down.iter().any(|n| n == node) {
            return Some(FaultMode::Unreachable);
        }
        f.at.iter()
            .find(|(p, n, _)| *p == st.phase && n == node)
            .map(|(_, _, m)| *m)
    }

    fn after_command(&self, st: &mut State) {
        if self.count_command(st) {
            std::panic::panic_any(Killed);
        }
    }

    /// Counts a command (or LUXI call); whether the run is killed now.
    fn count_command(&self, st: &mut State) -> bool {
        st.commands += 1;
        if matches!(st.phase, Phase::Undo(_)) {
            st.undo_commands += 1;
        }
        let f = self.faults();
        f.kill_after_command == Some(st.commands)
            || (matches!(st.phase, Phase::Undo(_)) && f.kill_in_undo == Some(st.undo_commands))
    }

    /// One command on one node, as Ganeti's tools would answer.
    fn command(&self, node: &str, call: &Call) -> Ran {
        let argv = &call.argv;
        let mut st = self.state();
        st.log.push(format!("{node}: {}", call.shown()));
        if let Some(r) = st.rebooting.iter_mut().find(|(n, k)| n == node && *k > 0) {
            r.1 -= 1;
            let out = ran(
                node,
                argv,
                Some(255),
                String::new(),
                "ssh: connect to host: Connection refused",
            );
            self.after_command(&mut st);
            return out;
        }
        let fault = self.fault(&st, node);
        if fault == Some(FaultMode::Unreachable) {
            let out = ran(
                node,
                argv,
                Some(255),
                String::new(),
                "ssh: connect to host: No route to host",
            );
            self.after_command(&mut st);
            return out;
        }
        if fault == Some(FaultMode::Fail) {
            let out = ran(node, argv, Some(1), String::new(), "injected failure");
            self.after_command(&mut st);
            return out;
        }
        if fault == Some(FaultMode::NoOp)
            && !matches!(
                call.cmd,
                GanetiCmd::Switch {
                    action: Switch::Current,
                    ..
                }
            )
        {
            let out = ran(node, argv, Some(0), String::new(), "");
            self.after_command(&mut st);
            return out;
        }
        let mut out = self.apply(&mut st, node, call, fault);
        if fault == Some(FaultMode::Lost) {
            out.code = Some(255);
            out.stderr = "connection lost".into();
        }
        self.after_command(&mut st);
        out
    }

    fn luxid(&self, st: &State) -> bool {
        match &st.nodes[&self.master].daemons {
            Daemons::Running(_) => true,
            Daemons::Only(_, ds) => ds.contains(&"ganeti-luxid"),
            _ => false,
        }
    }

    fn apply(&self, st: &mut State, node: &str, call: &Call, fault: Option<FaultMode>) -> Ran {
        let argv = &call.argv;
        let ok = |stdout: String| ran(node, argv, Some(0), stdout, "");
        let fail = |why: &str| ran(node, argv, Some(1), String::new(), why);
        // Ganeti's tools exist only where this node's paths put them.
        let ganeti_tool = !matches!(
            call.cmd,
            GanetiCmd::Switch { .. }
                | GanetiCmd::NodeWatcherPause { .. }
                | GanetiCmd::NodeWatcherUnpause { .. }
                | GanetiCmd::ReadMasterNode
                | GanetiCmd::JournalCopy { .. }
                | GanetiCmd::DropJournalCopy
                | GanetiCmd::Tar(_)
                | GanetiCmd::CertCheck
        );
        if ganeti_tool && call.cmd.argv(&self.paths).first() != argv.first() {
            return ran(
                node,
                argv,
                Some(127),
                String::new(),
                "No such file or directory",
            );
        }
        let needs_luxid = ganeti_tool
            && !matches!(
                call.cmd,
                GanetiCmd::DaemonUtil(_)
                    | GanetiCmd::Cfgupgrade { .. }
                    | GanetiCmd::Rehearse { .. }
                    | GanetiCmd::EnsureDirs { .. }
            );
        if needs_luxid && !self.luxid(st) {
            return fail("Cannot communicate with the master daemon (luxid)");
        }
        match &call.cmd {
            GanetiCmd::Switch {
                action: Switch::Installed(v),
                ..
            } if self.unmanifested(node, &v.to_string()) => {
                fail(&format!("{v} has no manifest: cannot tell it is complete"))
            }
            GanetiCmd::Switch {
                action: Switch::Returnable(v),
                ..
            } if self.unmanifested(node, &v.to_string())
                && !self.way_back(st, node, &v.to_string()) =>
            {
                fail(&format!(
                    "{v} has no manifest and is not the version switched away from"
                ))
            }
            GanetiCmd::Switch {
                action: Switch::Installed(_) | Switch::Returnable(_) | Switch::Runs(_),
                ..
            } => ok(String::new()),
            // Daemons that run another version than the one asked about.
            GanetiCmd::Switch {
                action: Switch::Stale(v),
                ..
            } => match &st.nodes[node].daemons {
                Daemons::Running(d) | Daemons::Partial(d) | Daemons::Only(d, _)
                    if *d != v.to_string() =>
                {
                    ran(
                        node,
                        argv,
                        Some(1),
                        format!(
                            r#"[{{"pid":7,"daemon":"ganeti-noded","command":"ganeti-noded","why":"its program is {d}'s"}}]"#
                        ),
                        "",
                    )
                }
                _ => ok("[]".into()),
            },
            // Ends the stale daemons and starts them from the links.
            GanetiCmd::RestartStale { .. } => {
                let n = st.nodes.get_mut(node).expect("node");
                n.daemons = Daemons::Running(n.links.clone());
                ok(String::new())
            }
            GanetiCmd::Switch {
                action: Switch::Version,
                ..
            } => ok("ganeti-switch 0.1.0\n".into()),
            GanetiCmd::Switch {
                action: Switch::Current,
                ..
            } => {
                let n = &st.nodes[node];
                let daemons = match &n.daemons {
                    Daemons::Running(v) | Daemons::Partial(v) | Daemons::Only(v, _) => {
                        format!(r#"[{{"name":"ganeti-noded","pid":1,"version":"{v}"}}]"#)
                    }
                    Daemons::Stopped => "[]".into(),
                };
                ok(format!(
                    r#"{{"version":"{}","daemons":{daemons}}}"#,
                    n.links
                ))
            }
            GanetiCmd::Switch {
                action: Switch::To(v),
                ..
            } => {
                let v = v.to_string();
                if st.nodes[node].links != v
                    && self.unmanifested(node, &v)
                    && !self.way_back(st, node, &v)
                {
                    return fail(&format!("refusing to switch to {v}: it has no manifest"));
                }
                let n = st.nodes.get_mut(node).expect("node");
                if n.links == v {
                    return ok(format!("{v} already active"));
                }
                if n.daemons != Daemons::Stopped {
                    return fail("refusing to switch: Ganeti daemons are running");
                }
                n.previous = Some(std::mem::replace(&mut n.links, v.clone()));
                ok(format!("switched to {v}"))
            }
            GanetiCmd::DaemonUtil(DaemonAction::StopAll) => {
                // Never once the queue runs again: users' jobs would die.
                if self.journal_says_done(StepId::ResumeWork) {
                    st.violations.push(format!(
                        "{node}: daemons stopped after resume-work was done"
                    ));
                }
                let n = st.nodes.get_mut(node).expect("node");
                if fault == Some(FaultMode::HalfStop) {
                    if let Daemons::Running(v) = &n.daemons {
                        n.daemons = Daemons::Partial(v.clone());
                    }
                    return fail("stopping ganeti-wconfd failed");
                }
                n.daemons = Daemons::Stopped;
                ok(String::new())
            }
            GanetiCmd::DaemonUtil(DaemonAction::StartAll) => {
                let config = self.config();
                let n = st.nodes.get_mut(node).expect("node");
                if n.daemons != Daemons::Stopped {
                    return fail("ganeti-confd: matching only on non-root pidfile is insecure");
                }
                if config != Some(cv(&n.links)) {
                    // wconfd (the master) refuses a configuration of another
                    // version; anywhere, that is a version running without
                    // its configuration on disk.
                    let what = format!(
                        "{node}: daemons of {} started on config {config:?}",
                        n.links
                    );
                    if node == self.master {
                        return fail(&format!(
                            "ganeti-wconfd: configuration version mismatch ({what})"
                        ));
                    }
                    st.violations.push(what);
                    let n = st.nodes.get_mut(node).expect("node");
                    n.daemons = Daemons::Running(n.links.clone());
                    return ok(String::new());
                }
                n.daemons = Daemons::Running(n.links.clone());
                ok(String::new())
            }
            GanetiCmd::DaemonUtil(DaemonAction::Start(daemon)) => {
                let config = self.config();
                let links = st.nodes[node].links.clone();
                if config != Some(cv(&links)) {
                    let what = format!("{node}: {daemon} of {links} started on config {config:?}");
                    if node == self.master && *daemon == "ganeti-wconfd" {
                        return fail(&format!(
                            "ganeti-wconfd: configuration version mismatch ({what})"
                        ));
                    }
                    st.violations.push(what);
                }
                if node != self.master && *daemon != "ganeti-noded" {
                    st.violations
                        .push(format!("{node}: {daemon} started on a non-master"));
                }
                let n = st.nodes.get_mut(node).expect("node");
                // start-stop-daemon --oknodo: what runs stays as it is.
                n.daemons = match std::mem::replace(&mut n.daemons, Daemons::Stopped) {
                    Daemons::Stopped => Daemons::Only(links, vec![daemon]),
                    Daemons::Only(v, mut ds) if v == links => {
                        if !ds.contains(daemon) {
                            ds.push(daemon);
                        }
                        Daemons::Only(v, ds)
                    }
                    // Another version's daemons and this one's now.
                    Daemons::Only(v, _) => Daemons::Partial(v),
                    other => other,
                };
                ok(String::new())
            }
            GanetiCmd::RedistConf => {
                // Ganeti uploads to every node's noded and only warns
                // where one is not there; the job succeeds.
                let f = self.faults();
                let mut out = String::new();
                for (name, n) in st.nodes.iter().filter(|(name, _)| **name != self.master) {
                    let noded = match &n.daemons {
                        Daemons::Stopped => false,
                        Daemons::Only(_, ds) => ds.contains(&"ganeti-noded"),
                        _ => true,
                    };
                    let out_of_reach = st.unreachable.contains(name)
                        || f.down.contains(name)
                        || st.rebooting.iter().any(|(r, k)| r == name && *k > 0);
                    if !noded || out_of_reach {
                        out.push_str(&format!(
                            "Mon Dec  7 17:30:12 2026  - WARNING: Copy of file /var/lib/ganeti/known_hosts to node {name} failed: Error 7: Failed to connect\n"
                        ));
                    }
                }
                ok(out)
            }
            GanetiCmd::ReadMasterNode => {
                let asked = st.vote_asks.entry(node.to_string()).or_default();
                *asked += 1;
                let f = self.faults();
                if f.vote_silent.iter().any(|(n, k)| n == node && *asked <= *k) {
                    return ran(
                        node,
                        argv,
                        Some(255),
                        String::new(),
                        "ssh: connect to host: Connection refused",
                    );
                }
                match f.vote_names.iter().find(|(n, _)| n == node) {
                    Some((_, other)) => ok(format!("{other}\n")),
                    None => ok(format!("{}\n", self.master)),
                }
            }
            GanetiCmd::Cfgupgrade { downgrade: false } => {
                let v = st.nodes[node].links.clone();
                fs_err::write(
                    self.data("config.data"),
                    format!("{{\"version\": {}}}", cv(&v)),
                )
                .expect("w");
                ok(String::new())
            }
            GanetiCmd::Cfgupgrade { downgrade: true } => {
                let v = st.nodes[node].links.clone();
                let to = if v == "3.1" { "3.0" } else { "2.16" };
                fs_err::write(
                    self.data("config.data"),
                    format!("{{\"version\": {}}}", cv(to)),
                )
                .expect("w");
                ok(String::new())
            }
            GanetiCmd::EnsureDirs { .. }
            | GanetiCmd::PostUpgrade { .. }
            | GanetiCmd::Rehearse { .. } => ok(String::new()),
            GanetiCmd::Verify { ignore } => {
                let mut errors = String::new();
                if self.verify_error && !ignore.iter().any(|c| c == "ENODESETUP") {
                    errors.push_str("  - ERROR:ENODESETUP:node:node1:fake\n");
                }
                if self.verify_fix_first && !ignore.iter().any(|c| c == "ECLUSTERCFG") {
                    errors.push_str("  - ERROR:ECLUSTERCFG:cluster:c:duplicate IP\n");
                }
                if errors.is_empty() {
                    ok(String::new())
                } else {
                    ran(node, argv, Some(1), errors, "")
                }
            }
            GanetiCmd::InstanceStates => ok("inst1 running\n".into()),
            GanetiCmd::Queue(Queue::Drain) => {
                fs_err::write(self.data("queue/drain"), "").expect("w");
                ok(String::new())
            }
            GanetiCmd::Queue(Queue::Undrain) => {
                let _ = fs_err::remove_file(self.data("queue/drain"));
                ok(String::new())
            }
            GanetiCmd::Watcher(Watcher::Pause { seconds }) => {
                let until = self.clock() + seconds;
                fs_err::write(self.data("watcher.pause"), format!("{until}\n")).expect("w");
                ok(String::new())
            }
            GanetiCmd::Watcher(Watcher::Continue) => {
                let _ = fs_err::remove_file(self.data("watcher.pause"));
                ok(String::new())
            }
            GanetiCmd::Filter(Filter::List) => ok(st
                .filters
                .iter()
                .map(|(u, r)| format!("{u} [('{r}', 'gnt:user', 1)]\n"))
                .collect()),
            GanetiCmd::Filter(Filter::Add { reason }) => {
                let uuid = format!("uuid-{}", st.next_uuid);
                st.next_uuid += 1;
                if self.faults().add_not_kept {
                    return ok(format!("{uuid}\n"));
                }
                st.filters.push((uuid.clone(), reason.clone()));
                if self.faults().lose_filter_add {
                    return ran(node, argv, Some(255), String::new(), "connection lost");
                }
                ok(format!("{uuid}\n"))
            }
            GanetiCmd::Filter(Filter::Delete { uuid }) => {
                if self.faults().delete_not_kept && st.filters.iter().any(|(u, _)| u == uuid) {
                    return ok(String::new());
                }
                let before = st.filters.len();
                st.filters.retain(|(u, _)| u != uuid);
                if st.filters.len() == before {
                    fail("no such filter")
                } else {
                    ok(String::new())
                }
            }
            GanetiCmd::ListJobs => {
                let mut f = self.faults();
                if f.job_list_fails > 0 {
                    f.job_list_fails -= 1;
                    return fail("Cannot communicate with the master daemon");
                }
                let mut jobs = String::new();
                if f.job_runs_for > 0 {
                    f.job_runs_for -= 1;
                    jobs.push_str("17 running\n");
                    if f.hold_spent_in_wait {
                        self.clock.fetch_add(SLOW_STEP, Ordering::SeqCst);
                    }
                }
                // Held while a filter holds the queue; else it ran.
                if f.queued_job && !st.filters.is_empty() {
                    jobs.push_str("18 queued\n");
                }
                ok(jobs)
            }
            GanetiCmd::NodeWatcherPause { until, now } => {
                let current = self.pause_of(st, node);
                if current.is_none_or(|t| t <= *now) {
                    self.set_pause(st, node, Some(*until));
                }
                ok(String::new())
            }
            GanetiCmd::NodeWatcherUnpause { values } => {
                let current = self.pause_of(st, node);
                if values.iter().any(|v| current == Some(*v)) {
                    self.set_pause(st, node, None);
                }
                ok(String::new())
            }
            GanetiCmd::Tar(args) if args.first().is_some_and(|a| a == "-tf") => {
                ok("var/lib/ganeti/\nvar/lib/ganeti/config.data\n".into())
            }
            GanetiCmd::Tar(_) => ok(String::new()),
            // The model's nodes have no openssl: nothing to judge.
            GanetiCmd::CertCheck => ok(String::new()),
            GanetiCmd::JournalCopy { text } => {
                st.copies.insert(node.to_string(), text.clone());
                ok(String::new())
            }
            GanetiCmd::DropJournalCopy => {
                st.copies.remove(node);
                ok(String::new())
            }
            other => panic!("the model does not know {other:?}"),
        }
    }

    /// A node's watcher pause end (the master's is its file).
    fn pause_of(&self, st: &State, node: &str) -> Option<u64> {
        if node == self.master {
            fs_err::read_to_string(self.data("watcher.pause"))
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
        } else {
            st.nodes[node].pause
        }
    }

    fn set_pause(&self, st: &mut State, node: &str, until: Option<u64>) {
        if node == self.master {
            match until {
                Some(t) => fs_err::write(self.data("watcher.pause"), format!("{t}\n")).expect("w"),
                None => {
                    let _ = fs_err::remove_file(self.data("watcher.pause"));
                }
            }
        } else if let Some(n) = st.nodes.get_mut(node) {
            n.pause = until;
        }
    }

    /// Is the whole cluster on one version, consistently? Returns it.
    fn consistent(&self) -> Result<String, String> {
        let st = self.state();
        let config = self.config();
        let mut version = None;
        for (name, n) in &st.nodes {
            if n.daemons != Daemons::Running(n.links.clone()) {
                return Err(format!(
                    "{name}: links {} but daemons {:?}",
                    n.links, n.daemons
                ));
            }
            if config != Some(cv(&n.links)) {
                return Err(format!("{name}: links {} but config {config:?}", n.links));
            }
            match &version {
                None => version = Some(n.links.clone()),
                Some(v) if *v != n.links => {
                    return Err(format!("mixed: {v} and {} on {name}", n.links))
                }
                _ => {}
            }
        }
        version.ok_or_else(|| "no nodes".into())
    }

    /// Filter, drain and watcher pause as the admin left them.
    fn admin_state(&self, admin: bool) -> Result<(), String> {
        let st = self.state();
        let ours: Vec<&String> = st
            .filters
            .iter()
            .filter(|(_, r)| r.starts_with("ganeti-upgrade:"))
            .map(|(u, _)| u)
            .collect();
        if !ours.is_empty() {
            return Err(format!("our filters left: {ours:?}"));
        }
        let paused: Vec<&String> = st
            .nodes
            .iter()
            .filter(|(_, n)| n.pause.is_some())
            .map(|(name, _)| name)
            .collect();
        if !paused.is_empty() {
            return Err(format!("watcher pause left on {paused:?}"));
        }
        let drained = self.data("queue/drain").exists();
        let admin_filter = st.filters.iter().any(|(u, _)| u == "admin-1");
        let paused = fs_err::read_to_string(self.data("watcher.pause"))
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok());
        if admin {
            if !drained || !admin_filter {
                return Err(format!(
                    "admin's drain ({drained}) or filter ({admin_filter}) lost"
                ));
            }
            match paused {
                // The admin's 2 h pause, given back exactly, while it lasts;
                // once it has run out (a resume hours later), nothing, or
                // a value already past.
                Some(t) if t == EPOCH + 7200 && t > self.clock() => {}
                Some(t) if t <= self.clock() && EPOCH + 7200 <= self.clock() => {}
                None if EPOCH + 7200 <= self.clock() => {}
                other => return Err(format!("admin's watcher pause not given back: {other:?}")),
            }
        } else if drained || paused.is_some() {
            return Err(format!(
                "drain ({drained}) or watcher pause ({paused:?}) left behind"
            ));
        }
        Ok(())
    }

    /// Whether the master's journal records `step` as done.
    fn journal_says_done(&self, step: StepId) -> bool {
        let text = fs_err::read_to_string(self.data("ganeti-upgrade.journal")).unwrap_or_default();
        let want = format!(r#""record":"done","step":"{}""#, step.as_str());
        text.lines().any(|l| l.contains(&want))
    }

    /// Whether version `v` has no manifest on `node`.
    fn unmanifested(&self, node: &str, v: &str) -> bool {
        self.faults()
            .unmanifested
            .iter()
            .any(|(n, u)| n == node && u == v)
    }

    /// Whether `v` is active on `node` or the version its last switch left.
    fn way_back(&self, st: &State, node: &str, v: &str) -> bool {
        let n = &st.nodes[node];
        n.links == v || n.previous.as_deref() == Some(v)
    }

    /// What every node's clock reads.
    fn clock(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// Every node reboots (a power loss) and comes back hours later: its
    /// init starts the daemons of whatever its links name, as Debian's
    /// `ganeti.service` does, and every watcher pause written before has
    /// run out (the clock moved on by 7 h, past the 6 h pause).
    fn reboot(&self) {
        self.clock.fetch_add(7 * 3600, Ordering::SeqCst);
        let mut st = self.state();
        for n in st.nodes.values_mut() {
            n.daemons = Daemons::Running(n.links.clone());
        }
    }

    /// The cluster after `gnt-cluster master-failover` to node2: a model
    /// whose master (and root: its own files) is node2, with the nodes'
    /// links, daemons and pauses, the filters, the configuration and the
    /// ssconf as they are, and node2's copy of the journal in its data
    /// directory. The old master is node1 of the new model.
    fn failed_over(&self) -> (Model, tempfile::TempDir) {
        let n = self.state().nodes.len();
        let (model, dir) = Model::new(n, "3.0", false, true);
        let new = "node2.example".to_string();
        let model = Model {
            master: new.clone(),
            clock: AtomicU64::new(self.clock()),
            ..model
        };
        {
            let old = self.state();
            let mut st = model.state();
            st.nodes = old.nodes.clone();
            st.filters = old.filters.clone();
            st.next_uuid = old.next_uuid;
            // The old master's watcher pause is a file there; the new one's
            // a file here.
            let old_pause = fs_err::read_to_string(self.data("watcher.pause"))
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok());
            if let Some(n1) = st.nodes.get_mut(&self.master) {
                n1.pause = old_pause;
            }
            let new_pause = st.nodes.get_mut(&new).and_then(|n2| n2.pause.take());
            match new_pause {
                Some(t) => fs_err::write(model.data("watcher.pause"), format!("{t}\n")).expect("w"),
                None => {
                    let _ = fs_err::remove_file(model.data("watcher.pause"));
                }
            }
            if let Some(copy) = old.copies.get(&new) {
                fs_err::write(
                    model
                        .paths
                        .fs()
                        .host_path(&model.paths.upgrade_journal_copy()),
                    copy,
                )
                .expect("copy");
            }
        }
        for f in ["config.data", "ssconf_release_version"] {
            fs_err::copy(self.data(f), model.data(f)).expect("copy");
        }
        if self.data("queue/drain").exists() {
            fs_err::write(model.data("queue/drain"), "").expect("drain");
        }
        fs_err::write(model.data("ssconf_master_node"), format!("{new}\n")).expect("ssconf");
        fs_err::write(self.data("ssconf_master_node"), format!("{new}\n")).expect("ssconf");
        (model, dir)
    }

    /// The journal stops taking appends: it is moved aside and a symlink
    /// to it takes its place (reads follow it; the engine's appends, which
    /// never follow a link, fail), as a full /var or a read-only remount.
    fn break_journal(&self) {
        let journal = self.data("ganeti-upgrade.journal");
        let aside = self.data("ganeti-upgrade.journal.aside");
        if journal.exists() && !aside.exists() {
            fs_err::rename(&journal, &aside).expect("aside");
            fs_err::os::unix::fs::symlink(&aside, &journal).expect("symlink");
        }
    }

    /// Space is freed: the journal takes appends again.
    fn mend_journal(&self) {
        let journal = self.data("ganeti-upgrade.journal");
        let aside = self.data("ganeti-upgrade.journal.aside");
        if !aside.exists() {
            return;
        }
        if fs_err::symlink_metadata(&journal).is_ok() {
            let _ = fs_err::remove_file(&journal);
            fs_err::rename(&aside, &journal).expect("mend");
        } else {
            // The engine removed the journal (unlinking works on a full
            // file system): it is gone.
            fs_err::remove_file(&aside).expect("gone");
        }
    }

    /// A write that ran out of space half way: a fragment of a record,
    /// without its newline.
    fn tear_journal(&self) {
        use std::io::Write;
        let journal = self.data("ganeti-upgrade.journal");
        if let Ok(mut f) = fs_err::OpenOptions::new().append(true).open(&journal) {
            let _ = f.write_all(br#"{"record":"started","step":"upgr"#);
        }
    }

    fn pending_files(&self) -> (bool, bool) {
        (
            self.paths
                .fs()
                .host_path(&self.paths.intent_file())
                .exists(),
            self.data("ganeti-upgrade.journal").exists(),
        )
    }
}

/// Where the model's frozen clock stands when a case begins (2027-01-15).
const EPOCH: u64 = 1_800_000_000;

impl Exec for Model {
    fn this_host(&self) -> String {
        self.master.clone()
    }
    fn is_root(&self) -> bool {
        true
    }
    fn local(&self, node: &str, call: &Call) -> Ran {
        self.command(node, call)
    }
    fn on_node(&self, _cluster: &Cluster, node: &str, call: &Call) -> Ran {
        self.command(node, call)
    }
    fn fan_out(
        &self,
        cluster: &Cluster,
        nodes: &[String],
        call_for: &(dyn Fn(&str) -> Call + Sync),
        each: &(dyn Fn(&Ran) + Sync),
    ) -> Vec<Ran> {
        if !self.faults().parallel {
            return fan_out_in_order(self, cluster, nodes, call_for, each);
        }
        let one = |node: &str| {
            let r = self.on_node(cluster, node, &call_for(node));
            each(&r);
            r
        };
        let mut out: Vec<Ran> = std::thread::scope(|s| {
            let running: Vec<_> = nodes
                .iter()
                .filter(|n| **n != cluster.master)
                .map(|n| s.spawn(|| one(n)))
                .collect();
            running
                .into_iter()
                // A kill in a node's thread kills the run.
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        if nodes.contains(&cluster.master) {
            out.push(one(&cluster.master));
        }
        out
    }
    fn here(&self, call: &Call) -> Ran {
        match &call.cmd {
            GanetiCmd::Switch {
                action: Switch::To(_),
                ..
            } => {
                let mut r = self.command(&self.master, call);
                if r.ok() {
                    r.stdout = if r.stdout.contains("already") {
                        "already active".into()
                    } else {
                        "switched".into()
                    };
                }
                r
            }
            // Checked in-process: no command of the node is counted.
            GanetiCmd::Switch {
                action:
                    Switch::Installed(_) | Switch::Returnable(_) | Switch::Runs(_) | Switch::Stale(_),
                ..
            } => {
                let mut st = self.state();
                match self.fault(&st, &self.master) {
                    Some(FaultMode::Fail) => ran(
                        &self.master,
                        &call.argv,
                        Some(1),
                        "injected: not installed".into(),
                        "",
                    ),
                    _ => {
                        let master = self.master.clone();
                        self.apply(&mut st, &master, call, None)
                    }
                }
            }
            _ => self.command(&self.master, call),
        }
    }
    fn active_here(&self) -> Option<DirVersion> {
        let st = self.state();
        st.nodes[&self.master].links.parse().ok()
    }
    fn luxi_socket(&self) -> Option<PathBuf> {
        // No luxid, no socket to connect to: the tools, which then fail.
        let st = self.state();
        (self.faults().luxi && self.luxid(&st)).then(|| self.luxi_path())
    }
    fn now(&self) -> u64 {
        self.clock()
    }
    fn log_line(&self, _line: &str) {
        if std::mem::take(&mut self.state().kill_pending) {
            std::panic::panic_any(Killed);
        }
    }
    fn checkpoint(&self, point: Checkpoint) {
        let mut st = self.state();
        st.checkpoints += 1;
        let f = self.faults().clone();
        st.phase = match point {
            Checkpoint::BeforeStep(s) | Checkpoint::Started(s) | Checkpoint::Done(s) => {
                Phase::Run(s)
            }
            Checkpoint::Undo(s) => Phase::Undo(s),
        };
        // Every step that acts has its Started on disk first (its undo and
        // the direction of a later resume depend on it).
        if let Checkpoint::Started(s) = point {
            let recorded = ganeti_upgrade::journal::Journal::of(&self.paths)
                .load()
                .ok()
                .flatten()
                .is_some_and(|j| j.started.contains(&s));
            if !recorded {
                st.violations.push(format!(
                    "step {} acts without its Started record in the journal",
                    s.as_str()
                ));
            }
        }
        // While daemons are down or changing, no node's watcher may restart
        // them: every node we can reach is paused, by the clock as it now
        // reads (a resume hours later pauses again first); and the job
        // queue is held.
        if let Checkpoint::Started(s) = point {
            let at = |x: StepId| StepId::ALL.iter().position(|y| *y == x);
            if (at(StepId::StopMasterDaemons)..=at(StepId::RestartDaemons)).contains(&at(s))
                && self.journal_says_done(StepId::PauseWatcher)
            {
                let now = self.clock();
                // And no job may start: the queue is drained or our
                // filter holds it.
                let held = self.data("queue/drain").exists()
                    || st.filters.iter().any(|(u, _)| u != "admin-1");
                if !held {
                    st.violations.push(format!(
                        "the job queue is not held at {} (no drain, no filter of ours)",
                        s.as_str()
                    ));
                }
                let names: Vec<String> = st.nodes.keys().cloned().collect();
                for name in names {
                    let out_of_reach = st.unreachable.contains(&name)
                        || f.down.contains(&name)
                        || st.rebooting.iter().any(|(n, _)| *n == name);
                    let pause = self.pause_of(&st, &name);
                    if !out_of_reach && pause.is_none_or(|t| t <= now) {
                        st.violations.push(format!(
                            "{name}: watcher not paused at {} (pause {pause:?}, clock {now})",
                            s.as_str()
                        ));
                    }
                }
            }
        }
        if let (Checkpoint::Started(s), Some((at, node))) = (point, &f.daemons_die) {
            if s == *at {
                st.nodes.get_mut(node).expect("node").daemons = Daemons::Stopped;
            }
        }
        if let (Checkpoint::Started(s), Some((at, node, k))) = (point, &f.reboot) {
            if s == *at {
                let n = st.nodes.get_mut(node).expect("node");
                n.daemons = Daemons::Running(n.links.clone());
                st.rebooting.push((node.clone(), *k));
            }
        }
        // A node cut off at a step stays cut off for the rest of the run.
        if let Phase::Run(s) = st.phase {
            for (p, n, m) in &f.at {
                if *p == Phase::Run(s)
                    && *m == FaultMode::Unreachable
                    && !st.unreachable.contains(n)
                {
                    st.unreachable.push(n.clone());
                }
            }
        }
        if f.journal_broken_from == Some(st.checkpoints) {
            self.break_journal();
        }
        if f.journal_torn_at == Some(st.checkpoints) {
            self.tear_journal();
        }
        if matches!((point, f.journal_broken_at_step), (Checkpoint::Started(s), Some(b)) if s == b)
        {
            self.break_journal();
        }
        if matches!((point, f.master_moves_before), (Checkpoint::BeforeStep(s), Some(b)) if s == b)
        {
            fs_err::write(self.data("ssconf_master_node"), "node2.example\n").expect("failover");
            st.failover_at = Some(st.log.len());
        }
        if f.kill_at_checkpoint == Some(st.checkpoints)
            || matches!((point, f.kill_at_done), (Checkpoint::Done(s), Some(k)) if s == k)
        {
            drop(st);
            std::panic::panic_any(Killed);
        }
        if let (Checkpoint::BeforeStep(s), Some((at, rewrite))) = (point, f.intruder_before) {
            if s == at {
                let intent = self.paths.fs().host_path(&self.paths.intent_file());
                if rewrite {
                    fs_err::write(&intent, "3.0.2,3.1,1").expect("intent");
                } else {
                    let _ = fs_err::remove_file(&intent);
                }
            }
        }
        if let (Checkpoint::BeforeStep(s), Some((at, node))) = (point, &f.watcher_before) {
            if s == *at {
                let paused = if *node == self.master {
                    fs_err::read_to_string(self.data("watcher.pause"))
                        .ok()
                        .and_then(|t| t.trim().parse::<u64>().ok())
                } else {
                    st.nodes[node].pause
                }
                .is_some_and(|t| t > self.clock());
                let n = st.nodes.get_mut(node).expect("node");
                if !paused && !matches!(n.daemons, Daemons::Running(_)) {
                    // Ganeti's watcher starts the node's daemons.
                    n.daemons = Daemons::Running(n.links.clone());
                }
            }
        }
        if let (Checkpoint::BeforeStep(s), Some(at)) = (point, f.signal_before) {
            if s == at {
                self.interrupted.store(true, Ordering::SeqCst);
            }
        }
        if let (Checkpoint::BeforeStep(s), Some(at)) = (point, f.hold_spent_before) {
            if s == at {
                self.clock.fetch_add(SLOW_STEP, Ordering::SeqCst);
            }
        }
    }
}

struct Quiet;
impl Output for Quiet {
    fn line(&self, _text: &str) {}
}

fn options(mode: Mode) -> Options {
    Options {
        mode,
        dry_run: false,
        json: false,
        run: Settings {
            prefix: "/usr".into(),
            sysconfdir: "/etc".into(),
            libdir: "/usr/lib".into(),
            localstatedir: "/var".into(),
            switch_command: "/usr/sbin/ganeti-switch".into(),
            ssh_command: vec!["ssh".into()],
            parallel: 4,
            verify_ignore: Vec::new(),
            queue_timeout: 10,
            command_timeout: 0,
            max_hold: 0,
        },
        poll_interval: Duration::from_millis(1),
        notes: Vec::new(),
        skip_nodes: Vec::new(),
        no_voting: false,
        vote_wait: Duration::ZERO,
        node_wait: Duration::ZERO,
    }
}

/// A run's end: its result, or killed.
#[derive(Debug)]
enum End {
    Result(Result<Done, UpgradeError>),
    Killed,
}

fn run(model: &Model, mode: Mode) -> End {
    model.interrupted.store(false, Ordering::SeqCst);
    {
        let mut st = model.state();
        st.commands = 0;
        st.undo_commands = 0;
        st.checkpoints = 0;
        st.phase = Phase::Other;
        st.unreachable.clear();
        st.rebooting.clear();
        st.luxi_calls = 0;
        st.kill_pending = false;
    }
    let mut opts = options(mode);
    opts.run.max_hold = model.faults().max_hold;
    let r = model.serving_luxi(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            main_flow(&model.paths, &opts, model, &Quiet, &model.interrupted)
        }))
    });
    // Whatever broke the journal's file system is mended after the run.
    model.mend_journal();
    match r {
        Ok(result) => End::Result(result),
        Err(payload) if payload.is::<Killed>() => End::Killed,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Which way a pending upgrade was said to go: the next run without
/// faults must take that way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Promise {
    /// "The rollback did not complete ... --resume finishes the rollback".
    Back,
    /// "still pending ... --resume" after the configuration change.
    Forward,
    /// Killed, or stopped with both ways named (--abort or --resume).
    Either,
}

/// What a run's end promised, if it left the upgrade pending.
fn promise(end: &End) -> Promise {
    match end {
        End::Result(Err(UpgradeError::RollbackIncomplete { .. })) => Promise::Back,
        End::Result(Err(UpgradeError::Pending { .. } | UpgradeError::AbortRefused { .. })) => {
            Promise::Forward
        }
        _ => Promise::Either,
    }
}

/// Whether the settled version `v` keeps `promise`.
fn kept(promise: Promise, v: &str, from: &str, to: &str) -> Result<(), String> {
    match promise {
        Promise::Back if v != from => Err(format!("promised a rollback to {from}, went to {v}")),
        Promise::Forward if v != to => Err(format!("promised to go on to {to}, went to {v}")),
        _ => Ok(()),
    }
}

/// Checks what a run's end says against the model. `Ok(pending)`.
fn check_end(model: &Model, end: &End, from: &str, to: &str, admin: bool) -> Result<bool, String> {
    let broken = std::mem::take(&mut model.state().violations);
    if !broken.is_empty() {
        return Err(broken.join("; "));
    }
    let pending = check_end_state(model, end, from, to, admin)?;
    // --status agrees with the files: pending exactly when the journal is.
    // (Asked with the faults held back: it is the admin's look afterwards.)
    let faults = std::mem::take(&mut *model.faults());
    let out = Capture::default();
    let opts = options(Mode::Status);
    let _ = main_flow(&model.paths, &opts, model, &out, &model.interrupted);
    *model.faults() = faults;
    let status = out.0.into_inner().unwrap_or_default().join("\n");
    let (_, journal) = model.pending_files();
    if journal == status.contains("no upgrade pending") {
        return Err(format!("--status says {status:?} with journal {journal}"));
    }
    Ok(pending)
}

/// What the end of one run says, against the model.
fn check_end_state(
    model: &Model,
    end: &End,
    from: &str,
    to: &str,
    admin: bool,
) -> Result<bool, String> {
    let (intent, journal) = model.pending_files();
    let settled = |want: &str| -> Result<bool, String> {
        let v = model.consistent()?;
        if v != want {
            return Err(format!("said the cluster runs {want}, but it runs {v}"));
        }
        model.admin_state(admin)?;
        if intent || journal {
            return Err(format!(
                "not pending, but intent {intent} journal {journal}"
            ));
        }
        Ok(false)
    };
    match end {
        End::Killed => Ok(true),
        End::Result(Ok(Done::Upgraded { to: t, .. })) => {
            if t.as_str() != to {
                return Err(format!("done for {t}, asked for {to}"));
            }
            settled(to)
        }
        End::Result(Ok(Done::RollbackFinished { from: f })) => settled(f.as_str()),
        End::Result(Ok(Done::Aborted { from: f })) => {
            if f.as_str() != from {
                return Err(format!("aborted to {f}, started from {from}"));
            }
            settled(from)
        }
        // Upgraded; verify's complaint is reported (exit 3).
        End::Result(Err(UpgradeError::VerifyErrors { .. })) => settled(to),
        // "Not every node runs it": true only if so.
        // "Not every node runs it": true, or it could not ask a node.
        End::Result(Err(e @ UpgradeError::EndStateDiffers { differences, .. })) => {
            let unasked = differences
                .iter()
                .all(|d| d.contains("cannot tell what it runs"));
            if model.consistent().as_deref() == Ok(to) && !unasked {
                return Err(format!("said the cluster differs ({e}), but it runs {to}"));
            }
            Ok(false)
        }
        End::Result(Err(UpgradeError::RolledBack { from: f, .. })) => {
            if f.as_str() != from {
                return Err(format!("rolled back to {f}, started from {from}"));
            }
            settled(from)
        }
        End::Result(Ok(Done::NothingPending)) => {
            let v = model.consistent()?;
            if v != from && v != to {
                return Err(format!("nothing pending on {v}"));
            }
            settled(&v)
        }
        // Stopped for another process: our journal stays; the intent file
        // is the other process's business.
        End::Result(Err(e @ UpgradeError::AnotherProcess { .. })) => {
            if !journal {
                return Err(format!("said pending ({e}), but no journal"));
            }
            Ok(true)
        }
        End::Result(Err(e)) if e.leaves_pending() => {
            if !intent || !journal {
                return Err(format!(
                    "said pending ({e}), but intent {intent} journal {journal}"
                ));
            }
            Ok(true)
        }
        End::Result(Ok(Done::Shown)) => Err("shown?".into()),
        End::Result(Err(e)) => Err(format!("unexpected end: {e}")),
    }
}

#[derive(Debug, Clone)]
struct Case {
    n: usize,
    from: &'static str,
    to: &'static str,
    admin: bool,
    filters: bool,
    faults: Faults,
    /// Faults for the first resume too (a kill or a signal in it).
    resume_faults: Option<Faults>,
    /// `--abort` after the first run.
    abort: bool,
    /// The first run must upgrade (nothing in the case may stop it).
    expect_done: bool,
    /// `--resume --skip-node NODE` after the first run, NODE still down;
    /// then the commands printed for it, once it is back.
    skip: Option<String>,
    /// Between the first run and the resume, every node reboots.
    reboot: bool,
    /// Between the first run and the resume, config.data is put back at
    /// the source (an admin's restore).
    restore_config: bool,
}

/// Runs a case: `--to`, `--resume` (with `resume_faults`), `--resume`
/// without faults, and `--resume` again; every end checked.
fn run_case(case: &Case) -> Result<(), String> {
    let (model, _dir) = Model::new(case.n, case.from, case.admin, case.filters);
    *model.faults() = case.faults.clone();
    let to: DirVersion = case.to.parse().expect("v");
    let end = run(&model, Mode::To(to));
    let mut pending = check_end(&model, &end, case.from, case.to, case.admin)
        .map_err(|e| format!("--to: {e}"))?;
    let mut last_promise = pending.then(|| promise(&end));
    if case.expect_done && !matches!(end, End::Result(Ok(Done::Upgraded { .. }))) {
        let what = match &end {
            End::Result(r) => format!("{r:?}"),
            End::Killed => "killed".into(),
        };
        return Err(format!("--to did not upgrade: {what}"));
    }
    if case.reboot {
        model.reboot();
    }
    if case.restore_config && pending && model.pending_files().1 {
        fs_err::write(
            model.data("config.data"),
            format!("{{\"version\": {}}}", cv(case.from)),
        )
        .expect("restore");
        // What was promised no longer holds: the configuration decides.
        last_promise = None;
    }
    if case.abort {
        let end = run(&model, Mode::Abort);
        pending = check_end(&model, &end, case.from, case.to, case.admin)
            .map_err(|e| format!("--abort: {e}"))?;
        last_promise = pending.then(|| promise(&end));
        if let End::Result(Err(UpgradeError::AbortRefused { .. })) = &end {
            if model.config() == Some(cv(case.from)) {
                return Err("--abort refused while the configuration is unchanged".into());
            }
        }
    }
    if let (Some(node), true) = (&case.skip, pending) {
        *model.faults() = Faults {
            down: vec![node.clone()],
            ..Faults::default()
        };
        model.state().unreachable.clear();
        let mut opts = options(Mode::Resume);
        opts.skip_nodes = vec![node.clone()];
        // A skipped node does not lower the vote's majority: on two nodes,
        // one dead, the admin says --no-voting (as masterd's option).
        opts.no_voting = case.n == 2;
        let r = main_flow(&model.paths, &opts, &model, &Quiet, &model.interrupted);
        let left = match r {
            Ok(Done::Upgraded { left, .. }) => left,
            other => return Err(format!("--resume --skip-node {node}: {other:?}")),
        };
        let Some(l) = left.iter().find(|l| l.node == *node) else {
            return Err(format!("--skip-node {node}: not reported as left out"));
        };
        *model.faults() = Faults::default();
        // The node comes back; the admin runs what was printed.
        model.state().unreachable.clear();
        for argv in &l.on_node {
            let r = model.command(node, argv);
            if !r.ok() {
                return Err(format!("printed command fails on {node}: {}", r.summary()));
            }
        }
        for argv in &l.on_master {
            let r = model.command(&model.master, argv);
            if !r.ok() {
                return Err(format!(
                    "printed command fails on the master: {}",
                    r.summary()
                ));
            }
        }
        let v = model
            .consistent()
            .map_err(|e| format!("after the printed commands: {e}"))?;
        if v != case.to {
            return Err(format!(
                "after --skip-node and the printed commands: on {v}"
            ));
        }
        pending = false;
        last_promise = None;
    }
    if let Some(rf) = &case.resume_faults {
        *model.faults() = rf.clone();
        let end = run(&model, Mode::Resume);
        pending = check_end(&model, &end, case.from, case.to, case.admin)
            .map_err(|e| format!("faulty --resume: {e}"))?;
        last_promise = pending.then(|| promise(&end));
    }
    *model.faults() = Faults::default();
    if case.restore_config && pending {
        let before = model.state().log.len();
        let end = run(&model, Mode::Resume);
        if let End::Result(Err(UpgradeError::StaleJournal(_))) = &end {
            // A restore by hand after the queue ran again: refused, and
            // nothing is run on the journal's word.
            if model.state().log.len() != before {
                return Err("refused as stale but ran commands".into());
            }
            return Ok(());
        }
        check_end(&model, &end, case.from, case.to, case.admin)
            .map_err(|e| format!("--resume after the restore: {e}"))?;
        if let Ok(v) = model.consistent() {
            kept(Promise::Either, &v, case.from, case.to)?;
        }
    }
    for attempt in 1..=2 {
        let end = run(&model, Mode::Resume);
        let still = check_end(&model, &end, case.from, case.to, case.admin)
            .map_err(|e| format!("--resume #{attempt}: {e}"))?;
        if let (1, Some(p), false) = (attempt, last_promise, still) {
            let v = model.consistent()?;
            kept(p, &v, case.from, case.to).map_err(|e| format!("--resume #1: {e}"))?;
        }
        if still {
            let what = match &end {
                End::Result(Err(e)) => e.to_string(),
                _ => "killed".into(),
            };
            return Err(format!(
                "--resume #{attempt} without faults is still pending: {what}"
            ));
        }
        if attempt == 2 && !matches!(end, End::Result(Ok(Done::NothingPending))) {
            return Err("a second --resume found something to do".into());
        }
        let _ = pending;
        pending = false;
    }
    Ok(())
}

/// The commands and checkpoints of a clean run of `case`.
fn clean_counts(n: usize, from: &'static str, to: &'static str) -> (usize, usize, Vec<String>) {
    let (commands, checkpoints, _, log) = clean_run(n, from, to, false);
    (commands, checkpoints, log)
}

/// A fault-free run: (commands and LUXI calls, checkpoints, LUXI calls,
/// the log), with luxid's socket served or not.
fn clean_run(
    n: usize,
    from: &'static str,
    to: &'static str,
    luxi: bool,
) -> (usize, usize, usize, Vec<String>) {
    let (model, _dir) = Model::new(n, from, false, true);
    model.faults().luxi = luxi;
    let end = run(&model, Mode::To(to.parse().expect("v")));
    assert!(
        matches!(end, End::Result(Ok(Done::Upgraded { .. }))),
        "a clean run works: {end:?}"
    );
    let st = model.state();
    (st.commands, st.checkpoints, st.luxi_calls, st.log.clone())
}

fn subsets(nodes: &[String]) -> Vec<Vec<String>> {
    (1..(1u32 << nodes.len()))
        .map(|mask| {
            nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, n)| n.clone())
                .collect()
        })
        .collect()
}

fn node_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("node{i}.example")).collect()
}

const DIRECTIONS: [(&str, &str); 2] = [("3.0", "3.1"), ("3.1", "3.0")];

/// Which way `from` -> `to` goes (of [`DIRECTIONS`]).
fn transition_of(from: &str, to: &str) -> ganeti_upgrade::transition::Transition {
    if from < to {
        ganeti_upgrade::transition::Transition::Upgrade
    } else {
        ganeti_upgrade::transition::Transition::Downgrade
    }
}

fn all_cases() -> Vec<(String, Case)> {
    let mut cases = Vec::new();
    let base = |n, from, to| Case {
        n,
        from,
        to,
        admin: false,
        filters: true,
        faults: Faults::default(),
        resume_faults: None,
        abort: false,
        expect_done: false,
        skip: None,
        reboot: false,
        restore_config: false,
    };
    for n in 1..=3 {
        for (from, to) in DIRECTIONS {
            let transition = transition_of(from, to);
            let steps = steps_for(transition);
            let nodes = node_names(n);
            // A. Every step x failing node subset x how.
            for step in &steps {
                for subset in subsets(&nodes) {
                    for mode in [
                        FaultMode::Fail,
                        FaultMode::Unreachable,
                        FaultMode::Lost,
                        FaultMode::HalfStop,
                    ] {
                        if mode == FaultMode::Unreachable && subset.contains(&nodes[0]) {
                            continue; // the master always reaches itself
                        }
                        let mut c = base(n, from, to);
                        c.faults.at = subset
                            .iter()
                            .map(|node| (Phase::Run(*step), node.clone(), mode))
                            .collect();
                        cases.push((
                            format!("N={n} {from}->{to} {step:?} fails on {subset:?} ({mode:?})"),
                            c.clone(),
                        ));
                        if mode == FaultMode::Unreachable {
                            // The admin abandons it once the node is back.
                            c.abort = true;
                            cases.push((
                                format!("N={n} {from}->{to} {step:?} fails on {subset:?} ({mode:?}), then --abort"),
                                c,
                            ));
                        }
                    }
                }
            }
            // B. A failure, then an undo failing on one node.
            for failing in &steps {
                for undo in &steps {
                    if ganeti_upgrade::steps::row(*undo).undo.is_none() {
                        continue;
                    }
                    for node in &nodes {
                        let mut c = base(n, from, to);
                        c.faults.at = vec![
                            (Phase::Run(*failing), nodes[0].clone(), FaultMode::Fail),
                            (Phase::Undo(*undo), node.clone(), FaultMode::Fail),
                        ];
                        cases.push((format!("N={n} {from}->{to} {failing:?} fails, undo {undo:?} fails on {node}"), c));
                    }
                }
            }
            // C. Kill after every command and at every checkpoint; with the
            // admin's drain, filter and pause for N = 3.
            let (commands, checkpoints, _) = clean_counts(n, from, to);
            for k in 1..=commands {
                let mut c = base(n, from, to);
                c.admin = n == 3;
                c.faults.kill_after_command = Some(k);
                cases.push((format!("N={n} {from}->{to} killed after command {k}"), c));
            }
            // The journal's file system fills (or turns read-only) at every
            // checkpoint, for the rest of the run; and a write torn there.
            for k in 1..=checkpoints {
                let mut c = base(n, from, to);
                c.faults.journal_broken_from = Some(k);
                cases.push((
                    format!("N={n} {from}->{to} journal full from checkpoint {k}"),
                    c,
                ));
                let mut c = base(n, from, to);
                c.faults.journal_torn_at = Some(k);
                c.expect_done = true;
                cases.push((
                    format!("N={n} {from}->{to} journal torn at checkpoint {k}"),
                    c,
                ));
                let mut c = base(n, from, to);
                c.faults.journal_torn_at = Some(k);
                c.faults.at = vec![(
                    Phase::Run(steps[steps.len() / 2]),
                    nodes[n - 1].clone(),
                    FaultMode::Fail,
                )];
                cases.push((
                    format!(
                        "N={n} {from}->{to} journal torn at checkpoint {k}, {:?} fails",
                        steps[steps.len() / 2]
                    ),
                    c,
                ));
            }
            for k in 1..=checkpoints {
                let mut c = base(n, from, to);
                c.faults.kill_at_checkpoint = Some(k);
                cases.push((
                    format!("N={n} {from}->{to} killed at checkpoint {k}"),
                    c.clone(),
                ));
                // The admin abandons it instead.
                c.abort = true;
                cases.push((
                    format!("N={n} {from}->{to} killed at checkpoint {k}, then --abort"),
                    c,
                ));
                // A power loss: every node reboots, its init starts the
                // daemons its links name; then the boot-time resume.
                let mut c = base(n, from, to);
                c.faults.kill_at_checkpoint = Some(k);
                c.reboot = true;
                cases.push((
                    format!("N={n} {from}->{to} killed at checkpoint {k}, every node rebooted"),
                    c,
                ));
                // The admin puts the old configuration back before resuming.
                let mut c = base(n, from, to);
                c.faults.kill_at_checkpoint = Some(k);
                c.restore_config = true;
                cases.push((
                    format!("N={n} {from}->{to} killed at checkpoint {k}, config.data restored"),
                    c,
                ));
                // Killed again inside the resume.
                for k2 in [1, 2, 3, 5, 8, 13, 21, 34] {
                    let mut c = base(n, from, to);
                    c.faults.kill_at_checkpoint = Some(k);
                    c.resume_faults = Some(Faults {
                        kill_after_command: Some(k2),
                        ..Faults::default()
                    });
                    cases.push((format!("N={n} {from}->{to} killed at checkpoint {k}, resume killed after command {k2}"), c));
                }
            }
            // Killed inside a rollback: a step fails on the last node, the
            // rollback is cut after each of its commands.
            for failing in &steps {
                for k in 1..=12 {
                    let mut c = base(n, from, to);
                    c.faults.at =
                        vec![(Phase::Run(*failing), nodes[n - 1].clone(), FaultMode::Fail)];
                    c.faults.kill_in_undo = Some(k);
                    cases.push((format!("N={n} {from}->{to} {failing:?} fails, rollback killed after {k} commands"), c));
                }
            }
            // The watcher runs on a node before a step (cron, every 5 min).
            for step in &steps {
                for node in &nodes {
                    let mut c = base(n, from, to);
                    c.faults.watcher_before = Some((*step, node.clone()));
                    c.expect_done = true;
                    cases.push((
                        format!("N={n} {from}->{to} watcher on {node} before {step:?}"),
                        c,
                    ));
                }
            }
            // A node dies after the point of no return: left out with
            // --skip-node, brought up to date later by the printed commands.
            if n >= 2 {
                let ponr = ganeti_upgrade::steps::point_of_no_return(transition);
                let after: Vec<StepId> =
                    steps.iter().skip_while(|s| **s != ponr).copied().collect();
                for step in after {
                    let mut c = base(n, from, to);
                    c.faults.at = vec![(
                        Phase::Run(step),
                        nodes[n - 1].clone(),
                        FaultMode::Unreachable,
                    )];
                    c.skip = Some(nodes[n - 1].clone());
                    cases.push((
                        format!(
                            "N={n} {from}->{to} {} dies at {step:?}, --skip-node",
                            nodes[n - 1]
                        ),
                        c,
                    ));
                }
            }
            // Ganeti's own upgrade acting on our intent file before a step.
            for step in &steps {
                for rewrite in [true, false] {
                    let mut c = base(n, from, to);
                    c.faults.intruder_before = Some((*step, rewrite));
                    cases.push((
                        format!(
                            "N={n} {from}->{to} intent {} before {step:?}",
                            if rewrite { "rewritten" } else { "removed" }
                        ),
                        c,
                    ));
                }
            }
            // D. A signal before every step, in a first run and in a resume
            // after a crash at every checkpoint before it.
            for step in &steps {
                let mut c = base(n, from, to);
                c.admin = n == 2;
                c.faults.signal_before = Some(*step);
                cases.push((format!("N={n} {from}->{to} signal before {step:?}"), c));
                for k in [2, 6, 10, 14, 18, 22] {
                    let mut c = base(n, from, to);
                    c.faults.kill_at_checkpoint = Some(k);
                    c.resume_faults = Some(Faults {
                        signal_before: Some(*step),
                        ..Faults::default()
                    });
                    cases.push((format!("N={n} {from}->{to} killed at checkpoint {k}, resume signalled before {step:?}"), c));
                }
            }
            // E. The hold budget (--max-hold) runs out before every step:
            // before the point of no return the run rolls back (which the
            // check of the end asks to be clean), after it only reported;
            // in a first run, and in a resume (the hold counts from the
            // first run's stop-new-work) after a crash at a few points.
            let ponr = ganeti_upgrade::steps::point_of_no_return(transition);
            let past = |step: &StepId| {
                steps.iter().position(|s| s == step) > steps.iter().position(|s| *s == ponr)
            };
            for step in &steps {
                let mut c = base(n, from, to);
                c.faults.max_hold = MAX_HOLD;
                c.faults.hold_spent_before = Some(*step);
                let before_hold = steps.iter().position(|s| s == step)
                    <= steps.iter().position(|s| *s == StepId::StopNewWork);
                c.expect_done = past(step) || before_hold;
                cases.push((
                    format!("N={n} {from}->{to} hold budget spent before {step:?}"),
                    c,
                ));
                for k in [2, 6, 10, 14] {
                    let mut c = base(n, from, to);
                    c.faults.kill_at_checkpoint = Some(k);
                    c.resume_faults = Some(Faults {
                        max_hold: MAX_HOLD,
                        hold_spent_before: Some(*step),
                        ..Faults::default()
                    });
                    cases.push((format!("N={n} {from}->{to} killed at checkpoint {k}, resume's hold budget spent before {step:?}"), c));
                }
            }
            let mut c = base(n, from, to);
            c.faults.max_hold = MAX_HOLD;
            c.faults.job_runs_for = 3;
            c.faults.hold_spent_in_wait = true;
            cases.push((
                format!("N={n} {from}->{to} hold budget spent waiting for a job"),
                c,
            ));
        }
    }
    // A re-apply of the same version (Transition::Same: the configuration
    // says nothing, the journal decides), killed at every checkpoint.
    for n in [1, 3] {
        let (_, checkpoints, _) = clean_counts(n, "3.1", "3.1");
        for k in 1..=checkpoints {
            let mut c = base(n, "3.1", "3.1");
            c.faults.kill_at_checkpoint = Some(k);
            cases.push((format!("N={n} 3.1->3.1 killed at checkpoint {k}"), c));
        }
    }
    // Larger clusters: 5 nodes with a failing node at every step, and 21
    // (the fold of ok lines) killed at a few points.
    for (from, to) in DIRECTIONS {
        let transition = transition_of(from, to);
        for step in steps_for(transition) {
            for parallel in [false, true] {
                let mut c = base(5, from, to);
                c.faults.parallel = parallel;
                c.faults.at = vec![(Phase::Run(step), "node4.example".into(), FaultMode::Fail)];
                cases.push((
                    format!("N=5 {from}->{to} {step:?} fails on node4, parallel={parallel}"),
                    c,
                ));
            }
        }
        for k in [10, 25, 40, 55] {
            let mut c = base(5, from, to);
            c.faults.parallel = true;
            c.faults.kill_at_checkpoint = Some(k);
            cases.push((
                format!("N=5 {from}->{to} parallel, killed at checkpoint {k}"),
                c,
            ));
        }
        for k in [10, 40, 80, 120] {
            let mut c = base(21, from, to);
            c.faults.kill_at_checkpoint = Some(k);
            cases.push((format!("N=21 {from}->{to} killed at checkpoint {k}"), c));
        }
    }
    // The drain path (a cluster without job filters), and the admin's own
    // settings, under failures.
    for (from, to) in DIRECTIONS {
        let transition = transition_of(from, to);
        for step in steps_for(transition) {
            for (admin, filters) in [(false, false), (true, false), (true, true)] {
                let mut c = base(3, from, to);
                c.admin = admin;
                c.filters = filters;
                c.faults.at = vec![(Phase::Run(step), "node2.example".into(), FaultMode::Fail)];
                cases.push((
                    format!(
                        "N=3 {from}->{to} admin={admin} filters={filters} {step:?} fails on node2"
                    ),
                    c,
                ));
            }
        }
    }
    luxi_cases(&base, &mut cases);
    manifest_cases(&base, &mut cases);
    cases
}

/// The source version without a manifest on every node (installed by
/// hand, its dpkg lists gone): the way back stays open because the switch
/// itself left it; killed at every checkpoint (then resumed, or aborted)
/// and failing at every step. And the target without one on a node: the
/// run refuses before it changes anything.
fn manifest_cases(
    base: &dyn Fn(usize, &'static str, &'static str) -> Case,
    cases: &mut Vec<(String, Case)>,
) {
    for n in [1, 3] {
        for (from, to) in DIRECTIONS {
            let nodes = node_names(n);
            let bare = |v: &str| -> Vec<(String, String)> {
                nodes
                    .iter()
                    .map(|node| (node.clone(), v.to_string()))
                    .collect()
            };
            let mut c = base(n, from, to);
            c.faults.unmanifested = bare(from);
            c.expect_done = true;
            cases.push((
                format!("N={n} {from}->{to} source unmanifested, no fault"),
                c,
            ));
            let (_, checkpoints, _) = clean_counts(n, from, to);
            for k in 1..=checkpoints {
                for abort in [false, true] {
                    let mut c = base(n, from, to);
                    c.faults.unmanifested = bare(from);
                    c.faults.kill_at_checkpoint = Some(k);
                    c.abort = abort;
                    cases.push((
                        format!("N={n} {from}->{to} source unmanifested, killed at checkpoint {k}, abort={abort}"),
                        c,
                    ));
                }
            }
            let transition = transition_of(from, to);
            for step in steps_for(transition) {
                let mut c = base(n, from, to);
                c.faults.unmanifested = bare(from);
                c.faults.at = vec![(Phase::Run(step), nodes[n - 1].clone(), FaultMode::Fail)];
                cases.push((
                    format!(
                        "N={n} {from}->{to} source unmanifested, {step:?} fails on {}",
                        nodes[n - 1]
                    ),
                    c,
                ));
            }
            let mut c = base(n, from, to);
            c.faults.unmanifested = vec![(nodes[n - 1].clone(), to.to_string())];
            cases.push((
                format!("N={n} {from}->{to} target unmanifested on {}", nodes[n - 1]),
                c,
            ));
        }
    }
}

/// With luxid answering on its socket (the LUXI fake): a kill after every
/// command and LUXI call, every LUXI call's answer lost and every call
/// dropped, and a busy queue (a running job, a queued one held by the
/// filter) under a lost filter answer and a luxid hiccup.
fn luxi_cases(
    base: &dyn Fn(usize, &'static str, &'static str) -> Case,
    cases: &mut Vec<(String, Case)>,
) {
    for n in [1, 3] {
        for (from, to) in DIRECTIONS {
            let (commands, _, calls, log) = clean_run(n, from, to, true);
            assert!(
                log.iter().any(|l| l.contains(": LUXI ")),
                "N={n} {from}->{to}: a clean run with luxid talks LUXI"
            );
            let luxi = |n| {
                let mut c: Case = base(n, from, to);
                c.faults.luxi = true;
                c
            };
            for k in 1..=commands {
                let mut c = luxi(n);
                c.admin = n == 3;
                c.faults.kill_after_command = Some(k);
                cases.push((
                    format!("N={n} {from}->{to} LUXI, killed after command {k}"),
                    c,
                ));
            }
            // Every call falls back to the tools, looking first where a
            // repeat would not be harmless: a lost answer or a luxid
            // restart never costs the run.
            for k in 1..=calls {
                let mut c = luxi(n);
                c.expect_done = true;
                c.faults.luxi_lose = vec![k];
                cases.push((format!("N={n} {from}->{to} LUXI call {k}'s answer lost"), c));
                let mut c = luxi(n);
                c.expect_done = true;
                c.faults.luxi_drop = vec![k];
                cases.push((
                    format!("N={n} {from}->{to} LUXI call {k} dropped (luxid restarts)"),
                    c,
                ));
            }
            // A full /var/lib/ganeti: the filter's deletion is accepted and
            // not kept, by luxid and gnt-filter alike, in a clean run (at
            // resume-work) and in a rollback from every step.
            let transition = transition_of(from, to);
            for failing in std::iter::once(None).chain(steps_for(transition).into_iter().map(Some))
            {
                for talk_luxi in [true, false] {
                    let mut c = luxi(n);
                    c.faults.luxi = talk_luxi;
                    c.faults.delete_not_kept = true;
                    c.faults.queued_job = true;
                    if let Some(step) = failing {
                        c.faults.at =
                            vec![(Phase::Run(step), "node1.example".into(), FaultMode::Fail)];
                    }
                    cases.push((
                        format!("N={n} {from}->{to} LUXI={talk_luxi}, filter deletion not kept, {failing:?} fails"),
                        c,
                    ));
                }
            }
            // The same for the filter's addition: the queue is not held, so
            // the run stops before anything changed.
            for talk_luxi in [true, false] {
                let mut c = luxi(n);
                c.faults.luxi = talk_luxi;
                c.faults.add_not_kept = true;
                cases.push((
                    format!("N={n} {from}->{to} LUXI={talk_luxi}, filter addition not kept"),
                    c,
                ));
            }
            for (lose_add, fails) in [(false, 0), (true, 0), (false, 3), (true, 3)] {
                let mut c = luxi(n);
                c.faults.queued_job = true;
                c.faults.job_runs_for = 3;
                c.faults.lose_filter_add = lose_add;
                c.faults.job_list_fails = fails;
                c.expect_done = true;
                cases.push((
                    format!("N={n} {from}->{to} LUXI, busy queue, filter answer lost={lose_add}, job list fails {fails}x"),
                    c,
                ));
            }
        }
    }
}

#[test]
fn model_check_every_failure_kill_and_signal() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.payload().is::<Killed>() {
            default_hook(info);
        }
    }));
    // MODEL_CASE=NAME reruns the cases whose name contains NAME (the name a
    // violation prints), e.g. MODEL_CASE='N=2 3.0->3.1 killed after command 7'.
    let only = std::env::var("MODEL_CASE").ok();
    let cases: Vec<(String, Case)> = all_cases()
        .into_iter()
        .filter(|(name, _)| only.as_deref().is_none_or(|o| name.contains(o)))
        .collect();
    assert!(!cases.is_empty(), "no case matches MODEL_CASE={only:?}");
    let mut violations = Vec::new();
    let started = std::time::Instant::now();
    for (name, case) in &cases {
        if let Err(e) = run_case(case) {
            violations.push(format!("{name}: {e}"));
        }
    }
    println!(
        "model check: {} cases explored in {:.1} s, {} violations",
        cases.len(),
        started.elapsed().as_secs_f64(),
        violations.len()
    );
    let mut kinds: BTreeMap<String, (usize, &String)> = BTreeMap::new();
    for v in &violations {
        let detail = v.split_once(": ").map(|(_, d)| d).unwrap_or(v);
        let kind: String = detail
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .take(120)
            .collect();
        kinds.entry(kind).or_insert((0, v)).0 += 1;
    }
    for (count, example) in kinds.values() {
        println!("VIOLATION x{count}: {example}");
    }
    assert!(
        violations.is_empty(),
        "{} violations, first: {}",
        violations.len(),
        violations[0]
    );
}

/// The model itself must notice a broken cluster (the check cannot pass
/// by construction).
#[test]
fn the_model_notices_mixed_versions_and_leftovers() {
    let (model, _dir) = Model::new(3, "3.0", false, true);
    assert_eq!(model.consistent(), Ok("3.0".into()));
    model
        .state()
        .nodes
        .get_mut("node2.example")
        .expect("n")
        .links = "3.1".into();
    assert!(model.consistent().is_err());
    let (model, _dir) = Model::new(2, "3.0", false, true);
    model
        .state()
        .filters
        .push(("u".into(), "ganeti-upgrade:x".into()));
    assert!(model.admin_state(false).is_err());
    let (model, _dir) = Model::new(2, "3.0", true, true);
    assert!(model.admin_state(true).is_ok());
    fs_err::remove_file(model.data("queue/drain")).expect("rm");
    assert!(model.admin_state(true).is_err());
}

/// A bare `--resume` (as the boot-time unit runs it) keeps what the admin
/// started the upgrade with: here an RPM-style `--libdir /usr/lib64` and
/// `--verify-ignore ENODESETUP`, killed after the configuration step.
#[test]
fn a_bare_resume_keeps_the_runs_settings() {
    let (mut model, _dir) = Model::with_libdir(2, "3.0", false, true, Some("/usr/lib64"));
    model.verify_error = true;
    let mut opts = options(Mode::To("3.1".parse().expect("v")));
    opts.run.libdir = "/usr/lib64".into();
    opts.run.verify_ignore = vec!["ENODESETUP".into()];
    model.faults().kill_at_done = Some(StepId::UpgradeConfig);
    let killed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        main_flow(&model.paths, &opts, &model, &Quiet, &model.interrupted)
    }));
    assert!(
        killed.is_err_and(|p| p.is::<Killed>()),
        "killed after upgrade-config"
    );
    *model.faults() = Faults::default();
    // The resume's own options are the defaults: nothing given.
    let defaults = options(Mode::Resume).run;
    let (run_with, notes) = ganeti_upgrade::options::for_resume(model.paths.root(), &defaults, &[]);
    assert_eq!(run_with.libdir, PathBuf::from("/usr/lib64"));
    assert_eq!(run_with.verify_ignore, vec!["ENODESETUP".to_string()]);
    assert!(!notes.is_empty());
    let paths = run_with.paths(model.paths.root()).expect("paths");
    let mut resume = options(Mode::Resume);
    resume.run = run_with.clone();
    let r = main_flow(&paths, &resume, &model, &Quiet, &model.interrupted);
    assert!(matches!(r, Ok(Done::Upgraded { .. })), "{r:?}");
    assert_eq!(model.consistent(), Ok("3.1".into()));
    // Without the recorded settings the same resume fails: the tools are
    // not under /usr/lib (the check can fail).
    let (model, _dir) = Model::with_libdir(1, "3.0", false, true, Some("/usr/lib64"));
    let plain = InstallPaths::default()
        .with_root(model.paths.root())
        .expect("paths");
    let r = main_flow(
        &plain,
        &options(Mode::To("3.1".parse().expect("v"))),
        &model,
        &Quiet,
        &model.interrupted,
    );
    assert!(r.is_err(), "{r:?}");
}

/// An output that keeps its lines, for snapshots.
#[derive(Default)]
struct Capture(Mutex<Vec<String>>);
impl Output for Capture {
    fn line(&self, text: &str) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(text.to_string());
    }
}

/// Runs `opts` on a fresh 3-node model cluster and returns its output, the
/// run's own paths, times and sizes filtered out.
fn shown(mut opts: Options, json: bool, prepare: impl FnOnce(&Model)) -> String {
    let (model, dir) = Model::new(3, "3.0", false, true);
    prepare(&model);
    opts.json = json;
    let out = Capture::default();
    let r = main_flow(&model.paths, &opts, &model, &out, &model.interrupted);
    let mut text = out.0.into_inner().unwrap_or_default().join("\n");
    text.push_str(&match r {
        Ok(done) => format!("\n=> {done:?}"),
        Err(e) => format!("\n=> exit {}: {e}", e.exit_code()),
    });
    text.replace(&dir.path().display().to_string(), "[ROOT]")
}

fn filters() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[DATE]");
    s.add_filter(
        r#""(time|started_at)":\s*"?[0-9T:Z.-]+"?"#,
        r#""$1":[TIME]"#,
    );
    s.add_filter(r"\d+\.\d (KiB|MiB|GiB|TiB|PiB)\b", "[SIZE]");
    s.add_filter(r"\d+ KiB", "[N] KiB");
    s.add_filter(r"\d+(\.\d)? (B|KiB|MiB|GiB|TiB|PiB)\b", "[SIZE]");
    s.add_filter(r#""backup_(bytes|free)":\d+"#, r#""backup_$1":[N]"#);
    s.add_filter(r"[0-9a-f]{8,}[0-9a-f]{4}", "[ID]");
    s.add_filter(r#""pid":"\d+""#, r#""pid":"[PID]""#);
    s.add_filter(
        r#""watcher_(node|admin)_until":\d+"#,
        r#""watcher_${1}_until":[EPOCH]"#,
    );
    s.add_filter(
        r#""watcher_node_values":\[[\d,]+\]"#,
        r#""watcher_node_values":[[EPOCH]]"#,
    );
    s.add_filter(r"ganeti-upgrade-\d+\.tar", "ganeti-upgrade-[EPOCH].tar");
    s.add_filter(r"rehearsal-\d+", "rehearsal-[PID]");
    s
}

#[test]
fn snapshot_dry_run_text_and_json() {
    let _guard = filters().bind_to_scope();
    insta::assert_snapshot!(
        "dry_run_text",
        shown(
            options(Mode::To("3.1".parse().expect("v"))).dry(),
            false,
            |_| {}
        )
    );
    insta::assert_snapshot!(
        "dry_run_json",
        shown(
            options(Mode::To("3.1".parse().expect("v"))).dry(),
            true,
            |_| {}
        )
    );
}

#[test]
fn snapshot_dry_run_refusal() {
    let _guard = filters().bind_to_scope();
    insta::assert_snapshot!(
        "dry_run_refused",
        shown(
            options(Mode::To("3.1".parse().expect("v"))).dry(),
            false,
            |m| {
                m.faults()
                    .at
                    .push((Phase::Other, "node2.example".into(), FaultMode::Fail));
            }
        )
    );
}

#[test]
fn snapshot_status_pending_text_and_json() {
    let _guard = filters().bind_to_scope();
    let pending = |m: &Model| {
        m.faults().kill_at_done = Some(StepId::Backup);
        let _ = run(m, Mode::To("3.1".parse().expect("v")));
    };
    insta::assert_snapshot!(
        "status_pending_text",
        shown(options(Mode::Status), false, pending)
    );
    insta::assert_snapshot!(
        "status_pending_json",
        shown(options(Mode::Status), true, pending)
    );
    let failed = |m: &Model| {
        m.faults().at.push((
            Phase::Run(StepId::PostUpgrade),
            "node1.example".into(),
            FaultMode::Fail,
        ));
        let _ = run(m, Mode::To("3.1".parse().expect("v")));
    };
    insta::assert_snapshot!(
        "status_failed_text",
        shown(options(Mode::Status), false, failed)
    );
    // node3 dies at start-daemons (after the point of no return); the
    // admin resumes with --skip-node node3, and that run is killed after
    // redist-conf: --status names the skipped node in the step it stands at.
    let skipped = |m: &Model| {
        m.faults().at.push((
            Phase::Run(StepId::StartDaemons),
            "node3.example".into(),
            FaultMode::Unreachable,
        ));
        let _ = run(m, Mode::To("3.1".parse().expect("v")));
        *m.faults() = Faults {
            down: vec!["node3.example".into()],
            kill_at_done: Some(StepId::RedistConf),
            ..Faults::default()
        };
        m.state().unreachable.clear();
        let mut opts = options(Mode::Resume);
        opts.skip_nodes = vec!["node3.example".into()];
        // The kill is a panic of the model's; the run ends there.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            main_flow(&m.paths, &opts, m, &Quiet, &m.interrupted)
        }));
    };
    insta::assert_snapshot!(
        "status_skipped_text",
        shown(options(Mode::Status), false, skipped)
    );
}

trait Dry {
    fn dry(self) -> Self;
}
impl Dry for Options {
    fn dry(mut self) -> Options {
        self.dry_run = true;
        self
    }
}

/// A clustered node whose active version a dist-upgrade removed by force:
/// the links flipped to 3.0, but ssconf (and the configuration) say the
/// cluster ran 2.16.2. `--to 3.0` is then an upgrade from 2.16.2, not a
/// re-apply: cfgupgrade runs, and post-upgrade gets 2.16.2.
#[test]
fn the_source_release_comes_from_ssconf_when_the_links_were_flipped() {
    let (model, _dir) = Model::new(2, "3.0", false, true);
    fs_err::write(model.data("ssconf_release_version"), "2.16.2\n").expect("ssconf");
    fs_err::write(
        model.data("config.data"),
        format!("{{\"version\": {}}}", cv("2.16")),
    )
    .expect("config");
    let r = run(&model, Mode::To("3.0".parse().expect("v")));
    assert!(
        matches!(r, End::Result(Ok(Done::Upgraded { .. }))),
        "upgraded"
    );
    let log = model.state().log.clone();
    assert!(
        log.iter().any(|l| l.ends_with("cfgupgrade -f")),
        "cfgupgrade ran: {log:?}"
    );
    assert!(
        log.iter().any(|l| l.ends_with("post-upgrade 2.16.2")),
        "post-upgrade 2.16.2: {log:?}"
    );
    assert_eq!(model.consistent(), Ok("3.0".into()));
}

/// `--json` keeps the contract ganeti-upgrade(8) states: every line one
/// object with `"format": 1` and a documented `event`, times in RFC 3339;
/// checked on a whole upgrade, on one that fails and rolls back, and on
/// `--dry-run`.
#[test]
fn json_events_keep_their_documented_shape() {
    let documented = [
        "step-start",
        "node",
        "step-end",
        "message",
        "report",
        "preflight",
        "plan-step",
    ];
    let rfc3339 = |s: &str| {
        let b = s.as_bytes();
        s.len() == 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && b[19] == b'Z'
    };
    let failing = |m: &Model| {
        m.faults().at.push((
            Phase::Run(StepId::SwitchVersion),
            "node2.example".into(),
            FaultMode::Fail,
        ));
    };
    let to = || options(Mode::To("3.1".parse().expect("v")));
    let runs = [
        shown(to(), true, |_| {}),
        shown(to(), true, failing),
        shown(to().dry(), true, |_| {}),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for text in &runs {
        // The lines the run printed; `shown` appends its verdict after "=> ".
        let printed = text.split("\n=> ").next().unwrap_or_default();
        for line in printed.lines() {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(v["format"], 1, "{line}");
            let event = v["event"]
                .as_str()
                .unwrap_or_else(|| panic!("no event: {line}"));
            assert!(documented.contains(&event), "undocumented event: {line}");
            seen.insert(event.to_string());
            if let Some(t) = v.get("time") {
                assert!(t.as_str().is_some_and(rfc3339), "time not RFC 3339: {line}");
            }
        }
    }
    assert_eq!(seen.len(), documented.len(), "events seen: {seen:?}");
}

/// The master vote of `--resume` (issue 11 item 3): nodes that do not
/// answer yet are asked again for up to `--vote-wait`; a node naming
/// another master refuses at once, whatever the wait; `--no-voting` skips
/// the vote. A 3-node cluster killed after the backup, then resumed.
#[test]
fn the_master_vote_waits_for_silent_nodes_and_refuses_dissent_at_once() {
    let pending = || {
        let (model, dir) = Model::new(3, "3.0", false, true);
        model.faults().kill_at_done = Some(StepId::Backup);
        let _ = run(&model, Mode::To("3.1".parse().expect("v")));
        *model.faults() = Faults::default();
        (model, dir)
    };
    let resume = |model: &Model, wait: Duration, no_voting: bool| {
        let mut opts = options(Mode::Resume);
        opts.vote_wait = wait;
        opts.no_voting = no_voting;
        let t0 = std::time::Instant::now();
        let r = main_flow(&model.paths, &opts, model, &Quiet, &model.interrupted);
        (r, t0.elapsed())
    };
    let set = |model: &Model, f: Faults| {
        *model.faults() = f;
    };
    let silent = |k: usize| Faults {
        vote_silent: vec![("node2.example".into(), k), ("node3.example".into(), k)],
        ..Faults::default()
    };

    // Both others silent, no wait: refused, naming them; still pending.
    let (model, _d) = pending();
    set(&model, silent(usize::MAX));
    let (r, _) = resume(&model, Duration::ZERO, false);
    match &r {
        Err(e @ UpgradeError::MasterNotConfirmed { votes: 1, .. }) => {
            let text = e.to_string();
            assert!(text.contains("node2.example did not answer"), "{text}");
            assert!(
                text.contains("--skip-node") && text.contains("--no-voting"),
                "{text}"
            );
        }
        other => panic!("silent nodes, no wait: {other:?}"),
    }
    // They answer on the second round: the resume waits and finishes.
    set(&model, silent(1));
    model.state().vote_asks.clear();
    let (r, took) = resume(&model, Duration::from_secs(30), false);
    assert!(matches!(r, Ok(Done::Upgraded { .. })), "{r:?}");
    assert!(
        took >= Duration::from_secs(4),
        "waited {took:?} between rounds"
    );

    // A node naming another master: refused at once though the wait is long.
    let (model, _d) = pending();
    set(
        &model,
        Faults {
            vote_names: vec![
                ("node2.example".into(), "node2.example".into()),
                ("node3.example".into(), "node2.example".into()),
            ],
            ..Faults::default()
        },
    );
    let (r, took) = resume(&model, Duration::from_secs(60), false);
    match &r {
        Err(e @ UpgradeError::MasterNotConfirmed { .. }) => {
            assert!(
                e.to_string().contains("node2.example names node2.example"),
                "{e}"
            );
        }
        other => panic!("dissent: {other:?}"),
    }
    assert!(
        took < Duration::from_secs(4),
        "dissent refused at once, took {took:?}"
    );
    // The admin is sure: --no-voting skips the vote and finishes.
    let (r, _) = resume(&model, Duration::ZERO, true);
    assert!(matches!(r, Ok(Done::Upgraded { .. })), "--no-voting: {r:?}");

    // One dissenting node of three is outvoted (the master and node3).
    let (model, _d) = pending();
    set(
        &model,
        Faults {
            vote_names: vec![("node2.example".into(), "node2.example".into())],
            ..Faults::default()
        },
    );
    let (r, _) = resume(&model, Duration::ZERO, false);
    assert!(
        matches!(r, Ok(Done::Upgraded { .. })),
        "outvoted dissent: {r:?}"
    );

    // One dissent and one node silent for a round: the silent node can
    // still outvote the dissent, so the vote waits for it, then finishes.
    let (model, _d) = pending();
    set(
        &model,
        Faults {
            vote_names: vec![("node2.example".into(), "node2.example".into())],
            vote_silent: vec![("node3.example".into(), 1)],
            ..Faults::default()
        },
    );
    let (r, took) = resume(&model, Duration::from_secs(30), false);
    assert!(
        matches!(r, Ok(Done::Upgraded { .. })),
        "dissent + late node: {r:?}"
    );
    assert!(
        took >= Duration::from_secs(4),
        "waited for the late node: {took:?}"
    );

    // A majority without the silent node: no wait at all.
    let (model, _d) = pending();
    set(
        &model,
        Faults {
            vote_silent: vec![("node3.example".into(), usize::MAX)],
            ..Faults::default()
        },
    );
    let (r, took) = resume(&model, Duration::from_secs(60), false);
    assert!(
        matches!(r, Ok(Done::Upgraded { .. })),
        "2 of 3 votes: {r:?}"
    );
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

/// Ganeti's own `gnt-cluster upgrade` writes its intent while ours checks
/// the nodes (before our write-intent): ours stops there; if Ganeti's
/// upgrade then changes the configuration, a `--resume` of ours must not
/// act beside it (it would switch and restart daemons while Ganeti's
/// resume does), and an `--abort` must leave Ganeti's intent file alone.
#[test]
fn a_resume_never_runs_beside_another_upgrade_that_took_the_intent_first() {
    let (model, _dir) = Model::new(3, "3.0", false, true);
    model.faults().intruder_before = Some((StepId::WriteIntent, true));
    let first = run(&model, Mode::To("3.1".parse().expect("v")));
    assert!(
        matches!(first, End::Result(Err(UpgradeError::AnotherProcess { .. }))),
        "{first:?}"
    );
    *model.faults() = Faults::default();
    let intent = model.paths.fs().host_path(&model.paths.intent_file());
    let theirs = fs_err::read_to_string(&intent).expect("their intent");
    // Ganeti's upgrade gets past its configuration step.
    fs_err::write(
        model.data("config.data"),
        format!("{{\"version\": {}}}", cv("3.1")),
    )
    .expect("w");
    let commands_before = model.state().log.len();
    let resumed = run(&model, Mode::Resume);
    match &resumed {
        End::Result(Err(e @ UpgradeError::AnotherProcess { .. })) => {
            assert!(e.to_string().contains("configuration has changed"), "{e}");
        }
        other => panic!("resume beside another upgrade: {other:?}"),
    }
    let log = model.state().log.clone();
    assert!(
        !log[commands_before..]
            .iter()
            .any(|l| l.contains("ganeti-switch to") || l.contains("daemon-util")),
        "it acted: {:?}",
        &log[commands_before..]
    );
    assert_eq!(fs_err::read_to_string(&intent).ok(), Some(theirs.clone()));
    // Before the configuration changed, --abort drops our journal and
    // keeps their intent file.
    fs_err::write(
        model.data("config.data"),
        format!("{{\"version\": {}}}", cv("3.0")),
    )
    .expect("w");
    let aborted = run(&model, Mode::Abort);
    assert!(!matches!(aborted, End::Killed), "{aborted:?}");
    assert_eq!(fs_err::read_to_string(&intent).ok(), Some(theirs));
}

/// R3-1: cfgupgrade fails leaving config.data unchanged, and at that moment
/// the journal stops taking appends (a full /var). The rollback cannot be
/// recorded, so nothing is undone and the run says so; once space is freed
/// the next `--resume` never claims a version the cluster does not run.
#[test]
fn r3_1_a_lost_rollback_record_never_becomes_a_false_done() {
    let (model, _dir) = Model::new(3, "3.0", false, true);
    {
        let mut f = model.faults();
        f.at = vec![(
            Phase::Run(StepId::UpgradeConfig),
            "node1.example".into(),
            FaultMode::Fail,
        )];
        f.journal_broken_at_step = Some(StepId::UpgradeConfig);
    }
    let first = run(&model, Mode::To("3.1".parse().expect("v")));
    assert!(
        matches!(
            first,
            End::Result(Err(UpgradeError::RollbackNotRecorded { .. }))
        ),
        "{first:?}"
    );
    assert!(check_end(&model, &first, "3.0", "3.1", false).expect("end"));
    *model.faults() = Faults::default();
    let resumed = run(&model, Mode::Resume);
    assert!(
        !check_end(&model, &resumed, "3.0", "3.1", false).expect("the resume says what is true"),
        "{resumed:?}"
    );
    // And so does the other way out.
    let (model, _dir) = Model::new(3, "3.0", false, true);
    {
        let mut f = model.faults();
        f.at = vec![(
            Phase::Run(StepId::UpgradeConfig),
            "node1.example".into(),
            FaultMode::Fail,
        )];
        f.journal_broken_at_step = Some(StepId::UpgradeConfig);
    }
    run(&model, Mode::To("3.1".parse().expect("v")));
    *model.faults() = Faults::default();
    let aborted = run(&model, Mode::Abort);
    assert!(
        matches!(aborted, End::Result(Ok(Done::Aborted { .. }))),
        "{aborted:?}"
    );
    assert_eq!(model.consistent(), Ok("3.0".into()));
}

/// R3-4: a write torn by a full disk leaves a record without its newline;
/// the next record must not be glued to it, and a step done whose
/// `started` record was lost still counts as started (a rollback undoes it).
#[test]
fn r3_4_a_torn_append_never_swallows_the_next_record() {
    use ganeti_upgrade::journal::{fold, Facts, Header, Journal, Record, JOURNAL_FORMAT};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal");
    let journal = Journal::at(&path);
    let header = Header {
        format: JOURNAL_FORMAT,
        id: "x".into(),
        from_release: "3.0.2".into(),
        from_dir: "3.0".parse().expect("v"),
        to: "3.1".parse().expect("v"),
        transition: ganeti_upgrade::transition::Transition::Upgrade,
        started_at: 0,
        settings: None,
        cluster: None,
        master: None,
    };
    journal.create(&header).expect("create");
    {
        use std::io::Write;
        let mut f = fs_err::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        f.write_all(br#"{"record":"started","step":"upgr"#)
            .expect("tear");
    }
    journal
        .append(&Record::RollingBack { at: 1 })
        .expect("append");
    let state = journal.load().expect("load").expect("state");
    assert!(state.rolling_back, "the record after a torn one is read");
    assert_eq!(state.damaged_lines, 1);
    let head = serde_json::to_string(&Record::Header(Box::new(header))).expect("json");
    let done = serde_json::to_string(&Record::Done {
        step: StepId::StopNewWork,
        at: 2,
        facts: Facts::default(),
    })
    .expect("json");
    let state = fold(&path, &format!("{head}\n{done}\n")).expect("fold");
    assert!(
        state.has_started(StepId::StopNewWork),
        "done implies started"
    );
}

/// R3-3: the journal says the configuration step ran, but config.data is
/// back at the source (restored by the admin, or cfgupgrade's rename lost):
/// the configuration decides, and the resume converts it again.
#[test]
fn r3_3_a_config_back_at_the_source_is_converted_again() {
    for (from, to) in DIRECTIONS {
        let (model, _dir) = Model::new(3, from, false, true);
        let ponr = if from < to {
            StepId::UpgradeConfig
        } else {
            StepId::DowngradeConfig
        };
        model.faults().kill_at_done = Some(StepId::EnsureDirs);
        let first = run(&model, Mode::To(to.parse().expect("v")));
        assert!(matches!(first, End::Killed), "{first:?}");
        // The admin puts the old configuration back.
        fs_err::write(
            model.data("config.data"),
            format!("{{\"version\": {}}}", cv(from)),
        )
        .expect("restore");
        *model.faults() = Faults::default();
        let before = model.state().log.len();
        let resumed = run(&model, Mode::Resume);
        assert!(
            !check_end(&model, &resumed, from, to, false).expect("consistent"),
            "{from}->{to}: {resumed:?}"
        );
        assert_eq!(model.consistent(), Ok(to.to_string()), "{from}->{to}");
        let log = model.state().log[before..].to_vec();
        assert!(
            log.iter().any(|l| l.contains("cfgupgrade")),
            "{from}->{to}: {ponr:?} ran again: {log:?}"
        );
    }
}

/// R3-2: a journal outlives its upgrade (kept by a node that was not the
/// master, or left by an upgrade finished elsewhere) and the cluster has
/// moved on to a third version: nothing is run on its word.
#[test]
fn r3_2_a_stale_journal_is_never_resumed_against_a_cluster_that_moved_on() {
    let (model, _dir) = Model::new(3, "3.0", false, true);
    model.faults().kill_at_done = Some(StepId::SwitchVersion);
    assert!(matches!(
        run(&model, Mode::To("3.1".parse().expect("v"))),
        End::Killed
    ));
    *model.faults() = Faults::default();
    // Meanwhile the cluster was brought to 3.2 by other means.
    {
        let mut st = model.state();
        for n in st.nodes.values_mut() {
            n.links = "3.2".into();
            n.daemons = Daemons::Running("3.2".into());
        }
    }
    fs_err::write(
        model.data("config.data"),
        format!("{{\"version\": {}}}", cv("3.2")),
    )
    .expect("3.2");
    let _ = fs_err::remove_file(model.paths.fs().host_path(&model.paths.intent_file()));
    let before = model.state().log.len();
    for mode in [
        Mode::Resume,
        Mode::Abort,
        Mode::To("3.1".parse().expect("v")),
    ] {
        let end = run(&model, mode.clone());
        assert!(
            matches!(end, End::Result(Err(UpgradeError::StaleJournal(_)))),
            "{mode:?}: {end:?}"
        );
    }
    let log = model.state().log[before..].to_vec();
    assert!(
        !log.iter()
            .any(|l| l.contains("switch") || l.contains("daemon-util") || l.contains("cfgupgrade")),
        "it acted: {log:?}"
    );
    assert_eq!(model.consistent(), Ok("3.2".into()));
}

/// R3-9: a master-failover during the run (a second admin, while the
/// upgrade waits for jobs): the run stops before its next step, with the
/// upgrade pending for the new master, and runs nothing more.
#[test]
fn r3_9_a_master_failover_during_the_run_stops_it_before_the_next_step() {
    for step in steps_for(ganeti_upgrade::transition::Transition::Upgrade) {
        if step == StepId::VerifyInstalled {
            continue;
        }
        let (model, _dir) = Model::new(3, "3.0", false, true);
        model.faults().master_moves_before = Some(step);
        let end = run(&model, Mode::To("3.1".parse().expect("v")));
        match &end {
            End::Result(Err(UpgradeError::MasterMoved { master, step: at })) => {
                assert_eq!(master, "node2.example");
                assert_eq!(*at, step.as_str());
            }
            other => panic!("failover before {step:?}: {other:?}"),
        }
        let (log, at) = {
            let st = model.state();
            (st.log.clone(), st.failover_at)
        };
        assert_eq!(
            Some(log.len()),
            at,
            "commands ran after the failover before {step:?}: {:?}",
            &log[at.unwrap_or(0)..]
        );
        let last = log.last().cloned().unwrap_or_default();
        // Failing back (the admin's fix), the resume finishes the upgrade.
        fs_err::write(model.data("ssconf_master_node"), "node1.example\n").expect("back");
        *model.faults() = Faults::default();
        let resumed = run(&model, Mode::Resume);
        assert!(
            !check_end(&model, &resumed, "3.0", "3.1", false).expect("settled"),
            "after a failover before {step:?} (last command {last}): {resumed:?}"
        );
    }
}

/// R3-6: the master dies mid-upgrade and the admin fails over to node2,
/// a master candidate: there `--status` shows the pending upgrade and
/// `--resume` takes it over from the copy of the journal and finishes it,
/// never deleting its filter as an orphan; the old master, back as a node,
/// sets its own journal aside and runs nothing.
#[test]
fn r3_6_a_new_master_takes_the_upgrade_over() {
    let upgrade = ganeti_upgrade::transition::Transition::Upgrade;
    let steps = steps_for(upgrade);
    let intent_at = steps.iter().position(|s| *s == StepId::WriteIntent);
    for (i, &step) in steps.iter().enumerate() {
        // Until the intent file is written nothing is pending; after
        // finish, nothing.
        if Some(i) <= intent_at || step == StepId::Finish {
            continue;
        }
        let (old, _old_dir) = Model::new(3, "3.0", false, true);
        old.faults().kill_at_done = Some(step);
        assert!(matches!(
            run(&old, Mode::To("3.1".parse().expect("v"))),
            End::Killed
        ));
        *old.faults() = Faults::default();
        let (new, _new_dir) = old.failed_over();
        let opts = options(Mode::Status);
        let out = Capture::default();
        let _ = main_flow(&new.paths, &opts, &new, &out, &new.interrupted);
        let status = out.0.into_inner().unwrap_or_default().join("\n");
        assert!(
            status.contains("takes the upgrade over"),
            "killed after {step:?}: --status on the new master: {status}"
        );
        let resumed = run(&new, Mode::Resume);
        assert!(
            !check_end(&new, &resumed, "3.0", "3.1", false).expect("settled"),
            "killed after {step:?}: --resume on the new master: {resumed:?}"
        );
        // The old master boots as a node: its resume acts on nothing.
        let before = old.state().log.len();
        let back = run(&old, Mode::Resume);
        assert!(
            matches!(back, End::Result(Err(UpgradeError::NotMasterResume { .. }))),
            "{back:?}"
        );
        assert_eq!(old.state().log.len(), before, "the old master acted");
        assert!(
            !old.data("ganeti-upgrade.journal").exists(),
            "journal set aside"
        );
    }
}

/// "done" only when true: a node whose switch exits 0 but changes nothing
/// (an older ganeti-switch facing a `default` link that bypasses the
/// switch links) leaves the cluster mixed; every step succeeds, and the
/// end check says which node runs what instead of "done".
#[test]
fn done_only_when_true_a_switch_that_did_nothing_is_named() {
    let (model, _dir) = Model::new(3, "3.0", false, true);
    model.faults().at = vec![(
        Phase::Run(StepId::SwitchVersion),
        "node3.example".into(),
        FaultMode::NoOp,
    )];
    let end = run(&model, Mode::To("3.1".parse().expect("v")));
    // Caught before the queue reopens: node3's daemons still run 3.0's
    // code after their restart, and the upgrade stays pending there.
    match &end {
        End::Result(Err(UpgradeError::Pending { step, message, .. })) => {
            assert_eq!(*step, "check-stale-code");
            assert!(message.contains("node3.example: pid"), "{message}");
            assert!(message.contains("ganeti-switch to 3.1"), "{message}");
        }
        other => panic!("a mixed cluster called {other:?}"),
    }
    assert!(model.consistent().is_err());
    assert!(
        model.journal_says_done(StepId::RestartDaemons)
            && !model.journal_says_done(StepId::ResumeWork),
        "the queue stays held"
    );
}

/// R3-11: the filter was added but the answer was lost, and the fallback
/// add fails: the filter there is found (and holds the queue), so the
/// upgrade does not drain instead nor wait on its own filter's jobs.
#[test]
fn r3_11_a_filter_whose_answer_was_lost_is_found() {
    let (model, _dir) = Model::new(2, "3.0", false, true);
    model.faults().lose_filter_add = true;
    model.faults().at = vec![];
    let end = run(&model, Mode::To("3.1".parse().expect("v")));
    assert!(
        matches!(end, End::Result(Ok(Done::Upgraded { .. }))),
        "{end:?}"
    );
    let log = model.state().log.clone();
    assert!(
        !log.iter().any(|l| l.contains("queue drain")),
        "drained although the filter was there: {log:?}"
    );
    assert!(
        model.admin_state(false).is_ok(),
        "{:?}",
        model.admin_state(false)
    );
}

/// R3-12: luxid does not answer a few times during the job wait (a
/// restart): the wait asks again instead of rolling the upgrade back; a
/// queue that never answers still ends it.
#[test]
fn r3_12_a_luxid_hiccup_during_the_job_wait_is_waited_out() {
    let (model, _dir) = Model::new(2, "3.0", false, true);
    model.faults().job_list_fails = 3;
    model.faults().job_runs_for = 2;
    let end = run(&model, Mode::To("3.1".parse().expect("v")));
    assert!(
        matches!(end, End::Result(Ok(Done::Upgraded { .. }))),
        "{end:?}"
    );
    let (model, _dir) = Model::new(2, "3.0", false, true);
    model.faults().job_list_fails = 1000;
    let end = run(&model, Mode::To("3.1".parse().expect("v")));
    assert!(
        matches!(end, End::Result(Err(UpgradeError::RolledBack { .. }))),
        "{end:?}"
    );
    assert_eq!(model.consistent(), Ok("3.0".into()));
}

/// `--max-hold`: a hold that runs out before the point of no return rolls
/// the upgrade back and says why, with the figures; one that runs out
/// during the job wait ends the wait the same way; after the point of no
/// return the run goes on. Without the budget, the same slow steps upgrade.
#[test]
fn a_hold_past_max_hold_rolls_back_before_the_point_of_no_return_only() {
    let to = || Mode::To("3.1".parse().expect("v"));
    let rolled_back_for_the_budget = |end: &End| match end {
        End::Result(Err(e @ UpgradeError::RolledBack { .. })) => {
            let text = e.to_string();
            text.contains("longer than --max-hold allows") && text.contains("(600 s)")
        }
        _ => false,
    };
    for step in [StepId::PauseWatcher, StepId::Backup, StepId::UpgradeConfig] {
        let (model, _dir) = Model::new(3, "3.0", false, true);
        model.faults().max_hold = MAX_HOLD;
        model.faults().hold_spent_before = Some(step);
        let end = run(&model, to());
        assert!(rolled_back_for_the_budget(&end), "{step:?}: {end:?}");
        assert!(end_says(&end, &format!("at {}", step.as_str())), "{end:?}");
        assert_eq!(model.consistent(), Ok("3.0".into()));
    }
    let (model, _dir) = Model::new(3, "3.0", false, true);
    model.faults().max_hold = MAX_HOLD;
    model.faults().job_runs_for = 3;
    model.faults().hold_spent_in_wait = true;
    let end = run(&model, to());
    assert!(rolled_back_for_the_budget(&end), "{end:?}");
    assert!(end_says(&end, "job(s) still running"), "{end:?}");
    assert_eq!(model.consistent(), Ok("3.0".into()));
    for (budget, step) in [(MAX_HOLD, StepId::StartDaemons), (0, StepId::Backup)] {
        let (model, _dir) = Model::new(3, "3.0", false, true);
        model.faults().max_hold = budget;
        model.faults().hold_spent_before = Some(step);
        let end = run(&model, to());
        assert!(
            matches!(end, End::Result(Ok(Done::Upgraded { .. }))),
            "{budget} {step:?}: {end:?}"
        );
    }
}

/// A node whose daemons are gone when redist-conf runs gets none of its
/// files (Ganeti only warns, and the job succeeds): its noded is started
/// and the files are redistributed, and the upgrade goes on. If noded does
/// not start there, the step fails for that node and the upgrade stays
/// pending naming it, with the queue still held; `--resume` finishes once
/// the node is mended.
#[test]
fn a_redist_conf_that_misses_a_node_starts_its_noded_or_stays_pending_for_it() {
    for node in ["node2.example", "node3.example"] {
        let (model, _dir) = Model::new(3, "3.0", false, true);
        model.faults().daemons_die = Some((StepId::RedistConf, node.into()));
        let end = run(&model, Mode::To("3.1".parse().expect("v")));
        assert!(
            matches!(end, End::Result(Ok(Done::Upgraded { .. }))),
            "{node}: {end:?}"
        );
        assert_eq!(model.consistent(), Ok("3.1".into()));

        let (model, _dir) = Model::new(3, "3.0", false, true);
        model.faults().daemons_die = Some((StepId::RedistConf, node.into()));
        model.faults().at = vec![(Phase::Run(StepId::RedistConf), node.into(), FaultMode::Fail)];
        let end = run(&model, Mode::To("3.1".parse().expect("v")));
        assert!(
            matches!(&end, End::Result(Err(UpgradeError::Pending { step: "redist-conf", nodes, .. }))
                if *nodes == vec![node.to_string()]),
            "{node}: {end:?}"
        );
        assert!(end_says(&end, "Copy of file"), "{node}: {end:?}");
        assert!(
            model.state().filters.iter().any(|(u, _)| u != "admin-1"),
            "{node}: the queue is held while pending"
        );
        *model.faults() = Faults::default();
        let end = run(&model, Mode::Resume);
        assert!(
            matches!(end, End::Result(Ok(Done::Upgraded { .. }))),
            "{node}: {end:?}"
        );
        assert_eq!(model.consistent(), Ok("3.1".into()));
        assert!(
            model.state().violations.is_empty(),
            "{:?}",
            model.state().violations
        );
    }
}

fn end_says(end: &End, text: &str) -> bool {
    matches!(end, End::Result(Err(e)) if e.to_string().contains(text))
}

/// A node other than the master reboots in the middle of a step of the
/// admin's upgrade (its init starts its daemons again on the version its
/// links name; it does not answer for a while): the step waits for it
/// (`--node-wait`) and runs its command there again, and the upgrade ends
/// settled on the target, whichever step it was. Without the wait the same
/// reboot leaves the upgrade rolled back or pending at some steps (so this
/// test fails if the wait is taken out).
#[test]
fn a_node_that_reboots_mid_step_is_waited_for_and_the_upgrade_goes_on() {
    let upgrade = |step: StepId, wait: Duration| -> (End, Model, tempfile::TempDir) {
        let (model, dir) = Model::new(3, "3.0", false, true);
        model.faults().reboot = Some((step, "node2.example".into(), 2));
        let mut opts = options(Mode::To("3.1".parse().expect("v")));
        opts.node_wait = wait;
        let r = main_flow(&model.paths, &opts, &model, &Quiet, &model.interrupted);
        (End::Result(r), model, dir)
    };
    let mut without_wait = Vec::new();
    for step in steps_for(ganeti_upgrade::transition::Transition::Upgrade) {
        let (end, model, _dir) = upgrade(step, Duration::from_secs(60));
        assert!(
            matches!(
                end,
                End::Result(Ok(Done::Upgraded { .. }))
                    | End::Result(Err(UpgradeError::VerifyErrors { .. }))
            ),
            "node2 rebooting in {}: {end:?}",
            step.as_str()
        );
        assert_eq!(
            check_end(&model, &end, "3.0", "3.1", false),
            Ok(false),
            "node2 rebooting in {}",
            step.as_str()
        );
        let asked = model.state().rebooting.iter().any(|(_, k)| *k == 0);
        let (end, _, _dir) = upgrade(step, Duration::ZERO);
        if asked && !matches!(end, End::Result(Ok(Done::Upgraded { .. }))) {
            without_wait.push(step.as_str());
        }
    }
    assert!(
        without_wait.contains(&"stop-daemons") && without_wait.contains(&"ensure-dirs"),
        "without the wait these should not have finished: {without_wait:?}"
    );
}

/// A node that dies in stop-daemons (unreachable from then on) is waited
/// for once (`--node-wait`); the rollback that follows does not wait for it
/// again at each undo step (it would, once per step, uninterruptibly).
/// Counted by the wait's probes (the vote question) sent to the dead node:
/// one wait of 100 ms at 5 ms a probe sends at most 21.
#[test]
fn a_node_given_up_on_is_not_waited_for_again_in_the_same_run() {
    let (model, _dir) = Model::new(3, "3.0", false, true);
    model.faults().at = vec![(
        Phase::Run(StepId::StopDaemons),
        "node3.example".into(),
        FaultMode::Unreachable,
    )];
    let mut opts = options(Mode::To("3.1".parse().expect("v")));
    opts.node_wait = Duration::from_millis(100);
    let r = main_flow(&model.paths, &opts, &model, &Quiet, &model.interrupted);
    assert!(
        matches!(r, Err(UpgradeError::RollbackIncomplete { .. })),
        "{r:?}"
    );
    let probes = model
        .state()
        .log
        .iter()
        .filter(|l| l.starts_with("node3.example: ") && l.contains("ssconf_master_node"))
        .count();
    assert!(probes >= 1, "node3 was waited for");
    assert!(probes <= 21, "node3 was waited for again: {probes} probes");
}

/// The health baseline (issue 22 item 3): an error `gnt-cluster verify`
/// reported before the upgrade does not fail it (it did, exit 3, before
/// the baseline); an error an upgrade should not start on (ECLUSTERCFG)
/// is refused at record-health with nothing changed, naming the option
/// that overrides it; given with `--verify-ignore`, the upgrade goes on.
#[test]
fn verify_errors_there_before_do_not_fail_the_upgrade_and_fix_first_ones_refuse() {
    let to = || Mode::To("3.1".parse().expect("v"));
    let (mut model, _dir) = Model::new(3, "3.0", false, true);
    model.verify_error = true;
    let end = run(&model, to());
    assert!(
        matches!(end, End::Result(Ok(Done::Upgraded { .. }))),
        "{end:?}"
    );
    assert_eq!(model.consistent(), Ok("3.1".into()));

    let (mut model, _dir) = Model::new(3, "3.0", false, true);
    model.verify_fix_first = true;
    let end = run(&model, to());
    assert!(
        matches!(end, End::Result(Err(UpgradeError::RolledBack { .. }))),
        "{end:?}"
    );
    assert!(
        end_says(&end, "ECLUSTERCFG cluster c: duplicate IP"),
        "{end:?}"
    );
    assert!(end_says(&end, "--verify-ignore ECLUSTERCFG"), "{end:?}");
    assert_eq!(model.consistent(), Ok("3.0".into()));
    assert!(
        model.admin_state(false).is_ok(),
        "{:?}",
        model.admin_state(false)
    );
    assert!(
        !model
            .state()
            .log
            .iter()
            .any(|l| l.contains("gnt-filter add")),
        "nothing held: {:?}",
        model.state().log
    );

    let mut opts = options(to());
    opts.run.verify_ignore = vec!["ECLUSTERCFG".into()];
    let r = main_flow(&model.paths, &opts, &model, &Quiet, &model.interrupted);
    assert!(matches!(r, Ok(Done::Upgraded { .. })), "{r:?}");
    assert_eq!(model.consistent(), Ok("3.1".into()));
}

/// A resume that starts after `resume-work` (killed after it, then a step
/// after it fails) must not report that new jobs are still held: the
/// journal says the queue runs again. One that starts before it and
/// fails before it still says so.
#[test]
fn a_resume_past_resume_work_does_not_report_new_jobs_held() {
    let report_of_failed_resume = |killed_after: StepId, failing: StepId, node: &str| {
        let (model, _dir) = Model::new(3, "3.0", false, true);
        model.faults().kill_at_done = Some(killed_after);
        let first = run(&model, Mode::To("3.1".parse().expect("v")));
        assert!(matches!(first, End::Killed), "{first:?}");
        *model.faults() = Faults::default();
        model
            .faults()
            .at
            .push((Phase::Run(failing), node.into(), FaultMode::Fail));
        let out = Capture::default();
        let r = main_flow(
            &model.paths,
            &options(Mode::Resume),
            &model,
            &out,
            &model.interrupted,
        );
        assert!(r.is_err(), "{killed_after:?}/{failing:?}: {r:?}");
        out.0.into_inner().unwrap_or_default().join("\n")
    };
    for (after, failing, node) in [
        (
            StepId::ResumeWork,
            StepId::EnsureJobArchive,
            "node2.example",
        ),
        (
            StepId::UnpauseWatcher,
            StepId::EnsureJobArchive,
            "node2.example",
        ),
        (StepId::ResumeWork, StepId::PostUpgrade, "node1.example"),
    ] {
        let text = report_of_failed_resume(after, failing, node);
        assert!(
            !text.contains("still held"),
            "after {after:?}, {failing:?} failing: {text}"
        );
    }
    let text = report_of_failed_resume(StepId::RedistConf, StepId::CheckStaleCode, "node2.example");
    assert!(text.contains("new jobs are still held"), "{text}");
}
