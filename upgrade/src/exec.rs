//! Running Ganeti's tools: locally on the master, over OpenSSH on the other
//! nodes exactly as Ganeti reaches them (root, BatchMode, the cluster's
//! known_hosts, HostKeyAlias = cluster name), in parallel with a bound and
//! the master last. Every command and its result go to
//! `${localstatedir}/log/ganeti/commands.log`, as Ganeti logs its own, with
//! the time it took.
//!
//! Children run in their own process group, so a Ctrl-C at the terminal
//! reaches only `ganeti-upgrade`, which decides (rollback or carry on).

use fs_err::os::unix::fs::OpenOptionsExt;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::process::{kill_process_group, Pid, Signal};

use ganeti_layout::node::{InstallPaths, Node};

use ganeti_layout::node::DirVersion;
use ganeti_switch::SwitchOptions;

use crate::cluster::Cluster;
use crate::error::chain;
use crate::ganeti::{Call, DaemonNow, GanetiCmd, NodeNow, Switch};
pub use crate::ran::{join_argv, shell_quote, Ran};
use crate::step_id::StepId;

/// A point in the run where a test may act (wait, be killed, be
/// signalled). The real executor implements the `GANETI_UPGRADE_*` hooks of
/// [`crate::env`] here; the model check kills or signals itself here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoint {
    /// Before a step is recorded as started (and before the signal check).
    BeforeStep(StepId),
    /// The step is recorded as started and about to act.
    Started(StepId),
    /// The step is recorded as done.
    Done(StepId),
    /// A rollback is about to undo this step.
    Undo(StepId),
}

/// Everything the upgrade does to nodes, behind one trait: commands on the
/// master and over ssh, the master's own `ganeti-switch` in-process, and the
/// test hooks. The engine and the steps see only this, so the model check
/// runs them against a scripted cluster in-process (`tests/model_check.rs`),
/// answering each [`Call`] by what it is ([`crate::ganeti::GanetiCmd`]).
/// [`Exec::fan_out`] one node after the other: the others in the order of
/// `nodes`, then the master.
pub fn fan_out_in_order<E: Exec + ?Sized>(
    exec: &E,
    cluster: &Cluster,
    nodes: &[String],
    call_for: &(dyn Fn(&str) -> Call + Sync),
    each: &(dyn Fn(&Ran) + Sync),
) -> Vec<Ran> {
    let one = |node: &str| {
        let ran = exec.on_node(cluster, node, &call_for(node));
        each(&ran);
        ran
    };
    let mut out: Vec<Ran> = nodes
        .iter()
        .filter(|n| **n != cluster.master)
        .map(|n| one(n))
        .collect();
    if nodes.contains(&cluster.master) {
        out.push(one(&cluster.master));
    }
    out
}

pub trait Exec: Sync {
    /// This host's name as Ganeti compares it with `ssconf_master_node`.
    fn this_host(&self) -> String;
    /// Whether we may change the node (root).
    fn is_root(&self) -> bool;
    /// Runs `call` on this node (no shell).
    fn local(&self, node: &str, call: &Call) -> Ran;
    /// Runs `call` on `node`: locally on the master, over ssh elsewhere.
    fn on_node(&self, cluster: &Cluster, node: &str, call: &Call) -> Ran;
    /// Runs `call_for(node)` on every node given, the master last and after
    /// all the others; `each` sees every result the moment it arrives.
    /// Results come in the order of `nodes`, the master last.
    fn fan_out(
        &self,
        cluster: &Cluster,
        nodes: &[String],
        call_for: &(dyn Fn(&str) -> Call + Sync),
        each: &(dyn Fn(&Ran) + Sync),
    ) -> Vec<Ran> {
        fan_out_in_order(self, cluster, nodes, call_for, each)
    }
    /// This node's own `ganeti-switch` call (`installed V`, `to V`), run
    /// in-process: the caller holds the node lock, which the tool would
    /// wait for. `to` answers `switched` or `already active` on stdout;
    /// `installed` lists what is missing on stdout, `; `-joined (exit 1).
    /// Any other call runs as [`Exec::local`].
    fn here(&self, call: &Call) -> Ran;
    /// The version this node's `${sysconfdir}/ganeti/{lib,share}` name, if
    /// they agree.
    fn active_here(&self) -> Option<DirVersion>;
    /// luxid's query socket, where LUXI may be tried.
    fn luxi_socket(&self) -> Option<PathBuf>;
    /// Now, in whole seconds since the Unix epoch: the clock the watcher
    /// pause ends, the journal's times and the backup's name are read
    /// from. A real node reads its system clock; the model check freezes
    /// it, and moves it on across a reboot.
    fn now(&self) -> u64 {
        crate::clock::epoch_secs()
    }
    /// A line for commands.log.
    fn log_line(&self, line: &str);
    /// A test hook point.
    fn checkpoint(&self, _point: Checkpoint) {}
    /// Ends shared connections (best effort).
    fn close(&self, _cluster: &Cluster) {}
}

