//! `ganeti-upgrade`: the design's `gnt-cluster upgrade --to=V | --resume`
//! across every node of a cluster.
//!
//! * [`steps`] lists the procedure in the design document's order;
//! * [`engine`] runs it: journal, rollback before the point of no return
//!   (the configuration change), push-through after it, resume, signals;
//! * [`exec`] reaches the nodes over OpenSSH the way Ganeti does;
//! * [`intent`] and [`journal`] are the durable state.
//!
//! Ganeti's own tools do the work on each node; this crate never edits
//! Ganeti's configuration or daemons' state itself.

pub mod backup;
pub mod cluster;
pub mod command;
pub mod engine;
pub mod env;
pub mod exec;
pub mod intent;
pub mod journal;
pub mod luxi;
pub mod steps;
