//! No stale code before the job queue reopens (issue 22 item 4): the
//! `check-stale-code` step asks every online node which processes run code
//! of a version other than the target (`ganeti-switch stale V`: the
//! program, a mapped file or the script in another version's tree, or a
//! script reached through the switch links by a process older than the
//! switch; the master answers in-process). A Ganeti daemon among them (one
//! a watcher or an admin started from the old tree, or one a restart
//! missed) is ended, and started again through `daemon-util start` when it
//! was the daemon's own process (its pid file names it; one started beside
//! it is only ended); every other process is named, with its node, pid and command, and left
//! running: it is not ours to end (an admin's console, a cron job). This
//! checks the design's "the same version on all nodes" directly instead of
//! inferring it from the daemons' exit codes.

use ganeti_switch::stale::Stale;

use crate::cluster::Cluster;
use crate::context::Ctx;
use crate::error::StepError;
use crate::ganeti::{GanetiCmd, Switch};
use crate::ran::Ran;

/// Runs the check, restarts stale daemons and checks their nodes again.
/// Errors: the check fails on a node (not reached, or an answer that is
/// not its JSON), a restart fails, or a daemon still runs another
/// version's code after its restart.
pub fn check_stale_code(ctx: &Ctx<'_>) -> Result<(), StepError> {
    let c = ctx.cluster()?;
    let found = ask(ctx, &c, &c.online)?;
    let mut again = Vec::new();
    for (node, list) in &found {
        for s in list.iter().filter(|s| s.daemon.is_none()) {
            ctx.message(&format!(
                "{node}: {s}; not a Ganeti daemon, so it is left running: end or restart it when it can be"
            ));
        }
        let daemons: Vec<&Stale> = list.iter().filter(|s| s.daemon.is_some()).collect();
        if daemons.is_empty() {
            continue;
        }
        for s in &daemons {
            ctx.message(&format!("{node}: {s}; ending it (and starting the daemon again if it was the daemon's own process)"));
        }
        let restart = GanetiCmd::RestartStale {
            daemons: daemons
                .iter()
                .filter_map(|s| Some((s.pid, s.daemon.clone()?)))
                .collect(),
        };
        ctx.on_nodes(&c, std::slice::from_ref(node), &|_| restart.clone())?;
        again.push(node.clone());
    }
    if again.is_empty() {
        return Ok(());
    }
    let still: Vec<String> = ask(ctx, &c, &again)?
        .into_iter()
        .flat_map(|(node, list)| {
            list.into_iter()
                .filter(|s| s.daemon.is_some())
                .map(move |s| format!("{node}: {s}"))
        })
        .collect();
    if still.is_empty() {
        return Ok(());
    }
    Err(StepError::Refused(format!(
        "Ganeti daemons still run code of another version after their restart:\n  {}\nhint: on that node, ganeti-switch check says whether its links name {to}; if not: daemon-util stop-all; ganeti-switch to {to}; daemon-util start-all (a resume from here does not start daemons); then ganeti-upgrade --resume checks again and lets the queue run",
        still.join("\n  "),
        to = ctx.header.to
    )))
}

/// `ganeti-switch stale V` on `nodes` (the master in-process): what each
/// node found. A node whose `ganeti-switch` has no `stale` is said and
/// left out.
fn ask(
    ctx: &Ctx<'_>,
    c: &Cluster,
    nodes: &[String],
) -> Result<Vec<(String, Vec<Stale>)>, StepError> {
    let question = ctx.switch(Switch::Stale(ctx.header.to.clone()));
    let others: Vec<String> = nodes.iter().filter(|n| **n != c.master).cloned().collect();
    let mut answers = ctx.each_node(c, &others, &|_| question.clone());
    if nodes.contains(&c.master) {
        let mut here = ctx.exec.here(&ctx.call(question.clone()));
        here.node.clone_from(&c.master);
        answers.push(here);
    }
    let mut found = Vec::new();
    let mut failed: Vec<Ran> = Vec::new();
    for ran in answers {
        let parsed = || serde_json::from_str::<Vec<Stale>>(ran.stdout.trim()).ok();
        match ran.code {
            Some(0 | 1) => match parsed() {
                Some(list) => found.push((ran.node.clone(), list)),
                None => failed.push(ran),
            },
            // clap's "unrecognized subcommand": an older ganeti-switch.
            Some(2) if ran.stderr.contains("unrecognized subcommand") => ctx.message(&format!(
                "{}: not checked for processes that run another version's code: its {} has no `stale` (update the toolkit there)",
                ran.node, ctx.opts.run.switch_command
            )),
            _ => failed.push(ran),
        }
    }
    if failed.is_empty() {
        Ok(found)
    } else {
        for r in &failed {
            ctx.show(r);
        }
        Err(StepError::Commands(failed))
    }
}