pub struct Runner {
    pub paths: InstallPaths,
    pub ssh: Vec<String>,
    pub parallel: usize,
    /// The longest one command may run before its process group is killed
    /// and it counts as failed; `None`: no limit.
    pub timeout: Option<Duration>,
    log: Mutex<Option<fs_err::File>>,
    /// This host's name, asked once (`hostname --fqdn` is a process).
    host: std::sync::OnceLock<String>,
}

/// Runs `f` on every item with at most `workers` threads (a pool: a slow
/// item holds up only its own worker). Results come in the items' order.
/// (A panic in `f` is re-raised when the scope ends, so `None`, a slot
/// never filled, is a can't-happen kept only to avoid an unwrap.)
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..workers.max(1).min(items.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                if let Ok(mut slot) = slots[i].lock() {
                    *slot = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|s| s.into_inner().ok().flatten())
        .collect()
}

/// How long to wait, once the command ended or was killed, for the end of
/// its output (held open only by processes that left its process group, such
/// as a daemon it started).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// A pipe's reader: a thread that keeps what it has read so far in a
/// shared buffer (so that output is not lost when we stop waiting for the
/// end of a pipe) and says when the pipe ended.
type Reader = (mpsc::Receiver<()>, Arc<Mutex<Vec<u8>>>);

fn reader(pipe: Option<Box<dyn Read + Send>>) -> Reader {
    let (tx, rx) = mpsc::channel::<()>();
    let buf = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::clone(&buf);
    std::thread::spawn(move || {
        if let Some(mut p) = pipe {
            let mut chunk = [0u8; 8192];
            while let Ok(n @ 1..) = p.read(&mut chunk) {
                if let Ok(mut b) = shared.lock() {
                    b.extend_from_slice(&chunk[..n]);
                }
            }
        }
        let _ = tx.send(());
    });
    (rx, buf)
}

/// What `reader` read, waiting for the end of the pipe until `deadline`;
/// either way, what was read so far is in the buffer.
fn collect((rx, buf): Reader, deadline: Instant) -> Vec<u8> {
    let _finished = rx
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .is_ok();
    buf.lock()
        .map(|mut b| std::mem::take(&mut *b))
        .unwrap_or_default()
}

/// Runs `cmd` to the end, or until `timeout`: then its whole process group
/// (we start each in its own) gets SIGKILL and the error says so. Output is
/// read by two threads, so a full pipe never blocks the command.
fn run_bounded(mut cmd: Command, timeout: Option<Duration>) -> std::io::Result<Output> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn()?;
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let (status, killed) = match timeout.map(|t| rx.recv_timeout(t)) {
        None => (rx.recv().map_err(std::io::Error::other)?, false),
        Some(Ok(status)) => (status, false),
        Some(Err(_)) => {
            // The group outlives its leader while any member lives; had the
            // leader just exited alone, the group id is not reused within
            // these microseconds.
            if let Some(pgid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
                let _ = kill_process_group(pgid, Signal::KILL);
            }
            (rx.recv().map_err(std::io::Error::other)?, true)
        }
    };
    let status = status?;
    // Timed out only if our SIGKILL ended it: it may have exited by itself
    // just before.
    let timed_out = killed && status.signal() == Some(Signal::KILL.as_raw());
    // Once the command is reaped, a process it left behind that keeps our
    // pipe open (a daemon) must not hold us: its reader thread is then left
    // to end when that process closes the pipe.
    let output_deadline = Instant::now() + DRAIN_AFTER_EXIT;
    let stdout = collect(stdout, output_deadline);
    let stderr = collect(stderr, output_deadline);
    if let (true, Some(t)) = (timed_out, timeout) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "killed after {} s (--command-timeout){}",
                t.as_secs(),
                String::from_utf8_lossy(&stderr)
                    .trim()
                    .lines()
                    .last()
                    .map(|l| format!("; its last words: {l}"))
                    .unwrap_or_default()
            ),
        ));
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

