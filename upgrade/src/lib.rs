//! `ganeti-upgrade`: the design's `gnt-cluster upgrade --to=V | --resume`
//! across every node of a cluster.
//!
//! The crate is built in floors: a module names only modules on floors
//! below its own (`tests/floors.rs` checks it), so there is no import
//! cycle and the procedure reads top-down, the way steno's saga reads apart
//! from its executor: the engine runs the step table, the steps use the
//! context, the context reaches nodes through the executor and records in
//! the journal, and everything speaks the vocabulary at the bottom.
//!
//! | floor | modules | what they are |
//! |---|---|---|
//! | runner | `engine` | runs the table: journal, rollback before the point of no return (the configuration change), push-through after it, signals, resume |
//! | views | `show` | `--status`, `--dry-run` and the end report, built from the journal, the cluster and the table |
//! | procedure | `steps`, `preflight` | the procedure as one table in the design's order; the dry run's read-only checks |
//! | fences | `fence` | no other upgrade process and no other master act beside this run: the intent file, the master's name, a new master's copy of the journal |
//! | policies | `queue`, `watcher`, `backup`, `rehearsal`, `baseline`, `stale_code`, `vote`, `settled`, `gate` | the job queue held and released, the watcher paused, the backup, the configuration change rehearsed on a copy, the health baseline asked, no process left on another version's code, the master vote, what the cluster runs at the end, the run's preconditions (asked by the run and the dry run alike) |
//! | context | `context` | what a step sees, and the helpers it runs commands with |
//! | events | `events` | every line the run prints, one event enum rendered as JSON or text |
//! | data and execution | `view`, `exec`, `resume`, `options` | what the views show, the one trait through which nodes are reached (and OpenSSH), the pure resume decision, the options resolved once |
//! | records | `journal`, `error` | the durable journal; how a run ends, with its exit codes |
//! | node files and commands | `cluster`, `intent`, `settings`, `luxi`, `ganeti`, `transition` | ssconf, Ganeti's intent file, the recorded settings, the LUXI client, every command as a typed value, the versions and Ganeti's rules between them |
//! | vocabulary | `env`, `clock`, `step_id`, `ran`, `command`, `health` | environment variables, time, step ids, a command's result, the command line, the health baseline and verdict as data |
//!
//! Ganeti's own tools do the work on each node; this crate never edits
//! Ganeti's configuration or daemons' state itself.

pub mod backup;
pub mod baseline;
pub mod clock;
pub mod cluster;
pub mod command;
pub mod context;
pub mod engine;
pub mod env;
pub mod error;
pub mod events;
pub mod exec;
pub mod fence;
pub mod ganeti;
pub mod gate;
pub mod health;
pub mod intent;
pub mod journal;
pub mod luxi;
pub mod options;
pub mod preflight;
pub mod queue;
pub mod ran;
pub mod rehearsal;
pub mod resume;
pub mod settings;
pub mod settled;
pub mod show;
pub mod stale_code;
pub mod step_id;
pub mod steps;
pub mod transition;
pub mod view;
pub mod vote;
pub mod watcher;
