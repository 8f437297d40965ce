//! The node kernel: what every crate of the toolkit needs to know about a
//! node, and nothing about how a version got there. It never imports the
//! install tool (`layout/tests/kernel_boundary.rs` checks that).
//!
//! Floors, bottom up (a module imports only from the floors below it;
//! `tests/kernel_boundary.rs` keeps the install tool out):
//! 1. [`version`]: version strings, parsed once; [`durable`]: every
//!    file-system call of the toolkit, by host path, each failure naming
//!    its path (the one module `clippy.toml` lets call `std::fs`);
//! 2. [`paths`]: every well-known path, built from one [`InstallPaths`],
//!    pure;
//! 3. [`fs`]: [`NodeFs`], the node's files by logical path, the root
//!    applied in one place, and [`fs::resolve_in_root`];
//! 4. [`reader`]: [`Node`], the well-known files read (ssconf, the
//!    configuration's version, cluster membership, the intent file);
//!    [`manifest`]: the manifest each version tree carries and the rule
//!    that says when a tree is complete, and dpkg's lists and database;
//!    [`build`] (above `manifest`): what a version's own build says it
//!    has, its programs and directories;
//! 5. [`active`]: the switch links and the `default` links as found;
//!    [`daemons`]: whether Ganeti's daemons run (pid-file locks);
//! 6. [`installed`]: which versions are installed, whether each is
//!    complete and would run, and what is wrong with the links.
//!
//! The other crates import only this tree (and `cli`, `command`): the
//! switcher, the upgrade and the maintainer scripts never name an
//! install module.

pub mod active;
pub mod build;
pub mod daemons;
pub mod durable;
pub mod fs;
pub mod installed;
pub mod manifest;
pub mod paths;
pub mod reader;
pub mod version;

pub use fs::NodeFs;
pub use paths::InstallPaths;
pub use reader::Node;
pub use version::{DirStyle, DirVersion, Release};
