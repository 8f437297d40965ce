//! The backup of all Ganeti state before the configuration changes: the data
//! directory (without the job archive and the export directory, as upstream
//! learned the hard way, and without the intent file and our journal, so
//! that restoring it never redoes the upgrade at the next boot),
//! `${sysconfdir}/ganeti` (without the two version links),
//! `${sysconfdir}/default/ganeti` and root's `.ssh` (the cluster's keys,
//! which post-upgrade may renew). A data or configuration directory that is
//! a symlink (self-contained installs) is archived where it points.
//!
//! Mode 0600 from the first byte (upstream once leaked keys through a
//! world-readable backup), written under a temp name, checked to hold
//! `config.data`, fsynced, renamed.

use fs_err::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ganeti_layout::node::durable::{fsync_dir, temp_sibling};
use ganeti_layout::node::paths::shell_word;
use ganeti_layout::node::InstallPaths;

use crate::context::{Ctx, Outcome};
use crate::error::StepError;
use crate::ganeti::{Daemons, Filter, GanetiCmd, Queue, Switch, Watcher};
use crate::journal::Facts;

/// The backup's room on the master, in bytes: what it needs (the tar of
/// everything [`tar_argv`] archives, as the backup takes it, plus
/// [`margin`]) and what is free where it is written (`None`: cannot tell).
#[derive(Debug, Clone, Copy)]
pub struct Room {
    pub needed: u64,
    pub free: Option<u64>,
}

impl Room {
    /// Why the backup would not fit on `master`, with the fix; `None`
    /// when it fits or the free space is unknown.
    pub fn refusal(&self, master: &str, paths: &InstallPaths) -> Option<String> {
        let free = self.free?;
        let dir = paths.backupdir();
        (free < self.needed).then(|| {
            format!(
                "{master}: the backup needs {} in {} (the data directory without the job archive, {}, \
                 root's keys, and a margin for the jobs queued meanwhile), {} are free\n\
                 hint: free {} more there (this tool's older backups are {}/ganeti-upgrade-*.tar), \
                 or mount a larger file system on {}",
                crate::view::human_size(self.needed),
                dir.display(),
                paths.confdir().display(),
                crate::view::human_size(free),
                crate::view::human_size(self.needed - free),
                dir.display(),
                dir.display(),
            )
        })
    }
}

/// [`Room`] now: read-only (walks of what the backup takes and a statvfs).
pub fn room(paths: &InstallPaths) -> Room {
    let tar = archive_estimate(paths);
    Room {
        needed: tar + margin(tar),
        free: free_bytes(&paths.fs().host_path(&paths.backupdir())),
    }
}

/// The size in bytes of the archive [`tar_argv`] would write now.
fn archive_estimate(paths: &InstallPaths) -> u64 {
    let fs = paths.fs();
    let entries = sources(paths)
        .iter()
        .map(|(top, excluded)| {
            let top = fs.host_path(top);
            tar_size(&top, &|p| excluded.iter().any(|ex| p == top.join(ex)))
        })
        .sum();
    archive_size(entries)
}

/// What the backup archives, as the node names it, each with what is left
/// out under it (relative names): the data directory first (without the
/// job archive and the exports, upstream's lesson: too big; and without
/// our lock, journal and intent file: restoring must not redo the
/// upgrade), `${sysconfdir}/ganeti` without the two version links,
/// `${sysconfdir}/default/ganeti` and root's keys.
fn sources(paths: &InstallPaths) -> [(PathBuf, Vec<String>); 4] {
    let mut data_out = vec!["queue/archive".to_string(), "export".to_string()];
    for file in [
        paths.lock_file(),
        paths.upgrade_journal(),
        paths.intent_file(),
    ] {
        if let Ok(rel) = file.strip_prefix(paths.datadir()) {
            data_out.push(rel.display().to_string());
        }
    }
    [
        (paths.datadir(), data_out),
        (paths.confdir(), vec!["lib".into(), "share".into()]),
        (paths.default_file("ganeti"), Vec::new()),
        (PathBuf::from("/root/.ssh"), Vec::new()),
    ]
}

