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

use crate::clock::epoch_secs;
use crate::cluster::Cluster;
use crate::context::Ctx;
use crate::ganeti::Switch;
use crate::queue::{queue_drained, queue_state};
use crate::ran::Ran;
use crate::view::{NodeCheck, Preflight};
use crate::watcher::watcher_paused_until;

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
    let nodes = node_checks(ctx, c);
    let paths = ctx.paths;
    let fs = paths.fs();
    let backup_bytes = data_size(&fs.host_path(&paths.datadir()));
    let backup_free = free_bytes(&fs.host_path(&paths.backupdir()));
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
    let (jobs, filters) = queue_state(ctx);
    Preflight {
        target: to,
        nodes,
        offline: c.offline.clone(),
        jobs,
        drained: queue_drained(ctx),
        watcher_paused_until: watcher_paused_until(ctx).filter(|t| *t > epoch_secs()),
        filters,
        backup_bytes,
        backup_free,
        refusals,
    }
}

/// Each online node's `ganeti-switch` and target, the master's in-process.
fn node_checks(ctx: &Ctx<'_>, c: &Cluster) -> Vec<NodeCheck> {
    let to = ctx.header.to.clone();
    let version = ctx.call(ctx.switch(Switch::Version));
    let installed = ctx.call(ctx.switch(Switch::Installed(to.clone())));
    let quiet = |_: &Ran| {};
    let versions = ctx
        .exec
        .fan_out(c, &c.others(), &|_| version.clone(), &quiet);
    let installs = ctx
        .exec
        .fan_out(c, &c.others(), &|_| installed.clone(), &quiet);
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
                    ctx.opts.run.switch_command,
                    v.code.unwrap_or(-1)
                ))
            },
            target: if i.ok() { Ok(()) } else { Err(first_line(i)) },
        })
        .collect();
    if c.online.contains(&c.master) {
        let here = ctx.exec.here(&installed);
        nodes.push(NodeCheck {
            node: c.master.clone(),
            switch: Ok(format!("in-process ({})", env!("CARGO_PKG_VERSION"))),
            target: match here.code {
                Some(0) => Ok(()),
                Some(_) => Err(here.stdout.trim().to_string()),
                None => Err(here.stderr),
            },
        });
    }
    nodes
}

/// The first line a command printed, stdout first.
fn first_line(r: &Ran) -> String {
    r.stdout
        .trim()
        .lines()
        .chain(r.stderr.trim().lines())
        .next()
        .unwrap_or("")
        .to_string()
}
