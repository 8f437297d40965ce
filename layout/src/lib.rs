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

//! # Two module trees
//! * [`node`], the node kernel every crate of the toolkit imports: version
//!   strings ([`version`]), the install paths ([`paths`]), the careful I/O
//!   ([`durable`]) and the reading of the active version ([`active`]). It
//!   never imports the install tool.
//! * [`install`], the install tool: program lists ([`spec`]), stage reading
//!   ([`stage`]), the planner ([`plan`]), its carrying out ([`apply`]), the
//!   manifest ([`manifest`]), and what is installed ([`inspect`]: versions,
//!   completeness, verify, remove).
//!
//! Each module is also re-exported at the crate root, where the other
//! crates name it (`ganeti_layout::inspect::check_complete`).

pub mod cli;
pub mod command;

pub mod node {
    //! The node kernel: what every crate needs to know about a node, and
    //! nothing about how a version got there.
    pub mod active;
    pub mod durable;
    pub mod paths;
    pub mod version;
}

pub mod install {
    //! The install tool: one Ganeti build laid out as versioned trees and a
    //! link farm, and what is installed.
    pub mod apply;
    pub mod demo;
    pub mod inspect;
    pub mod manifest;
    pub mod plan;
    pub mod spec;
    pub mod stage;
}

pub use install::{apply, demo, inspect, manifest, plan, spec, stage};
pub use node::{active, durable, paths, version};

pub use paths::InstallPaths;

/// Everything `install` decides before touching anything: the desired state,
/// a snapshot of the destination, and the reconciled plan (or the conflicts).
pub fn plan_install(req: &plan::Request<'_>) -> Result<plan::Plan, Vec<plan::Conflict>> {
    let desired = plan::desired(req);
    let observed = apply::observe(&desired, req.paths, req.stage);
    plan::reconcile(desired, &observed)
}
pub use version::{ConfigVersion, DirStyle, DirVersion, Release, Triple};
