//! The rehearsal of the configuration change, before anything changes (in
//! the run before `stop-new-work`, and in `--dry-run`): the converter the
//! real step will run, taken from its versioned tree (the target's
//! `cfgupgrade`, found through the same `default` links Ganeti's own
//! `${libdir}/ganeti/tools/cfgupgrade` goes through, as if the target were
//! active), on a copy of the master's data directory in a private scratch
//! directory. `cfgupgrade` converts, writes, loads the result with its own
//! `ConfigWriter` and runs `VerifyConfig` on it (Ganeti 3.0 and 3.1:
//! `lib/tools/cfgupgrade.py`, `_TestLoadingConfigFile`); it exits 0 even
//! when that verification finds errors, saying "but there are errors": the
//! real step goes on then, and so does the rehearsal, saying so. A downgrade runs the source's `cfgupgrade
//! --downgrade` on the copy, then the target's own `cfgupgrade` on the
//! result: a configuration already at its version is only loaded and
//! verified, with the target's code.
//!
//! The scratch directory is `${localstatedir}/lib/ganeti-upgrade/rehearsal-PID`
//! (mode 0700, the files 0600), removed afterwards whatever happened; a
//! rejection names the converter's own last lines and the commands that
//! reproduce it by hand.

use std::path::{Path, PathBuf};

use ganeti_layout::node::fs::resolve_for_version;
use ganeti_layout::node::DirVersion;

use crate::context::Ctx;
use crate::error::StepError;
use crate::ganeti::GanetiCmd;
use crate::transition::Transition;

/// How many of a converter's last lines a rejection quotes.
const QUOTED_LINES: usize = 12;

/// One conversion of the rehearsal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converter {
    /// The version whose `cfgupgrade` it is.
    pub version: DirVersion,
    /// Its path on the master, in that version's tree.
    pub tool: PathBuf,
    pub downgrade: bool,
}

/// The scratch directory on the master.
pub fn scratch_dir(ctx: &Ctx<'_>) -> PathBuf {
    ctx.paths
        .upgrade_statedir()
        .join(format!("rehearsal-{}", std::process::id()))
}

/// The conversions the real run will make, in order, each with its tool.
/// Errors: a version's `cfgupgrade` that cannot be found.
pub fn converters(ctx: &Ctx<'_>) -> Result<Vec<Converter>, StepError> {
    let h = &ctx.header;
    let find = |v: &DirVersion, downgrade: bool| -> Result<Converter, StepError> {
        let tool = resolve_for_version(ctx.paths, &ctx.paths.cfgupgrade(), v).ok_or_else(|| {
            StepError::Refused(format!(
                "cannot find {v}'s cfgupgrade (through {} with {v} active) to rehearse the configuration change\n  fix: check that {v} is installed completely: {} installed {v}",
                ctx.paths.cfgupgrade().display(),
                ctx.opts.run.switch_command
            ))
        })?;
        Ok(Converter {
            version: v.clone(),
            tool,
            downgrade,
        })
    };
    Ok(match h.transition {
        Transition::Downgrade => vec![find(&h.from_dir, true)?, find(&h.to, false)?],
        _ => vec![find(&h.to, false)?],
    })
}

/// Runs the rehearsal; `Ok` when every conversion was accepted.
/// Errors: the scratch copy could not be made, or a converter rejected the
/// configuration (its message, and how to reproduce it).
pub fn rehearse(ctx: &Ctx<'_>) -> Result<(), StepError> {
    let converters = converters(ctx)?;
    let dir = scratch_dir(ctx);
    let fs = ctx.paths.fs();
    remove_stale(ctx, &dir);
    let _ = fs.remove_dir_all(&dir);
    let result = copy_in(ctx, &dir).and_then(|()| {
        converters
            .iter()
            .try_for_each(|c| convert(ctx, c, &dir, &converters))
    });
    let _ = fs.remove_dir_all(&dir);
    result
}

/// Scratch copies a killed run left behind (they hold copies of the
/// cluster's keys): those whose process is gone.
fn remove_stale(ctx: &Ctx<'_>, ours: &Path) {
    let fs = ctx.paths.fs();
    let Some(parent) = ours.parent() else {
        return;
    };
    let Ok(entries) = fs.read_dir(parent) else {
        return;
    };
    for e in entries {
        let name = e.name.to_string_lossy();
        let Some(pid) = name
            .strip_prefix("rehearsal-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = fs.remove_dir_all(&parent.join(&*name));
        }
    }
}

