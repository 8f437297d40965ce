//! `ganeti-upgrade`: thin command line over the `ganeti_upgrade` library.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ganeti_upgrade::command::Cli;
use ganeti_upgrade::engine::{main_flow, Options, Outcome};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let paths = match cli.paths.resolve(&cli.root) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ganeti-upgrade: error: {e}");
            return ExitCode::from(2);
        }
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&interrupted)) {
            eprintln!("ganeti-upgrade: error: cannot install the signal handler: {e}");
            return ExitCode::from(1);
        }
    }
    let mut switch_path_args = vec![
        format!("--prefix={}", paths.prefix().display()),
        format!("--sysconfdir={}", paths.sysconfdir().display()),
        format!("--libdir={}", paths.libdir().display()),
        format!("--localstatedir={}", paths.localstatedir().display()),
    ];
    if paths.root() != std::path::Path::new("/") {
        switch_path_args.push(format!("--root={}", paths.root().display()));
    }
    let opts = Options {
        to: cli.to,
        resume: cli.resume,
        status: cli.status,
        dry_run: cli.dry_run,
        json: cli.json,
        parallel: cli.parallel,
        verify_ignore: cli.verify_ignore,
        queue_timeout: Duration::from_secs(cli.queue_timeout),
        command_timeout: (cli.command_timeout > 0)
            .then(|| Duration::from_secs(cli.command_timeout)),
        switch_command: cli.switch_command,
        switch_path_args,
        ssh_command: cli
            .ssh_command
            .split_whitespace()
            .map(String::from)
            .collect(),
    };
    let outcome = main_flow(&paths, &opts, interrupted);
    match &outcome {
        Outcome::Done => {
            if !opts.dry_run && !opts.status && !opts.json {
                println!("done");
            }
        }
        Outcome::NothingPending => {
            if !opts.json {
                println!("no upgrade pending");
            }
        }
        Outcome::VerifyErrors(errors) => {
            eprintln!("ganeti-upgrade: upgraded, but gnt-cluster verify reported errors:\n{errors}")
        }
        Outcome::NotMaster { removed_intent } => {
            if *removed_intent {
                eprintln!("ganeti-upgrade: not the master node; removed the stale intent file");
            }
        }
        Outcome::Refused(m) | Outcome::Failed(m) => eprintln!("ganeti-upgrade: error: {m}"),
    }
    if opts.json {
        println!(
            "{}",
            serde_json::json!({"event": "end", "exit_code": outcome.exit_code()})
        );
    }
    ExitCode::from(outcome.exit_code())
}
