//! Atomically switches a node between installed Ganeti versions (work in progress: see the project issues).
