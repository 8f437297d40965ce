//! The health baseline asked of the cluster (the data and the verdict are
//! [`crate::health`]'s): `gnt-cluster verify --error-codes` and
//! `gnt-instance list` on the master, for the `record-health` and
//! `verify-cluster` steps and the dry run alike.

use std::collections::BTreeMap;

use crate::context::Ctx;
use crate::ganeti::GanetiCmd;
use crate::health::{parse_instances, parse_verify, Finding, Health};
use crate::ran::Ran;

/// Verify's errors now: `Ok` with the errors (none when it passed), or
/// `Err` with why it did not run.
pub fn verify_now(ctx: &Ctx<'_>) -> (Ran, Result<Vec<Finding>, String>) {
    let ran = ctx.run_local(GanetiCmd::Verify {
        ignore: ctx.opts.run.verify_ignore.clone(),
    });
    let found = parse_verify(&format!("{}\n{}", ran.stdout, ran.stderr));
    let result = if ran.ok() || !found.is_empty() {
        Ok(found)
    } else {
        Err(ran.summary())
    };
    (ran, result)
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
    let (_, errors) = verify_now(ctx);
    let errors = errors
        .map_err(|why| {
            ctx.message(&format!(
                "could not record gnt-cluster verify before the upgrade ({why}); every error it reports at the end will count"
            ))
        })
        .ok();
    let instances = instances_now(ctx)
        .map_err(|why| {
            ctx.message(&format!(
                "could not record the instances' states before the upgrade ({why})"
            ))
        })
        .ok();
    Health { errors, instances }
}
