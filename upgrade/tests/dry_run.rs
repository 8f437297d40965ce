//! `--dry-run` refuses exactly what the run refuses, with the same error
//! and exit code (both ask `ganeti_upgrade::gate`): a node that is not the
//! master, Ganeti's own pending upgrade, an intent file of ours without its
//! journal, our journal to another target, a rollback to finish, the node
//! lock held, a release typed for a directory, versions that may not be
//! crossed. And each way a node can fail the first step (unreachable,
//! refused, host key changed, no ganeti-switch, target incomplete) is its
//! own state, with ssh's line and its own fix; node lists by count.
//!
//! The cluster is a demo node (3.0 active, 3.1 installed) with ssconf
//! files, and a fake executor that answers each node as scripted.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Duration;

use ganeti_layout::node::{DirVersion, InstallPaths};
use ganeti_upgrade::cluster::Cluster;
use ganeti_upgrade::engine::main_flow;
use ganeti_upgrade::error::{Done, UpgradeError};
use ganeti_upgrade::events::Output;
use ganeti_upgrade::exec::{Exec, Ran};
use ganeti_upgrade::ganeti::{Call, GanetiCmd, Switch};
use ganeti_upgrade::options::{Mode, Options};
use ganeti_upgrade::settings::Settings;

/// Answers every node's `ganeti-switch` as scripted (`(code, stdout,
/// stderr)` by node; ready when not named), every other command with
/// success and no output.
struct Fake {
    host: String,
    paths: InstallPaths,
    answers: BTreeMap<String, (Option<i32>, &'static str, &'static str)>,
    /// Nodes whose way back (`installed --or-active FROM`) answers this.
    way_back: BTreeMap<String, (Option<i32>, &'static str, &'static str)>,
}

impl Fake {
    fn ran(&self, node: &str, call: &Call, answer: (Option<i32>, &str, &str)) -> Ran {
        Ran {
            node: node.to_string(),
            command: call.argv.join(" "),
            code: answer.0,
            stdout: answer.1.to_string(),
            stderr: answer.2.to_string(),
        }
    }
}

impl Exec for Fake {
    fn this_host(&self) -> String {
        self.host.clone()
    }
    fn is_root(&self) -> bool {
        true
    }
    fn local(&self, node: &str, call: &Call) -> Ran {
        self.ran(node, call, (Some(0), "", ""))
    }
    fn on_node(&self, _cluster: &Cluster, node: &str, call: &Call) -> Ran {
        let scripted = self.answers.get(node).copied();
        if let (
            GanetiCmd::Switch {
                action: Switch::Returnable(_),
                ..
            },
            Some(answer),
        ) = (&call.cmd, self.way_back.get(node))
        {
            return self.ran(node, call, *answer);
        }
        match (&call.cmd, scripted) {
            (GanetiCmd::Switch { action, .. }, Some(answer)) => match action {
                // Reached, but no tool or no target: --version answers
                // as the shell does, installed as scripted.
                Switch::Version if matches!(answer.0, Some(1)) => {
                    self.ran(node, call, (Some(0), "ganeti-switch 0.1.0", ""))
                }
                _ => self.ran(node, call, answer),
            },
            (
                GanetiCmd::Switch {
                    action: Switch::Version,
                    ..
                },
                None,
            ) => self.ran(node, call, (Some(0), "ganeti-switch 0.1.0", "")),
            _ => self.ran(node, call, (Some(0), "", "")),
        }
    }
    fn here(&self, call: &Call) -> Ran {
        self.ran(&self.host, call, (Some(0), "", ""))
    }
    fn active_here(&self) -> Option<DirVersion> {
        ganeti_layout::node::active::read_active(&self.paths)
            .version()
            .cloned()
    }
    fn luxi_socket(&self) -> Option<PathBuf> {
        None
    }
    fn log_line(&self, _line: &str) {}
}

#[derive(Default)]
struct Capture(Mutex<Vec<String>>);
impl Output for Capture {
    fn line(&self, text: &str) {
        if let Ok(mut lines) = self.0.lock() {
            lines.push(text.to_string());
        }
    }
}

struct Cluster3 {
    _dir: tempfile::TempDir,
    base: PathBuf,
    paths: InstallPaths,
}

