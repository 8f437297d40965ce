//! The run's preconditions, in one place: what stops `ganeti-upgrade --to`
//! (or `--abort`) before it changes anything. The run (`engine`)
//! and `--dry-run` (`show::dry_run`) both ask these functions, so
//! the dry run refuses exactly what the run refuses, with the same words
//! and exit code (kubeadm's `plan` and `apply` share their preflight the
//! same way):
//! * [`master`]: this node is the master;
//! * [`unlocked`] / [`busy`]: no other upgrade or switch holds the node lock;
//! * [`pending`]: what the journal and Ganeti's intent file say is pending
//!   (ours to resume or clean up; ours to another target; a rollback to
//!   finish; Ganeti's own upgrade; an intent file of ours whose journal is
//!   gone);
//! * [`versions`]: where the cluster goes from, whether that move is
//!   allowed, and that the target is named by its directory;
//! * [`classify`]: each online node's answer to
//!   `ganeti-switch installed V`, as one of a few states, each with the
//!   line ssh or the node printed and its own fix.
//!
//! Everything here reads; nothing writes.

use ganeti_layout::node::installed::release_typed_for_version;
use ganeti_layout::node::{DirVersion, InstallPaths};
use ganeti_switch::NodeLock;

use crate::cluster::{same_host, Cluster};
use crate::error::UpgradeError;
use crate::exec::Exec;
use crate::intent::{Intent, OUR_TARGET_PREFIX};
use crate::journal::State;
use crate::ran::Ran;
use crate::transition::{transition_to, Transition};
use crate::view::{NodeCheck, NodeState};

/// Refused unless this node is the cluster's master (`--to`, `--abort`;
/// `--resume` on a non-master follows Ganeti's own rule instead).
pub fn master(exec: &dyn Exec, cluster: &Cluster) -> Result<(), UpgradeError> {
    let me = exec.this_host();
    if same_host(&me, &cluster.master) {
        Ok(())
    } else {
        Err(UpgradeError::NotMaster {
            me,
            master: cluster.master.clone(),
        })
    }
}

/// The refusal when the node lock is held by someone else.
pub fn busy(paths: &InstallPaths) -> UpgradeError {
    UpgradeError::Busy {
        holder: NodeLock::holder(paths),
    }
}

/// Refused while another run holds the node lock (the dry run looks, the
/// run takes it: [`busy`] is its refusal).
pub fn unlocked(paths: &InstallPaths) -> Result<(), UpgradeError> {
    match NodeLock::held_by(paths) {
        Some(holder) => Err(UpgradeError::Busy { holder }),
        None => Ok(()),
    }
}

/// What `--to TO` finds pending, when it may go on.
#[derive(Debug)]
pub enum Pending {
    /// Nothing: a new upgrade starts.
    Nothing,
    /// A rollback finished but for the removal of its files: they go, then
    /// a new upgrade starts.
    RolledBack(State),
    /// An upgrade to the same target: the run resumes it.
    SameTarget(State),
}

/// What the journal (`state`) and the intent file (`intent`) leave for a
/// `--to TO`: [`Pending`], or the refusal. Our journal is written before
/// the intent file and removed after it, so an intent file without our
/// journal is Ganeti's own upgrade (or, tagged as ours, an orphan).
pub fn pending(
    paths: &InstallPaths,
    to: &DirVersion,
    state: Option<State>,
    intent: Option<Intent>,
) -> Result<Pending, UpgradeError> {
    match state {
        Some(s) if s.rolled_back => Ok(Pending::RolledBack(s)),
        Some(s) if s.rolling_back => Err(UpgradeError::RollbackPending { to: s.header.to }),
        Some(s) if s.header.to == *to => Ok(Pending::SameTarget(s)),
        Some(s) => Err(UpgradeError::InProgress {
            from: s.header.from_release,
            to: s.header.to,
        }),
        None => match intent {
            None => Ok(Pending::Nothing),
            intent => Err(intent_error(paths, intent)),
        },
    }
}

