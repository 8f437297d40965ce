//! Command-line pieces shared by the toolkit's binaries: the root and
//! path options, the best-effort output every tool writes through
//! ([`Stdout`], [`Stderr`]) and the exit code that reports the work
//! ([`exit_code`]), errors with their causes ([`report_error`]), and the
//! mark of an error in the caller's input ([`InputError`], exit 2).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

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

/// `--root DIR` where DIR is not a directory: a mistyped root would
/// otherwise look like a healthy node with nothing installed (`check`:
/// sound, exit 0). Every command that reads a node refuses it (exit 2);
/// only `install` and `plan` take a DESTDIR that does not exist yet.
#[derive(Debug, thiserror::Error)]
#[error("the root {root} is not a directory{}\nhint: --root names the tree every path lives under: / on the node itself, a chroot, or a DESTDIR", if *.missing { " (it does not exist)" } else { "" })]
pub struct NoSuchRoot {
    pub root: PathBuf,
    pub missing: bool,
}

/// `Ok` when `paths`' root is a directory (see [`NoSuchRoot`]).
pub fn require_root(paths: &InstallPaths) -> Result<(), InputError> {
    let root = paths.root();
    match crate::node::durable::metadata(root) {
        Ok(m) if m.is_dir() => Ok(()),
        found => Err(input(NoSuchRoot {
            root: root.to_path_buf(),
            missing: found.is_err(),
        })),
    }
}

/// Where a tool's lines go. Writing is best-effort: output must never
/// undo or interrupt work already done (a closed pipe, `| head -1`, a full
/// disk, a hung-up terminal); [`exit_code`] says what became of it.
pub trait Output: Sync {
    /// One line; `text` has no trailing newline.
    fn line(&self, text: &str);
    /// Text as it is (several lines, each ending in a newline).
    fn text(&self, text: &str) {
        for l in text.lines() {
            self.line(l);
        }
    }
}

/// Standard output. After the first failed write (EPIPE: the reader is
/// gone; ENOSPC, EIO) it stays silent and the work goes on; the failure
/// is kept for [`exit_code`]. `println!` would panic instead (exit 101),
/// after the work and before its end: in a maintainer script that fails
/// the package although the switch happened.
#[derive(Default)]
pub struct Stdout {
    broken: AtomicBool,
    failure: Mutex<Option<std::io::Error>>,
}

impl Stdout {
    /// The first write that failed, if any.
    pub fn failure(&self) -> Option<std::io::ErrorKind> {
        self.failure
            .lock()
            .map(|f| f.as_ref().map(std::io::Error::kind))
            .unwrap_or(None)
    }

    /// The first failure's text (for the warning on standard error).
    fn failure_text(&self) -> String {
        self.failure
            .lock()
            .ok()
            .and_then(|f| f.as_ref().map(ToString::to_string))
            .unwrap_or_default()
    }
}

impl Output for Stdout {
    fn line(&self, text: &str) {
        if self.broken.load(Ordering::Relaxed) {
            return;
        }
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
            self.broken.store(true, Ordering::Relaxed);
            if let Ok(mut f) = self.failure.lock() {
                f.get_or_insert(e);
            }
        }
    }
}

/// Standard error, best-effort in the same way (`eprintln!` panics too,
/// on `2>/dev/full`).
#[derive(Default)]
pub struct Stderr {
    broken: AtomicBool,
}

impl Output for Stderr {
    fn line(&self, text: &str) {
        if !self.broken.load(Ordering::Relaxed) && writeln!(std::io::stderr(), "{text}").is_err() {
            self.broken.store(true, Ordering::Relaxed);
        }
    }
}

/// What a command's work is, for [`exit_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// It changes the node (install, switch, postinst): its exit code is
    /// the change's, whatever became of the lines that told of it.
    Changes,
    /// Its output is the work (list, verify, snippet): output lost to a
    /// full disk or an I/O error fails it (exit 1). A reader that went
    /// away (`| head -1`) took what it wanted: no error.
    Prints,
}

/// The exit code of a run whose work ended with `code`, given what became
/// of its standard output: unchanged, but for output of a [`Work::Prints`]
/// command lost to anything but a closed pipe (then 1). A loss other than
/// a closed pipe is said on standard error.
pub fn exit_code(program: &str, code: u8, work: Work, out: &Stdout, err: &Stderr) -> u8 {
    match out.failure() {
        None | Some(std::io::ErrorKind::BrokenPipe) => code,
        Some(_) => {
            err.line(&format!(
                "{program}: {}: cannot write to standard output: {}",
                if work == Work::Prints && code == 0 {
                    "error"
                } else {
                    "warning"
                },
                out.failure_text()
            ));
            match work {
                Work::Prints if code == 0 => 1,
                _ => code,
            }
        }
    }
}

/// Prints an error with its whole cause chain (a hint, where known, is the
/// last line of the error's own message), best-effort. Takes anything that
/// is an error, `anyhow::Error` in the binaries included, so that this
/// library exposes no `anyhow`.
pub fn report_error(program: &str, err: &impl AsRef<dyn std::error::Error>) {
    let out = Stderr::default();
    let err = err.as_ref();
    out.line(&format!("{program}: error: {err}"));
    for cause in std::iter::successors(err.source(), |e| e.source()) {
        out.line(&format!("  caused by: {cause}"));
    }
}

/// An error in the caller's input (arguments, version strings, files named
/// on the command line) rather than in the state of the system: the
/// binaries exit 2 for it, 1 for everything else. It wraps the error whole,
/// so its causes (the OS error of an unreadable spec file, the TOML line
/// and column of a bad one) are printed as `caused by:` lines.
#[derive(Debug)]
pub struct InputError(pub Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Marks an error (or a message) as the caller's input.
pub fn input<E: Into<Box<dyn std::error::Error + Send + Sync>>>(e: E) -> InputError {
    InputError(e.into())
}

/// Is this error, or one it was caused by, the caller's input (exit 2)?
pub fn is_input(err: &impl AsRef<dyn std::error::Error>) -> bool {
    std::iter::successors(Some(err.as_ref()), |e| e.source()).any(|e| e.is::<InputError>())
}
