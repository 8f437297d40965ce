//! `ganeti-layout`: the model of Ganeti's versioned install layout, shared by
//! the whole toolkit, and the tool that turns one Ganeti build into it.
//!
//! The layout (design "Automatized Upgrade Procedure", "Path changes"):
//! * `${libdir}/ganeti/V/`: a mini-root mirroring `/` for every program that
//!   is not Python (daemons, htools, shell helpers);
//! * `${prefix}/share/ganeti/V/`: the `ganeti` Python package, the Python
//!   entry scripts and, under `root/`, the man pages;
//! * `${libdir}/ganeti/default -> ${sysconfdir}/ganeti/lib` and
//!   `${prefix}/share/ganeti/default -> ${sysconfdir}/ganeti/share`, fixed;
//! * `${sysconfdir}/ganeti/{lib,share}` -> the active version's trees: the
//!   only thing a switch changes (see the `ganeti-switch` crate);
//! * a farm of relative links at every program's and man page's original
//!   path, always going through `default`, never naming a version.
//!
//! Invariants this crate keeps: a version tree is complete iff its manifest
//! exists and every entry it lists is there in a form that serves (see
//! [`manifest`] for the rule, which survives strip and compress passes);
//! install never overwrites a file it did not make, but for Ganeti's own
//! shared docs; identical input gives byte-identical output.
//!
//! This crate never switches the active version of a node that has one.

pub mod apply;
pub mod cli;
pub mod command;
pub mod demo;
pub mod durable;
pub mod inspect;
pub mod manifest;
pub mod paths;
pub mod plan;
pub mod spec;
pub mod stage;
pub mod version;

pub use paths::InstallPaths;

/// Everything `install` decides before touching anything: the desired state,
/// a snapshot of the destination, and the reconciled plan (or the conflicts).
pub fn plan_install(req: &plan::Request<'_>) -> Result<plan::Plan, Vec<plan::Conflict>> {
    let desired = plan::desired(req);
    let observed = apply::observe(&desired, req.paths, req.stage);
    plan::reconcile(desired, &observed)
}
pub use version::{ConfigVersion, DirStyle, DirVersion, Release, Triple};
