//! Install-time helpers for versioned Ganeti packages (work in progress: see the project issues).
