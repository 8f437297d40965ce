//! `ganeti-switch`: thin command line over the `ganeti_switch` library.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use ganeti_layout::cli::{
    exit_code, input, report_error, require_root, Output, Stderr, Stdout, Work,
};
use ganeti_layout::node::{active, installed, DirVersion, InstallPaths};
use ganeti_switch::command::{Cli, Command};
use ganeti_switch::{Outcome, RepairOptions, SwitchOptions};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let work = match cli.command {
        Command::To { .. } | Command::Repair { .. } => Work::Changes,
        Command::List(_)
        | Command::Current { .. }
        | Command::Installed { .. }
        | Command::Runs { .. }
        | Command::Stale { .. }
        | Command::Check { .. } => Work::Prints,
    };
    let (out, err) = (Stdout::default(), Stderr::default());
    let code = match run(cli, &out) {
        Ok(code) => code,
        Err(e) => {
            report_error("ganeti-switch", &e);
            if ganeti_layout::cli::is_input(&e) {
                2
            } else {
                1
            }
        }
    };
    ExitCode::from(exit_code("ganeti-switch", code, work, &out, &err))
}

fn run(cli: Cli, out: &Stdout) -> anyhow::Result<u8> {
    let paths = cli.paths.resolve(&cli.root.root).map_err(input)?;
    require_root(&paths)?;
    let paths = &paths;
    match cli.command {
        Command::List(args) => list(paths, args.json, args.no_headers, out),
        Command::Current { json } => current(paths, json, out),
        Command::To {
            version,
            force,
            wait,
        } => to(
            paths,
            &version,
            SwitchOptions {
                force,
                wait: wait.map(std::time::Duration::from_secs),
            },
            out,
        ),
        Command::Installed { version, or_active } => installed_cmd(paths, &version, or_active, out),
        Command::Runs { version } => runs_cmd(paths, &version, out),
        Command::Stale { version, json } => stale_cmd(paths, &version, json, out),
        Command::Check { json } => check(paths, json, out),
        Command::Repair { revert, force } => repair(paths, RepairOptions { revert, force }, out),
    }
}

/// `list`: the installed versions, as a table or JSON.
fn list(paths: &InstallPaths, json: bool, no_headers: bool, out: &Stdout) -> anyhow::Result<u8> {
    let versions = installed::list(paths)?;
    if json {
        out.text(&serde_json::to_string_pretty(&installed::list_json(
            &versions,
        ))?);
    } else {
        out.text(&installed::render_list(&versions, !no_headers, paths));
    }
    Ok(0)
}

/// `current`: the active version, or the switch under way; exit 1 when
/// the pair is not stable.
fn current(paths: &InstallPaths, json: bool, out: &Stdout) -> anyhow::Result<u8> {
    let status = ganeti_switch::check(paths)?;
    let text = match (&status.journal, status.active.version()) {
        (Some(j), _) => match (&status.lock_holder, status.switching_now) {
            (Some(holder), true) => format!("switching to {} now ({holder})", j.to),
            _ => format!(
                "switching to {} (interrupted; run {})",
                j.to,
                paths.tool("ganeti-switch", "repair")
            ),
        },
        (None, Some(v)) => v.to_string(),
        (None, None) if status.active.is_absent() => "none".to_string(),
        (None, None) => format!(
            "inconsistent (run {})",
            paths.tool("ganeti-switch", "check")
        ),
    };
    if json {
        out.line(
            &serde_json::json!({ "format": 1, "stable": status.stable_version().is_some(), "version": status.stable_version(), "status": text, "daemons": ganeti_switch::running_daemons(paths) })
                .to_string(),
        );
    } else {
        out.line(&text);
        // "none" on a node that runs a flat Ganeti is not the whole truth.
        if status.active.is_absent() {
            if let Some(flat) = installed::flat_install(paths) {
                out.line(&format!(
                    "note: {}",
                    installed::flat_install_line(paths, &flat)
                ));
            }
        }
    }
    Ok(u8::from(
        !(status.stable_version().is_some()
            || status.active.is_absent() && status.journal.is_none()),
    ))
}

/// `to VERSION`: the switch, and what it found.
fn to(
    paths: &InstallPaths,
    version: &str,
    opts: SwitchOptions,
    out: &Stdout,
) -> anyhow::Result<u8> {
    let v: DirVersion = version.parse().map_err(input)?;
    // Read before the switch: "from none" would be untrue of a
    // mixed or dangling pair, which the switch also replaces.
    let before = active::read_active(paths);
    match ganeti_switch::switch_to(paths, &v, opts)? {
        Outcome::Switched {
            from,
            to,
            default_links_mended,
        } => {
            let from = match from {
                Some(f) => f.to_string(),
                None if before.is_absent() => "none".into(),
                None => "a mixed or dangling lib/share pair".into(),
            };
            out.line(&format!(
                "switched {} from {from} to {to}",
                paths.root().display()
            ));
            print_mended(&default_links_mended, paths, out);
        }
        Outcome::AlreadyActive { version } => out.line(&format!("{version} is already active")),
        Outcome::DefaultLinksMended { version, links } => {
            out.line(&format!("{version} is already active"));
            print_mended(&links, paths, out);
        }
        other => out.line(&format!("{other:?}")),
    }
    Ok(0)
}