/// The refusal for an intent file without our journal.
pub fn intent_error(paths: &InstallPaths, intent: Option<Intent>) -> UpgradeError {
    match intent {
        Some(i) if i.target.starts_with(OUR_TARGET_PREFIX) => UpgradeError::OrphanIntent {
            intent: paths.intent_file(),
            journal: paths.upgrade_journal(),
            running: i.running.clone(),
            target: i.target_version().to_string(),
        },
        Some(i) => UpgradeError::ForeignIntent {
            running: i.running,
            target: i.target,
        },
        None => UpgradeError::ForeignIntent {
            running: String::new(),
            target: String::new(),
        },
    }
}

/// Where the cluster goes from (`active`, this node's links) to `to`:
/// the source directory, the kind of move and the source release; refused
/// when the move is not allowed, and when `to` is a release typed for an
/// installed directory version (`--to 3.1.0` for `3.1`: Ganeti's own
/// `--to` is the directory too).
pub fn versions(
    paths: &InstallPaths,
    active: Option<DirVersion>,
    to: &DirVersion,
) -> Result<(DirVersion, Transition, String), UpgradeError> {
    if let Some(hint) = release_typed_for_version(paths, to) {
        return Err(UpgradeError::ReleaseForDirectory {
            given: to.clone(),
            hint,
        });
    }
    Ok(transition_to(paths, active, to)?)
}

