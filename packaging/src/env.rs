//! Environment variables `ganeti-packaging` reads, each with its purpose.

use std::path::PathBuf;

/// `DPKG_ROOT`: set by dpkg (1.18.5 and newer) for maintainer scripts. It is
/// empty for a normal installation and names the target root when dpkg
/// installs into another root without chrooting. It is the default of
/// `--root`.
pub const DPKG_ROOT: &str = "DPKG_ROOT";

/// `GANETI_PACKAGING_ALLOW_ACTIVE_REMOVAL=yes`: lets `prerm remove` go on
/// although the version being removed is the active one. For an
/// administrator who really wants a node without a working Ganeti (the
/// links dangle until another version is activated). Any other value, or
/// none, keeps the refusal.
pub const ALLOW_ACTIVE_REMOVAL: &str = "GANETI_PACKAGING_ALLOW_ACTIVE_REMOVAL";

/// `SOURCE_DATE_EPOCH`: seconds since the epoch, set by dpkg-buildpackage
/// from debian/changelog (reproducible builds). `ganeti-toolkit-docs` dates
/// the man pages with it.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// The root dpkg works on, when it is not `/`.
pub fn dpkg_root() -> Option<PathBuf> {
    std::env::var_os(DPKG_ROOT)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Has the administrator allowed removing the active version?
pub fn active_removal_allowed() -> bool {
    std::env::var(ALLOW_ACTIVE_REMOVAL).is_ok_and(|v| v == "yes")
}
