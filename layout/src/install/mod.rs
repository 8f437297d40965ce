//! The install tool: one Ganeti build laid out as versioned trees and a
//! link farm. It stands on the node kernel ([`crate::node`]); nothing in
//! the kernel imports it.
//!
//! Floors, bottom up: [`spec`] (the program lists) and [`stage`] (reading
//! a `make install` DESTDIR); [`plan`] (the desired state, reconciled with
//! what is there, as data); [`inspect`] (`verify`: the farm links the
//! manifests record); [`apply`] (the only writer: carries out a plan,
//! removes a version); [`demo`] (a built-in demo build, for the sandbox).

pub mod adopt;
pub mod apply;
pub mod demo;
pub mod inspect;
pub mod plan;
pub mod spec;
pub mod stage;

/// Everything `install` decides before touching anything: the desired state,
/// a snapshot of the destination, and the reconciled plan (or the conflicts).
pub fn plan_install(req: &plan::Request<'_>) -> Result<plan::Plan, Vec<plan::Conflict>> {
    let desired = plan::desired(req);
    let observed = apply::observe(&desired, req.paths, req.stage);
    plan::reconcile(desired, &observed)
}