impl Runner {
    /// `ganeti-switch ACTION` answered in-process, as (exit code, stdout,
    /// stderr); `None` for what runs as a command (`--version`).
    fn switch_here(&self, action: &Switch) -> Option<(Option<i32>, String, String)> {
        let listed = |found: Result<Vec<String>, ganeti_layout::node::manifest::ManifestError>| {
            match found {
                Ok(missing) if missing.is_empty() => (Some(0), String::new(), String::new()),
                Ok(missing) => (Some(1), missing.join("; "), String::new()),
                Err(e) => (None, String::new(), chain(&e)),
            }
        };
        Some(match action {
            Switch::To(to) => {
                match ganeti_switch::switch_to_locked(&self.paths, to, SwitchOptions::default()) {
                    Ok(ganeti_switch::Outcome::AlreadyActive { .. }) => {
                        (Some(0), "already active".into(), String::new())
                    }
                    Ok(_) => (Some(0), "switched".into(), String::new()),
                    Err(e) => (Some(1), String::new(), chain(&e)),
                }
            }
            Switch::Current => {
                let now = NodeNow {
                    version: ganeti_switch::check(&self.paths)
                        .ok()
                        .and_then(|s| s.stable_version().cloned()),
                    daemons: ganeti_switch::running_daemons(&self.paths)
                        .into_iter()
                        .map(|d| DaemonNow {
                            name: d.name,
                            pid: d.pid,
                            version: d.version,
                        })
                        .collect(),
                };
                let json = serde_json::to_string(&now).unwrap_or_default();
                (Some(0), json, String::new())
            }
            Switch::Returnable(v) => listed(ganeti_layout::node::installed::check_returnable(
                &self.paths,
                v,
            )),
            Switch::Installed(v) => listed(ganeti_layout::node::installed::check_complete(
                &self.paths,
                v,
            )),
            Switch::Runs(v) => match ganeti_switch::runs::check(&self.paths, v) {
                Ok(runs) => (
                    Some(i32::from(!runs.problems.is_empty())),
                    runs.problems.iter().map(|p| format!("{p}\n")).collect(),
                    String::new(),
                ),
                Err(e) => (None, String::new(), chain(&e)),
            },
            Switch::Stale(v) => {
                let found = ganeti_switch::stale::stale(&self.paths, v);
                (
                    Some(i32::from(!found.is_empty())),
                    serde_json::to_string(&found).unwrap_or_default(),
                    String::new(),
                )
            }
            Switch::Version => return None,
        })
    }