/// POSIX ustar's record: every entry's header, and its data rounded up.
const RECORD: u64 = 512;

/// What the tar entries of `top` and everything under it take, in bytes
/// (a 512-byte header each, file data rounded up to 512-byte records),
/// leaving out the subtrees `skip` names; 0 when `top` is missing.
fn tar_size(top: &Path, skip: &dyn Fn(&Path) -> bool) -> u64 {
    if !top.exists() {
        return 0;
    }
    walkdir::WalkDir::new(top)
        .into_iter()
        .filter_entry(|e| !skip(e.path()))
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .map(|m| {
            let data = if m.is_file() { m.len() } else { 0 };
            RECORD + data.div_ceil(RECORD) * RECORD
        })
        .sum()
}

/// The archive file for `entries` bytes of entries: with tar's closing two
/// records, rounded up to GNU tar's 10 KiB blocks (blocking factor 20), in
/// which it writes the file.
fn archive_size(entries: u64) -> u64 {
    const BLOCK: u64 = 20 * RECORD;
    (entries + 2 * RECORD).div_ceil(BLOCK) * BLOCK
}

/// Room kept beyond the archive's size measured now: the job queue, which
/// the backup takes, grows between the check (before new jobs are held)
/// and the backup, by the health baseline's verify job and the jobs
/// submitted meanwhile; a tenth of the archive, at least 1 MiB.
fn margin(archive: u64) -> u64 {
    (archive / 10).max(1 << 20)
}

