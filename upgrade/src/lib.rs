//! Upgrades a whole Ganeti cluster, resumable and signal-safe (work in progress: see the project issues).
