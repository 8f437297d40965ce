//! `ganeti-switch`: thin command line over the `ganeti_switch` library.

use std::process::ExitCode;

use clap::Parser;
use ganeti_layout::cli::{input, report_error};
use ganeti_layout::node::{active, installed, DirVersion, InstallPaths};
use ganeti_switch::command::{Cli, Command};
use ganeti_switch::{Outcome, RepairOptions, SwitchOptions};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            report_error("ganeti-switch", &err);
            ExitCode::from(if ganeti_layout::cli::is_input(&err) {
                2
            } else {
                1
            })
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let paths = cli.paths.resolve(&cli.root.root).map_err(input)?;
    match cli.command {
        Command::List(args) => {
            let versions = installed::list(&paths)?;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&installed::list_json(&versions))?
                );
            } else {
                print!(
                    "{}",
                    installed::render_list(&versions, !args.no_headers, &paths)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Current { json } => {
            let status = ganeti_switch::check(&paths)?;
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
                println!(
                    "{}",
                    serde_json::json!({ "format": 1, "stable": status.stable_version().is_some(), "version": status.stable_version(), "status": text, "daemons": ganeti_switch::running_daemons(&paths) })
                );
            } else {
                println!("{text}");
            }
            Ok(
                if status.stable_version().is_some()
                    || status.active.is_absent() && status.journal.is_none()
                {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                },
            )
        }
        Command::To {
            version,
            force,
            wait,
        } => {
            let v: DirVersion = version.parse().map_err(input)?;
            // Read before the switch: "from none" would be untrue of a
            // mixed or dangling pair, which the switch also replaces.
            let before = active::read_active(&paths);
            let wait = wait.map(std::time::Duration::from_secs);
            match ganeti_switch::switch_to(&paths, &v, SwitchOptions { force, wait })? {
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
                    println!("switched {} from {from} to {to}", paths.root().display());
                    print_mended(&default_links_mended, &paths);
                }
                Outcome::AlreadyActive { version } => println!("{version} is already active"),
                Outcome::DefaultLinksMended { version, links } => {
                    println!("{version} is already active");
                    print_mended(&links, &paths);
                }
                other => println!("{other:?}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Installed { version, or_active } => {
            let v: DirVersion = version.parse().map_err(input)?;
            let problems = if or_active {
                installed::check_returnable(&paths, &v)?
            } else {
                installed::check_complete(&paths, &v)?
            };
            if or_active && problems.is_empty() && installed::may_return_to(&paths, &v) {
                println!("{v} has no manifest and no dpkg file list, so its completeness cannot be checked; it is what this node runs (or ran until the last switch), so switching back to it is allowed");
            }
            for p in &problems {
                println!("{p}");
            }
            if problems.is_empty() {
                println!("{v} is completely installed");
            }
            Ok(if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Check { json } => {
            let status = ganeti_switch::check(&paths)?;
            if json {
                let mut doc = serde_json::to_value(&status)?;
                if let Some(map) = doc.as_object_mut() {
                    map.insert("format".into(), 1.into());
                }
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else if status.is_sound() {
                match status.active.version() {
                    Some(v) => println!("sound: {v} is active"),
                    None => println!("sound: no version is active"),
                }
            } else {
                for p in &status.problems {
                    println!("{p}");
                }
            }
            Ok(if status.is_sound() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Repair { revert, force } => {
            let report = ganeti_switch::repair(&paths, RepairOptions { revert, force })?;
            match report.switch {
                Outcome::Repaired { to } => println!("finished the interrupted switch to {to}"),
                Outcome::Reverted { lib, share } => println!(
                    "reverted the interrupted switch: lib -> {}, share -> {}",
                    lib.map(|p| p.display().to_string())
                        .unwrap_or_else(|| "(none)".into()),
                    share
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "(none)".into())
                ),
                Outcome::NothingToRepair if report.default_links_mended.is_empty() => {
                    println!("nothing to repair")
                }
                Outcome::NothingToRepair => {}
                other => println!("{other:?}"),
            }
            print_mended(&report.default_links_mended, &paths);
            let status = ganeti_switch::check(&paths)?;
            for p in &status.problems {
                println!("still: {p}");
            }
            Ok(if status.is_sound() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// Says which `default` links were pointed back through the switch links.
fn print_mended(links: &[std::path::PathBuf], paths: &InstallPaths) {
    // The outcome names the links by host path, as the admin sees them.
    let lib_side = paths.fs().shown(&paths.pkglibdir());
    for link in links {
        println!(
            "pointed {} back to {}, so programs run the active version",
            link.display(),
            if link.starts_with(&lib_side) {
                paths.active_lib_link()
            } else {
                paths.active_share_link()
            }
            .display()
        );
    }
}
