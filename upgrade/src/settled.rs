//! The cluster as the end of a run finds it: what every node runs (the
//! check before "done" or "rolled back"), and the nodes the upgrade left
//! out, each with the commands that bring it up to date.

use ganeti_layout::node::DirVersion;

use crate::cluster::Cluster;
use crate::context::Ctx;
use crate::error::LeftNode;
use crate::ganeti::{Daemons, GanetiCmd, NodeNow, Switch};
use crate::transition::config_version;

/// Offline nodes are left out of the upgrade; they come back on the old
/// version unless switched before `gnt-node modify -O no`.
pub fn report_offline(ctx: &Ctx<'_>, c: &Cluster) {
    if !c.offline.is_empty() {
        ctx.message(&format!(
            "offline nodes are left out: {}; before bringing one back online, run on it: {} to {}",
            c.offline.join(", "),
            ctx.opts.run.switch_command,
            ctx.header.to
        ));
    }
}

/// The nodes this upgrade left out, with their commands.
pub fn left_nodes(ctx: &Ctx<'_>) -> Vec<LeftNode> {
    let offline = Cluster::read(ctx.paths)
        .map(|c| c.offline)
        .unwrap_or_default();
    let argv = |cmd: GanetiCmd| ctx.call(cmd);
    let mut on_node = vec![
        argv(GanetiCmd::DaemonUtil(Daemons::StopAll)),
        argv(ctx.switch(Switch::To(ctx.header.to.clone()))),
        argv(GanetiCmd::EnsureDirs { full_run: true }),
        argv(GanetiCmd::DaemonUtil(Daemons::StartAll)),
    ];
    let values = ctx.facts.node_pause_values();
    if !values.is_empty() {
        // The watcher pause this upgrade wrote there, whichever it was.
        on_node.push(argv(GanetiCmd::NodeWatcherUnpause { values }));
    }
    let mut left: Vec<LeftNode> = ctx
        .skipped()
        .iter()
        .map(|n| LeftNode {
            node: n.clone(),
            why: "skipped",
            on_node: on_node.clone(),
            on_master: vec![argv(GanetiCmd::RedistConf)],
        })
        .collect();
    left.extend(
        offline
            .iter()
            .filter(|n| !ctx.skipped().contains(n))
            .map(|n| LeftNode {
                node: n.clone(),
                why: "offline",
                on_node: on_node.clone(),
                on_master: vec![argv(GanetiCmd::MarkOnline { node: n.clone() })],
            }),
    );
    left
}

/// What differs, node by node, from every online node (but those left
/// out) running `v`: its links, its daemons (one must run; none may
/// run another version's code where that can be told), and the
/// master's configuration. Empty when the cluster runs `v`.
pub fn end_state(ctx: &Ctx<'_>, v: &DirVersion) -> Vec<String> {
    let Ok(c) = ctx.cluster() else {
        return vec!["cannot read the cluster's ssconf to check the end state".into()];
    };
    let mut differences = Vec::new();
    let question = ctx.call(ctx.switch(Switch::Current));
    let ask = |nodes: &[String]| ctx.exec.fan_out(&c, nodes, &|_| question.clone(), &|_| {});
    // A node rebooting now is waited for, as the steps wait for it.
    let mut answers = ctx.again_when_back(&c, ask(&c.others()), &ask);
    if c.online.contains(&c.master) {
        let mut here = ctx.exec.here(&question);
        here.node.clone_from(&c.master);
        answers.push(here);
    }
    for ran in answers {
        let node = &ran.node;
        let now: NodeNow = match serde_json::from_str(ran.stdout.trim()) {
            Ok(now) if ran.ok() => now,
            _ => {
                differences.push(format!(
                    "{node}: cannot tell what it runs ({})",
                    ran.summary()
                ));
                continue;
            }
        };
        match &now.version {
            Some(x) if x == v => {}
            Some(x) => differences.push(format!("{node}: its links name {x}")),
            None => differences.push(format!("{node}: no stable active version")),
        }
        if now.daemons.is_empty() {
            differences.push(format!("{node}: no Ganeti daemon runs"));
        }
        for d in now
            .daemons
            .iter()
            .filter(|d| d.version.as_ref().is_some_and(|x| x != v))
        {
            differences.push(format!(
                "{node}: {} (pid {}) runs the code of {}",
                d.name,
                d.pid.map_or("?".into(), |p| p.to_string()),
                d.version.as_ref().map_or("?".into(), |x| x.to_string())
            ));
        }
    }
    let want = v.triple();
    match config_version(ctx.paths) {
        Some(cv) if (cv.triple().major, cv.triple().minor) == (want.major, want.minor) => {}
        Some(cv) => differences.push(format!("{}: config.data is at {cv}", c.master)),
        None => differences.push(format!("{}: config.data cannot be read", c.master)),
    }
    differences
}
