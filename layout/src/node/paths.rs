//! Where Ganeti lives: every well-known path is built here, from one
//! [`InstallPaths`] value, and nowhere else.
//!
//! Paths come in two kinds. *Logical* paths are what a process on the node
//! sees (`/etc/ganeti/lib`); symlink targets are always logical, as Ganeti
//! writes them. *Host* paths are where this tool finds the file when it works
//! on a DESTDIR or a chroot given with `--root`: `root + logical`.

use std::path::{Component, Path, PathBuf};

use crate::node::version::DirVersion;

/// The switcher's journal in `${sysconfdir}/ganeti`: while it exists, a
/// switch is in progress (see the `ganeti-switch` crate).
pub const SWITCH_JOURNAL_NAME: &str = ".ganeti-switch.journal";
/// The file in `${sysconfdir}/ganeti` that names the version the last
/// switch left (see [`InstallPaths::switch_previous`]).
pub const SWITCH_PREVIOUS_NAME: &str = ".ganeti-switch.previous";

/// Where `ganeti-upgrade`'s pending marker is, whatever `--localstatedir`
/// says (see [`InstallPaths::pending_marker`]).
const PENDING_MARKER: &str = "/var/lib/ganeti-upgrade/pending";

/// A path option that is not absolute and normalised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{option} must be an absolute path without '.' or '..' components, got {value:?}")]
pub struct PathsError {
    pub option: &'static str,
    pub value: PathBuf,
}

/// The configure-time directories of one Ganeti installation, plus the root
/// (DESTDIR or chroot) under which they all live. Defaults are Debian's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstallPaths {
    root: PathBuf,
    prefix: PathBuf,
    sysconfdir: PathBuf,
    libdir: PathBuf,
    localstatedir: PathBuf,
}

/// A path as one word of a POSIX shell command line: as it is when it
/// holds only characters no shell splits or expands, else single-quoted.
pub fn shell_word(path: &Path) -> String {
    let v = path.display().to_string();
    let safe = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:,@=".contains(c));
    if safe {
        v
    } else {
        format!("'{}'", v.replace('\'', r"'\''"))
    }
}

impl Default for InstallPaths {
    fn default() -> Self {
        InstallPaths {
            root: PathBuf::from("/"),
            prefix: PathBuf::from("/usr"),
            sysconfdir: PathBuf::from("/etc"),
            libdir: PathBuf::from("/usr/lib"),
            localstatedir: PathBuf::from("/var"),
        }
    }
}

fn check_absolute(option: &'static str, value: &Path) -> Result<PathBuf, PathsError> {
    let ok = value.is_absolute()
        && value
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if ok {
        Ok(value.components().collect())
    } else {
        Err(PathsError {
            option,
            value: value.to_path_buf(),
        })
    }
}

impl InstallPaths {
    /// Builds the paths; `libdir` defaults to `prefix/lib`.
    pub fn new(
        root: &Path,
        prefix: &Path,
        sysconfdir: &Path,
        libdir: Option<&Path>,
        localstatedir: &Path,
    ) -> Result<Self, PathsError> {
        let prefix = check_absolute("--prefix", prefix)?;
        let libdir = match libdir {
            Some(l) => check_absolute("--libdir", l)?,
            None => prefix.join("lib"),
        };
        Ok(InstallPaths {
            root: check_absolute("--root", root)?,
            sysconfdir: check_absolute("--sysconfdir", sysconfdir)?,
            localstatedir: check_absolute("--localstatedir", localstatedir)?,
            prefix,
            libdir,
        })
    }

    /// The same configuration under another root.
    pub fn with_root(&self, root: &Path) -> Result<Self, PathsError> {
        Ok(InstallPaths {
            root: check_absolute("--root", root)?,
            ..self.clone()
        })
    }

    /// A command line of one of the toolkit's tools for the admin to run
    /// on these paths: `tool`, then the options that differ from the
    /// defaults (`--root`, `--prefix`, `--sysconfdir`, `--libdir` unless
    /// PREFIX/lib, `--localstatedir`), then `args`. On a default node just
    /// `tool args`. Values with characters a shell would split on are
    /// single-quoted.
    pub fn tool(&self, tool: &str, args: &str) -> String {
        let mut line = tool.to_string();
        let mut opt = |name: &str, value: &Path| {
            line.push_str(&format!(" --{name} {}", shell_word(value)));
        };
        if self.root != Path::new("/") {
            opt("root", &self.root);
        }
        if self.prefix != Path::new("/usr") {
            opt("prefix", &self.prefix);
        }
        if self.sysconfdir != Path::new("/etc") {
            opt("sysconfdir", &self.sysconfdir);
        }
        if self.libdir != self.prefix.join("lib") {
            opt("libdir", &self.libdir);
        }
        if self.localstatedir != Path::new("/var") {
            opt("localstatedir", &self.localstatedir);
        }
        if !args.is_empty() {
            line.push(' ');
            line.push_str(args);
        }
        line
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }
    pub fn sysconfdir(&self) -> &Path {
        &self.sysconfdir
    }
    pub fn libdir(&self) -> &Path {
        &self.libdir
    }
    pub fn localstatedir(&self) -> &Path {
        &self.localstatedir
    }

