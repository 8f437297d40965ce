//! The backup of all Ganeti state before the configuration changes: the data
//! directory (without the job archive and the export directory, as upstream
//! learned the hard way) and `${sysconfdir}/ganeti` (without the two version
//! links). Mode 0600 from the first byte (upstream once leaked keys through a
//! world-readable backup), written under a temp name, fsynced, renamed.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ganeti_layout::durable::{fsync_dir, temp_sibling};

use crate::engine::{Ctx, StepError};
use crate::journal::{now, Facts};

pub fn backup(ctx: &mut Ctx<'_>) -> Result<Facts, StepError> {
    let paths = ctx.paths;
    // A resumed run keeps the backup taken before: the configuration has not
    // changed since (this step comes before the point of no return).
    if let Some(existing) = &ctx.facts.backup {
        if paths.host(existing).is_file() {
            return Ok(Facts::default());
        }
    }
    let dir = paths.host(&paths.backupdir());
    std::fs::create_dir_all(&dir)
        .map_err(|e| StepError::msg(format!("cannot create {}: {e}", dir.display())))?;
    let logical = paths
        .backupdir()
        .join(format!("ganeti-upgrade-{}.tar", now()));
    let target = paths.host(&logical);
    let tmp = temp_sibling(&target);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| StepError::msg(format!("cannot create {}: {e}", tmp.display())))?;
    let rel = |p: &Path| p.strip_prefix("/").unwrap_or(p).display().to_string();
    let (data, conf) = (rel(&paths.datadir()), rel(&paths.confdir()));
    let mut argv: Vec<String> = vec![
        "tar".into(),
        "-cf".into(),
        tmp.display().to_string(),
        "-C".into(),
        paths.root().display().to_string(),
    ];
    for ex in [
        format!("{data}/queue/archive"),
        format!("{data}/export"),
        format!("{data}/ganeti-upgrade.lock"),
        format!("{conf}/lib"),
        format!("{conf}/share"),
    ] {
        argv.push(format!("--exclude={ex}"));
    }
    argv.push(data);
    if paths.host(&paths.confdir()).is_dir() {
        argv.push(conf);
    }
    let master = ctx.master_name();
    let ran = ctx.runner.local(&master, &argv);
    ctx.node_event(&ran);
    let result = if ran.ok() {
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(&tmp, &target))
            .map_err(|e| {
                StepError::msg(format!(
                    "cannot put the backup in place at {}: {e}",
                    target.display()
                ))
            })
            .and_then(|()| fsync_dir(&dir).map_err(StepError::from_display))
    } else {
        Err(StepError::ran(ran))
    };
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    ctx.message(&format!("backup written to {}", logical.display()));
    Ok(Facts {
        backup: Some(logical),
        ..Facts::default()
    })
}
