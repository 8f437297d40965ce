//! Ganeti's job queue as the upgrade holds and releases it: a PAUSE filter
//! of ours (reason `ganeti-upgrade:ID`) where the cluster has filters,
//! Ganeti's drain flag otherwise, the jobs it waits for, and the orphans
//! of a lost journal. Every call goes to luxid over LUXI first and falls
//! back to `gnt-filter`, `gnt-job` or `gnt-cluster` (see
//! [`crate::context::Ctx::by_luxi`]).

use crate::context::Ctx;
use crate::error::StepError;
use crate::ganeti::{Filter, GanetiCmd};
use crate::luxi::Luxi;
use crate::ran::Ran;

/// The statuses `gnt-job list --no-headers -o id,status` printed.
pub fn list_jobs(ran: &Ran) -> Vec<String> {
    ran.stdout
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
        .collect()
}

/// Which job states keep the upgrade waiting. A PAUSE filter holds only
/// jobs that have not started (`queued`); `waiting` jobs are already forked
/// and acquiring locks, `canceling` ones still run.
pub fn busy_jobs(statuses: &[String], paused_by_filter: bool) -> Vec<&String> {
    statuses
        .iter()
        .filter(|s| {
            matches!(s.as_str(), "running" | "waiting" | "canceling")
                || (!paused_by_filter && s.as_str() == "queued")
        })
        .collect()
}

/// The reason our filters carry: `ganeti-upgrade:ID`.
pub fn filter_reason(ctx: &Ctx<'_>) -> String {
    format!("{FILTER_REASON_PREFIX}{}", ctx.header.id)
}

/// Every filter of this tool has a reason starting with this.
pub const FILTER_REASON_PREFIX: &str = "ganeti-upgrade:";

/// Does the cluster have job filters (Ganeti 2.13 and later)?
pub fn has_filters(ctx: &Ctx<'_>) -> bool {
    ctx.paths.fs().exists(&ctx.paths.gnt("gnt-filter"))
}

/// Filters whose reason contains `reason` (a redo may have added more than
/// one); the uuids.
pub fn filters_with(ctx: &Ctx<'_>, reason: &str) -> Result<Vec<String>, StepError> {
    if let Some(filters) = ctx.by_luxi("QueryFilters", Luxi::filters) {
        return Ok(filters
            .into_iter()
            .filter(|(_, reasons)| reasons.iter().any(|r| r.contains(reason)))
            .map(|(uuid, _)| uuid)
            .collect());
    }
    let ran = ctx.run_local(GanetiCmd::Filter(Filter::List));
    if !ran.ok() {
        return Err(StepError::ran(ran));
    }
    Ok(ran
        .stdout
        .lines()
        .filter(|l| l.contains(reason))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect())
}

pub fn our_filters(ctx: &Ctx<'_>) -> Result<Vec<String>, StepError> {
    filters_with(ctx, &filter_reason(ctx))
}

/// Deletes every filter whose reason contains `reason`; how many.
pub fn remove_our_filters(ctx: &Ctx<'_>, reason: &str) -> Result<usize, StepError> {
    let uuids = filters_with(ctx, reason)?;
    for uuid in &uuids {
        match ctx.luxi_attempt(&format!("DeleteFilter({uuid})"), |l| l.delete_filter(uuid)) {
            Ok(()) => {}
            // Its answer was lost: deleting again would fail if it is gone.
            Err(Some(e)) if e.maybe_applied() && !filters_with(ctx, reason)?.contains(uuid) => {}
            Err(_) => {
                ctx.local(GanetiCmd::Filter(Filter::Delete { uuid: uuid.clone() }))?;
            }
        }
    }
    Ok(uuids.len())
}

/// Filters of this tool that no journal accounts for (a lost journal):
/// removed when `remove`, else only counted. Errors (luxid down) count as
/// none found.
pub fn orphan_filters(ctx: &Ctx<'_>, remove: bool) -> usize {
    if !has_filters(ctx) {
        return 0;
    }
    let found = if remove {
        remove_our_filters(ctx, FILTER_REASON_PREFIX)
    } else {
        filters_with(ctx, FILTER_REASON_PREFIX).map(|f| f.len())
    };
    found.unwrap_or(0)
}

/// For `--dry-run`: (jobs running or waiting, jobs queued), and how many
/// job filters the cluster has; `None` where the master did not answer.
pub fn queue_state(ctx: &Ctx<'_>) -> (Option<(usize, usize)>, Option<usize>) {
    let statuses: Option<Vec<String>> = match ctx.by_luxi("QueryJobs", Luxi::jobs) {
        Some(jobs) => Some(jobs.into_iter().map(|(_, s)| s).collect()),
        None => {
            let ran = ctx.run_local(GanetiCmd::ListJobs);
            ran.ok().then(|| list_jobs(&ran))
        }
    };
    let jobs = statuses.map(|s| {
        let busy = busy_jobs(&s, true).len();
        let queued = s.iter().filter(|x| x.as_str() == "queued").count();
        (busy, queued)
    });
    let filters = if has_filters(ctx) {
        filters_with(ctx, "").ok().map(|f| f.len())
    } else {
        None
    };
    (jobs, filters)
}

/// Ganeti's drain flag is the file `queue/drain` in its data directory.
pub fn queue_drained(ctx: &Ctx<'_>) -> bool {
    ctx.paths.fs().exists(&ctx.paths.queue_drain_flag())
}
