//! `--dry-run`'s questions to the cluster: every read-only check of a real
//! run, on every online node, before anything is changed (as `kubeadm
//! upgrade plan` checks the cluster before it prints). It answers what the
//! real run would refuse, with the node and the fix:
//! * each node's answer to the run's first question, `ganeti-switch
//!   installed V` (completely installed, `default` links included), as a
//!   state with its own fix: ready, unreachable, refused, host key
//!   changed, no `ganeti-switch`, target incomplete
//!   ([`crate::gate::classify`]); and the `ganeti-switch` version there;
//! * room for the backup on the master;
//! * jobs running or queued, the drain flag, filters and the watcher pause
//!   (kept as they are, reported);
//! * offline nodes (left out);
//! * the configuration change, rehearsed on a copy as the run's
//!   `rehearse-config` step does ([`crate::rehearsal`]);
//! * the health baseline, as the run's `record-health` step takes it
//!   ([`crate::health`]): errors an upgrade should not start on are
//!   refused, the others listed as not counted against it.
//!
//! Nothing here writes but the rehearsal's scratch copy, removed again:
//! commands are `--version`, `installed`, the queue and filter queries,
//! `gnt-cluster verify` and `gnt-instance list`, and the converter on the
//! copy.

use ganeti_layout::node::installed::install_hint;

use crate::cluster::Cluster;
use crate::context::Ctx;
use crate::ganeti::Switch;
use crate::gate::{classify, node_refusals, target_runs, way_back};
use crate::queue::{queue_drained, queue_state};
use crate::ran::Ran;
use crate::view::{JobCounts, NodeCheck, NodeState, Preflight};
use crate::watcher::watcher_paused_until;

/// Asks every online node; pure reads.
pub fn preflight(ctx: &Ctx<'_>, c: &Cluster) -> Preflight {
    let to = ctx.header.to.clone();
    let nodes = node_checks(ctx, c);
    let paths = ctx.paths;
    let room = crate::backup::room(paths);
    let (backup_bytes, backup_free) = (room.needed, room.free);
    let mut refusals = node_refusals(&nodes, &to);
    if ctx.exec.is_root() {
        refusals.extend(
            crate::gate::weak_certificates_everywhere(ctx, c)
                .into_iter()
                .map(|w| w.replace("\nhint: ", "\n  fix: ")),
        );
    } else {
        ctx.message("not checking the cluster's certificates: that needs root (they are readable by root only)");
    }
    if let Some(refusal) = crate::gate::dsa_keys_here(ctx) {
        refusals.push(format!(
            "{}: {}",
            c.master,
            refusal.replace("\nhint: ", "\n  fix: ")
        ));
    }
    if let Some(refusal) = room.refusal(&c.master, paths) {
        refusals.push(refusal.replace("\nhint: ", "\n  fix: "));
    }
    // The rehearsal needs the target on the master: where that check
    // already refuses, its refusal says it.
    let master_ready = nodes
        .iter()
        .any(|n| n.node == c.master && n.state == NodeState::Ready);
    if master_ready && !ctx.exec.is_root() {
        ctx.message(&format!(
            "not rehearsing the configuration change: that needs root (it copies {} and runs the target's cfgupgrade on the copy)",
            paths.datadir().display()
        ));
    } else if master_ready {
        if let Err(e) = crate::rehearsal::rehearse(ctx) {
            refusals.push(format!("{}: {e}", c.master));
        }
    }
    // The health baseline, as the run's record-health step takes it.
    if ctx.exec.is_root() {
        if let Err(refusal) = crate::baseline::judged(ctx) {
            refusals.push(format!(
                "{}: {}",
                c.master,
                refusal.replace("\nhint: ", "\n  fix: ")
            ));
        }
    }
    let (jobs, filters) = queue_state(ctx);
    Preflight {
        target: to,
        master: c.master.clone(),
        nodes,
        offline: c.offline.clone(),
        jobs: jobs.map(|(running, queued)| JobCounts { running, queued }),
        drained: queue_drained(ctx),
        watcher_paused_until: watcher_paused_until(ctx).filter(|t| *t > ctx.now()),
        filters,
        backup_bytes,
        backup_free,
        refusals,
    }
}

/// Each online node's answer to what the run's first step asks
/// (`ganeti-switch installed V`), classified by [`crate::gate::classify`],
/// and its `ganeti-switch --version`; the master's in-process.
fn node_checks(ctx: &Ctx<'_>, c: &Cluster) -> Vec<NodeCheck> {
    let to = ctx.header.to.clone();
    let switch = &ctx.opts.run.switch_command;
    let version = ctx.call(ctx.switch(Switch::Version));
    let installed = ctx.call(ctx.switch(Switch::Installed(to.clone())));
    let quiet = |_: &Ran| {};
    let versions = ctx
        .exec
        .fan_out(c, &c.others(), &|_| version.clone(), &quiet);
    let installs = ctx
        .exec
        .fan_out(c, &c.others(), &|_| installed.clone(), &quiet);
    // The way back, as the run's first step asks it too.
    let from = ctx.header.from_dir.clone();
    let returnable = (from != to).then(|| ctx.call(ctx.switch(Switch::Returnable(from.clone()))));
    let way_backs = match &returnable {
        Some(q) => ctx.exec.fan_out(c, &c.others(), &|_| q.clone(), &quiet),
        None => Vec::new(),
    };
    // Whether the target would start there, as the run's second step asks.
    let runs = ctx.call(ctx.switch(Switch::Runs(to.clone())));
    let runnings = ctx.exec.fan_out(c, &c.others(), &|_| runs.clone(), &quiet);
    let judged = |check: NodeCheck, node: &str, answers: &[Ran], running: &[Ran]| {
        let check = match answers.iter().find(|r| r.node == node) {
            Some(r) => way_back(check, r, switch, &from),
            None => check,
        };
        match running.iter().find(|r| r.node == node) {
            Some(r) => target_runs(check, r, switch, &to),
            None => check,
        }
    };
    let mut nodes: Vec<NodeCheck> = versions
        .iter()
        .zip(installs.iter())
        .map(|(v, i)| {
            let check = NodeCheck {
                switch_version: v.ok().then(|| first_line(v)),
                ..classify(i, switch, &to)
            };
            judged(check, &i.node, &way_backs, &runnings)
        })
        .collect();
    if c.online.contains(&c.master) {
        let here = ctx.exec.here(&installed);
        let mut check = classify(&here, switch, &to);
        let mut back = returnable.as_ref().map(|q| ctx.exec.here(q));
        if let Some(b) = back.as_mut() {
            b.node.clone_from(&here.node);
        }
        let mut running = ctx.exec.here(&runs);
        running.node.clone_from(&here.node);
        check = judged(
            check,
            &here.node,
            back.as_slice(),
            std::slice::from_ref(&running),
        );
        if here.code.is_none() {
            check.state = NodeState::Failed;
            check.fix = Some("see the error; the check ran in-process on the master".into());
        } else if check.state == NodeState::TargetIncomplete {
            check.error = Some(format!(
                "{}; hint: {}",
                here.stdout.trim(),
                install_hint(ctx.paths, &to)
            ));
        }
        check.switch_version = Some(format!("{} (in-process)", env!("CARGO_PKG_VERSION")));
        nodes.push(check);
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