/// The last line of ssh's stderr that says something, or the first line
/// the command printed.
fn said(ran: &Ran) -> String {
    let lines = |s: &str| {
        s.trim()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let err = lines(&ran.stderr);
    let out = lines(&ran.stdout);
    if ran.ok() {
        return String::new();
    }
    match ran.code {
        // ssh's own failure: its last error line.
        Some(255) | None => err.last().or(out.first()).cloned().unwrap_or_default(),
        // ganeti-switch's problems (stdout, the hint last), or the
        // shell's "not found".
        _ => {
            let mut said: Vec<String> = out;
            said.extend(err);
            said.join("; ")
        }
    }
}

/// What a node's `ganeti-switch installed V` answer means. `switch`: the
/// command as run there (for the fix); `to`: the target.
pub fn classify(ran: &Ran, switch: &str, to: &DirVersion) -> NodeCheck {
    let error = said(ran);
    let node = ran.node.as_str();
    let (state, fix) = match ran.code {
        Some(0) => (NodeState::Ready, None),
        Some(255) | None => {
            let e = error.to_ascii_lowercase();
            if e.contains("host key verification failed")
                || e.contains("remote host identification has changed")
            {
                (
                    NodeState::HostKeyChanged,
                    Some(format!(
                        "{node}'s ssh host key is not the cluster's (in Ganeti's known_hosts): if it was reinstalled, run on the master: gnt-node add --readd {node} (it puts the cluster's host key back); otherwise find out why it changed"
                    )),
                )
            } else if e.contains("permission denied") {
                (
                    NodeState::Refused,
                    Some(format!(
                        "{node} does not accept root's key: check that ssh root@{node} works from the master as Ganeti's own commands need (/root/.ssh/authorized_keys there; gnt-cluster verify reports it as ENODESSH)"
                    )),
                )
            } else if e.contains("connection refused") {
                (
                    NodeState::Refused,
                    Some(format!(
                        "nothing answers ssh on {node}: start its sshd (systemctl start ssh), then check ssh root@{node}"
                    )),
                )
            } else {
                (
                    NodeState::Unreachable,
                    Some(format!(
                        "check ssh root@{node} as Ganeti reaches it; if {node} is down, bring it back, or mark it offline (on the master: gnt-node modify -O yes {node}) and the upgrade leaves it out"
                    )),
                )
            }
        }
        Some(126 | 127) => (
            NodeState::NoGaneti,
            Some(format!(
                "install this toolkit on {node} (apt-get install ganeti-upgrade-toolkit), or give its path there with --switch-command (now {switch})"
            )),
        ),
        Some(1) => (
            NodeState::TargetIncomplete,
            Some(format!(
                "install Ganeti {to} on {node} completely (what ganeti-switch installed {to} names there, with its hint), then run the dry run again"
            )),
        ),
        Some(_) => (
            NodeState::Failed,
            Some(format!(
                "run {switch} installed {to} on {node} and see what it says (an older toolkit there? upgrade it)"
            )),
        ),
    };
    NodeCheck {
        node: node.to_string(),
        state,
        switch_version: None,
        error: (state != NodeState::Ready).then_some(error),
        fix,
    }
}

/// `check` of a node where the target is ready, judged again by its answer
/// to the way-back question (`ganeti-switch installed --or-active FROM`):
/// a rollback before the configuration change switches every node back to
/// `from`, so the run refuses where that could not be done (R3-5), and so
/// does the dry run, with the same fix.
pub fn way_back(
    mut check: NodeCheck,
    returnable: &Ran,
    switch: &str,
    from: &DirVersion,
) -> NodeCheck {
    if !check.ready() || returnable.code == Some(0) {
        return check;
    }
    let node = returnable.node.as_str();
    check.state = NodeState::WayBackClosed;
    let why = said(returnable);
    check.error = Some(format!(
        "{from}, which the cluster runs now, could not be switched back to: {}",
        if why.is_empty() { "(no message)" } else { &why }
    ));
    check.fix = Some(if returnable.code == Some(2) {
        format!(
            "{switch} on {node} is older than this ganeti-upgrade (it has no `installed --or-active`): install this toolkit's version ({}) there",
            env!("CARGO_PKG_VERSION")
        )
    } else {
        format!(
            "reinstall {from} on {node} (its packages, or ganeti-layout install): a rollback before the configuration change switches every node back to it"
        )
    });
    check
}

/// What a node's `ganeti-switch runs V` answer (`FILE: WHAT` lines, then a
/// hint) says, one entry per missing piece: `WHAT (in N files: A, B, C and
/// M more)`. One module or library gone usually breaks every file, and is
/// said once.
pub fn runs_findings(ran: &Ran) -> Vec<String> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    let lines = ran.stdout.lines().chain(ran.stderr.lines());
    for line in lines.filter(|l| !l.trim().is_empty() && !l.starts_with("hint: ")) {
        let (file, what) = match line.split_once(": ") {
            Some((file, what)) if file.starts_with('/') => (file.to_string(), what.to_string()),
            _ => (String::new(), line.to_string()),
        };
        match groups.iter_mut().find(|(w, _)| *w == what) {
            Some((_, files)) => files.push(file),
            None => groups.push((what, vec![file])),
        }
    }
    groups
        .into_iter()
        .map(|(what, files)| {
            let files: Vec<String> = files.into_iter().filter(|f| !f.is_empty()).collect();
            match files.len() {
                0 => what,
                1 => format!("{}: {what}", files[0]),
                n => {
                    let shown = files.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
                    let more = if n > 3 {
                        format!(" and {} more", n - 3)
                    } else {
                        String::new()
                    };
                    format!("{what} (in {n} files: {shown}{more})")
                }
            }
        })
        .collect()
}

/// `check` of a node where the target is ready, judged again by its answer
/// to `ganeti-switch runs V`: the run's check-target-runs step refuses a
/// node where the target would not start, and so does the dry run.
pub fn target_runs(mut check: NodeCheck, runs: &Ran, switch: &str, to: &DirVersion) -> NodeCheck {
    if !check.ready() || runs.code == Some(0) {
        return check;
    }
    let node = runs.node.as_str();
    check.state = NodeState::TargetDoesNotRun;
    let found = runs_findings(runs);
    check.error = Some(if runs.code == Some(2) {
        format!("its {switch} has no `runs` (an older toolkit)")
    } else if found.is_empty() {
        "(no message)".to_string()
    } else {
        found.join("; ")
    });
    check.fix = Some(if runs.code == Some(2) {
        format!(
            "{switch} on {node} is older than this ganeti-upgrade (it has no `runs`): install this toolkit's version ({}) there",
            env!("CARGO_PKG_VERSION")
        )
    } else {
        format!(
            "install on {node} what is named (the interpreter, Python modules or libraries, from the packages Ganeti {to} depends on there); {switch} runs {to} on {node} checks it again and names what it waited for"
        )
    });
    check
}

