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
//! [`node::manifest`] for the rule, which survives strip and compress passes);
//! install never overwrites a file it did not make, but for Ganeti's own
//! shared docs; identical input gives byte-identical output.
//!
//! This crate never switches the active version of a node that has one.

//! # Two module trees, in floors
//!
//! ```text
//!   ganeti-switch  ganeti-upgrade  ganeti-packaging   ganeti-layout (bin)
//!        |               |          maint   debian        |
//!        |               |            |       |           |
//!        |               |            |       v           v
//!        |               |            |  install/  adopt  demo
//!        |               |            |            apply      (the writer; adopt moves files)
//!        |               |            |            inspect  plan
//!        |               |            |            spec  stage
//!        v               v            v  -------------------------------------
//!                                        node/     installed
//!                                                  active
//!                                                  reader  manifest
//!                                                  fs      (NodeFs: the root)
//!                                                  paths   (every well-known file)
//!                                                  daemons  (pid-file locks)
//!                                                  durable  version
//! ```
//!
//! Each floor imports only the floors below it; each tree's `mod.rs` lists
//! its own. Nothing in `node/` imports `install/`.
//!
//! * [`node`], the node kernel every crate of the toolkit imports: version
//!   strings, the install paths and every well-known file, every
//!   file-system call ([`node::durable`]), the node's files by logical path
//!   with the root applied in one place ([`node::NodeFs`]), the well-known
//!   files read ([`node::Node`]), the switch and `default` links, the
//!   manifest and the completeness rule, and what is installed. It never
//!   imports the install tool (`tests/kernel_boundary.rs`).
//! * [`install`], the install tool: program lists, stage reading, the
//!   planner, its carrying out (the writer), `verify`, the conversion
//!   of a flat install in place (`adopt`: it moves the flat files through
//!   the kernel's careful I/O, then lays them out with `apply`), the demo
//!   build. It stands on `node`; only layout's binary and packaging's
//!   `debian/rules` helper use it.
//! * [`cli`] and [`command`]: the command-line pieces the binaries share.
//!
//! Import paths name the tree: `ganeti_layout::node::installed::list`,
//! `ganeti_layout::install::apply::apply`; inside the crate,
//! `crate::node::durable`.
//!
//! Features: `test-support` adds the test fixtures
//! (`install::demo::{node_paths_under, install_node_under}`), for the
//! `ganeti-test-support` crate; the binaries are built without it.

pub mod cli;
pub mod command;
pub mod install;
pub mod node;