/// `installed VERSION [--or-active]`: exit 1 naming each missing part.
fn installed_cmd(
    paths: &InstallPaths,
    version: &str,
    or_active: bool,
    out: &Stdout,
) -> anyhow::Result<u8> {
    let v: DirVersion = version.parse().map_err(input)?;
    let problems = if or_active {
        installed::check_returnable(paths, &v)?
    } else {
        installed::check_complete(paths, &v)?
    };
    if or_active && problems.is_empty() && installed::may_return_to(paths, &v) {
        out.line(&format!("{v} has no manifest and no dpkg file list, so its completeness cannot be checked; it is what this node runs (or ran until the last switch), so switching back to it is allowed"));
    }
    for p in &problems {
        out.line(p);
    }
    if problems.is_empty() {
        out.line(&format!("{v} is completely installed"));
    } else {
        out.line(&format!("hint: {}", installed::install_hint(paths, &v)));
    }
    Ok(u8::from(!problems.is_empty()))
}

/// `runs VERSION`: exit 1 naming each file that would not run here.
fn runs_cmd(paths: &InstallPaths, version: &str, out: &Stdout) -> anyhow::Result<u8> {
    let v: DirVersion = version.parse().map_err(input)?;
    let runs = ganeti_switch::runs::check(paths, &v)
        .with_context(|| format!("checking whether Ganeti {v} runs on this node"))?;
    for p in &runs.problems {
        out.line(&p.to_string());
    }
    if runs.problems.is_empty() {
        out.line(&format!(
            "{v} runs here: {} Python scripts import, {} programs find their libraries",
            runs.python, runs.programs
        ));
    } else {
        out.line(&format!(
            "hint: install what is missing on this node (the Python modules or libraries named, from the distribution's packages that Ganeti {v} depends on), or do not upgrade to {v} on this node's distribution release"
        ));
    }
    Ok(u8::from(!runs.problems.is_empty()))
}

/// `stale VERSION`: exit 1 naming each process that runs another
/// version's code.
fn stale_cmd(paths: &InstallPaths, version: &str, json: bool, out: &Stdout) -> anyhow::Result<u8> {
    let v: DirVersion = version.parse().map_err(input)?;
    let found = ganeti_switch::stale::stale(paths, &v);
    if json {
        out.line(&serde_json::to_string(&found)?);
    } else if found.is_empty() {
        out.line(&format!(
            "no process here runs code of a version other than {v}"
        ));
    } else {
        for s in &found {
            out.line(&s.to_string());
        }
    }
    Ok(u8::from(!found.is_empty()))
}

/// `check`: the problems found, or "sound"; exit 1 when not sound.
fn check(paths: &InstallPaths, json: bool, out: &Stdout) -> anyhow::Result<u8> {
    let status = ganeti_switch::check(paths)?;
    if json {
        let mut doc = serde_json::to_value(&status)?;
        if let Some(map) = doc.as_object_mut() {
            map.insert("format".into(), 1.into());
        }
        out.text(&serde_json::to_string_pretty(&doc)?);
    } else if status.is_sound() {
        match status.active.version() {
            Some(v) => out.line(&format!("sound: {v} is active")),
            None => out.line("sound: no version is active"),
        }
    } else {
        for p in &status.problems {
            out.line(p);
        }
    }
    Ok(u8::from(!status.is_sound()))
}

/// `repair [--revert]`: finish or undo an interrupted switch.
fn repair(paths: &InstallPaths, opts: RepairOptions, out: &Stdout) -> anyhow::Result<u8> {
    let report = ganeti_switch::repair(paths, opts)?;
    match report.switch {
        Outcome::Repaired { to } => out.line(&format!("finished the interrupted switch to {to}")),
        Outcome::Reverted { lib, share } => out.line(&format!(
            "reverted the interrupted switch: lib -> {}, share -> {}",
            lib.map(|p| p.display().to_string())
                .unwrap_or_else(|| "(none)".into()),
            share
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(none)".into())
        )),
        Outcome::NothingToRepair if report.default_links_mended.is_empty() => {
            out.line("nothing to repair")
        }
        Outcome::NothingToRepair => {}
        other => out.line(&format!("{other:?}")),
    }
    print_mended(&report.default_links_mended, paths, out);
    let status = ganeti_switch::check(paths)?;
    for p in &status.problems {
        out.line(&format!("still: {p}"));
    }
    Ok(u8::from(!status.is_sound()))
}

/// Says which `default` links were pointed back through the switch links.
fn print_mended(links: &[std::path::PathBuf], paths: &InstallPaths, out: &Stdout) {
    // The outcome names the links by host path, as the admin sees them.
    let lib_side = paths.fs().shown(&paths.pkglibdir());
    for link in links {
        out.line(&format!(
            "pointed {} back to {}, so programs run the active version",
            link.display(),
            if link.starts_with(&lib_side) {
                paths.active_lib_link()
            } else {
                paths.active_share_link()
            }
            .display()
        ));
    }
}
