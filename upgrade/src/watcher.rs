//! Ganeti's watcher, paused for the upgrade: luxid's pause on the master
//! (over LUXI, or `gnt-cluster watcher pause`) and our own file on every
//! online node, since luxid writes it only on the master candidates while
//! every node's watcher restarts its own daemons. Every pause end written
//! is remembered in the journal, so the unpause removes exactly ours.

use std::time::Duration;

use crate::context::Ctx;
use crate::error::StepError;
use crate::ganeti::{GanetiCmd, Watcher};
use crate::journal::Facts;

/// How long the watcher is paused: long enough for any upgrade, short
/// enough that a forgotten pause ends by itself.
pub const WATCHER_PAUSE: Duration = Duration::from_secs(6 * 3600);

/// The end we write on the nodes: ours, or one second past the admin's
/// longer pause, so that it never equals a pause someone else wrote.
pub fn node_pause_value(ctx: &Ctx<'_>, until: u64) -> u64 {
    until.max(ctx.facts.watcher_admin_until.map_or(0, |a| a + 1))
}

/// luxid writes the watcher pause only on the master and the master
/// candidates, but every node's watcher reads its own file and restarts
/// noded, confd, mond and kvmd there every 5 minutes: pause it on every
/// online node where it is not paused. Remembered first (a crash in between
/// leaves only a pause that the unpause finds by its value).
pub fn pause_watcher_on_nodes(ctx: &mut Ctx<'_>, value: u64) -> Result<(), StepError> {
    ctx.remember(Facts {
        watcher_node_until: Some(value),
        watcher_node_values: vec![value],
        ..Facts::default()
    })?;
    let c = ctx.cluster()?;
    let pause = GanetiCmd::NodeWatcherPause {
        until: value,
        now: ctx.now(),
    };
    ctx.on_nodes(&c, &c.online, &|_| pause.clone())?;
    Ok(())
}

/// Removes the pauses [`pause_watcher_on_nodes`] wrote, and only those.
pub fn unpause_watcher_on_nodes(ctx: &mut Ctx<'_>) -> Result<(), StepError> {
    let values = ctx.facts.node_pause_values();
    if values.is_empty() {
        return Ok(());
    }
    let c = ctx.cluster()?;
    let unpause = GanetiCmd::NodeWatcherUnpause { values };
    ctx.on_nodes(&c, &c.online, &|_| unpause.clone())?;
    Ok(())
}

/// luxid's pause (over LUXI, or `gnt-cluster watcher`): until `until`, or
/// none.
pub fn set_watcher_pause(ctx: &Ctx<'_>, until: Option<u64>) -> Result<(), StepError> {
    let what = match until {
        Some(t) => format!("SetWatcherPause({t})"),
        None => "SetWatcherPause(none)".into(),
    };
    if ctx
        .by_luxi(&what, |l| l.set_watcher_pause(until.map(|t| t as f64)))
        .is_some()
    {
        return Ok(());
    }
    let cmd = match until {
        Some(t) => Watcher::Pause {
            seconds: t.saturating_sub(ctx.now()).max(1),
        },
        None => Watcher::Continue,
    };
    ctx.local(GanetiCmd::Watcher(cmd))?;
    Ok(())
}

/// Ganeti's watcher pause is the file `watcher.pause` holding the epoch
/// second it ends.
pub fn watcher_paused_until(ctx: &Ctx<'_>) -> Option<u64> {
    ctx.paths
        .fs()
        .read_if_there(&ctx.paths.watcher_pause())
        .ok()
        .flatten()
        .and_then(|t| t.trim().parse::<f64>().ok())
        .map(|t| t as u64)
}

/// Re-pauses the watcher on a resume, if this upgrade paused it and has
/// not unpaused it yet (a pause of 6 h may have run out meanwhile).
pub fn repause_watcher(ctx: &mut Ctx<'_>, luxid_up: bool) -> Result<(), StepError> {
    let now = ctx.now();
    let until = now + WATCHER_PAUSE.as_secs();
    if luxid_up && ctx.facts.watcher_paused_by_us == Some(true) {
        set_watcher_pause(ctx, Some(until))?;
    }
    match ctx.facts.watcher_node_until {
        // Most of it left: the same value again where it is missing, so
        // that every node keeps the one end (and the commands printed for
        // a node left out still match it).
        Some(v) if v > now + WATCHER_PAUSE.as_secs() / 2 => pause_watcher_on_nodes(ctx, v)?,
        // Running out (a resume hours later): ours are found by their
        // values; remove them and write a new one, which the journal adds
        // to the values the unpause looks for.
        Some(_) => {
            unpause_watcher_on_nodes(ctx)?;
            pause_watcher_on_nodes(ctx, node_pause_value(ctx, until))?;
        }
        None if ctx.facts.watcher_paused_by_us == Some(true) => {
            pause_watcher_on_nodes(ctx, node_pause_value(ctx, until))?;
        }
        None => {}
    }
    Ok(())
}