/// The private copy: the directory 0700, each file 0600; a symbolic link
/// stays one (Ganeti leaves `rapi_users -> .../rapi/users` behind once it
/// has moved that file), pointing into the copy where it pointed into the
/// data directory.
fn copy_in(ctx: &Ctx<'_>, dir: &Path) -> Result<(), StepError> {
    let fs = ctx.paths.fs();
    if let Some(parent) = dir.parent() {
        fs.create_dir_all(parent).map_err(StepError::io)?;
    }
    fs.create_dir(dir).map_err(StepError::io)?;
    fs.set_mode(dir, 0o700).map_err(StepError::io)?;
    fs.create_dir(&dir.join("conf")).map_err(StepError::io)?;
    let data = ctx.paths.datadir();
    for from in ctx.paths.cfgupgrade_inputs() {
        let Ok(name) = from.strip_prefix(&data) else {
            continue;
        };
        let to = dir.join(name);
        if let Some(parent) = to.parent() {
            fs.create_dir_all(parent).map_err(StepError::io)?;
        }
        if fs
            .symlink_metadata(&from)
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            let target = fs.read_link(&from).map_err(StepError::io)?;
            let target = match target.strip_prefix(&data) {
                Ok(inside) => dir.join(inside),
                Err(_) => target,
            };
            fs.symlink(&target, &to).map_err(StepError::io)?;
        } else if let Some(bytes) = read_if_there(ctx, &from)? {
            fs.write_file(&to, &bytes, 0o600).map_err(StepError::io)?;
        }
    }
    let storage_paths = ctx.paths.file_storage_paths();
    if let Some(bytes) = read_if_there(ctx, &storage_paths)? {
        fs.write_file(&dir.join("conf/file-storage-paths"), &bytes, 0o600)
            .map_err(StepError::io)?;
    }
    Ok(())
}

fn read_if_there(ctx: &Ctx<'_>, path: &Path) -> Result<Option<Vec<u8>>, StepError> {
    let fs = ctx.paths.fs();
    if !fs.is_there(path) {
        return Ok(None);
    }
    fs.read(path).map(Some).map_err(StepError::io)
}

/// One conversion; a rejection worded for the admin.
fn convert(ctx: &Ctx<'_>, c: &Converter, dir: &Path, all: &[Converter]) -> Result<(), StepError> {
    let ran = ctx.run_local(GanetiCmd::Rehearse {
        tool: c.tool.clone(),
        dir: dir.to_path_buf(),
        downgrade: c.downgrade,
    });
    if ran.ok() {
        // As the real step: a conversion that loads with errors found by
        // VerifyConfig goes on (they are often there before the upgrade);
        // said, not refused.
        if ran.stderr.contains("but there are errors") {
            ctx.message(&format!(
                "the rehearsal: {}'s cfgupgrade converts this cluster's configuration, but its verification reports errors (the real conversion will too; see gnt-cluster verify):\n    {}",
                c.version,
                last_lines(&ran.stderr.replace(&dir.display().to_string(), &ctx.paths.datadir().display().to_string()))
            ));
        }
        return Ok(());
    }
    if ran.code.is_none() {
        if ctx.interrupted() {
            return Err(StepError::Interrupted(
                "rehearsing the configuration change",
            ));
        }
        return Err(StepError::Refused(format!(
            "the rehearsal's {} was killed or ran out of time ({}): nothing was changed; run again",
            c.tool.display(),
            ran.summary()
        )));
    }
    let h = &ctx.header;
    let what = if c.downgrade {
        format!("{}'s cfgupgrade --downgrade rejects", c.version)
    } else if h.transition == Transition::Downgrade {
        format!(
            "{} cannot load what {}'s cfgupgrade --downgrade makes of",
            c.version, h.from_dir
        )
    } else {
        format!("{}'s cfgupgrade rejects", c.version)
    };
    let text = if ran.stderr.trim().is_empty() {
        ran.stdout.clone()
    } else {
        ran.stderr.clone()
    };
    // The copy's paths read as the originals': the admin fixes those.
    let text = text
        .replace(
            &dir.join("conf").display().to_string(),
            &ctx.paths.confdir().display().to_string(),
        )
        .replace(
            &dir.display().to_string(),
            &ctx.paths.datadir().display().to_string(),
        );
    let quoted = last_lines(&text);
    let code = ran
        .code
        .map_or_else(|| "no exit code".to_string(), |c| format!("exit {c}"));
    Err(StepError::Refused(format!(
        "{what} this cluster's configuration (rehearsed on a copy of {}; nothing was changed) ({code}):\n    {quoted}\n  fix: what the converter names (a file there, or the configuration: gnt-cluster modify, gnt-instance modify, ...), then run again; to reproduce it by hand on {}:\n    {}",
        ctx.paths.datadir().display(),
        ctx.master_name(),
        reproduce(ctx, all)
    )))
}

/// The last [`QUOTED_LINES`] lines of `text` that are not blank, indented.
fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(QUOTED_LINES)..].join("\n    ")
}

/// Shell commands that redo the rehearsal by hand, in `/root/rehearsal`.
fn reproduce(ctx: &Ctx<'_>, all: &[Converter]) -> String {
    let data = ctx.paths.datadir();
    let names: Vec<String> = ctx
        .paths
        .cfgupgrade_inputs()
        .iter()
        .filter_map(|f| f.strip_prefix(&data).ok())
        .map(|f| f.display().to_string())
        .collect();
    let mut cmds = vec![
        "mkdir -m 700 /root/rehearsal /root/rehearsal/conf /root/rehearsal/rapi".to_string(),
        format!(
            "(cd {} && cp -P -p --parents {} /root/rehearsal/ 2>/dev/null)",
            data.display(),
            names.join(" ")
        ),
    ];
    for c in all {
        cmds.push(format!(
            "{} --path /root/rehearsal --confdir /root/rehearsal/conf --ignore-hostname -f -v{}",
            c.tool.display(),
            if c.downgrade { " --downgrade" } else { "" }
        ));
    }
    cmds.push("rm -r /root/rehearsal".into());
    cmds.join("; ")
}
