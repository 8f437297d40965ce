//! The health baseline asked of the cluster (the data and the verdict are
//! [`crate::health`]'s): `gnt-cluster verify --error-codes` and
//! `gnt-instance list` on the master, for the `record-health` and
//! `verify-cluster` steps and the dry run alike; and the master's file
//! that keeps it from `record-health` to `verify-cluster`
//! (`/var/lib/ganeti-upgrade/health.json`, 0600, written durably). It is
//! kept out of the journal, whose copies travel to the master candidates
//! as one command-line argument: a cluster of thousands of instances
//! would not fit. A new master after a failover has no baseline, and its
//! end counts every error (it says so).

use std::collections::BTreeMap;
use std::path::PathBuf;

use ganeti_layout::node::durable::DurableError;
use ganeti_layout::node::InstallPaths;

use crate::context::Ctx;
use crate::ganeti::GanetiCmd;
use crate::health::{
    fix_first, parse_instances, parse_verify, pre_existing_line, Finding, Health, FIX_FIRST,
};
use crate::ran::Ran;

/// `gnt-cluster verify` as the baseline and the end run it: with the
/// admin's `--verify-ignore` codes, except those of [`FIX_FIRST`], which
/// lift only the refusal (their errors are still compared).
pub fn verify_cmd(ctx: &Ctx<'_>) -> GanetiCmd {
    GanetiCmd::Verify {
        ignore: ctx
            .opts
            .run
            .verify_ignore
            .iter()
            .filter(|c| !FIX_FIRST.contains(&c.as_str()))
            .cloned()
            .collect(),
    }
}

/// Verify's errors now: `Ok` with the errors (none when it passed), or
/// `Err` with why it did not run (or was killed before its end).
pub fn verify_now(ctx: &Ctx<'_>) -> (Ran, Result<Vec<Finding>, String>) {
    let ran = ctx.run_local(verify_cmd(ctx));
    let found = parse_verify(&format!("{}\n{}", ran.stdout, ran.stderr));
    let result = if ran.ok() || (ran.code.is_some() && !found.is_empty()) {
        Ok(found)
    } else {
        Err(ran.summary())
    };
    (ran, result)
}

/// Verify's errors ([`verify_now`]) and the instances' states
/// ([`instances_now`]) now, asked at the same time: the instance list's
/// Python start-up then costs no wall time beside verify's job. For the
/// baseline only: an instance caught mid-reboot by a running job is then
/// recorded as not running, which only spares it a comparison (the end
/// lists the instances after verify, which waits for such jobs).
#[allow(clippy::type_complexity)]
pub fn health_now(
    ctx: &Ctx<'_>,
) -> (
    (Ran, Result<Vec<Finding>, String>),
    Result<BTreeMap<String, String>, String>,
) {
    std::thread::scope(|s| {
        let instances = s.spawn(|| instances_now(ctx));
        let verify = verify_now(ctx);
        let instances = instances
            .join()
            .unwrap_or_else(|_| Err("the instance listing panicked".into()));
        (verify, instances)
    })
}

/// Each instance's state now, or why it is not known.
pub fn instances_now(ctx: &Ctx<'_>) -> Result<BTreeMap<String, String>, String> {
    let ran = ctx.run_local(GanetiCmd::InstanceStates);
    if ran.ok() {
        Ok(parse_instances(&ran.stdout))
    } else {
        Err(ran.summary())
    }
}

/// The health now, each unknown part said in a message.
pub fn take(ctx: &Ctx<'_>) -> Health {
    let ((_, errors), instances) = health_now(ctx);
    let errors = errors
        .map_err(|why| {
            ctx.message(&format!(
                "could not record gnt-cluster verify before the upgrade ({why}); every error it reports at the end will count"
            ))
        })
        .ok();
    let instances = instances
        .map_err(|why| {
            ctx.message(&format!(
                "could not record the instances' states before the upgrade ({why})"
            ))
        })
        .ok();
    Health {
        upgrade: ctx.header.id.clone(),
        errors,
        instances,
    }
}

/// The health now, judged as `record-health` and the dry run judge it:
/// `Err` with the refusal when it holds an error an upgrade should not
/// start on; otherwise the baseline, the errors it holds said as not
/// counted.
pub fn judged(ctx: &Ctx<'_>) -> Result<Health, String> {
    let health = take(ctx);
    if let Some(refusal) = fix_first(&health, &ctx.opts.run.verify_ignore) {
        return Err(refusal);
    }
    if let Some(line) = health
        .errors
        .as_deref()
        .and_then(|e| pre_existing_line(e, false))
    {
        ctx.message(&line);
    }
    Ok(health)
}

/// Where `record-health` keeps the baseline on the master.
pub fn health_file(paths: &InstallPaths) -> PathBuf {
    paths.pending_marker().with_file_name("health.json")
}

/// Keeps the baseline (fsync, rename, fsync of the directory).
pub fn save(paths: &InstallPaths, health: &Health) -> Result<(), DurableError> {
    let file = health_file(paths);
    if let Some(dir) = file.parent() {
        paths.fs().create_dir_all(dir)?;
    }
    // Plain data with string keys: serialising cannot fail.
    let text = serde_json::to_vec(health).unwrap_or_default();
    paths.fs().write_file(&file, &text, 0o600)
}

/// The baseline `record-health` kept for upgrade `id` (the journal's), if
/// this master has it; one of another upgrade is never taken.
pub fn load(paths: &InstallPaths, id: &str) -> Option<Health> {
    let text = paths.fs().read_if_there(&health_file(paths)).ok()??;
    serde_json::from_str::<Health>(&text)
        .ok()
        .filter(|h| h.upgrade == id)
}

/// Removes the baseline (the upgrade is over, or rolled back).
pub fn remove(paths: &InstallPaths) {
    let _ = paths.fs().remove_file(&health_file(paths));
}