    /// Maps a logical path to where it is on this machine (under the root).
    /// Outside `node/`, the root is applied through
    /// [`crate::node::fs::NodeFs`].
    pub(crate) fn host(&self, logical: &Path) -> PathBuf {
        match logical.strip_prefix("/") {
            Ok(rel) => self.root.join(rel),
            Err(_) => self.root.join(logical),
        }
    }

    // The unversioned roots, as Ganeti's PKGLIBDIR and SHAREDIR.
    pub fn pkglibdir(&self) -> PathBuf {
        self.libdir.join("ganeti")
    }
    pub fn sharedir(&self) -> PathBuf {
        self.prefix.join("share/ganeti")
    }
    pub fn bindir(&self) -> PathBuf {
        self.prefix.join("bin")
    }
    pub fn sbindir(&self) -> PathBuf {
        self.prefix.join("sbin")
    }
    pub fn mandir(&self) -> PathBuf {
        self.prefix.join("share/man")
    }
    /// `${mandir}/manN`, man section `n` (1 to 8).
    pub fn man_section(&self, n: u8) -> PathBuf {
        self.mandir().join(format!("man{n}"))
    }
    pub fn docdir(&self) -> PathBuf {
        self.prefix.join("share/doc")
    }
    pub fn toolsdir(&self) -> PathBuf {
        self.pkglibdir().join("tools")
    }
    /// `${libdir}/ganeti/iallocators`, where `hail` is found.
    pub fn iallocators_dir(&self) -> PathBuf {
        self.pkglibdir().join("iallocators")
    }
    /// The directories of the link farm that hold links through a
    /// `default` link: bindir, sbindir, pkglibdir, its tools,
    /// iallocators and network scripts (`bridged`, `ovs`, `routed`),
    /// and the eight man sections (logical paths, in this order).
    pub fn farm_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![
            self.bindir(),
            self.sbindir(),
            self.pkglibdir(),
            self.toolsdir(),
            self.iallocators_dir(),
        ];
        for mode in ["bridged", "ovs", "routed"] {
            dirs.push(self.pkglibdir().join("network").join(mode));
        }
        for n in 1..=8 {
            dirs.push(self.man_section(n));
        }
        dirs
    }

    // The versioned trees and the fixed links into the active one.
    pub fn version_lib(&self, v: &DirVersion) -> PathBuf {
        self.pkglibdir().join(v.as_str())
    }
    pub fn version_share(&self, v: &DirVersion) -> PathBuf {
        self.sharedir().join(v.as_str())
    }
    pub fn default_lib(&self) -> PathBuf {
        self.pkglibdir().join("default")
    }
    pub fn default_share(&self) -> PathBuf {
        self.sharedir().join("default")
    }
    /// `${sysconfdir}/ganeti`, the directory holding the two switch links.
    pub fn confdir(&self) -> PathBuf {
        self.sysconfdir.join("ganeti")
    }
    pub fn active_lib_link(&self) -> PathBuf {
        self.confdir().join("lib")
    }
    pub fn active_share_link(&self) -> PathBuf {
        self.confdir().join("share")
    }

    // Runtime state.
    pub fn datadir(&self) -> PathBuf {
        self.localstatedir.join("lib/ganeti")
    }
    /// The cluster certificate: its presence is Debian's test for a node
    /// in a cluster (`daemon-util check-config`).
    pub fn server_pem(&self) -> PathBuf {
        self.datadir().join("server.pem")
    }
    /// One of Ganeti's ssconf files, `${datadir}/ssconf_KEY` (`key` is
    /// `release_version`, `master_node`, ...): the only spelling of the
    /// `ssconf_` prefix.
    pub fn ssconf(&self, key: &str) -> PathBuf {
        self.datadir().join(format!("ssconf_{key}"))
    }
    /// The cluster configuration, `${datadir}/config.data` (JSON; its
    /// `version` is a [`crate::node::version::ConfigVersion`] integer).
    pub fn config_data(&self) -> PathBuf {
        self.datadir().join("config.data")
    }
    /// The cluster's SSH known-hosts file, `${datadir}/known_hosts`.
    pub fn known_hosts(&self) -> PathBuf {
        self.datadir().join("known_hosts")
    }
    /// The files of the data directory `cfgupgrade` reads, or creates when
    /// they are missing (Ganeti 3.0 and 3.1, `lib/tools/cfgupgrade.py`,
    /// `_ComposePaths`): the configuration, the files it takes as the sign
    /// of a Ganeti data directory, the master's name it compares, the
    /// cluster's keys and certificates, and the RAPI users file under its
    /// name and its pre-2.4 one.
    pub fn cfgupgrade_inputs(&self) -> Vec<PathBuf> {
        let data = self.datadir();
        let mut files = vec![
            self.config_data(),
            self.server_pem(),
            self.known_hosts(),
            self.ssconf("master_node"),
        ];
        files.extend(
            [
                "client.pem",
                "rapi.pem",
                "spice.pem",
                "spice-ca.pem",
                "hmac.key",
                "cluster-domain-secret",
                "rapi/users",
                "rapi_users",
            ]
            .iter()
            .map(|f| data.join(f)),
        );
        files
    }
    /// The file storage paths Ganeti allows,
    /// `${sysconfdir}/ganeti/file-storage-paths`.
    pub fn file_storage_paths(&self) -> PathBuf {
        self.confdir().join("file-storage-paths")
    }
    /// The watcher's pause file, `${datadir}/watcher.pause` (text: the
    /// epoch second the pause ends at).
    pub fn watcher_pause(&self) -> PathBuf {
        self.datadir().join("watcher.pause")
    }
    /// The job queue's drain flag, `${datadir}/queue/drain`: while it
    /// exists, the queue takes no new jobs.
    pub fn queue_drain_flag(&self) -> PathBuf {
        self.datadir().join("queue/drain")
    }
    /// `gnt-cluster upgrade`'s intent file, `${datadir}/intent-to-upgrade`.
    pub fn intent_file(&self) -> PathBuf {
        self.datadir().join("intent-to-upgrade")
    }
    /// `ganeti-upgrade`'s journal, `${datadir}/ganeti-upgrade.journal`.
    pub fn upgrade_journal(&self) -> PathBuf {
        self.datadir().join("ganeti-upgrade.journal")
    }
    /// The copy of the master's journal that `ganeti-upgrade` keeps on
    /// every master candidate, so that a new master can take a pending
    /// upgrade over (`datadir/ganeti-upgrade.journal.copy`).
    pub fn upgrade_journal_copy(&self) -> PathBuf {
        self.datadir().join("ganeti-upgrade.journal.copy")
    }
    /// `ganeti-upgrade`'s pending marker, `/var/lib/ganeti-upgrade/pending`:
    /// a fixed logical path that does not follow `--localstatedir` (it is
    /// how a resume with default options finds a journal kept under
    /// another state directory), under the root like every other path.
    pub fn pending_marker(&self) -> PathBuf {
        PathBuf::from(PENDING_MARKER)
    }
    /// `ganeti-upgrade`'s own state directory, the marker's,
    /// `/var/lib/ganeti-upgrade` (the rehearsal's scratch copies go there).
    pub fn upgrade_statedir(&self) -> PathBuf {
        self.pending_marker()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
    /// `ganeti-upgrade`'s own run directory,
    /// `${localstatedir}/run/ganeti-upgrade` (its ssh control sockets).
    pub fn upgrade_rundir(&self) -> PathBuf {
        self.localstatedir.join("run/ganeti-upgrade")
    }
    pub fn logdir(&self) -> PathBuf {
        self.localstatedir.join("log/ganeti")
    }
    /// The record of every command `ganeti-upgrade` ran,
    /// `${logdir}/commands.log`.
    pub fn commands_log(&self) -> PathBuf {
        self.logdir().join("commands.log")
    }
    pub fn rundir(&self) -> PathBuf {
        self.localstatedir.join("run/ganeti")
    }
    /// dpkg's package file lists, `${localstatedir}/lib/dpkg/info`
    /// (`/var/lib/dpkg/info` on a default node): `*.list`, one logical
    /// path a line.
    pub fn dpkg_info_dir(&self) -> PathBuf {
        self.localstatedir.join("lib/dpkg/info")
    }
    /// dpkg's database of packages, `${localstatedir}/lib/dpkg/status`:
    /// RFC 822 stanzas, one per package it knows (installed or not).
    pub fn dpkg_status(&self) -> PathBuf {
        self.localstatedir.join("lib/dpkg/status")
    }
    /// The Python package of version `v`, where its build records itself
    /// (`_constants.py`, `_autoconf.py`): `${prefix}/share/ganeti/V/ganeti`.
    pub fn version_python_package(&self, v: &DirVersion) -> PathBuf {
        self.version_share(v).join("ganeti")
    }
    /// A file of `${sysconfdir}/default` (`ganeti`, `ganeti-upgrade`):
    /// shell variable assignments read by init scripts and our tools.
    pub fn default_file(&self, name: &str) -> PathBuf {
        self.sysconfdir.join("default").join(name)
    }
    /// The switcher's journal, `${sysconfdir}/ganeti/.ganeti-switch.journal`
    /// (see [`SWITCH_JOURNAL_NAME`]).
    pub fn switch_journal(&self) -> PathBuf {
        self.confdir().join(SWITCH_JOURNAL_NAME)
    }
    /// The version the last switch left (`${sysconfdir}/ganeti/.ganeti-switch.previous`):
    /// a switch back to it is allowed even when its completeness cannot be
    /// checked (no manifest, no dpkg list), since it ran until then.
    pub fn switch_previous(&self) -> PathBuf {
        self.confdir().join(SWITCH_PREVIOUS_NAME)
    }
    /// luxid's socket, where Ganeti's own clients talk LUXI.
    pub fn query_socket(&self) -> PathBuf {
        self.rundir().join("socket/ganeti-query")
    }
    pub fn backupdir(&self) -> PathBuf {
        self.localstatedir.join("backups")
    }
    /// `ganeti-layout`'s own state, `${localstatedir}/lib/ganeti-layout`:
    /// the adopt record and the flat files an adopt set aside.
    pub fn layout_statedir(&self) -> PathBuf {
        self.localstatedir.join("lib/ganeti-layout")
    }
    /// What `ganeti-layout adopt` did, `${localstatedir}/lib/ganeti-layout/adopt.json`:
    /// its state, the backup and every flat file moved there (the undo's input).
    pub fn adopt_record(&self) -> PathBuf {
        self.layout_statedir().join("adopt.json")
    }
    /// Where `adopt` sets a flat install's files aside, keeping their
    /// paths: `${localstatedir}/lib/ganeti-layout/adopt-backup-EPOCH`.
    pub fn adopt_backup(&self, epoch: u64) -> PathBuf {
        self.layout_statedir().join(format!("adopt-backup-{epoch}"))
    }
    /// The lock that keeps two `ganeti-layout` installs or removals apart.
    pub fn layout_lock_file(&self) -> PathBuf {
        self.pkglibdir().join(".ganeti-layout.lock")
    }
    /// The lock shared by `ganeti-switch` and `ganeti-upgrade`.
    pub fn lock_file(&self) -> PathBuf {
        self.datadir().join("ganeti-upgrade.lock")
    }

    // Ganeti's own tools, through their version-independent farm paths.
    pub fn daemon_util(&self) -> PathBuf {
        self.pkglibdir().join("daemon-util")
    }
    pub fn ensure_dirs(&self) -> PathBuf {
        self.pkglibdir().join("ensure-dirs")
    }
    pub fn cfgupgrade(&self) -> PathBuf {
        self.toolsdir().join("cfgupgrade")
    }
    pub fn post_upgrade(&self) -> PathBuf {
        self.toolsdir().join("post-upgrade")
    }
    pub fn gnt(&self, command: &str) -> PathBuf {
        self.sbindir().join(command)
    }
}