/// Free bytes on the file system that holds `dir` (or its nearest existing
/// parent).
fn free_bytes(dir: &Path) -> Option<u64> {
    let existing = dir.ancestors().find(|p| p.exists())?;
    let st = rustix::fs::statvfs(existing).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// `logical` (a path as the node sees it) resolved through symlinks, as a
/// path relative to the root, for tar's `-C root`.
fn archived_as(paths: &InstallPaths, logical: &Path) -> Option<String> {
    let root = paths.root();
    let real = fs_err::canonicalize(paths.fs().host_path(logical)).ok()?;
    let root = fs_err::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let rel = real.strip_prefix(&root).ok()?;
    let text = rel.display().to_string();
    (!text.is_empty()).then_some(text)
}

pub fn backup(ctx: &mut Ctx<'_>) -> Result<Outcome, StepError> {
    let paths = ctx.paths;
    let fs = paths.fs();
    // A resumed run keeps the backup taken before: the configuration has not
    // changed since (this step comes before the point of no return).
    if let Some(existing) = &ctx.facts.backup {
        if fs.metadata(existing).is_ok_and(|m| m.is_file()) {
            return Ok(Outcome::default());
        }
    }
    fs.create_dir_all(&paths.backupdir())
        .map_err(StepError::io)?;
    let dir = fs.host_path(&paths.backupdir());
    let logical = paths
        .backupdir()
        .join(format!("ganeti-upgrade-{}.tar", ctx.now()));
    // Host paths: tar writes the archive.
    let target = fs.host_path(&logical);
    let tmp = temp_sibling(&target);
    fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(StepError::io)?;
    let (argv, data) = tar_argv(paths, &tmp)?;
    let ran = ctx.run_local(tar(argv));
    ctx.show(&ran);
    let result = if ran.ok() {
        check_archive(ctx, &tmp, &data)
            .and_then(|()| {
                fs_err::File::open(&tmp)
                    .and_then(|f| f.sync_all())
                    .and_then(|()| fs_err::rename(&tmp, &target))
                    .map_err(|e| {
                        StepError::Io(format!(
                            "cannot put the backup in place at {}: {e}",
                            target.display()
                        ))
                    })
            })
            .and_then(|()| fsync_dir(&dir).map_err(StepError::io))
    } else {
        Err(StepError::ran(ran))
    };
    if result.is_err() {
        let _ = fs_err::remove_file(&tmp);
    }
    result?;
    ctx.message(&format!("backup written to {}", logical.display()));
    ctx.message(&restore_recipe(ctx, &logical));
    let keep = keep_backups(paths);
    match prune(&dir, keep, &target) {
        Ok(removed) if !removed.is_empty() => ctx.message(&format!(
            "removed {} older backup(s), keeping the newest {keep} (KEEP_BACKUPS in {}): {}",
            removed.len(),
            paths.default_file("ganeti-upgrade").display(),
            removed.join(", ")
        )),
        Ok(_) => {}
        Err(e) => ctx.message(&format!("cannot remove older backups: {e}")),
    }
    Ok(Facts {
        backup: Some(logical),
        ..Facts::default()
    }
    .into())
}

/// How to go back to the backup by hand, with the commands as they run on
/// this node's paths. The backup was taken with the queue held and the
/// watcher paused by this upgrade, so restoring it brings those back too:
/// the recipe releases them (R3-8).
pub fn restore_recipe(ctx: &Ctx<'_>, backup: &Path) -> String {
    let cmd = |c: GanetiCmd| ctx.call(c).to_string();
    let from = ctx.header.from_dir.clone();
    let restore = format!(
        "tar -xpf {} -C {}",
        shell_word(backup),
        shell_word(ctx.paths.root())
    );
    let mut after = Vec::new();
    if let Some(uuid) = &ctx.facts.filter_uuid {
        after.push(cmd(GanetiCmd::Filter(Filter::Delete {
            uuid: uuid.clone(),
        })));
    }
    if ctx.facts.drained_by_us == Some(true) {
        after.push(cmd(GanetiCmd::Queue(Queue::Undrain)));
    }
    if ctx.facts.watcher_paused_by_us == Some(true) {
        after.push(cmd(GanetiCmd::Watcher(Watcher::Continue)));
    }
    after.push(cmd(GanetiCmd::RedistConf));
    format!(
        "to go back to this backup by hand (it holds this upgrade's hold on the job queue and the watcher, which the last commands release): on every node: {}; {}; on the master: {}; on every node: {}; then on the master: {}",
        cmd(GanetiCmd::DaemonUtil(Daemons::StopAll)),
        cmd(ctx.switch(Switch::To(from))),
        restore,
        cmd(GanetiCmd::DaemonUtil(Daemons::StartAll)),
        after.join("; ")
    )
}

/// `argv` (`tar ARGS`) as the command the executor runs.
fn tar(argv: Vec<String>) -> GanetiCmd {
    GanetiCmd::Tar(argv.into_iter().skip(1).collect())
}

/// The `tar` command line that writes the backup to `tmp`, and the data
/// directory as the archive names it.
pub fn tar_argv(paths: &InstallPaths, tmp: &Path) -> Result<(Vec<String>, String), StepError> {
    let data = archived_as(paths, &paths.datadir()).ok_or_else(|| {
        StepError::Refused(format!(
            "the data directory {} is missing; nothing to back up",
            paths.fs().shown(&paths.datadir()).display()
        ))
    })?;
    let mut argv: Vec<String> = vec![
        "tar".into(),
        "-cf".into(),
        tmp.display().to_string(),
        "-C".into(),
        paths.root().display().to_string(),
    ];
    // Each source where it points (a symlinked directory is archived as
    // its target); one missing is left out, but for the data directory.
    let archived: Vec<(String, Vec<String>)> = sources(paths)
        .into_iter()
        .filter_map(|(top, excluded)| archived_as(paths, &top).map(|a| (a, excluded)))
        .collect();
    for (top, excluded) in &archived {
        argv.extend(excluded.iter().map(|ex| format!("--exclude={top}/{ex}")));
    }
    argv.extend(archived.into_iter().map(|(top, _)| top));
    Ok((argv, data))
}

/// How many backups to keep: `KEEP_BACKUPS=N` in
/// `${sysconfdir}/default/ganeti-upgrade` (0: all), else 5.
pub fn keep_backups(paths: &InstallPaths) -> usize {
    paths
        .fs()
        .read_if_there(&paths.default_file("ganeti-upgrade"))
        .ok()
        .flatten()
        .and_then(|text| {
            text.lines()
                .filter_map(|l| l.trim().strip_prefix("KEEP_BACKUPS="))
                .next_back()
                .and_then(|v| v.trim().trim_matches('"').parse().ok())
        })
        .unwrap_or(5)
}

/// Removes all but the newest `keep` backups of this tool in `dir` (by the
/// epoch in their names), never `just_written`; the names removed.
pub fn prune(dir: &Path, keep: usize, just_written: &Path) -> std::io::Result<Vec<String>> {
    if keep == 0 {
        return Ok(Vec::new());
    }
    let mut backups: Vec<(u64, PathBuf)> = fs_err::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let epoch = name
                .strip_prefix("ganeti-upgrade-")?
                .strip_suffix(".tar")?
                .parse::<u64>()
                .ok()?;
            Some((epoch, e.path()))
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for (_, path) in backups.into_iter().take(excess) {
        if path == just_written {
            continue;
        }
        fs_err::remove_file(&path)?;
        removed.push(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
    }
    Ok(removed)
}

/// The archive must hold the configuration, or it is no backup.
fn check_archive(ctx: &Ctx<'_>, archive: &Path, data: &str) -> Result<(), StepError> {
    let ran = ctx.run_local(GanetiCmd::Tar(vec![
        "-tf".into(),
        archive.display().to_string(),
    ]));
    if !ran.ok() {
        return Err(StepError::ran(ran));
    }
    let want = format!("{data}/config.data");
    if ran.stdout.lines().any(|l| l.trim_end_matches('/') == want) {
        Ok(())
    } else {
        Err(StepError::Refused(format!(
            "the backup {} does not hold {want}; not going on without a backup of the configuration",
            archive.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_backups_are_kept_never_the_one_just_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        for epoch in [100, 300, 200, 400, 500, 600] {
            fs_err::write(dir.path().join(format!("ganeti-upgrade-{epoch}.tar")), "x").expect("w");
        }
        fs_err::write(dir.path().join("other.tar"), "x").expect("w");
        // The one just written has an older name (clock set back): kept.
        let just = dir.path().join("ganeti-upgrade-100.tar");
        let removed = prune(dir.path(), 3, &just).expect("prune");
        assert_eq!(
            removed,
            vec!["ganeti-upgrade-200.tar", "ganeti-upgrade-300.tar"]
        );
        let mut left: Vec<String> = fs_err::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "ganeti-upgrade-100.tar",
                "ganeti-upgrade-400.tar",
                "ganeti-upgrade-500.tar",
                "ganeti-upgrade-600.tar",
                "other.tar"
            ]
        );
        assert!(prune(dir.path(), 0, &just).expect("all").is_empty());
    }

    #[test]
    fn keep_backups_comes_from_the_default_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = InstallPaths::default()
            .with_root(dir.path())
            .expect("paths");
        assert_eq!(keep_backups(&paths), 5);
        fs_err::create_dir_all(dir.path().join("etc/default")).expect("mkdir");
        fs_err::write(
            dir.path().join("etc/default/ganeti-upgrade"),
            "# x\nKEEP_BACKUPS=\"2\"\n",
        )
        .expect("w");
        assert_eq!(keep_backups(&paths), 2);
    }

    /// The room check's estimate is the size of the archive tar writes:
    /// never less (the backup would then fail inside the hold), at most
    /// one of tar's 10 KiB blocks more.
    #[test]
    fn the_room_estimate_is_the_size_of_the_archive_tar_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let data = root.join("var/lib/ganeti");
        for d in ["queue/archive/0", "export/inst1", "rapi", "crypto"] {
            fs_err::create_dir_all(data.join(d)).expect("mkdir");
        }
        let sizes = [0, 1, 511, 512, 513, 4096, 70_000];
        for (i, n) in sizes.iter().enumerate() {
            fs_err::write(data.join(format!("queue/job-{i}")), vec![b'j'; *n]).expect("w");
        }
        fs_err::write(data.join("config.data"), vec![b'c'; 123_457]).expect("w");
        fs_err::write(data.join("rapi/users"), "admin x\n").expect("w");
        fs_err::write(data.join("queue/archive/0/job-1"), vec![b'a'; 1 << 20]).expect("w");
        fs_err::write(data.join("export/inst1/disk0"), vec![b'e'; 1 << 20]).expect("w");
        fs_err::os::unix::fs::symlink("config.data", data.join("a-link")).expect("ln");
        let conf = root.join("etc/ganeti");
        fs_err::create_dir_all(&conf).expect("mkdir");
        fs_err::write(conf.join("rapi_users"), vec![b'r'; 900]).expect("w");
        fs_err::os::unix::fs::symlink("/usr/lib/ganeti/3.0", conf.join("lib")).expect("ln");
        fs_err::os::unix::fs::symlink("/usr/share/ganeti/3.0", conf.join("share")).expect("ln");
        fs_err::create_dir_all(root.join("etc/default")).expect("mkdir");
        fs_err::write(root.join("etc/default/ganeti"), "X=1\n").expect("w");
        fs_err::create_dir_all(root.join("root/.ssh")).expect("mkdir");
        for k in ["id_rsa", "id_rsa.pub", "authorized_keys"] {
            fs_err::write(root.join("root/.ssh").join(k), vec![b'k'; 2600]).expect("w");
        }
        let paths = InstallPaths::default().with_root(root).expect("paths");
        let tar = root.join("backup.tar");
        let (argv, _) = tar_argv(&paths, &tar).expect("argv");
        let status = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .status()
            .expect("tar runs");
        assert!(status.success());
        let real = fs_err::metadata(&tar).expect("tar").len();
        let estimate = archive_estimate(&paths);
        assert!(
            real <= estimate && estimate <= real + 20 * RECORD,
            "tar wrote {real} bytes, the estimate is {estimate}"
        );
        // The archive and the exports are left out of both.
        assert!(estimate < 1 << 20, "{estimate}");
        // The margin: a tenth, at least 1 MiB.
        assert_eq!(room(&paths).needed, estimate + (1 << 20));
        assert_eq!(margin(50 << 20), 5 << 20);
    }

    /// Self-contained installs keep the data elsewhere and link to it: the
    /// archive follows the link; the intent file and the journal stay out.
    #[test]
    fn a_symlinked_data_dir_is_archived_where_it_points_without_intent_or_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let real = root.join("srv/ganeti-data");
        fs_err::create_dir_all(&real).expect("mkdir");
        fs_err::create_dir_all(root.join("var/lib")).expect("mkdir");
        fs_err::os::unix::fs::symlink("../../srv/ganeti-data", root.join("var/lib/ganeti"))
            .expect("symlink");
        for f in [
            "config.data",
            "server.pem",
            "intent-to-upgrade",
            "ganeti-upgrade.journal",
        ] {
            fs_err::write(real.join(f), "x").expect("write");
        }
        fs_err::create_dir_all(root.join("etc/ganeti")).expect("mkdir");
        fs_err::write(root.join("etc/ganeti/rapi_users"), "x").expect("write");
        fs_err::os::unix::fs::symlink("/usr/lib/ganeti/3.0", root.join("etc/ganeti/lib"))
            .expect("symlink");
        let paths = InstallPaths::default().with_root(root).expect("paths");
        let tar = root.join("backup.tar");
        let (argv, data) = tar_argv(&paths, &tar).expect("argv");
        assert_eq!(data, "srv/ganeti-data");
        let status = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .status()
            .expect("tar runs");
        assert!(status.success());
        let list = std::process::Command::new("tar")
            .arg("-tf")
            .arg(&tar)
            .output()
            .expect("tar -t");
        let list = String::from_utf8_lossy(&list.stdout);
        let names: Vec<&str> = list.lines().map(|l| l.trim_end_matches('/')).collect();
        for want in [
            "srv/ganeti-data/config.data",
            "srv/ganeti-data/server.pem",
            "etc/ganeti/rapi_users",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        for unwanted in [
            "intent-to-upgrade",
            "ganeti-upgrade.journal",
            "etc/ganeti/lib",
        ] {
            assert!(
                !names.iter().any(|n| n.ends_with(unwanted)),
                "{unwanted} in {names:?}"
            );
        }
    }
}
