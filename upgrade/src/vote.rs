//! The master vote of the design's `--resume`: a majority of the online
//! nodes must name this node as the master before a resume acts, as
//! masterd asks at its start. Nodes that do not answer yet (sshd not up
//! after a power loss) are asked again while they could still make a
//! majority.

use crate::cluster::Cluster;
use crate::context::Ctx;
use crate::error::UpgradeError;
use crate::ganeti::GanetiCmd;
use crate::ran::Ran;
use crate::resume::ResumePoint;

/// Confirms mastership as the design asks: a majority of the online nodes
/// must name this node in their ssconf_master_node. Nodes that do not
/// answer (sshd not up yet after a power loss) are asked again for up to
/// `--vote-wait`, as long as they could still make a majority; dissent
/// that they cannot outvote refuses at once.
/// `--no-voting` skips the vote, as masterd's option does.
pub fn confirm_master(ctx: &Ctx<'_>, c: &Cluster) -> Result<(), UpgradeError> {
    if ctx.opts.no_voting {
        ctx.message("not asking the nodes to confirm the master (--no-voting)");
        return Ok(());
    }
    let question = ctx.call(GanetiCmd::ReadMasterNode);
    let deadline = crate::clock::deadline_after(ctx.opts.vote_wait);
    loop {
        let results = ctx
            .exec
            .fan_out(c, &c.others(), &|_| question.clone(), &|_| {});
        let votes = 1 + results
            .iter()
            .filter(|r| r.ok() && r.stdout.trim() == c.master)
            .count();
        if votes * 2 > c.online.len() {
            return Ok(());
        }
        // Silent: ssh could not reach the node (255) or the command was
        // killed; a node that answered otherwise has its say.
        let unreachable = |r: &&Ran| matches!(r.code, None | Some(255));
        let dissent: Vec<String> = results
            .iter()
            .filter(|r| !r.ok() || r.stdout.trim() != c.master)
            .filter(|r| !unreachable(r))
            .map(|r| {
                if r.ok() {
                    format!("{} names {}", r.node, r.stdout.trim())
                } else {
                    format!("{} cannot tell ({})", r.node, r.summary())
                }
            })
            .collect();
        let silent: Vec<String> = results
            .iter()
            .filter(unreachable)
            .map(|r| r.node.clone())
            .collect();
        // Wait while the silent nodes could still make a majority; a
        // dissent that they can outvote is no reason to give up.
        let could_win = (votes + silent.len()) * 2 > c.online.len();
        if !silent.is_empty() && could_win && std::time::Instant::now() < deadline {
            ctx.message(&format!(
                "waiting for {} to answer the master vote ({} of {} votes so far)",
                silent.join(", "),
                votes,
                c.online.len()
            ));
            std::thread::sleep(
                VOTE_RETRY.min(deadline.saturating_duration_since(std::time::Instant::now())),
            );
            continue;
        }
        let detail: Vec<String> = dissent
            .into_iter()
            .chain(silent.into_iter().map(|n| format!("{n} did not answer")))
            .collect();
        return Err(UpgradeError::MasterNotConfirmed {
            votes,
            online: c.online.len(),
            master: c.master.clone(),
            detail: format!(" ({})", detail.join("; ")),
        });
    }
}

/// Between two rounds of the master vote.
const VOTE_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// `--skip-node` names given now that the journal does not have yet,
/// each a live node other than the master, and only once the
/// configuration change has started.
pub fn new_skips(
    ctx: &Ctx<'_>,
    cluster: &Cluster,
    point: &ResumePoint,
) -> Result<Vec<String>, UpgradeError> {
    let new: Vec<String> = ctx
        .opts
        .skip_nodes
        .iter()
        .filter(|n| !ctx.skipped().contains(n))
        .cloned()
        .collect();
    for node in &new {
        let why = if !cluster.nodes.contains(node) {
            Some(format!(
                "it is not a node of cluster {} (gnt-node list)",
                cluster.name
            ))
        } else if *node == cluster.master {
            Some("it is the master, where the upgrade runs".to_string())
        } else if !matches!(point, ResumePoint::Forward { .. }) {
            Some("the configuration change has not started; roll the upgrade back with ganeti-upgrade --abort, or bring the node back and run --resume".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            return Err(UpgradeError::SkipRefused {
                node: node.clone(),
                why,
            });
        }
    }
    Ok(new)
}
