//! `--dry-run`'s questions to the cluster: every read-only check of a real
//! run, on every online node, before anything is changed (as `kubeadm
//! upgrade plan` checks the cluster before it prints). It answers what the
//! real run would refuse, with the node and the fix:
//! * `ganeti-switch` present on each node, and its version;
//! * the target installed there, completely (`ganeti-switch installed V`,
//!   which also checks the `default` links);
//! * room for the backup on the master;
//! * jobs running or queued, the drain flag, filters and the watcher pause
//!   (kept as they are, reported);
//! * offline nodes (left out).
//!
//! Nothing here writes: commands are `--version`, `installed`, and the
//! queue and filter queries.

use std::path::Path;

use ganeti_layout::DirVersion;

use crate::cluster::Cluster;
use crate::context::Ctx;

/// One node's answers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeCheck {
    pub node: String,
    /// `ganeti-switch --version`'s answer, or why it failed.
    pub switch: Result<String, String>,
    /// `Ok` when the target is completely installed, else what is missing.
    pub target: Result<(), String>,
}

/// What `--dry-run` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preflight {
    pub target: DirVersion,
    pub nodes: Vec<NodeCheck>,
    pub offline: Vec<String>,
    /// Jobs running or waiting, and queued; `None` if the queue could not
    /// be asked (luxid down).
    pub jobs: Option<(usize, usize)>,
    pub drained: bool,
    /// Epoch seconds the watcher pause ends, if paused.
    pub watcher_paused_until: Option<u64>,
    /// Job filters on the cluster; `None` if they could not be listed or the
    /// cluster has none.
    pub filters: Option<usize>,
    /// Bytes the backup needs (the data directory without the job archive
    /// and exports), and bytes free where it goes.
    pub backup_bytes: u64,
    pub backup_free: Option<u64>,
    /// What the real run would refuse, each with its fix.
    pub refusals: Vec<String>,
}