/// The relative path that leads from directory `from_dir` to `to`, computed
/// lexically (both logical and absolute). Used for the link farm, whose
/// links are relative like Debian's.
pub fn relative_path(from_dir: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from_dir.components().collect();
    let target: Vec<_> = to.components().collect();
    let common = from
        .iter()
        .zip(target.iter())
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &target[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// Lexically resolves a symlink target found at logical path `link`.
/// Returns `None` when `..` climbs above `/`.
pub fn resolve_lexically(link: &Path, target: &Path) -> Option<PathBuf> {
    let base = if target.is_absolute() {
        PathBuf::from("/")
    } else {
        link.parent()?.to_path_buf()
    };
    let mut parts: Vec<std::ffi::OsString> = base
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            _ => None,
        })
        .collect();
    for c in target.components() {
        match c {
            Component::Normal(n) => parts.push(n.to_os_string()),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    let mut out = PathBuf::from("/");
    out.extend(parts);
    Some(out)
}

/// Do targets `a` and `b` of a symlink at logical path `link` name the same
/// path? Compared lexically, each from the link's own directory: Ganeti's
/// own `make install` writes absolute farm links
/// (`/usr/share/ganeti/default/gnt-cluster`, even `default//usr/lib/...`)
/// where this tool writes relative ones, and both are the same link.
pub fn same_link_destination(link: &Path, a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (resolve_lexically(link, a), resolve_lexically(link, b)),
            (Some(x), Some(y)) if x == y
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_farm_targets() {
        let cases = [
            (
                "/usr/sbin",
                "/usr/share/ganeti/default/gnt-cluster",
                "../share/ganeti/default/gnt-cluster",
            ),
            (
                "/usr/lib/ganeti",
                "/usr/lib/ganeti/default/usr/lib/ganeti/daemon-util",
                "default/usr/lib/ganeti/daemon-util",
            ),
            (
                "/usr/lib/ganeti/tools",
                "/usr/share/ganeti/default/cfgupgrade",
                "../../../share/ganeti/default/cfgupgrade",
            ),
            (
                "/usr/share/man/man8",
                "/usr/share/ganeti/default/root/usr/share/man/man8/x.8.gz",
                "../../ganeti/default/root/usr/share/man/man8/x.8.gz",
            ),
        ];
        for (dir, to, expected) in cases {
            assert_eq!(
                relative_path(Path::new(dir), Path::new(to)),
                PathBuf::from(expected)
            );
        }
    }

    #[test]
    fn lexical_resolution() {
        let r = |l: &str, t: &str| resolve_lexically(Path::new(l), Path::new(t));
        assert_eq!(
            r("/usr/bin/hbal", "htools"),
            Some(PathBuf::from("/usr/bin/htools"))
        );
        assert_eq!(
            r("/usr/lib/ganeti/iallocators/hail", "../../../bin/htools"),
            Some(PathBuf::from("/usr/bin/htools"))
        );
        assert_eq!(r("/a/b", "../../../x"), None);
        assert_eq!(r("/a/b", "/etc/x"), Some(PathBuf::from("/etc/x")));
        assert_eq!(
            r(
                "/usr/lib/ganeti/tools/users-setup",
                "/usr/lib/ganeti/default//usr/lib/ganeti/tools/users-setup"
            ),
            Some(PathBuf::from(
                "/usr/lib/ganeti/default/usr/lib/ganeti/tools/users-setup"
            ))
        );
    }

    #[test]
    fn absolute_and_relative_farm_links_are_the_same_link() {
        let same = |l: &str, a: &str, b: &str| {
            same_link_destination(Path::new(l), Path::new(a), Path::new(b))
        };
        assert!(same(
            "/usr/sbin/gnt-cluster",
            "/usr/share/ganeti/default/gnt-cluster",
            "../share/ganeti/default/gnt-cluster"
        ));
        assert!(same(
            "/usr/lib/ganeti/tools/users-setup",
            "/usr/lib/ganeti/default//usr/lib/ganeti/tools/users-setup",
            "../default/usr/lib/ganeti/tools/users-setup"
        ));
        assert!(!same(
            "/usr/sbin/gnt-cluster",
            "/usr/share/ganeti/3.0/gnt-cluster",
            "../share/ganeti/default/gnt-cluster"
        ));
        assert!(!same("/a", "../../x", "../../y"));
    }

    #[test]
    fn paths_must_be_absolute_and_normal() {
        let bad = InstallPaths::new(
            Path::new("/"),
            Path::new("usr"),
            Path::new("/etc"),
            None,
            Path::new("/var"),
        );
        assert_eq!(bad.expect_err("relative").option, "--prefix");
        let bad = InstallPaths::new(
            Path::new("/"),
            Path::new("/usr/../x"),
            Path::new("/etc"),
            None,
            Path::new("/var"),
        );
        assert!(bad.is_err());
        let p = InstallPaths::new(
            Path::new("/tmp/d"),
            Path::new("/usr/local"),
            Path::new("/etc"),
            None,
            Path::new("/var"),
        )
        .expect("valid");
        assert_eq!(p.pkglibdir(), PathBuf::from("/usr/local/lib/ganeti"));
        assert_eq!(
            p.host(&p.active_lib_link()),
            PathBuf::from("/tmp/d/etc/ganeti/lib")
        );
    }
}
