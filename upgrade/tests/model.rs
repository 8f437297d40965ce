//! The pure parts of the upgrade: the step list against the design, the
//! point of no return, the journal folded after every possible cut.

use std::path::Path;

use ganeti_upgrade::exec::{join_argv, shell_quote};
use ganeti_upgrade::journal::{fold, Facts, Header, Record, JOURNAL_FORMAT};
use ganeti_upgrade::steps::{point_of_no_return, steps_for, StepId, STEPS};
use ganeti_upgrade::transition::Transition;

#[test]
fn steps_follow_the_design_document() {
    let ids: Vec<&str> = steps_for(Transition::Upgrade)
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "verify-installed",
            // Not in the design: that the target would start on every node
            // (its interpreters, Python imports and libraries there).
            "check-target-runs",
            // Not in the design: its converter, rehearsed on a copy before
            // anything changes (the design finds out only at the point of
            // no return).
            "rehearse-config",
            // Not in the design: gnt-cluster verify and the instances'
            // states before anything changes, so that the end counts only
            // what the upgrade brought.
            "record-health",
            "write-intent",
            "stop-new-work",
            "wait-for-jobs",
            "pause-watcher",
            "stop-master-daemons",
            "reverify-installed",
            "stop-daemons",
            "backup",
            "switch-version",
            "upgrade-config",
            "ensure-dirs",
            "start-daemons",
            "redist-conf",
            "restart-daemons",
            // Not in the design: no process runs the old version's code
            // when the queue reopens (the design infers it).
            "check-stale-code",
            "resume-work",
            "unpause-watcher",
            // The design's `ensure-dirs --full-run` is split: plain
            // `ensure-dirs` above, the job archive's walk here, once jobs
            // run again and the watcher is back (no daemon needs it).
            "ensure-job-archive",
            "post-upgrade",
            "verify-cluster",
            "finish",
        ]
    );
    // A downgrade converts the configuration with the newer version, before the switch.
    let down = steps_for(Transition::Downgrade);
    let pos = |s| down.iter().position(|x| *x == s).expect("present");
    assert!(pos(StepId::DowngradeConfig) < pos(StepId::SwitchVersion));
    assert!(!down.contains(&StepId::UpgradeConfig));
    assert_eq!(
        point_of_no_return(Transition::Downgrade),
        StepId::DowngradeConfig
    );
    assert_eq!(point_of_no_return(Transition::Same), StepId::UpgradeConfig);
    // The intent file goes last, after the hooks and the verify (fixes the
    // upstream case where a crash there left the watcher paused for good).
    assert_eq!(STEPS.last().map(|s| s.id), Some(StepId::Finish));
    // Step ids serialise as their stable names, and each has one row.
    for s in STEPS {
        assert_eq!(
            serde_json::to_string(&s.id).expect("json"),
            format!("\"{}\"", s.id.as_str())
        );
        assert_eq!(STEPS.iter().filter(|r| r.id == s.id).count(), 1);
        assert_eq!(ganeti_upgrade::steps::row(s.id).title, s.title);
    }
    // Exactly one configuration step per transition.
    for t in [Transition::Upgrade, Transition::Downgrade, Transition::Same] {
        let ponrs = STEPS
            .iter()
            .filter(|s| s.point_of_no_return && s.when.applies(t))
            .count();
        assert_eq!(ponrs, 1, "{t:?}");
    }
}

fn header() -> Header {
    Header {
        format: JOURNAL_FORMAT,
        id: "abc".into(),
        from_release: "3.0.2".into(),
        from_dir: "3.0".parse().expect("v"),
        to: "3.1".parse().expect("v"),
        transition: Transition::Upgrade,
        started_at: 1,
        settings: None,
        cluster: None,
        master: None,
    }
}

/// A journal cut short after every record (and inside the last line) still
/// folds, and never claims more than was written.
#[test]
fn journal_cut_anywhere_folds_to_a_prefix() {
    let mut records = vec![Record::Header(Box::new(header()))];
    for step in steps_for(Transition::Upgrade) {
        records.push(Record::Started { step, at: 2 });
        let facts = if step == StepId::StopNewWork {
            Facts {
                filter_uuid: Some("u-1".into()),
                ..Facts::default()
            }
        } else {
            Facts::default()
        };
        records.push(Record::Done { step, at: 3, facts });
    }
    let text: String = records
        .iter()
        .map(|r| serde_json::to_string(r).expect("json") + "\n")
        .collect();
    let mut last_done = 0;
    for cut in 1..=text.len() {
        let Ok(state) = fold(Path::new("j"), &text[..cut]) else {
            // Only a torn header is refused.
            assert!(cut < text.find('\n').expect("nl") + 1);
            continue;
        };
        assert!(state.done.len() >= last_done, "monotonic");
        last_done = state.done.len();
        for d in &state.done {
            assert!(state.started.contains(d), "done implies started");
        }
        if state.is_done(StepId::StopNewWork) {
            assert_eq!(state.facts.filter_uuid.as_deref(), Some("u-1"));
        }
    }
    assert_eq!(last_done, steps_for(Transition::Upgrade).len());
}

#[test]
fn journal_without_header_is_refused_with_a_hint() {
    let err = fold(
        Path::new("/var/lib/ganeti/ganeti-upgrade.journal"),
        "{\"record\":\"started\",\"step\":\"backup\",\"at\":1}\n",
    )
    .expect_err("no header");
    assert!(err.to_string().contains("has no valid header"), "{err}");
}

#[test]
fn remote_commands_are_quoted_for_the_shell() {
    assert_eq!(shell_quote("3.1"), "3.1");
    assert_eq!(shell_quote("a b"), "'a b'");
    assert_eq!(shell_quote("it's"), "'it'\\''s'");
    assert_eq!(shell_quote(""), "''");
    assert_eq!(
        join_argv(&["/usr/sbin/ganeti-switch".into(), "to".into(), "3.1".into()]),
        "/usr/sbin/ganeti-switch to 3.1"
    );
}

/// Under our PAUSE filter only jobs that have not started are held:
/// `waiting` jobs are forked and taking locks, `canceling` ones still run.
#[test]
fn waiting_and_canceling_jobs_keep_the_upgrade_waiting() {
    use ganeti_upgrade::queue::busy_jobs;
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for status in ["running", "waiting", "canceling"] {
        assert_eq!(busy_jobs(&s(&[status]), true).len(), 1, "{status}");
        assert_eq!(busy_jobs(&s(&[status]), false).len(), 1, "{status}");
    }
    assert!(busy_jobs(&s(&["queued"]), true).is_empty());
    assert_eq!(busy_jobs(&s(&["queued"]), false).len(), 1);
    assert!(busy_jobs(&s(&["success", "error", "canceled"]), false).is_empty());
}
