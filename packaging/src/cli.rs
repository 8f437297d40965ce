//! The `ganeti-packaging` command line. It lives in the library so that the
//! man page and shell completions are generated from it.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use ganeti_layout::cli::PathArgs;
use ganeti_layout::command::DirVersionArg;

use crate::snippets::Script;

pub const AFTER_HELP: &str = "\
Exit codes:
  0  done (including: nothing to do, or links deliberately left alone)
  1  refused or failed: prerm refuses to remove the active version; a real
     file where a switch link goes; a layout conflict; an I/O error
  2  bad usage or input (arguments, version strings, stage, spec, package names)

A versioned package (ganeti-3.1) pastes the scripts that
`ganeti-packaging snippet postinst|prerm|postrm 3.1` prints and depends on
ganeti-upgrade-toolkit. See /usr/share/doc/ganeti-upgrade-toolkit/README.packaging.md.";

#[derive(Parser)]
#[command(
    name = "ganeti-packaging",
    version,
    about = "Keep Ganeti's version links right from package maintainer scripts, and lay out builds for debian/rules",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Root under which all paths live [default: $DPKG_ROOT if set, else /]
    #[arg(long, value_name = "DIR", global = true)]
    pub root: Option<PathBuf>,
    #[command(flatten)]
    pub paths: PathArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The postinst actions dpkg passes as `$1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PostinstAction {
    Configure,
    AbortUpgrade,
    AbortRemove,
    AbortDeconfigure,
}

/// The prerm actions dpkg passes as `$1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrermAction {
    Remove,
    Upgrade,
    Deconfigure,
    FailedUpgrade,
}

/// The postrm actions dpkg passes as `$1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PostrmAction {
    Remove,
    Purge,
    Upgrade,
    FailedUpgrade,
    AbortInstall,
    AbortUpgrade,
    Disappear,
}

#[derive(Subcommand)]
pub enum Command {
    /// From postinst: make VERSION active if no version is, the links are
    /// broken, or the node is in no cluster (and VERSION is not older)
    Postinst {
        /// What dpkg passed the postinst as $1
        #[arg(value_enum)]
        action: PostinstAction,
        /// The package's directory version, e.g. 3.1
        version: String,
    },
    /// From prerm: refuse (exit 1) to remove VERSION while it is active
    Prerm {
        /// What dpkg passed the prerm as $1
        #[arg(value_enum)]
        action: PrermAction,
        /// The package's directory version, e.g. 3.1
        version: String,
    },
    /// From postrm: drop SYSCONFDIR/ganeti/{lib,share} once no version is left
    Postrm {
        /// What dpkg passed the postrm as $1
        #[arg(value_enum)]
        action: PostrmAction,
    },
    /// Print the maintainer script a versioned package uses
    Snippet {
        /// Which maintainer script to print
        #[arg(value_enum)]
        script: Script,
        /// The package's directory version, e.g. 3.1
        version: String,
    },
    /// For debian/rules: lay out a build into DESTDIR, optionally split into
    /// the version-independent package and the versioned one
    DebianInstall(DebianInstallArgs),
}

#[derive(clap::Args)]
pub struct DebianInstallArgs {
    /// What `make install DESTDIR=STAGE` produced for the build
    #[arg(long, value_name = "DIR")]
    pub stage: PathBuf,
    /// The build's release, e.g. 3.1.0~rc2 [default: the one the build
    /// records in ganeti/_autoconf.py, _constants.py or version.py; if
    /// given, it must be that one]
    #[arg(long, value_name = "RELEASE")]
    pub release: Option<String>,
    /// Where to lay it out
    #[arg(long, value_name = "DIR", default_value = "debian/tmp")]
    pub destdir: PathBuf,
    /// How the version directory is named
    #[arg(long, value_enum, default_value = "short")]
    pub dir_version: DirVersionArg,
    /// TOML file overriding or extending the built-in program lists
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Move the link farm, fixed links and other files into DEBIAN_DIR/PACKAGE
    #[arg(long, value_name = "PACKAGE", requires = "trees_package")]
    pub farm_package: Option<String>,
    /// Move the two version trees into DEBIAN_DIR/PACKAGE
    #[arg(long, value_name = "PACKAGE", requires = "farm_package")]
    pub trees_package: Option<String>,
    /// Where the package directories are
    #[arg(long, value_name = "DIR", default_value = "debian")]
    pub debian_dir: PathBuf,
}

/// The whole command line, for man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
