//! The `ganeti-switch` command line. It lives in the library so that the
//! packaging can generate the man page and shell completions from it.

use clap::{Parser, Subcommand};
use ganeti_layout::cli::{PathArgs, RootArg};
use ganeti_layout::command::ListArgs;

pub const AFTER_HELP: &str = "\
Exit codes:
  0  done; for check: the node is sound
  1  failed or refused (version not installed, a real file where a link goes,
     daemons running without --force); for check: the node is not sound
  2  bad usage or input (arguments, version strings)";

#[derive(Parser)]
#[command(name = "ganeti-switch", version, about = "Switch a node between installed Ganeti versions, atomically and durably", after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub root: RootArg,
    #[command(flatten)]
    pub paths: PathArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// List installed versions and which is active
    List(ListArgs),
    /// Print the active version (or say that a switch is in progress)
    Current {
        /// Print JSON ({"format": 1, "stable": ..., "version": ..., "status":
        /// ..., "daemons": [{"name", "pid", "version"}]}: the daemons running,
        /// with the version of their code where it can be told)
        #[arg(long)]
        json: bool,
    },
    /// Switch to VERSION (a directory version such as 3.0)
    To {
        /// The directory version to make active, e.g. 3.1
        version: String,
        /// Switch even though Ganeti daemons are running on this node
        #[arg(long)]
        force: bool,
        /// Wait at most SECS for the node lock (held by another switch, an
        /// upgrade or a package's maintainer script), then give up
        #[arg(long, value_name = "SECS")]
        wait: Option<u64>,
    },
    /// Exit 0 if VERSION is completely installed (both trees, per manifest)
    /// and the `default` links lead through the switch links
    Installed {
        /// The directory version to check, e.g. 3.1
        version: String,
        /// Count VERSION as installed also when it has no manifest or dpkg
        /// list to check it by but is the active version (or the one the
        /// last switch left): a switch back to it is allowed
        #[arg(long)]
        or_active: bool,
    },
    /// Exit 0 if VERSION would start on this node: every script's
    /// interpreter is there, every Python script's imports succeed under
    /// it, every program's shared libraries are found; else exit 1 naming
    /// each file and what it misses
    Runs {
        /// The directory version to ask, e.g. 3.1
        version: String,
    },
    /// Name every process here that runs code of a version other than
    /// VERSION (its program, a mapped file or its script in another
    /// version's tree, or a script reached through the switch links by a
    /// process older than the switch); exit 1 when there is one
    Stale {
        /// The directory version the node runs now, e.g. 3.1
        version: String,
        /// One JSON array of {pid, daemon, command, why}
        #[arg(long)]
        json: bool,
    },
    /// Report inconsistencies: mixed versions, dangling links, leftovers,
    /// `default` links that bypass the switch links; each with its fix
    Check {
        /// Print the node's whole state as JSON
        #[arg(long)]
        json: bool,
    },
    /// Finish an interrupted switch (or undo it with --revert), and point
    /// `default` links that bypass the switch links back through them
    Repair {
        /// Undo the interrupted switch (back to where lib and share
        /// pointed before it) instead of finishing it
        #[arg(long)]
        revert: bool,
        /// Point a `default` link back even though Ganeti daemons are
        /// running and that changes the version they would start
        #[arg(long)]
        force: bool,
    },
}

/// The whole command line, for man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
