//! `ganeti-upgrade`: thin command line over the `ganeti_upgrade` library.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::parser::ValueSource;
use clap::FromArgMatches;
use ganeti_upgrade::command::{command, Cli};
use ganeti_upgrade::engine::main_flow;
use ganeti_upgrade::error::UpgradeError;
use ganeti_upgrade::events::{End, Event, Events, Output, Stderr, Stdout};
use ganeti_upgrade::exec::Runner;
use ganeti_upgrade::options::{Mode, Options};

fn main() -> ExitCode {
    let matches = command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let err = Stderr::default();
    let given: Vec<&str> = matches
        .ids()
        .map(|id| id.as_str())
        .filter(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
        .collect();
    let (opts, paths) = match Options::resolve(cli, &given) {
        Ok(resolved) => resolved,
        Err(e) => {
            err.line(&format!("ganeti-upgrade: error: {e}"));
            return ExitCode::from(2);
        }
    };
    // SIGHUP too: the admin's ssh session dropping must not kill the run
    // half way (before the point of no return it rolls back, after it the
    // run goes on to the end).
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&interrupted)) {
            err.line(&format!(
                "ganeti-upgrade: error: cannot install the signal handler: {e}"
            ));
            return ExitCode::from(1);
        }
    }
    let log = !(opts.dry_run || opts.mode == Mode::Status);
    let runner = Runner::new(&paths, opts.run.ssh_command.clone(), opts.run.parallel, log)
        .with_timeout(opts.run.command_timeout());
    let out = Stdout::default();
    let result = main_flow(&paths, &opts, &runner, &out, &interrupted);
    let exit_code = result.as_ref().map_or_else(UpgradeError::exit_code, |_| 0);
    // --status prints one document, and nothing after it. Pending: what
    // --resume would find, read after the run (not on a node that is not
    // the master: --resume has nothing to do there, whatever file is left).
    if !(opts.json && opts.mode == Mode::Status) {
        let pending = paths
            .host(&paths.datadir().join("ganeti-upgrade.journal"))
            .exists()
            && !matches!(result, Err(UpgradeError::NotMasterResume { .. }));
        let events = Events {
            json: opts.json,
            out: &out,
        };
        events.emit(&Event::End(End {
            result: &result,
            exit_code,
            pending,
        }));
    }
    // Exit 11 is Ganeti's quiet "not the master" of --resume.
    if let Err(e) = &result {
        if !matches!(
            e,
            UpgradeError::NotMasterResume {
                removed_intent: false
            }
        ) {
            let prefix = match exit_code {
                3 | 11 => "ganeti-upgrade",
                _ => "ganeti-upgrade: error",
            };
            err.line(&format!("{prefix}: {e}"));
        }
    }
    ExitCode::from(exit_code)
}