/// The cluster's root SSH keys are DSA (`ssh_key_type` in config.data:
/// what clusters made before Ganeti 2.16 kept), and this node's OpenSSH
/// (`ssh_version`: what `ssh -V` printed, asked only then) is 9.8 or newer,
/// which has no DSA: Ganeti's own ssh between the nodes fails, and so does
/// this upgrade's. The refusal and its fix; `None` otherwise, or when
/// either cannot be read (never refused on a guess).
pub fn dsa_keys(paths: &InstallPaths, ssh_version: impl FnOnce() -> String) -> Option<String> {
    let text = paths.fs().read_to_string(&paths.config_data()).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    if config.pointer("/cluster/ssh_key_type")?.as_str()? != "dsa" {
        return None;
    }
    let said = ssh_version();
    let (major, minor) = openssh_version(&said)?;
    ((major, minor) >= (9, 8)).then(|| {
        format!(
            "the cluster's SSH keys are DSA (ssh_key_type in {}), and OpenSSH {major}.{minor} here has no DSA (since 9.8): Ganeti's ssh between the nodes, and this upgrade's, would fail\nhint: give the cluster RSA keys first, on the master: gnt-cluster renew-crypto --new-ssh-keys --ssh-key-type=rsa --ssh-key-bits=4096 (with an OpenSSH that still has DSA, or after putting RSA keys in place by hand), then run again",
            paths.config_data().display()
        )
    })
}

/// [`dsa_keys`] of the master, its ssh client asked through the run's
/// executor (`ssh -V` writes its version on standard error).
pub fn dsa_keys_here(ctx: &crate::context::Ctx<'_>) -> Option<String> {
    dsa_keys(ctx.paths, || {
        let ssh = ctx
            .opts
            .run
            .ssh_command
            .first()
            .cloned()
            .unwrap_or_else(|| "ssh".into());
        let ran = ctx.run_local(crate::ganeti::GanetiCmd::SshVersion { ssh });
        format!("{}{}", ran.stderr, ran.stdout)
    })
}