/// Bytes under `dir`, leaving out what the backup leaves out.
fn data_size(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_entry(|e| {
            let p = e.path();
            !(p.ends_with("queue/archive") || p == dir.join("export"))
        })
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Free bytes on the file system that holds `dir` (or its nearest existing
/// parent).
fn free_bytes(dir: &Path) -> Option<u64> {
    let existing = dir.ancestors().find(|p| p.exists())?;
    let st = rustix::fs::statvfs(existing).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Asks every online node; pure reads.
pub fn preflight(ctx: &Ctx<'_>, c: &Cluster) -> Preflight {
    let to = ctx.header.to.clone();
    let version = ctx.switch_argv(&["--version"]);
    // `--version` takes no path options.
    let version = vec![version[0].clone(), version[version.len() - 1].clone()];
    let installed = ctx.switch_argv(&["installed", to.as_str()]);
    let quiet = |_: &crate::ran::Ran| {};
    let versions = ctx
        .exec
        .fan_out(c, &c.others(), &|_| version.clone(), &quiet);
    let installs = ctx
        .exec
        .fan_out(c, &c.others(), &|_| installed.clone(), &quiet);
    let first_line = |r: &crate::ran::Ran| {
        r.stdout
            .trim()
            .lines()
            .chain(r.stderr.trim().lines())
            .next()
            .unwrap_or("")
            .to_string()
    };
    let mut nodes: Vec<NodeCheck> = versions
        .iter()
        .zip(installs.iter())
        .map(|(v, i)| NodeCheck {
            node: v.node.clone(),
            switch: if v.ok() {
                Ok(first_line(v))
            } else if v.code == Some(255) || v.code.is_none() {
                Err(format!("unreachable: {}", first_line(v)))
            } else {
                Err(format!(
                    "{} not found or not working (exit {})",
                    ctx.opts.switch_command,
                    v.code.unwrap_or(-1)
                ))
            },
            target: if i.ok() { Ok(()) } else { Err(first_line(i)) },
        })
        .collect();
    if c.online.contains(&c.master) {
        nodes.push(NodeCheck {
            node: c.master.clone(),
            switch: Ok(format!("in-process ({})", env!("CARGO_PKG_VERSION"))),
            target: match ctx.exec.missing_here(&to) {
                Ok(m) if m.is_empty() => Ok(()),
                Ok(m) => Err(m.join("; ")),
                Err(e) => Err(e),
            },
        });
    }
    let paths = ctx.paths;
    let data = paths.host(&paths.datadir());
    let backup_bytes = data_size(&data);
    let backup_free = free_bytes(&paths.host(&paths.backupdir()));
    let mut refusals = Vec::new();
    for n in &nodes {
        if let Err(e) = &n.switch {
            refusals.push(format!(
                "{}: {e}\n  fix: install this toolkit there, or give its path with --switch-command",
                n.node
            ));
        } else if let Err(e) = &n.target {
            refusals.push(format!(
                "{}: {to} is not completely installed: {e}\n  fix: install Ganeti {to} there (its packages, or ganeti-layout install)",
                n.node
            ));
        }
    }
    if let Some(free) = backup_free {
        if free < backup_bytes {
            refusals.push(format!(
                "{}: the backup needs {} KiB in {}, {} KiB are free\n  fix: free space there",
                c.master,
                backup_bytes / 1024,
                paths.backupdir().display(),
                free / 1024
            ));
        }
    }
    let (jobs, filters) = crate::queue::queue_state(ctx);
    Preflight {
        target: to,
        nodes,
        offline: c.offline.clone(),
        jobs,
        drained: paths.host(&paths.datadir().join("queue/drain")).exists(),
        watcher_paused_until: std::fs::read_to_string(
            paths.host(&paths.datadir().join("watcher.pause")),
        )
        .ok()
        .and_then(|t| t.trim().parse::<f64>().ok())
        .map(|t| t as u64)
        .filter(|t| *t > crate::clock::epoch_secs()),
        filters,
        backup_bytes,
        backup_free,
        refusals,
    }
}

/// The table of nodes by state, and the cluster-wide findings.
pub fn render(p: &Preflight) -> Vec<String> {
    let mut lines = Vec::new();
    let ready: Vec<&str> = p
        .nodes
        .iter()
        .filter(|n| n.switch.is_ok() && n.target.is_ok())
        .map(|n| n.node.as_str())
        .collect();
    lines.push(format!(
        "Nodes: {} of {} online ready for {}{}",
        ready.len(),
        p.nodes.len(),
        p.target,
        if p.offline.is_empty() {
            String::new()
        } else {
            format!("; offline, left out: {}", p.offline.join(", "))
        }
    ));
    let width = p
        .nodes
        .iter()
        .map(|n| n.node.len())
        .max()
        .unwrap_or(4)
        .max(4);
    lines.push(format!(
        "  {:<width$}  {:<28}  {}",
        "node", "ganeti-switch", "target"
    ));
    for n in &p.nodes {
        lines.push(format!(
            "  {:<width$}  {:<28}  {}",
            n.node,
            match &n.switch {
                Ok(v) => v.clone(),
                Err(_) => "MISSING".into(),
            },
            match &n.target {
                Ok(()) => "installed".to_string(),
                Err(e) => format!("NOT INSTALLED: {e}"),
            }
        ));
    }
    lines.push(format!(
        "Jobs: {}; queue {}; watcher {}; filters: {}",
        match p.jobs {
            Some((0, 0)) => "none running or queued".to_string(),
            Some((r, q)) =>
                format!("{r} running or waiting, {q} queued (the upgrade waits for them)"),
            None => "unknown (the master daemon did not answer)".into(),
        },
        if p.drained {
            "drained (stays drained)"
        } else {
            "open"
        },
        match p.watcher_paused_until {
            Some(t) => format!("paused until {} (kept)", crate::clock::format_date(t)),
            None => "running".into(),
        },
        p.filters
            .map(|f| f.to_string())
            .unwrap_or_else(|| "n/a".into())
    ));
    lines.push(format!(
        "Backup: about {} KiB needed, {} free",
        p.backup_bytes / 1024,
        p.backup_free
            .map(|f| format!("{} KiB", f / 1024))
            .unwrap_or_else(|| "unknown".into())
    ));
    if p.filters.is_some_and(|f| f > 0) {
        lines.push("Note: the cluster has job filters; they stay. A PAUSE or REJECT filter that matches every opcode also holds the upgrade's own gnt-cluster redist-conf job (the run then stops at redist-conf after --command-timeout): let OP_CLUSTER_REDIST_CONF through, or remove such a filter for the upgrade.".into());
    }
    if p.refusals.is_empty() {
        lines.push("Nothing found that would stop the upgrade.".into());
    } else {
        lines.push("The upgrade would be refused:".into());
        lines.extend(p.refusals.iter().map(|r| format!("  {r}")));
    }
    lines
}
