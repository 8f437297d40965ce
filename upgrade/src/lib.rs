//! `ganeti-upgrade`: the design's `gnt-cluster upgrade --to=V | --resume`
//! across every node of a cluster.
//!
//! * [`steps`] is the procedure as one table, in the design document's order;
//! * [`engine`] runs it: journal, rollback before the point of no return
//!   (the configuration change), push-through after it, signals;
//! * [`resume`] decides, purely, where a pending upgrade goes on;
//! * [`context`] is what a step sees; [`error`] how a run ends;
//! * [`exec`] is the one trait through which nodes are reached, and its
//!   implementation over OpenSSH the way Ganeti does it;
//! * [`intent`] and [`journal`] are the durable state.
//!
//! Ganeti's own tools do the work on each node; this crate never edits
//! Ganeti's configuration or daemons' state itself.

pub mod backup;
pub mod clock;
pub mod cluster;
pub mod command;
pub mod context;
pub mod engine;
pub mod env;
pub mod error;
pub mod exec;
pub mod intent;
pub mod journal;
pub mod luxi;
pub mod options;
pub mod preflight;
pub mod queue;
pub mod ran;
pub mod resume;
pub mod settings;
pub mod step_id;
pub mod steps;
pub mod transition;
pub mod watcher;