/// A node's answer to [`crate::ganeti::CERT_CHECK_SCRIPT`] judged: the
/// certificates there signed with SHA-1 or MD5 while its OpenSSL is 3.0
/// or newer, which rejects such signatures at every security level above
/// 0 (Debian's default is 2). A self-signed certificate is left out:
/// OpenSSL does not check a trust anchor's own signature, and Ganeti's
/// cluster certificate (`server.pem`) is one; the node certificate
/// (`client.pem`, Ganeti 2.12 and later) is signed by it, and with SHA-1
/// the node's daemons could not load it. The refusal and its fix; `None`
/// otherwise, or when it cannot be told (no `openssl`, an unreadable
/// certificate: never refused on a guess).
pub fn weak_certificates(said: &str) -> Option<String> {
    let mut lines = said.lines();
    let major: u32 = lines
        .next()?
        .strip_prefix("OpenSSL ")?
        .split('.')
        .next()?
        .parse()
        .ok()?;
    if major < 3 {
        return None;
    }
    let version = said.split_whitespace().nth(1).unwrap_or("3");
    // (path, signature algorithm, issuer, subject) of each certificate.
    let mut certs: Vec<(String, String, String, String)> = Vec::new();
    for line in lines {
        if let Some(path) = line.strip_prefix("== ") {
            certs.push((
                path.to_string(),
                String::new(),
                String::new(),
                String::new(),
            ));
            continue;
        }
        let Some(cert) = certs.last_mut() else {
            continue;
        };
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Signature Algorithm:") {
            if cert.1.is_empty() {
                cert.1 = v.trim().to_string();
            }
        } else if let Some(v) = t.strip_prefix("Issuer:") {
            cert.2 = v.trim().to_string();
        } else if let Some(v) = t.strip_prefix("Subject:") {
            cert.3 = v.trim().to_string();
        }
    }
    let mut weak = Vec::new();
    let mut options = Vec::new();
    for (path, alg, issuer, subject) in certs {
        let lower = alg.to_ascii_lowercase();
        let self_signed = !issuer.is_empty() && issuer == subject;
        if (lower.contains("sha1") || lower.contains("md5")) && !self_signed {
            weak.push(format!("{path} is signed with {alg} (by {issuer})"));
            let wanted: &[&str] = if path.ends_with("client.pem") {
                &["--new-node-certificates"]
            } else {
                &["--new-cluster-certificate", "--new-node-certificates"]
            };
            for o in wanted {
                if !options.contains(o) {
                    options.push(o);
                }
            }
        }
    }
    (!weak.is_empty()).then(|| {
        format!(
            "{}, which OpenSSL {version} here rejects (SHA-1 and MD5 signatures, since OpenSSL 3.0): the daemons the upgrade starts could not use it\nhint: renew first, on the master: gnt-cluster renew-crypto {}, then run again",
            weak.join("; "),
            options.join(" ")
        )
    })
}

/// [`weak_certificates`] on every online node (the master's through the
/// run's executor, the others' over ssh, at once): one `NODE: refusal`
/// per node. A node that does not answer is left to the other checks.
pub fn weak_certificates_everywhere(ctx: &crate::context::Ctx<'_>, c: &Cluster) -> Vec<String> {
    let check = ctx.call(crate::ganeti::GanetiCmd::CertCheck);
    let mut answers = ctx
        .exec
        .fan_out(c, &c.others(), &|_| check.clone(), &|_: &Ran| {});
    if c.online.contains(&c.master) {
        let mut here = ctx.run_local(crate::ganeti::GanetiCmd::CertCheck);
        here.node.clone_from(&c.master);
        answers.push(here);
    }
    answers
        .iter()
        .filter(|r| r.ok())
        .filter_map(|r| weak_certificates(&r.stdout).map(|w| format!("{}: {w}", r.node)))
        .collect()
}

