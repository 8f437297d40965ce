//! Ganeti's watcher, paused for the upgrade: luxid's pause on the master
//! (over LUXI, or `gnt-cluster watcher pause`) and our own file on every
//! online node, since luxid writes it only on the master candidates while
//! every node's watcher restarts its own daemons. Every pause end written
//! is remembered in the journal, so the unpause removes exactly ours.

use std::time::Duration;

use crate::context::Ctx;
use crate::error::StepError;
use crate::journal::Facts;

/// How long the watcher is paused: long enough for any upgrade, short
/// enough that a forgotten pause ends by itself.
pub const WATCHER_PAUSE: Duration = Duration::from_secs(6 * 3600);

/// Writes the watcher pause on a node where there is none, or only an
/// expired one: `sh -c SCRIPT sh FILE UNTIL NOW`.
pub const NODE_PAUSE_SCRIPT: &str = r#"t=$(cat "$1" 2>/dev/null); t=${t%%.*}; case $t in ''|*[!0-9]*) t=0;; esac; [ "$t" -gt "$3" ] || { printf '%s\n' "$2" >"$1.ganeti-upgrade" && mv -f "$1.ganeti-upgrade" "$1"; }"#;

/// Removes a node's watcher pause if it is one this upgrade wrote (its end
/// is exactly one of the VALUEs): `sh -c SCRIPT sh FILE VALUE...`.
pub const NODE_UNPAUSE_SCRIPT: &str = r#"t=$(cat "$1" 2>/dev/null) || exit 0; f=$1; shift; for v do if [ "${t%%.*}" = "$v" ]; then rm -f "$f" || exit 1; fi; done; exit 0"#;

/// Every watcher pause end this upgrade wrote on the nodes.
pub fn node_pause_values(facts: &Facts) -> Vec<u64> {
    let mut values = facts.watcher_node_values.clone();
    if let Some(v) = facts.watcher_node_until {
        if !values.contains(&v) {
            values.push(v);
        }
    }
    values
}

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
    let file = ctx
        .paths
        .datadir()
        .join("watcher.pause")
        .display()
        .to_string();
    let argv: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        NODE_PAUSE_SCRIPT.into(),
        "sh".into(),
        file,
        value.to_string(),
        crate::clock::epoch_secs().to_string(),
    ];
    ctx.on_nodes(&c, &c.online, &|_| argv.clone())?;
    Ok(())
}

/// Removes the pauses [`pause_watcher_on_nodes`] wrote, and only those.
pub fn unpause_watcher_on_nodes(ctx: &mut Ctx<'_>) -> Result<(), StepError> {
    let values = node_pause_values(&ctx.facts);
    if values.is_empty() {
        return Ok(());
    }
    let c = ctx.cluster()?;
    let argv = unpause_argv(ctx, &values);
    ctx.on_nodes(&c, &c.online, &|_| argv.clone())?;
    Ok(())
}

/// The command that removes our watcher pause (whose end is one of
/// `values`) on a node.
pub fn unpause_argv(ctx: &Ctx<'_>, values: &[u64]) -> Vec<String> {
    let mut argv = vec![
        "sh".into(),
        "-c".into(),
        NODE_UNPAUSE_SCRIPT.into(),
        "sh".into(),
        ctx.paths
            .datadir()
            .join("watcher.pause")
            .display()
            .to_string(),
    ];
    argv.extend(values.iter().map(u64::to_string));
    argv
}

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
    let args: Vec<String> = match until {
        Some(t) => vec![
            "watcher".into(),
            "pause".into(),
            t.saturating_sub(crate::clock::epoch_secs())
                .max(1)
                .to_string(),
        ],
        None => vec!["watcher".into(), "continue".into()],
    };
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ctx.local(&ctx.tool(ctx.paths.gnt("gnt-cluster"), &refs))?;
    Ok(())
}

/// Ganeti's watcher pause is the file `watcher.pause` holding the epoch
/// second it ends.
pub fn watcher_paused_until(ctx: &Ctx<'_>) -> Option<u64> {
    std::fs::read_to_string(ctx.paths.host(&ctx.paths.datadir().join("watcher.pause")))
        .ok()
        .and_then(|t| t.trim().parse::<f64>().ok())
        .map(|t| t as u64)
}

/// Re-pauses the watcher on a resume, if this upgrade paused it and has
/// not unpaused it yet (a pause of 6 h may have run out meanwhile).
pub fn repause_watcher(ctx: &mut Ctx<'_>, luxid_up: bool) -> Result<(), StepError> {
    let now = crate::clock::epoch_secs();
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
