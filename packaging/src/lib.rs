//! `ganeti-packaging`: what package installs need so that the versioned
//! layout stays right.
//!
//! * [`maint`]: the decisions behind a versioned Ganeti package's postinst,
//!   prerm and postrm (Debian's rules, made safe with the switcher);
//! * [`snippets`]: the POSIX sh maintainer scripts packages paste;
//! * [`debian`]: the `debian/rules` helper that lays a build out into
//!   `debian/tmp` and splits farm and trees into separate binary packages;
//! * [`docs`]: man pages and bash completions of the whole toolkit, from
//!   the clap definitions and the hand-written sections of [`manual`]
//!   (used at package build time).
//!
//! This crate changes the switch links only through `ganeti_switch`, under
//! the node lock, and never changes a version tree on a node.

pub mod cli;
pub mod debian;
pub mod docs;
pub mod env;
pub mod maint;
pub mod manual;
pub mod snippets;

/// The command line of every binary of the toolkit, for its man pages and
/// bash completions.
pub const ALL_COMMANDS: [fn() -> clap::Command; 4] = [
    ganeti_layout::command::command,
    ganeti_switch::command::command,
    cli::command,
    ganeti_upgrade::command::command,
];