/// A master and two nodes (n of them online in ssconf), the master's root
/// a demo node with 3.0 active and 3.1 installed.
fn cluster(nodes: usize) -> Cluster3 {
    let dir = tempfile::tempdir().expect("tmp");
    let base = dir.path().to_path_buf();
    let root = ganeti_test_support::two_version_node(&base);
    let paths = InstallPaths::default().with_root(&root).expect("paths");
    let ssconf = root.join("var/lib/ganeti");
    fs_err::create_dir_all(&ssconf).expect("mkdir");
    let names: Vec<String> = (1..=nodes).map(|i| format!("node{i}.example")).collect();
    for (key, value) in [
        ("cluster_name", "cluster.example".to_string()),
        ("master_node", "node1.example".to_string()),
        ("node_list", names.join("\n")),
        ("online_nodes", names.join("\n")),
        ("offline_nodes", String::new()),
        ("release_version", "3.0.2".to_string()),
    ] {
        fs_err::write(ssconf.join(format!("ssconf_{key}")), format!("{value}\n")).expect("ssconf");
    }
    Cluster3 {
        _dir: dir,
        base,
        paths,
    }
}

fn options(mode: Mode, dry_run: bool) -> Options {
    Options {
        mode,
        dry_run,
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

fn to(v: &str) -> Mode {
    Mode::To(v.parse().expect("version"))
}

/// The run's end as the admin reads it: `exit N: MESSAGE`.
fn ended(r: &Result<Done, UpgradeError>) -> String {
    match r {
        Ok(done) => format!("exit 0: {done:?}"),
        Err(e) => format!("exit {}: {e}", e.exit_code()),
    }
}

fn run(c: &Cluster3, host: &str, mode: Mode, dry_run: bool) -> (String, Vec<String>) {
    let exec = Fake {
        host: host.into(),
        paths: c.paths.clone(),
        answers: BTreeMap::new(),
        way_back: BTreeMap::new(),
    };
    let out = Capture::default();
    let never = AtomicBool::new(false);
    let r = main_flow(&c.paths, &options(mode, dry_run), &exec, &out, &never);
    let lines = out.0.lock().map(|l| l.clone()).unwrap_or_default();
    (ended(&r), lines)
}

/// Each precondition, set up, then asked by the run and by the dry run:
/// the same refusal, word for word, and the same exit code. Before, the
/// dry run said "Nothing found that would stop the upgrade" (exit 0) on a
/// node that is not the master and while Ganeti's own upgrade was pending.
#[test]
fn the_dry_run_refuses_what_the_run_refuses() {
    type Setup = fn(&Cluster3);
    let cases: Vec<(&str, &str, Mode, Setup)> = vec![
        ("not the master", "node2.example", to("3.1"), |_| {}),
        (
            "Ganeti's own upgrade pending",
            "node1.example",
            to("3.1"),
            |c| {
                fs_err::write(
                    c.paths.fs().host_path(&c.paths.intent_file()),
                    "3.0.2,3.1,4242",
                )
                .expect("intent");
            },
        ),
        (
            "our intent file without its journal",
            "node1.example",
            to("3.1"),
            |c| {
                fs_err::write(
                    c.paths.fs().host_path(&c.paths.intent_file()),
                    "3.0.2,ganeti-upgrade:3.1,4242",
                )
                .expect("intent");
            },
        ),
        (
            "our upgrade to another target pending",
            "node1.example",
            to("3.1"),
            |c| {
                pending_journal(c, "3.0");
            },
        ),
        (
            "a release typed for its directory",
            "node1.example",
            to("3.1.0"),
            |_| {},
        ),
        (
            "versions that may not be crossed",
            "node1.example",
            to("2.15"),
            |_| {},
        ),
        (
            "not the master, --abort",
            "node2.example",
            Mode::Abort,
            |_| {},
        ),
    ];
    let mut text = String::new();
    for (name, host, mode, setup) in cases {
        let c = cluster(3);
        setup(&c);
        let (real, _) = run(&c, host, mode.clone(), false);
        let (dry, _) = run(&c, host, mode, true);
        assert_eq!(dry, real, "{name}: the dry run and the run differ");
        assert!(!real.starts_with("exit 0"), "{name}: {real}");
        text.push_str(&format!("## {name}\n{real}\n"));
    }
    // The node lock held by another run.
    let c = cluster(3);
    let lock = ganeti_switch::NodeLock::try_acquire(&c.paths)
        .expect("lock")
        .expect("free");
    let (dry, _) = run(&c, "node1.example", to("3.1"), true);
    let (real, _) = run(&c, "node1.example", to("3.1"), false);
    drop(lock);
    assert_eq!(dry, real, "lock: the dry run and the run differ");
    assert!(
        dry.contains("another ganeti-upgrade or ganeti-switch is running"),
        "{dry}"
    );
    text.push_str(&format!("## the node lock held\n{real}\n"));
    let text = text.replace(&c.base.display().to_string(), "[ROOT]");
    insta::with_settings!({filters => vec![(r"/tmp/\.tmp[A-Za-z0-9]+", "[ROOT]"), (r"pid \d+", "pid [PID]"), (r"\(dry_run-[0-9a-f]+\)", "([TEST BINARY])")]}, {
        insta::assert_snapshot!("gate", text);
    });
}

/// A journal of ours, pending, to `target`.
fn pending_journal(c: &Cluster3, target: &str) {
    let journal = ganeti_upgrade::journal::Journal::of(&c.paths);
    journal
        .create(&ganeti_upgrade::journal::Header {
            format: ganeti_upgrade::journal::JOURNAL_FORMAT,
            id: "abc".into(),
            from_release: "3.1.0".into(),
            from_dir: "3.1".parse().expect("v"),
            to: target.parse().expect("v"),
            transition: ganeti_upgrade::transition::Transition::Downgrade,
            started_at: 0,
            settings: None,
            cluster: None,
            master: None,
        })
        .expect("journal");
}

/// Every way a node fails the run's first question, each with the line
/// ssh (or the node) printed and its own fix; the nodes that are ready are
/// counted, not listed.
#[test]
fn each_node_state_has_its_line_and_its_fix() {
    let c = cluster(8);
    let answers: BTreeMap<String, (Option<i32>, &'static str, &'static str)> = [
        (
            "node2.example",
            (
                Some(255),
                "",
                "ssh: Could not resolve hostname node2.example: Name or service not known\n",
            ),
        ),
        (
            "node3.example",
            (
                Some(255),
                "",
                "ssh: connect to host node3.example port 22: Connection refused\n",
            ),
        ),
        (
            "node4.example",
            (Some(255), "", "Host key verification failed.\n"),
        ),
        (
            "node5.example",
            (
                Some(127),
                "",
                "bash: line 1: /usr/sbin/ganeti-switch: No such file or directory\n",
            ),
        ),
        (
            "node6.example",
            (
                Some(1),
                "/usr/lib/ganeti/3.1/usr/sbin/ganeti-luxid: missing; version 3.1's build has the daemon ganeti-luxid\nhint: install the package ganeti-haskell-3.1\n",
                "",
            ),
        ),
    ]
    .into_iter()
    .map(|(n, a)| (n.to_string(), a))
    .collect();
    let exec = Fake {
        host: "node1.example".into(),
        paths: c.paths.clone(),
        answers,
        way_back: [(
            "node8.example".to_string(),
            (
                Some(1),
                "/usr/lib/ganeti/3.0: lib tree of 3.0 is not installed\nhint: installed here: 3.1\n",
                "",
            ),
        )]
        .into_iter()
        .collect(),
    };
    let out = Capture::default();
    let never = AtomicBool::new(false);
    let r = main_flow(&c.paths, &options(to("3.1"), true), &exec, &out, &never);
    assert!(
        matches!(r, Err(UpgradeError::PlanRefused { ref refusals }) if refusals.len() == 6),
        "{r:?}"
    );
    let lines = out.0.lock().map(|l| l.clone()).unwrap_or_default();
    // No line repeats every node name (at 100 nodes that was 2,200
    // characters a line).
    assert!(
        lines
            .iter()
            .all(|l| l.matches("node7.example").count() <= 1),
        "{lines:#?}"
    );
    let wanted: Vec<&String> = lines
        .iter()
        .filter(|l| {
            l.starts_with("Dry run:")
                || l.starts_with("Nodes:")
                || l.starts_with("The upgrade")
                || l.starts_with("  ") && !l.starts_with("      ")
        })
        .collect();
    let text = wanted
        .iter()
        .map(|l| l.as_str())
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
        + &ended(&r);
    insta::assert_snapshot!("node_states", text);
}
