//! Ganeti's job queue as the upgrade holds and releases it: a PAUSE filter
//! of ours (reason `ganeti-upgrade:ID`) where the cluster has filters,
//! Ganeti's drain flag otherwise, the jobs it waits for, and the orphans
//! of a lost journal. Every call goes to luxid over LUXI first and falls
//! back to `gnt-filter`, `gnt-job` or `gnt-cluster` (see
//! [`crate::context::Ctx::by_luxi`]).

use crate::cluster::same_host;
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

/// What identifies this upgrade's filters: `ganeti-upgrade:ID` (filters of
/// earlier versions of this tool carry just that).
pub fn filter_reason(ctx: &Ctx<'_>) -> String {
    format!("{FILTER_REASON_PREFIX}{}", ctx.header.id)
}

/// The reason a new filter of this upgrade carries: `ganeti-upgrade:ID@MASTER`,
/// so that on any other master (config.data is on every master candidate)
/// the filter names the upgrade and where it runs.
pub fn new_filter_reason(ctx: &Ctx<'_>) -> String {
    let master = ctx
        .header
        .master
        .clone()
        .unwrap_or_else(|| ctx.master_name());
    format!("{}@{master}", filter_reason(ctx))
}

/// A filter of this tool, by its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurFilter {
    pub uuid: String,
    /// The upgrade's id.
    pub id: String,
    /// The master it was started on (absent in filters of earlier
    /// versions of this tool).
    pub master: Option<String>,
}

/// Reads `ganeti-upgrade:ID[@MASTER]` out of a reason (or a line that
/// holds one).
fn parse_reason(uuid: &str, text: &str) -> Option<OurFilter> {
    let rest = &text[text.find(FILTER_REASON_PREFIX)? + FILTER_REASON_PREFIX.len()..];
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '-' | '_'))
        .collect();
    let (id, master) = match word.split_once('@') {
        Some((id, m)) => (id.to_string(), Some(m.to_string())),
        None => (word, None),
    };
    Some(OurFilter {
        uuid: uuid.to_string(),
        id,
        master,
    })
}

/// Every filter of this tool on the cluster.
pub fn tool_filters(ctx: &Ctx<'_>) -> Result<Vec<OurFilter>, StepError> {
    if let Some(filters) = ctx.by_luxi("QueryFilters", Luxi::filters) {
        return Ok(filters
            .into_iter()
            .filter_map(|(uuid, reasons)| reasons.iter().find_map(|r| parse_reason(&uuid, r)))
            .collect());
    }
    let ran = ctx.run_local(GanetiCmd::Filter(Filter::List));
    if !ran.ok() {
        return Err(StepError::ran(ran));
    }
    Ok(ran
        .stdout
        .lines()
        .filter_map(|l| parse_reason(l.split_whitespace().next()?, l))
        .collect())
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

/// How many times a change to the filters is looked for before it is
/// judged not kept, [`FILTER_LOOK_PAUSE`] apart (at most): luxid answers
/// queries from its copy of `config.data`, reloaded when wconfd has
/// written it, so a listing right after a change may still show the old
/// list.
const FILTER_LOOKS: u32 = 20;
const FILTER_LOOK_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

/// Lists the filters with `reason` until `judge` says they are as wanted,
/// or [`FILTER_LOOKS`] times; `judge`'s verdict (done, what it found) of
/// the last listing.
pub fn settled_filters<T>(
    ctx: &Ctx<'_>,
    reason: &str,
    judge: impl Fn(&[String]) -> (bool, T),
) -> Result<T, StepError> {
    let mut looks = 0;
    loop {
        let (done, found) = judge(&filters_with(ctx, reason)?);
        looks += 1;
        if done || looks >= FILTER_LOOKS {
            return Ok(found);
        }
        std::thread::sleep(ctx.opts.poll_interval.min(FILTER_LOOK_PAUSE));
    }
}

/// Deletes every filter whose reason contains `reason`; how many. Looked
/// up again afterwards: luxid answers a deletion that wconfd cannot write
/// to `config.data` (a full `/var/lib/ganeti`) with success and keeps the
/// filter, which would go on holding every job in the queue; a filter still
/// listed is an error that names it and that cause.
pub fn remove_our_filters(ctx: &Ctx<'_>, reason: &str) -> Result<usize, StepError> {
    let uuids = filters_with(ctx, reason)?;
    if uuids.is_empty() {
        return Ok(0);
    }
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
    let kept = settled_filters(ctx, reason, |listed| {
        let kept: Vec<String> = listed
            .iter()
            .filter(|u| uuids.contains(u))
            .cloned()
            .collect();
        (kept.is_empty(), kept)
    })?;
    if !kept.is_empty() {
        let data = ctx.paths.datadir();
        return Err(StepError::Refused(format!(
            "this upgrade's job filter {} is still there after Ganeti accepted its deletion, and holds every queued job: Ganeti could not keep the change (is the file system of {} full? df {}). Once there is room, restart Ganeti's daemons on the master first (wconfd writes no configuration again after a failed write): {} stop-all; {} start-all",
            kept.join(", "),
            data.display(),
            data.display(),
            ctx.paths.daemon_util().display(),
            ctx.paths.daemon_util().display()
        )));
    }
    Ok(uuids.len())
}

/// Filters of this tool that no journal here accounts for: those of an
/// upgrade started on this node (`me`), or by an earlier version of this
/// tool, are orphans of a lost journal (removed when `remove`, else only
/// counted); those naming another master belong to an upgrade pending
/// there, and are returned, never removed. Errors (luxid down) count as
/// none found.
pub fn orphan_filters(ctx: &Ctx<'_>, me: &str, remove: bool) -> (usize, Vec<OurFilter>) {
    if !has_filters(ctx) {
        return (0, Vec::new());
    }
    let Ok(filters) = tool_filters(ctx) else {
        return (0, Vec::new());
    };
    let (elsewhere, orphans): (Vec<OurFilter>, Vec<OurFilter>) = filters
        .into_iter()
        .partition(|f| f.master.as_deref().is_some_and(|m| !same_host(me, m)));
    let mut removed = 0;
    for f in &orphans {
        if !remove || remove_our_filters(ctx, &format!("{FILTER_REASON_PREFIX}{}", f.id)).is_ok() {
            removed += 1;
        }
    }
    (removed, elsewhere)
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
