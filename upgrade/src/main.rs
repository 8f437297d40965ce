//! `ganeti-upgrade`: thin command line over the `ganeti_upgrade` library.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::FromArgMatches;
use ganeti_upgrade::command::{command, Cli};
use ganeti_upgrade::context::{Mode, Options, Output, Stderr, Stdout};
use ganeti_upgrade::engine::main_flow;
use ganeti_upgrade::error::Done;
use ganeti_upgrade::error::UpgradeError;
use ganeti_upgrade::exec::Runner;
use ganeti_upgrade::options;
use ganeti_upgrade::settings::{self, Settings};

fn main() -> ExitCode {
    let matches = command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let err = Stderr::default();
    let cli_paths = match cli.paths.resolve(&cli.root) {
        Ok(p) => p,
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
    let mode = match (cli.to, cli.resume, cli.abort, cli.status) {
        (Some(to), ..) => Mode::To(to),
        (None, true, ..) => Mode::Resume,
        (None, false, true, _) => Mode::Abort,
        (None, false, false, _) => Mode::Status,
    };
    let given: Vec<&str> = settings::OPTION_NAMES
        .iter()
        .copied()
        .filter(|n| matches.value_source(n) == Some(ValueSource::CommandLine))
        .collect();
    let from_cli = Settings {
        prefix: cli_paths.prefix().to_path_buf(),
        sysconfdir: cli_paths.sysconfdir().to_path_buf(),
        libdir: cli_paths.libdir().to_path_buf(),
        localstatedir: cli_paths.localstatedir().to_path_buf(),
        switch_command: cli.switch_command,
        ssh_command: cli
            .ssh_command
            .split_whitespace()
            .map(String::from)
            .collect(),
        parallel: cli.parallel,
        verify_ignore: cli.verify_ignore,
        queue_timeout: cli.queue_timeout,
        command_timeout: cli.command_timeout,
    };
    // A resume runs with the options the upgrade was started with (the
    // boot-time unit gives none), unless given again.
    let (run, notes) = match &mode {
        Mode::To(to) => options::for_to(cli_paths.root(), &from_cli, &given, to),
        _ => options::for_resume(cli_paths.root(), &from_cli, &given),
    };
    let paths = match run.paths(cli_paths.root()) {
        Ok(p) => p,
        Err(e) => {
            err.line(&format!("ganeti-upgrade: error: {e}"));
            return ExitCode::from(2);
        }
    };
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
        mode,
        dry_run: cli.dry_run,
        json: cli.json,
        parallel: run.parallel,
        verify_ignore: run.verify_ignore,
        queue_timeout: Duration::from_secs(run.queue_timeout),
        command_timeout: (run.command_timeout > 0)
            .then(|| Duration::from_secs(run.command_timeout)),
        switch_command: run.switch_command,
        switch_path_args,
        ssh_command: run.ssh_command,
        poll_interval: std::env::var(ganeti_upgrade::env::POLL_INTERVAL)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(Duration::from_secs(1)),
        notes,
        skip_nodes: cli.skip_node,
        no_voting: cli.no_voting,
        vote_wait: Duration::from_secs(cli.vote_wait),
    };
    let dry_or_status = opts.dry_run || opts.mode == Mode::Status;
    let runner = Runner::new(
        &paths,
        opts.ssh_command.clone(),
        opts.parallel,
        !dry_or_status,
    )
    .with_timeout(opts.command_timeout);
    let out = Stdout::default();
    let result = main_flow(&paths, &opts, &runner, &out, &interrupted);
    let code = match &result {
        Ok(_) => 0,
        Err(e) => e.exit_code(),
    };
    // --status prints one document, and nothing after it.
    if opts.json && opts.mode != Mode::Status {
        // Pending: what --resume would find, read after the run.
        // Not on a node that is not the master: --resume has nothing to
        // do there (exit 11), whatever file is left.
        let pending = paths
            .host(&paths.datadir().join("ganeti-upgrade.journal"))
            .exists()
            && !matches!(result, Err(UpgradeError::NotMasterResume { .. }));
        let mut end = match &result {
            Ok(done) => serde_json::to_value(done).unwrap_or_default(),
            Err(UpgradeError::VerifyErrors { errors, left }) => serde_json::json!({
                "result": "verify-errors", "message": errors, "left": left, "pending": pending,
            }),
            Err(e) => {
                serde_json::json!({"result": "error", "message": e.to_string(), "pending": pending})
            }
        };
        if let Some(map) = end.as_object_mut() {
            map.insert("event".into(), "end".into());
            map.insert("format".into(), 1.into());
            map.insert("exit_code".into(), code.into());
        }
        out.line(&end.to_string());
    }
    match &result {
        Ok(Done::Upgraded { to, left }) if !opts.json => {
            if left.is_empty() {
                out.line(&format!("done: the cluster runs {to}"));
            } else {
                out.line(&format!(
                    "done: the cluster runs {to}, but for {} (see above)",
                    left.iter()
                        .map(|l| l.node.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        Ok(Done::NothingPending) if !opts.json => out.line("no upgrade pending"),
        Ok(Done::RollbackFinished { from }) if !opts.json => out.line(&format!(
            "the rollback is finished: the cluster runs {from}"
        )),
        Ok(_) => {}
        Err(e) => {
            // Exit 11 is Ganeti's quiet "not the master" of --resume.
            let quiet = matches!(
                e,
                ganeti_upgrade::error::UpgradeError::NotMasterResume {
                    removed_intent: false
                }
            );
            if !quiet {
                let prefix = if e.exit_code() == 3 || e.exit_code() == 11 {
                    "ganeti-upgrade"
                } else {
                    "ganeti-upgrade: error"
                };
                err.line(&format!("{prefix}: {e}"));
            }
        }
    }
    ExitCode::from(code)
}
