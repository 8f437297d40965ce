//! `ganeti-switch`: switches a node between installed Ganeti versions by
//! flipping `${sysconfdir}/ganeti/lib` and `${sysconfdir}/ganeti/share`.
//!
//! How a switch is made durable and consistent as a pair:
//! 1. an exclusive `flock` on the lock file shared with `ganeti-upgrade`;
//! 2. any interrupted switch is finished first (from its journal);
//! 3. the journal `{from, to}` is written (fsync file, rename, fsync dir);
//! 4. for lib, then share: a symlink under a unique temp name in the same
//!    directory, renamed over the old link (rename(2) is atomic: a reader
//!    never sees the name missing);
//! 5. fsync of the directory; then the journal is removed (and fsynced).
//!
//! Every path operation is relative to the `${sysconfdir}/ganeti` directory,
//! opened once with `O_DIRECTORY | O_NOFOLLOW`, so a parent swapped during
//! the switch cannot redirect it. While a journal exists the node is
//! "switching": `current` says so, and `repair` (or the next switch)
//! finishes it. A reader may see lib and share on different versions only
//! while a journal exists.
//!
//! `rustix` is used rather than `nix` (the crate the design card suggests):
//! it has every `*at` call needed, including `renameat` and `fsync` on a
//! directory fd, without `unsafe` in our code, and builds on musl.
//!
//! This crate never changes a version tree and never touches Ganeti's
//! configuration or daemons.
//!
//! # Modules, by job (each imports only those above it)
//! * [`error`]: [`SwitchError`], the crate's one error type;
//! * [`lock`]: [`NodeLock`], the node lock shared with the upgrade;
//! * [`confdir`]: the `${sysconfdir}/ganeti` directory handle and the
//!   switch [`Journal`];
//! * [`daemons`]: whether Ganeti's daemons run ([`live_daemons`]), whether
//!   a process exists ([`pid_alive`]);
//! * [`switch`]: the switch, its repair and the check ([`switch_to`],
//!   [`repair`], [`check`]);
//! * [`runs`]: whether an installed version would start on this node (its
//!   interpreters, Python imports and shared libraries).
//!
//! Everything a caller needs is re-exported here, at the crate root.

pub mod command;
pub mod confdir;
pub mod daemons;
pub mod env;
pub mod error;
pub mod lock;
pub mod runs;
pub mod stale;
pub mod switch;

pub use confdir::{Journal, JOURNAL_NAME};
pub use daemons::{live_daemons, pid_alive, running_daemons, RunningDaemon};
pub use error::SwitchError;
pub use lock::NodeLock;
pub use switch::{
    check, repair, repair_locked, switch_to, switch_to_locked,
    switch_to_locked_leaving_default_links, Outcome, RepairOptions, RepairReport, Status,
    SwitchOptions,
};
