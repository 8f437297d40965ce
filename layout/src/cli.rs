//! Command-line pieces shared by the toolkit's binaries.

use std::path::PathBuf;

use crate::node::paths::{InstallPaths, PathsError};

/// The root every path lives under, as `ganeti-layout` and `ganeti-switch`
/// take it: `/` for the running system, or a DESTDIR or chroot. `--dest`
/// is the older name, kept as an alias. (`ganeti-upgrade` has its own
/// `--root` in the same words; `ganeti-packaging` defaults it to
/// `$DPKG_ROOT`, as maintainer scripts must.)
#[derive(Debug, Clone, clap::Args)]
pub struct RootArg {
    /// Root (DESTDIR or chroot) under which all paths live
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/",
        global = true,
        visible_alias = "dest"
    )]
    pub root: PathBuf,
}

/// The configure-time directories, as every binary of the toolkit takes them.
#[derive(Debug, Clone, clap::Args)]
pub struct PathArgs {
    /// Installation prefix (configure --prefix).
    #[arg(long, value_name = "DIR", default_value = "/usr", global = true)]
    pub prefix: PathBuf,
    /// Configuration directory; the switch links live in SYSCONFDIR/ganeti.
    #[arg(long, value_name = "DIR", default_value = "/etc", global = true)]
    pub sysconfdir: PathBuf,
    /// Library directory [default: PREFIX/lib].
    #[arg(long, value_name = "DIR", global = true)]
    pub libdir: Option<PathBuf>,
    /// State directory; Ganeti's data is in LOCALSTATEDIR/lib/ganeti.
    #[arg(long, value_name = "DIR", default_value = "/var", global = true)]
    pub localstatedir: PathBuf,
}

impl PathArgs {
    pub fn resolve(&self, root: &std::path::Path) -> Result<InstallPaths, PathsError> {
        let joined = if root.is_relative() {
            std::env::current_dir()
                .map(|d| d.join(root))
                .unwrap_or_else(|_| root.to_path_buf())
        } else {
            root.to_path_buf()
        };
        // `--root .` and `--root ./x` are fine; `..` is refused by the check.
        let root: PathBuf = joined
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        InstallPaths::new(
            &root,
            &self.prefix,
            &self.sysconfdir,
            self.libdir.as_deref(),
            &self.localstatedir,
        )
    }
}

/// Prints an error with its whole cause chain (a hint, where known, is the
/// last line of the error's own message). Takes anything that is an error,
/// `anyhow::Error` in the binaries included, so that this library exposes
/// no `anyhow`.
pub fn report_error(program: &str, err: &impl AsRef<dyn std::error::Error>) {
    let err = err.as_ref();
    eprintln!("{program}: error: {err}");
    for cause in std::iter::successors(err.source(), |e| e.source()) {
        eprintln!("  caused by: {cause}");
    }
}

/// An error in the caller's input (arguments, version strings, files named
/// on the command line) rather than in the state of the system: the
/// binaries exit 2 for it, 1 for everything else.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Marks an error as the caller's input.
pub fn input<E: std::fmt::Display>(e: E) -> InputError {
    InputError(e.to_string())
}

/// Is this error, or one it was caused by, the caller's input (exit 2)?
pub fn is_input(err: &impl AsRef<dyn std::error::Error>) -> bool {
    std::iter::successors(Some(err.as_ref()), |e| e.source()).any(|e| e.is::<InputError>())
}
