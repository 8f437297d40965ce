//! `ganeti-upgrade`: thin command line over the `ganeti_upgrade` library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ganeti_layout::cli::PathArgs;
use ganeti_upgrade::engine::{main_flow, Options, Outcome};

const AFTER_HELP: &str = "\
Exit codes:
  0   done (or nothing pending)
  1   failed: the message says whether everything was rolled back, or what is
      left and that --resume continues; also: not the master, not root,
      version missing on nodes, another run in progress
  2   bad usage or input: unparsable or unsafe version, incompatible versions
  3   upgraded, but gnt-cluster verify reported errors
  11  --resume on a node that is not the master (a stale intent file is removed)

SIGTERM or SIGINT before the configuration change rolls everything back;
after it they are ignored until the end. After a crash or reboot, run
ganeti-upgrade --resume (the package runs it at boot).";

#[derive(Parser)]
#[command(name = "ganeti-upgrade", version, about = "Upgrade (or downgrade) a whole Ganeti cluster to another installed version", after_help = AFTER_HELP)]
struct Cli {
    /// Target directory version, e.g. 3.1
    #[arg(long, value_name = "VERSION", conflicts_with_all = ["resume", "status"], required_unless_present_any = ["resume", "status"])]
    to: Option<String>,
    /// Finish a pending upgrade (after a crash, a reboot or a failure)
    #[arg(long, conflicts_with = "status")]
    resume: bool,
    /// Show the pending upgrade, if any
    #[arg(long)]
    status: bool,
    /// Print the whole plan (steps and per-node commands); change nothing
    #[arg(long)]
    dry_run: bool,
    /// One JSON event per line instead of text
    #[arg(long)]
    json: bool,
    /// How many nodes to work on at once
    #[arg(long, value_name = "N", default_value_t = 32)]
    parallel: usize,
    /// Error code for gnt-cluster verify to ignore (repeatable)
    #[arg(long, value_name = "CODE")]
    verify_ignore: Vec<String>,
    /// How long to wait for running jobs, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 129_600)]
    queue_timeout: u64,
    /// ganeti-switch as found on the nodes
    #[arg(long, value_name = "PATH", default_value = "/usr/sbin/ganeti-switch")]
    switch_command: String,
    /// The ssh client (a command line, split on spaces)
    #[arg(long, value_name = "CMD", default_value = "ssh")]
    ssh_command: String,
    /// Root under which all paths live (tests; normally /)
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    #[command(flatten)]
    paths: PathArgs,
}

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
