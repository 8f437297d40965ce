//! `ganeti-upgrade`: thin command line over the `ganeti_upgrade` library.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::parser::ValueSource;
use clap::FromArgMatches;
use ganeti_layout::cli::Work;
use ganeti_upgrade::command::{command, Cli};
use ganeti_upgrade::engine::main_flow;
use ganeti_upgrade::events::{Output, Stderr, Stdout};
use ganeti_upgrade::exec::Runner;
use ganeti_upgrade::options::{Mode, Options};
use ganeti_upgrade::show::closing;

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
    if let Err(e) = ganeti_layout::cli::require_root(&paths) {
        err.line(&format!("ganeti-upgrade: error: {e}"));
        return ExitCode::from(2);
    }
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
    let exit_code = closing(&opts, &paths, &result, &runner, &out, &err);
    // --status and --dry-run print what they find; a run's work is the
    // cluster's, whatever became of its progress lines.
    let work = if opts.dry_run || opts.mode == Mode::Status {
        Work::Prints
    } else {
        Work::Changes
    };
    ExitCode::from(ganeti_layout::cli::exit_code(
        "ganeti-upgrade",
        exit_code,
        work,
        &out,
        &err,
    ))
}