    /// `log`: append every command to `${localstatedir}/log/ganeti/commands.log`
    /// (opened without following a symlink: the directory is writable by
    /// Ganeti's daemon group).
    pub fn new(paths: &InstallPaths, ssh: Vec<String>, parallel: usize, log: bool) -> Runner {
        let file = log.then(|| {
            let _ = paths.fs().create_dir_all(&paths.logdir());
            fs_err::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o640)
                .custom_flags(libc_o_nofollow())
                .open(Node::new(paths).commands_log_path())
                .ok()
        });
        Runner {
            paths: paths.clone(),
            ssh,
            parallel: parallel.max(1),
            timeout: None,
            log: Mutex::new(file.flatten()),
            host: std::sync::OnceLock::new(),
        }
    }

    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Runner {
        self.timeout = timeout;
        self
    }

    fn finish(
        &self,
        node: &str,
        command: String,
        started: Instant,
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
            "{}: {} -> {} ({} ms){}",
            ran.node,
            ran.command,
            ran.code
                .map(|c| format!("rc={c}"))
                .unwrap_or_else(|| "not run".into()),
            started.elapsed().as_millis(),
            if ran.stderr.trim().is_empty() {
                String::new()
            } else {
                format!("; stderr: {}", ran.stderr.trim().replace('\n', " | "))
            }
        ));
        ran
    }

    /// The directory of the shared ssh connections' sockets: root's own,
    /// mode 0700 (an ssh mux client trusts whatever listens on its
    /// ControlPath, so it must not live in Ganeti's group-writable run
    /// directory). `None` if it cannot be made safe: no connection sharing.
    fn control_dir(&self) -> Option<PathBuf> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        let dir = Node::new(&self.paths).upgrade_rundir_path();
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir);
        let meta = fs_err::symlink_metadata(&dir).ok()?;
        let ours = meta.uid() == rustix::process::geteuid().as_raw();
        (meta.is_dir() && ours && meta.permissions().mode() & 0o077 == 0).then_some(dir)
    }

    /// The ssh command line Ganeti uses, plus connection reuse.
    pub fn ssh_argv(&self, cluster: &Cluster, node: &str, command: &str) -> Vec<String> {
        let known_hosts = self.paths.known_hosts();
        let mut argv = self.ssh.clone();
        argv.extend([
            "-oEscapeChar=none".to_string(),
            "-oHashKnownHosts=no".into(),
            format!("-oGlobalKnownHostsFile={}", known_hosts.display()),
            "-oUserKnownHostsFile=/dev/null".into(),
            "-oCheckHostIp=no".into(),
            "-oConnectTimeout=10".into(),
            format!("-oHostKeyAlias={}", cluster.name),
            // Errors (an unknown host, a refused connection, a changed host
            // key, a key not accepted) reach stderr and the admin; banners
            // and warnings stay off, as -q kept them (and the errors).
            "-oLogLevel=ERROR".into(),
            "-oBatchMode=yes".into(),
            "-oStrictHostKeyChecking=yes".into(),
        ]);
        match self.control_dir() {
            Some(dir) => argv.extend([
                "-oControlMaster=auto".to_string(),
                format!("-oControlPath={}", dir.join("ssh-%C").display()),
                "-oControlPersist=120".into(),
            ]),
            None => argv.push("-oControlMaster=no".into()),
        }
        argv.extend([
            // A node that goes away is noticed within 30 s, even on a
            // reused connection.
            "-oServerAliveInterval=10".to_string(),
            "-oServerAliveCountMax=3".into(),
            cluster.ip_flag.into(),
            format!("root@{node}"),
            command.to_string(),
        ]);
        argv
    }
}

/// `O_NOFOLLOW` for `OpenOptionsExt::custom_flags`.
fn libc_o_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

impl Exec for Runner {
    fn this_host(&self) -> String {
        self.host.get_or_init(crate::cluster::this_host).clone()
    }

    fn is_root(&self) -> bool {
        rustix::process::geteuid().is_root()
    }

    fn local(&self, node: &str, call: &Call) -> Ran {
        let argv = &call.argv;
        let Some((program, args)) = argv.split_first() else {
            return Ran {
                node: node.to_string(),
                command: String::new(),
                code: None,
                stdout: String::new(),
                stderr: "empty command".into(),
            };
        };
        let mut cmd = Command::new(program);
        cmd.args(args);
        let started = Instant::now();
        self.finish(node, call.logged(), started, run_bounded(cmd, self.timeout))
    }

    fn on_node(&self, cluster: &Cluster, node: &str, call: &Call) -> Ran {
        if node == cluster.master {
            return self.local(node, call);
        }
        let ssh = self.ssh_argv(cluster, node, &join_argv(&call.argv));
        let mut cmd = Command::new(&ssh[0]);
        cmd.args(&ssh[1..]);
        let started = Instant::now();
        // A timeout kills the local ssh; as with Ganeti's own ssh calls, the
        // remote command may still finish.
        self.finish(node, call.logged(), started, run_bounded(cmd, self.timeout))
    }

