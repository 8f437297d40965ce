//! Running Ganeti's tools: locally on the master, over OpenSSH on the other
//! nodes exactly as Ganeti reaches them (root, BatchMode, the cluster's
//! known_hosts, HostKeyAlias = cluster name), in parallel with a bound and
//! the master last. Every command and its result go to
//! `${localstatedir}/log/ganeti/commands.log`, as Ganeti logs its own.
//!
//! Children run in their own process group, so a Ctrl-C at the terminal
//! reaches only `ganeti-upgrade`, which decides (rollback or carry on).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use ganeti_layout::InstallPaths;

use crate::cluster::Cluster;

/// A command's result, with everything needed to report it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ran {
    pub node: String,
    pub command: String,
    /// Exit code; `None` when it could not run or died of a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
    /// One line for an error message.
    pub fn summary(&self) -> String {
        let detail = self.stderr.trim().lines().last().unwrap_or("").to_string();
        let code = self
            .code
            .map(|c| format!("exit {c}"))
            .unwrap_or_else(|| "did not run to the end".into());
        if detail.is_empty() {
            format!("{}: `{}` failed ({code})", self.node, self.command)
        } else {
            format!(
                "{}: `{}` failed ({code}): {detail}",
                self.node, self.command
            )
        }
    }
}

/// Quotes an argument for the remote shell.
pub fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

pub fn join_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

pub struct Runner {
    pub paths: InstallPaths,
    pub ssh: Vec<String>,
    pub parallel: usize,
    log: Mutex<Option<std::fs::File>>,
}

impl Runner {
    pub fn new(paths: &InstallPaths, ssh: Vec<String>, parallel: usize, log: bool) -> Runner {
        let file = log.then(|| {
            let dir = paths.host(&paths.logdir());
            let _ = std::fs::create_dir_all(&dir);
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("commands.log"))
                .ok()
        });
        Runner {
            paths: paths.clone(),
            ssh,
            parallel: parallel.max(1),
            log: Mutex::new(file.flatten()),
        }
    }

    pub fn log_line(&self, line: &str) {
        if let Ok(mut guard) = self.log.lock() {
            if let Some(f) = guard.as_mut() {
                let _ = writeln!(
                    f,
                    "{} ganeti-upgrade[{}]: {line}",
                    crate::journal::now(),
                    std::process::id()
                );
            }
        }
    }

    fn finish(
        &self,
        node: &str,
        command: String,
        out: std::io::Result<std::process::Output>,
    ) -> Ran {
        let ran = match out {
            Ok(o) => Ran {
                node: node.to_string(),
                command,
                code: o.status.code(),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            },
            Err(e) => Ran {
                node: node.to_string(),
                command,
                code: None,
                stdout: String::new(),
                stderr: e.to_string(),
            },
        };
        self.log_line(&format!(
            "{}: {} -> {}{}",
            ran.node,
            ran.command,
            ran.code
                .map(|c| format!("rc={c}"))
                .unwrap_or_else(|| "not run".into()),
            if ran.stderr.trim().is_empty() {
                String::new()
            } else {
                format!("; stderr: {}", ran.stderr.trim().replace('\n', " | "))
            }
        ));
        ran
    }

    /// Runs argv on this node (no shell).
    pub fn local(&self, node: &str, argv: &[String]) -> Ran {
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).stdin(Stdio::null()).process_group(0);
        self.finish(node, join_argv(argv), cmd.output())
    }

    /// The ssh command line Ganeti uses, plus connection reuse.
    pub fn ssh_argv(&self, cluster: &Cluster, node: &str, command: &str) -> Vec<String> {
        let known_hosts = self.paths.datadir().join("known_hosts");
        let control = self.paths.rundir().join("ssh-upgrade-%C");
        let mut argv = self.ssh.clone();
        argv.extend([
            "-oEscapeChar=none".to_string(),
            "-oHashKnownHosts=no".into(),
            format!("-oGlobalKnownHostsFile={}", known_hosts.display()),
            "-oUserKnownHostsFile=/dev/null".into(),
            "-oCheckHostIp=no".into(),
            "-oConnectTimeout=10".into(),
            format!("-oHostKeyAlias={}", cluster.name),
            "-q".into(),
            "-oBatchMode=yes".into(),
            "-oStrictHostKeyChecking=yes".into(),
            "-oControlMaster=auto".into(),
            format!("-oControlPath={}", control.display()),
            "-oControlPersist=120".into(),
            // A node that goes away is noticed within 30 s, even on a
            // reused connection.
            "-oServerAliveInterval=10".into(),
            "-oServerAliveCountMax=3".into(),
            cluster.ip_flag.into(),
            format!("root@{node}"),
            command.to_string(),
        ]);
        argv
    }

    /// Runs argv on `node`: locally on the master, over ssh elsewhere.
    pub fn on_node(&self, cluster: &Cluster, node: &str, argv: &[String]) -> Ran {
        if node == cluster.master {
            return self.local(node, argv);
        }
        let remote = join_argv(argv);
        let ssh = self.ssh_argv(cluster, node, &remote);
        let mut cmd = Command::new(&ssh[0]);
        cmd.args(&ssh[1..]).stdin(Stdio::null()).process_group(0);
        self.finish(node, remote, cmd.output())
    }

    /// Runs `argv_for(node)` on every node given, at most `parallel` at once
    /// (a pool: a slow node holds up only its own worker); the master, if
    /// among them, runs last, after all the others. Results come in the
    /// order of `nodes`, the master last.
    pub fn fan_out(
        &self,
        cluster: &Cluster,
        nodes: &[String],
        argv_for: &(dyn Fn(&str) -> Vec<String> + Sync),
    ) -> Vec<Ran> {
        let others: Vec<&String> = nodes.iter().filter(|n| **n != cluster.master).collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<Mutex<Option<Ran>>> = others.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..self.parallel.min(others.len()) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(node) = others.get(i) else { break };
                    let ran = self.on_node(cluster, node, &argv_for(node));
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(ran);
                    }
                });
            }
        });
        let mut results: Vec<Ran> = slots
            .into_iter()
            .zip(others.iter())
            .map(|(slot, node)| {
                slot.into_inner().ok().flatten().unwrap_or_else(|| Ran {
                    node: node.to_string(),
                    command: String::new(),
                    code: None,
                    stdout: String::new(),
                    stderr: "worker thread failed".into(),
                })
            })
            .collect();
        if nodes.contains(&cluster.master) {
            results.push(self.on_node(cluster, &cluster.master, &argv_for(&cluster.master)));
        }
        results
    }

    /// Closes the shared ssh connections (best effort).
    pub fn close_connections(&self, cluster: &Cluster) {
        for node in cluster.others() {
            let mut argv = self.ssh_argv(cluster, &node, "");
            argv.pop();
            argv.insert(argv.len() - 1, "-Oexit".into());
            let _ = Command::new(&argv[0])
                .args(&argv[1..])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    pub fn tool(&self, path: PathBuf, args: &[&str]) -> Vec<String> {
        let mut v = vec![path.display().to_string()];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }
}
