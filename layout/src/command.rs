//! The `ganeti-layout` command line. It lives in the library so that the
//! packaging can generate the man page and shell completions from it.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::cli::{PathArgs, RootArg};

pub const AFTER_HELP: &str = "\
Exit codes:
  0  done; for verify: the layout is sound
  1  refused because of what is on disk (conflicts, active version), failed,
     or (verify) the layout has problems, one line each
  2  bad usage or input (arguments, version strings, spec file, stage;
     for adopt: the flat install's release cannot be told)";

pub const ADOPT_AFTER_HELP: &str = "\
The release is the flat install's own (its Python package's _constants.py
or _autoconf.py). adopt refuses while Ganeti daemons run (without
--daemons-running-ok), on a node already in the versioned layout, and when
the files cannot be laid out as install --stage would; it records what it
does first (LOCALSTATEDIR/lib/ganeti-layout/adopt.json), so that a run
after a crash finishes it and --undo takes it back. Run it again to finish
an interrupted one.

Exit codes:
  0  adopted (or already adopted), undone, or (--dry-run) the plan printed
  1  refused (daemons running, already versioned, conflicts, something
     changed since the adoption, nothing to undo) or failed
  2  bad usage, or the flat install's release cannot be told";

#[derive(Parser)]
#[command(name = "ganeti-layout", version, about = "Lay out Ganeti builds as side-by-side versioned trees", after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub root: RootArg,
    #[command(flatten)]
    pub paths: PathArgs,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DirVersionArg {
    /// MAJOR.MINOR, Ganeti's and Debian's default
    Short,
    /// the whole release (configure --enable-versionfull)
    Full,
}

#[derive(clap::Args)]
pub struct InstallArgs {
    /// What `make install DESTDIR=STAGE` produced for one Ganeti build
    #[arg(long, value_name = "DIR")]
    pub stage: PathBuf,
    /// The build's release, e.g. 3.0.2 or 2.16.0~rc2 [default: the one the
    /// build records in ganeti/_autoconf.py, _constants.py or version.py;
    /// if given, it must be that one]
    #[arg(long, value_name = "RELEASE")]
    pub release: Option<String>,
    /// How the version directory is named
    #[arg(long, value_enum, default_value = "short")]
    pub dir_version: DirVersionArg,
    /// Also create SYSCONFDIR/ganeti/{lib,share} for this version, on a node with none
    #[arg(long)]
    pub activate: bool,
    /// Keep files outside the version trees that already exist with other
    /// content (docs, completions, conffiles), instead of refusing
    #[arg(long)]
    pub keep_existing: bool,
    /// TOML file overriding or extending the built-in program lists
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct AdoptArgs {
    /// Print the plan (the files moved to the backup, the trees, links and
    /// switch links made), changing nothing; with --undo, what the undo
    /// would do, after its checks
    #[arg(long)]
    pub dry_run: bool,
    /// Put the flat install back as it was before adopt and remove what adopt
    /// made; refuses, naming it, if something changed since
    #[arg(long)]
    pub undo: bool,
    /// Go on although Ganeti daemons run. Dangerous: their files move under
    /// them; stop them instead (/etc/init.d/ganeti stop, or daemon-util
    /// stop-all)
    #[arg(long)]
    pub daemons_running_ok: bool,
    /// TOML file overriding or extending the built-in program lists
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
}

/// `list` as both `ganeti-layout` and `ganeti-switch` take it.
#[derive(clap::Args)]
pub struct ListArgs {
    /// Print JSON ({"format": 1, "versions": [...]}) instead of text
    #[arg(long)]
    pub json: bool,
    /// Leave out the header line (as gnt-* --no-headers)
    #[arg(long)]
    pub no_headers: bool,
}

#[derive(Subcommand)]
pub enum Command {
    /// Install one build into its versioned trees and the link farm
    Install(InstallArgs),
    /// Show what install would do, touching nothing
    Plan(InstallArgs),
    /// Check an installed system or DESTDIR: trees, fixed links, farm
    Verify {
        /// Print JSON ({"format": 1, "sound": ..., "problems": [...]}) instead of text
        #[arg(long)]
        json: bool,
    },
    /// List installed versions, which is active, whether each is complete
    List(ListArgs),
    /// Remove an inactive version and the farm links only it needed
    Remove {
        /// The directory version to remove, e.g. 3.0
        #[arg(value_name = "VERSION", required_unless_present = "old_version")]
        version: Option<String>,
        /// The older spelling of VERSION (`remove --version 3.0`), still
        /// taken; `--version` elsewhere is the tool's own version
        #[arg(
            long = "version",
            value_name = "VERSION",
            hide = true,
            conflicts_with = "version"
        )]
        old_version: Option<String>,
    },
    /// Convert a flat (single-version) Ganeti install into the versioned layout, in place
    ///
    /// Its files move to a backup under LOCALSTATEDIR/lib/ganeti-layout and
    /// are laid out from there, as install --stage lays out a flat build, as
    /// the running version, activated.
    #[command(after_help = ADOPT_AFTER_HELP)]
    Adopt(AdoptArgs),
    /// Sandbox: lay out a demo build in two versions and print the tree
    Demo {
        /// Directory to build the demo in (default: a new temporary one)
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// The whole command line, for man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