    /// At most `parallel` at once (a pool: a slow node holds up only its
    /// own worker).
    fn fan_out(
        &self,
        cluster: &Cluster,
        nodes: &[String],
        call_for: &(dyn Fn(&str) -> Call + Sync),
        each: &(dyn Fn(&Ran) + Sync),
    ) -> Vec<Ran> {
        let others: Vec<&String> = nodes.iter().filter(|n| **n != cluster.master).collect();
        let mut results: Vec<Ran> = in_parallel(&others, self.parallel, |node| {
            let ran = self.on_node(cluster, node, &call_for(node));
            each(&ran);
            ran
        })
        .into_iter()
        .zip(others.iter())
        .map(|(ran, node)| {
            ran.unwrap_or_else(|| Ran {
                node: node.to_string(),
                command: String::new(),
                code: None,
                stdout: String::new(),
                stderr: "worker thread failed".into(),
            })
        })
        .collect();
        if nodes.contains(&cluster.master) {
            let ran = self.on_node(cluster, &cluster.master, &call_for(&cluster.master));
            each(&ran);
            results.push(ran);
        }
        results
    }

    fn here(&self, call: &Call) -> Ran {
        let node = self.this_host();
        let GanetiCmd::Switch { action, .. } = &call.cmd else {
            return self.local(&node, call);
        };
        let Some((code, stdout, stderr)) = self.switch_here(action) else {
            return self.local(&node, call);
        };
        let command = match action {
            Switch::To(v) => format!("ganeti-switch to {v} (in-process)"),
            Switch::Installed(v) => format!("ganeti-switch installed {v} (in-process)"),
            Switch::Returnable(v) => {
                format!("ganeti-switch installed --or-active {v} (in-process)")
            }
            Switch::Runs(v) => format!("ganeti-switch runs {v} (in-process)"),
            Switch::Stale(v) => format!("ganeti-switch stale {v} (in-process)"),
            Switch::Current | Switch::Version => join_argv(&call.argv),
        };
        Ran {
            node,
            command,
            code,
            stdout,
            stderr,
        }
    }

    fn active_here(&self) -> Option<DirVersion> {
        ganeti_layout::node::active::read_active(&self.paths)
            .version()
            .cloned()
    }

    fn luxi_socket(&self) -> Option<PathBuf> {
        (!crate::env::matches(crate::env::NO_LUXI, "1"))
            .then(|| self.paths.fs().host_path(&self.paths.query_socket()))
    }

    fn log_line(&self, line: &str) {
        if let Ok(mut guard) = self.log.lock() {
            if let Some(f) = guard.as_mut() {
                let _ = writeln!(
                    f,
                    "{}: ganeti-upgrade pid={} INFO {line}",
                    crate::clock::format_log_time(std::time::SystemTime::now()),
                    std::process::id()
                );
            }
        }
    }

    fn checkpoint(&self, point: Checkpoint) {
        use crate::env;
        match point {
            Checkpoint::BeforeStep(step) => hook_wait(&self.paths, step),
            Checkpoint::Started(step) if env::matches(env::CRASH_IN, step.as_str()) => {
                env::kill_self()
            }
            Checkpoint::Done(step) if env::matches(env::CRASH_AT, step.as_str()) => {
                env::kill_self()
            }
            _ => {}
        }
    }