/// (major, minor) of `OpenSSH_9.8p1 Debian-...`, as `ssh -V` says it.
fn openssh_version(said: &str) -> Option<(u32, u32)> {
    let rest = &said[said.find("OpenSSH_")? + "OpenSSH_".len()..];
    let mut parts = rest.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The refusal lines for the nodes that are not ready: `NODE: STATE:
/// ERROR` then `  fix: FIX`, one pair per node.
pub fn node_refusals(nodes: &[NodeCheck], to: &DirVersion) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| !n.ready())
        .map(|n| {
            let what = match n.state {
                NodeState::Ready => "ready",
                NodeState::Unreachable => "unreachable",
                NodeState::Refused => "refused the connection",
                NodeState::HostKeyChanged => "host key changed",
                NodeState::NoGaneti => "no ganeti-switch",
                NodeState::TargetIncomplete => "target incomplete",
                NodeState::WayBackClosed => "way back closed",
                NodeState::TargetDoesNotRun => "target does not run",
                NodeState::Failed => "ganeti-switch failed",
            };
            let error = n.error.as_deref().unwrap_or("");
            let error = if n.state == NodeState::TargetIncomplete {
                format!("{to} is not completely installed: {error}")
            } else {
                error.to_string()
            };
            format!(
                "{}: {what}: {}\n  fix: {}",
                n.node,
                if error.is_empty() {
                    "(no message)"
                } else {
                    &error
                },
                n.fix.as_deref().unwrap_or("")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(code: Option<i32>, stdout: &str, stderr: &str) -> Ran {
        Ran {
            node: "node2.example".into(),
            command: "ganeti-switch installed 3.1".into(),
            code,
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    /// What ssh itself said when it answered 255.
    fn ssh_said(stderr: &str) -> Ran {
        ran(Some(255), "", stderr)
    }

    #[test]
    fn every_kind_of_failure_has_its_own_state_and_fix() {
        let to: DirVersion = "3.1".parse().expect("v");
        let sw = "/usr/sbin/ganeti-switch";
        let cases = [
            (ran(Some(0), "", ""), NodeState::Ready, ""),
            (
                ssh_said("ssh: Could not resolve hostname node2.example: Name or service not known\n"),
                NodeState::Unreachable,
                "gnt-node modify -O yes node2.example",
            ),
            (
                ssh_said("ssh: connect to host node2.example port 22: Connection timed out\n"),
                NodeState::Unreachable,
                "bring it back",
            ),
            (
                ssh_said("ssh: connect to host node2.example port 22: Connection refused\n"),
                NodeState::Refused,
                "start its sshd",
            ),
            (
                ssh_said("root@node2.example: Permission denied (publickey).\n"),
                NodeState::Refused,
                "authorized_keys",
            ),
            (
                ran(Some(255), "", "Host key verification failed.\n"),
                NodeState::HostKeyChanged,
                "gnt-node add --readd node2.example",
            ),
            (
                ran(
                    Some(127),
                    "",
                    "bash: line 1: /usr/sbin/ganeti-switch: No such file or directory\n",
                ),
                NodeState::NoGaneti,
                "--switch-command",
            ),
            (
                ran(
                    Some(1),
                    "/usr/lib/ganeti/3.1: lib tree of 3.1 is not installed\nhint: installed here: 3.0 (active)\n",
                    "",
                ),
                NodeState::TargetIncomplete,
                "install Ganeti 3.1 on node2.example",
            ),
        ];
        for (r, state, fix) in cases {
            let check = classify(&r, sw, &to);
            assert_eq!(check.state, state, "{r:?}");
            assert!(
                check.fix.as_deref().unwrap_or("").contains(fix),
                "{state:?}: {:?}",
                check.fix
            );
            if state != NodeState::Ready {
                let error = check.error.clone().unwrap_or_default();
                assert!(!error.is_empty(), "{state:?}: the line that says why");
                let refusal = node_refusals(&[check], &to).join("\n");
                assert!(refusal.starts_with("node2.example: "), "{refusal}");
                assert!(refusal.contains(&error), "{refusal}");
            }
        }
    }

    #[test]
    fn one_missing_module_is_said_once_with_its_files() {
        let said = ran(
            Some(1),
            "/usr/share/ganeti/3.0/gnt-node: import fails under /usr/bin/python3: ModuleNotFoundError: No module named 'asynchat'\n\
             /usr/share/ganeti/3.0/gnt-cluster: import fails under /usr/bin/python3: ModuleNotFoundError: No module named 'asynchat'\n\
             /usr/share/ganeti/3.0/ganeti-noded: import fails under /usr/bin/python3: ModuleNotFoundError: No module named 'asynchat'\n\
             /usr/share/ganeti/3.0/ganeti-rapi: import fails under /usr/bin/python3: ModuleNotFoundError: No module named 'asynchat'\n\
             /usr/lib/ganeti/3.0/usr/sbin/ganeti-luxid: the loader does not find libpcre.so.3\n\
             hint: install what is missing\n",
            "",
        );
        assert_eq!(
            runs_findings(&said),
            vec![
                "import fails under /usr/bin/python3: ModuleNotFoundError: No module named 'asynchat' (in 4 files: /usr/share/ganeti/3.0/gnt-node, /usr/share/ganeti/3.0/gnt-cluster, /usr/share/ganeti/3.0/ganeti-noded and 1 more)".to_string(),
                "/usr/lib/ganeti/3.0/usr/sbin/ganeti-luxid: the loader does not find libpcre.so.3".to_string(),
            ]
        );
        let check = target_runs(
            classify(
                &ran(Some(0), "", ""),
                "ganeti-switch",
                &"3.0".parse().expect("v"),
            ),
            &said,
            "ganeti-switch",
            &"3.0".parse().expect("v"),
        );
        assert_eq!(check.state, NodeState::TargetDoesNotRun);
        assert!(
            check.fix.as_deref().is_some_and(|f| f.contains("runs 3.0")),
            "{check:?}"
        );
    }

    /// A node certificate signed with SHA-1 by the cluster certificate is
    /// refused with OpenSSL 3, naming the renew-crypto option; a
    /// self-signed SHA-1 cluster certificate is not (OpenSSL does not
    /// check a trust anchor's own signature); SHA-256 passes, and so does
    /// SHA-1 with an OpenSSL older than 3. The certificates are made by
    /// this machine's `openssl`, and read by the script the nodes run.
    #[test]
    fn sha1_node_certificates_with_openssl_3_are_refused() {
        if std::process::Command::new("openssl")
            .arg("version")
            .output()
            .is_err()
        {
            // A package build's chroot has no openssl (it is no build
            // dependency); the judging itself is a pure function.
            eprintln!("SKIPPED: openssl is not installed, so no certificates can be made");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("openssl");
            assert!(out.status.success(), "{args:?}: {out:?}");
        };
        let make_server = |digest: &str| {
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=ganeti.example",
                digest,
                "-keyout",
                "server.key",
                "-out",
                "server.crt",
            ]);
            let pem = [
                fs_err::read_to_string(d.join("server.key")).expect("key"),
                fs_err::read_to_string(d.join("server.crt")).expect("crt"),
            ]
            .concat();
            fs_err::write(d.join("server.pem"), pem).expect("write");
        };
        let make_client = |digest: &str| {
            openssl(&[
                "req",
                "-new",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=node1.example",
                "-keyout",
                "client.key",
                "-out",
                "client.csr",
            ]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                "client.csr",
                "-CA",
                "server.crt",
                "-CAkey",
                "server.key",
                "-set_serial",
                "7",
                "-days",
                "1",
                digest,
                "-out",
                "client.crt",
            ]);
            let pem = [
                fs_err::read_to_string(d.join("client.key")).expect("key"),
                fs_err::read_to_string(d.join("client.crt")).expect("crt"),
            ]
            .concat();
            fs_err::write(d.join("client.pem"), pem).expect("write");
        };
        let said = || {
            let out = std::process::Command::new("sh")
                .args(["-c", crate::ganeti::CERT_CHECK_SCRIPT, "sh"])
                .arg(d.join("server.pem"))
                .arg(d.join("client.pem"))
                .output()
                .expect("sh");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let as_openssl = |text: String, version: &str| {
            let mut lines = text.lines();
            lines.next();
            std::iter::once(version.to_string())
                .chain(lines.map(String::from))
                .collect::<Vec<_>>()
                .join("\n")
        };
        make_server("-sha1");
        make_client("-sha256");
        let v3 = "OpenSSL 3.0.19 27 Jan 2026 (Library: OpenSSL 3.0.19 27 Jan 2026)";
        assert_eq!(
            weak_certificates(&as_openssl(said(), v3)),
            None,
            "self-signed SHA-1"
        );
        make_client("-sha1");
        let refused = weak_certificates(&as_openssl(said(), v3)).expect("refused");
        assert!(
            refused.contains("client.pem is signed with sha1WithRSAEncryption (by CN"),
            "{refused}"
        );
        assert!(
            refused.ends_with("gnt-cluster renew-crypto --new-node-certificates, then run again"),
            "{refused}"
        );
        assert!(!refused.contains("server.pem"), "{refused}");
        assert_eq!(
            weak_certificates(&as_openssl(said(), "OpenSSL 1.1.1w  11 Sep 2023")),
            None
        );
        assert_eq!(weak_certificates(""), None, "no openssl there");
        make_client("-sha512");
        assert_eq!(weak_certificates(&as_openssl(said(), v3)), None);
    }

    /// DSA keys are refused only with an OpenSSH that has no DSA, and only
    /// when both are known.
    #[test]
    fn dsa_keys_with_an_openssh_without_dsa_are_refused() {
        assert_eq!(
            openssh_version("OpenSSH_9.8p1 Debian-1, OpenSSL 3.3.1"),
            Some((9, 8))
        );
        assert_eq!(openssh_version("OpenSSH_10.0p2 Debian-7"), Some((10, 0)));
        assert_eq!(openssh_version("ssh: command not found"), None);
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = InstallPaths::default()
            .with_root(dir.path())
            .expect("paths");
        let config = paths.fs().host_path(&paths.config_data());
        fs_err::create_dir_all(config.parent().expect("dir")).expect("mkdir");
        let with = |key: &str| {
            fs_err::write(
                &config,
                format!(r#"{{"version": 3000000, "cluster": {{"ssh_key_type": "{key}"}}}}"#),
            )
            .expect("write");
        };
        with("dsa");
        let refused = dsa_keys(&paths, || "OpenSSH_10.0p2 Debian-7".into()).expect("refused");
        assert!(
            refused.contains("gnt-cluster renew-crypto --new-ssh-keys --ssh-key-type=rsa"),
            "{refused}"
        );
        assert_eq!(
            dsa_keys(&paths, || "OpenSSH_9.2p1 Debian-2+deb12u3".into()),
            None
        );
        assert_eq!(dsa_keys(&paths, || "unreadable".into()), None);
        with("rsa");
        assert_eq!(
            dsa_keys(&paths, || panic!("ssh is asked only for DSA keys")),
            None
        );
    }

    #[test]
    fn a_closed_way_back_is_its_own_state_with_its_own_fix() {
        let to: DirVersion = "3.1".parse().expect("v");
        let from: DirVersion = "3.0".parse().expect("v");
        let sw = "/usr/sbin/ganeti-switch";
        let ready = || classify(&ran(Some(0), "", ""), sw, &to);
        let open = way_back(ready(), &ran(Some(0), "", ""), sw, &from);
        assert!(open.ready());
        let gone = ran(
            Some(1),
            "/usr/lib/ganeti/3.0: lib tree of 3.0 is not installed\n",
            "",
        );
        let closed = way_back(ready(), &gone, sw, &from);
        assert_eq!(closed.state, NodeState::WayBackClosed);
        assert!(closed
            .error
            .as_deref()
            .unwrap_or("")
            .contains("lib tree of 3.0"));
        assert!(closed
            .fix
            .as_deref()
            .unwrap_or("")
            .contains("reinstall 3.0 on node2.example"));
        let refusal = node_refusals(&[closed], &to).join("\n");
        assert!(
            refusal.starts_with("node2.example: way back closed: 3.0"),
            "{refusal}"
        );
        let old = way_back(
            ready(),
            &ran(Some(2), "", "error: unexpected argument '--or-active'\n"),
            sw,
            &from,
        );
        assert!(old
            .fix
            .as_deref()
            .unwrap_or("")
            .contains("older than this ganeti-upgrade"));
        // A node not ready for the target keeps that state: one fix at a time.
        let unreachable = classify(
            &ran(
                Some(255),
                "",
                "ssh: connect to host node2.example port 22: No route to host\n",
            ),
            sw,
            &to,
        );
        assert_eq!(
            way_back(unreachable, &gone, sw, &from).state,
            NodeState::Unreachable
        );
    }
}
