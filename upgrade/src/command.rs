//! The `ganeti-upgrade` command line. It lives in the library so that the
//! packaging can generate the man page and shell completions from it.

use std::path::PathBuf;

use clap::Parser;
use ganeti_layout::cli::PathArgs;
use ganeti_layout::node::DirVersion;

pub const AFTER_HELP: &str = "\
Exit codes:
  0   done: upgraded, nothing pending, or --resume finished an interrupted
      rollback (the cluster runs the old version again, as the message says)
  1   failed: the message says whether everything was rolled back (or
      nothing had been changed yet), or that the upgrade (or its rollback)
      is still pending and --resume continues it; also: not the master, not
      root, version missing on nodes, another run in progress
  2   bad usage or input: unparsable or unsafe version, incompatible versions
  3   upgraded, but with problems that were not there before it: errors of
      gnt-cluster verify that its run before the upgrade did not report (those
      it did are listed, not counted; without that run, as after a master
      failover, every error counts), or an instance that was running before
      is in an error state now
  11  --resume on a node that is not the master (a stale intent file is removed)
  12  an upgrade started by Ganeti's own gnt-cluster upgrade is pending: nothing
      done (gnt-cluster upgrade --resume finishes it)

--abort rolls back a pending upgrade that has not reached the configuration
change (exit 0 when the cluster runs the old version again); after that
point it is refused (exit 1): the upgrade can only go forward (--resume).

SIGTERM, SIGINT or SIGHUP (a dropped ssh session) before the configuration
change rolls everything back; after it they are ignored until the end.
Progress output is best-effort: with a closed pipe or terminal the run goes
on, and ${localstatedir}/log/ganeti/commands.log keeps its record. After a crash or reboot, run
ganeti-upgrade --resume (the package runs it at boot).";

#[derive(Parser)]
#[command(name = "ganeti-upgrade", version, about = "Upgrade (or downgrade) a whole Ganeti cluster to another installed version", after_help = AFTER_HELP)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["to", "resume", "abort", "status"])))]
pub struct Cli {
    /// Target directory version, e.g. 3.1
    #[arg(long, value_name = "VERSION")]
    pub to: Option<DirVersion>,
    /// Finish a pending upgrade (after a crash, a reboot or a failure)
    #[arg(long)]
    pub resume: bool,
    /// With --resume, after the configuration change: leave out a node that
    /// is dead (repeatable); the end of the run prints the commands that
    /// bring it up to date once it is back
    #[arg(long, value_name = "NODE", conflicts_with_all = ["to", "abort", "status"])]
    pub skip_node: Vec<String>,
    /// With --resume or --abort: do not ask the other nodes to confirm that
    /// this node is the master (as masterd's --no-voting)
    #[arg(long)]
    pub no_voting: bool,
    /// How long --resume and --abort wait for nodes that do not answer the
    /// master vote yet (at boot their sshd may be late), in seconds
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub vote_wait: u64,
    /// How long a step waits for a node that stops answering (it reboots
    /// mid-upgrade) before its command there counts as failed, in seconds;
    /// the command is run there again once it answers (0: no wait)
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub node_wait: u64,
    /// Abandon a pending upgrade that has not reached the configuration
    /// change: roll back everything it did (refused after that point)
    #[arg(long)]
    pub abort: bool,
    /// Show the pending upgrade, if any
    #[arg(long)]
    pub status: bool,
    /// Print the whole plan (steps and per-node commands); change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON object per line instead of text (each with "format": 1)
    #[arg(long)]
    pub json: bool,
    /// How many nodes to work on at once (each is one ssh client on the
    /// master, most of its time waiting for the node)
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub parallel: usize,
    /// Error code for gnt-cluster verify to ignore (repeatable); for
    /// ECLUSTERCFG and ENODEVERSION, which refuse an upgrade, it lifts only
    /// the refusal: their errors are still compared at the end
    #[arg(long, value_name = "CODE")]
    pub verify_ignore: Vec<String>,
    /// How long to wait for running jobs, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 129_600)]
    pub queue_timeout: u64,
    /// The longest new jobs may be held before the configuration change
    /// (the wait for running jobs, the daemons' stop, the backup, the
    /// switch), as 300, 90s, 10m or 1h30m; past it the run rolls back by
    /// itself and says so. After the configuration change it is only
    /// reported (0: no limit)
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
    pub max_hold: u64,
    /// The longest any one Ganeti command may run, in seconds; a command
    /// still running then is killed and counts as failed (0: no limit)
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub command_timeout: u64,
    /// ganeti-switch as found on the nodes
    #[arg(long, value_name = "PATH", default_value = "/usr/sbin/ganeti-switch")]
    pub switch_command: String,
    /// The ssh client (a command line, split on spaces)
    #[arg(long, value_name = "CMD", default_value = "ssh")]
    pub ssh_command: String,
    /// Root under which all paths live (tests and chroots; normally /)
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    #[command(flatten)]
    pub paths: PathArgs,
}

/// The clap command, for man pages and completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Seconds of a duration as an admin writes it on the command line:
/// `300`, `300s`, `5m`, `2h`, `1h30m` (units s, m, h; a bare number is
/// seconds), as `--max-hold` takes it. The error says what is wrong.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("{text:?} is not a duration: give seconds (300) or a number with a unit, s, m or h (90s, 10m, 1h30m)")
    };
    let text_trimmed = text.trim();
    if text_trimmed.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = text_trimmed.parse::<u64>() {
        return Ok(secs);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text_trimmed.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_admins_write_them() {
        assert_eq!(parse_duration("300"), Ok(300));
        assert_eq!(parse_duration("5s"), Ok(5));
        assert_eq!(parse_duration("10m"), Ok(600));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("0"), Ok(0));
        for bad in ["", "5x", "m", "1h30", "-5", "1.5m", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