    /// As many at once as the fan-out: one at a time, a hundred nodes took
    /// seconds.
    fn close(&self, cluster: &Cluster) {
        let others = cluster.others();
        if self.control_dir().is_none() {
            return;
        }
        let started = Instant::now();
        in_parallel(&others, self.parallel, |node| {
            let mut argv = self.ssh_argv(cluster, node, "");
            argv.pop();
            argv.insert(argv.len() - 1, "-Oexit".into());
            let _ = Command::new(&argv[0])
                .args(&argv[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        });
        if !others.is_empty() {
            self.log_line(&format!(
                "closed the ssh connections to {} node(s) ({} ms)",
                others.len(),
                started.elapsed().as_millis()
            ));
        }
    }
}

/// `GANETI_UPGRADE_WAIT_AT=STEP[,STEP...]`: before each STEP, create
/// `${rundir}/ganeti-upgrade.waiting-STEP` and wait until a test removes it.
fn hook_wait(paths: &InstallPaths, step: StepId) {
    if !crate::env::lists(crate::env::WAIT_AT, step.as_str()) {
        return;
    }
    let fs = paths.fs();
    let flag = paths
        .rundir()
        .join(format!("ganeti-upgrade.waiting-{}", step.as_str()));
    let _ = fs.create_dir_all(&paths.rundir());
    if fs
        .write_file(&flag, std::process::id().to_string().as_bytes(), 0o644)
        .is_ok()
    {
        while fs.is_there(&flag) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runner(timeout: Option<Duration>) -> Runner {
        let paths = InstallPaths::default();
        Runner::new(&paths, vec!["ssh".into()], 1, false).with_timeout(timeout)
    }

    fn argv(words: &[&str]) -> Call {
        Call {
            cmd: GanetiCmd::Tar(Vec::new()),
            argv: words.iter().map(|w| w.to_string()).collect(),
        }
    }

    #[test]
    fn output_and_exit_code_come_back() {
        let ran = runner(Some(Duration::from_secs(10)))
            .local("n1", &argv(&["sh", "-c", "echo out; echo err >&2; exit 3"]));
        assert_eq!(ran.code, Some(3));
        assert_eq!(ran.stdout, "out\n");
        assert_eq!(ran.stderr, "err\n");
        assert_eq!(ran.command, "sh -c 'echo out; echo err >&2; exit 3'");
    }

    #[test]
    fn large_output_does_not_block() {
        let ran = runner(Some(Duration::from_secs(20))).local(
            "n1",
            &argv(&[
                "sh",
                "-c",
                "head -c 1000000 /dev/zero; head -c 1000000 /dev/zero >&2",
            ]),
        );
        assert_eq!(ran.code, Some(0));
        assert_eq!((ran.stdout.len(), ran.stderr.len()), (1_000_000, 1_000_000));
    }

    #[test]
    fn a_hung_command_is_killed_with_its_children_and_named() {
        let t = Instant::now();
        let ran = runner(Some(Duration::from_millis(300))).local(
            "n1",
            &argv(&["sh", "-c", "echo starting >&2; sleep 30 & sleep 30"]),
        );
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        assert_eq!(ran.code, None);
        assert!(!ran.ok());
        assert!(
            ran.stderr
                .starts_with("killed after 0 s (--command-timeout); its last words: starting"),
            "{}",
            ran.stderr
        );
        assert!(
            ran.summary().contains("did not run to the end"),
            "{}",
            ran.summary()
        );
    }

    #[test]
    fn a_daemon_that_keeps_the_pipe_does_not_hold_us_after_a_timeout() {
        // setsid: the grandchild leaves our process group and survives the
        // kill, holding stdout open.
        let t = Instant::now();
        let ran = runner(Some(Duration::from_millis(200)))
            .local("n1", &argv(&["sh", "-c", "setsid sleep 8 & sleep 30"]));
        assert_eq!(ran.code, None);
        assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    }

    #[test]
    fn a_daemon_left_behind_with_our_pipe_does_not_hold_a_finished_command() {
        let t = Instant::now();
        let ran = runner(Some(Duration::from_millis(500)))
            .local("n1", &argv(&["sh", "-c", "echo started; setsid sleep 8 &"]));
        assert_eq!((ran.code, ran.stdout.as_str()), (Some(0), "started\n"));
        assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    }

    #[test]
    fn no_timeout_waits() {
        let ran = runner(None).local("n1", &argv(&["sh", "-c", "sleep 0.3; echo done"]));
        assert_eq!((ran.code, ran.stdout.as_str()), (Some(0), "done\n"));
    }
}
