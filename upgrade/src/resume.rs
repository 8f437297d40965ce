//! Where a pending upgrade goes on: a pure decision from the journal and
//! the configuration's version, unit-tested like the journal's fold.
//!
//! The design's rule ("Considerations on unintended reboots of the master
//! node"): configuration still at the old version, redo the steps after the
//! intent file (they are idempotent); configuration at the new version,
//! stop every daemon and go on after the configuration change. The journal
//! refines it:
//! * a rollback under way is finished as a rollback, whatever had started;
//! * after the configuration change, the run continues at the first step
//!   not done; daemons are stopped (and started again) only if restart-
//!   daemons is not done yet (never once the queue runs again: users' jobs
//!   would die);
//! * before it, the cluster is first brought back to a known state (the old
//!   version active, its daemons running) so that luxid answers the redone
//!   queue steps;
//! * the configuration wins over the journal both ways: at the target, past
//!   the point of no return whatever the journal says; at the source, before
//!   it, even if the journal says the configuration step ran.

use crate::journal::State;
use crate::step_id::StepId;
pub use crate::transition::ConfigAt;

/// What `--resume` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumePoint {
    /// The upgrade was rolled back; only its files are left: remove them.
    Cleanup,
    /// A rollback did not complete: undo every step that started.
    FinishRollback,
    /// Nothing changed yet (the intent file was never surely written).
    StartOver,
    /// Before the configuration change: undo `prepare` (in that order) to
    /// reach a known state, then redo the steps from `from`.
    Redo { prepare: Vec<StepId>, from: StepId },
    /// After the configuration change: (stop every daemon first if
    /// `stop_daemons`), then continue at `from`.
    Forward { from: StepId, stop_daemons: bool },
}

/// Decides where a pending upgrade goes on. `steps` is the transition's
/// step list (the step table's `steps_for`), `ponr` its configuration
/// step.
pub fn resume_point(
    state: &State,
    config: ConfigAt,
    steps: &[StepId],
    ponr: StepId,
) -> ResumePoint {
    if state.rolled_back {
        return ResumePoint::Cleanup;
    }
    let index = |s: StepId| steps.iter().position(|x| *x == s).unwrap_or(steps.len());
    // The first step after the point of no return that must be done: the
    // switch for upgrades (it comes before the configuration step), the
    // configuration step for downgrades.
    let first_forward = index(StepId::SwitchVersion).min(index(ponr));
    let forward = |force_switch: bool| {
        let mut from_index = steps
            .iter()
            .enumerate()
            .skip(first_forward)
            .find(|(i, s)| (force_switch && *i == first_forward) || !state.is_done(**s))
            .map(|(i, _)| i)
            .unwrap_or(steps.len() - 1);
        // Until restart-daemons is done the daemons' state is unknown (a
        // crash between its stop and its start): from the start again,
        // daemons stopped first. The queue is still paused meanwhile.
        let stop_daemons = from_index <= index(StepId::RestartDaemons);
        if stop_daemons {
            from_index = from_index.min(index(StepId::StartDaemons));
        }
        ResumePoint::Forward {
            from: steps[from_index],
            stop_daemons,
        }
    };
    if config == ConfigAt::Target {
        // The configuration is new whatever the journal says; a rollback
        // that was under way may have switched nodes back: redo the switch.
        return forward(state.rolling_back);
    }
    if state.rolling_back {
        return ResumePoint::FinishRollback;
    }
    // The configuration decides, in both directions: back at the source
    // although the journal says its step ran (restored from a backup, or
    // cfgupgrade's rename lost), it is before the point of no return, and
    // the upgrade is redone from the start (with the old version running
    // meanwhile); only a configuration that is not the source's is past
    // the point of no return.
    if state.has_started(ponr) && config != ConfigAt::Source {
        return forward(false);
    }
    if !state.is_done(StepId::WriteIntent) {
        return ResumePoint::StartOver;
    }
    let prepare = [
        StepId::SwitchVersion,
        StepId::StopDaemons,
        StepId::StopMasterDaemons,
    ]
    .into_iter()
    .filter(|s| state.has_started(*s))
    .collect();
    ResumePoint::Redo {
        prepare,
        from: StepId::StopNewWork,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Facts, Header, JOURNAL_FORMAT};
    use crate::steps::{point_of_no_return, steps_for};
    use crate::transition::Transition;

    fn state(t: Transition, started: &[StepId], done: &[StepId], rolling_back: bool) -> State {
        State {
            header: Header {
                format: JOURNAL_FORMAT,
                id: "x".into(),
                from_release: "3.0.2".into(),
                from_dir: "3.0".parse().expect("v"),
                to: "3.1".parse().expect("v"),
                transition: t,
                started_at: 0,
                settings: None,
                cluster: None,
                master: None,
            },
            started: started.to_vec(),
            done: done.to_vec(),
            facts: Facts::default(),
            rolled_back: false,
            rolling_back,
            skipped: Vec::new(),
            last_failure: None,
            damaged_lines: 0,
            taken_over_by: None,
            held_since: None,
        }
    }

    /// Every step of `t` up to and including `last`.
    fn upto(t: Transition, last: StepId) -> Vec<StepId> {
        let all = steps_for(t);
        let i = all.iter().position(|s| *s == last).expect("step");
        all[..=i].to_vec()
    }

    fn decide(s: &State, config: ConfigAt) -> ResumePoint {
        let t = s.header.transition;
        resume_point(s, config, &steps_for(t), point_of_no_return(t))
    }

    #[test]
    fn a_rollback_at_the_point_of_no_return_is_finished_as_a_rollback() {
        let t = Transition::Upgrade;
        let started = upto(t, StepId::UpgradeConfig);
        let done = upto(t, StepId::SwitchVersion);
        let s = state(t, &started, &done, true);
        assert_eq!(decide(&s, ConfigAt::Source), ResumePoint::FinishRollback);
        assert_eq!(decide(&s, ConfigAt::Unknown), ResumePoint::FinishRollback);
    }

    #[test]
    fn config_at_target_is_past_the_point_of_no_return_even_without_its_record() {
        let t = Transition::Upgrade;
        // Started(upgrade-config) lost (a torn middle line).
        let done = upto(t, StepId::SwitchVersion);
        let s = state(t, &done, &done, false);
        assert_eq!(
            decide(&s, ConfigAt::Target),
            ResumePoint::Forward {
                from: StepId::UpgradeConfig,
                stop_daemons: true
            }
        );
        // A rollback that had begun switching back: redo the switch.
        let s = state(t, &done, &done, true);
        assert_eq!(
            decide(&s, ConfigAt::Target),
            ResumePoint::Forward {
                from: StepId::SwitchVersion,
                stop_daemons: true
            }
        );
    }

    #[test]
    fn forward_goes_on_at_the_first_step_not_done_and_stops_daemons_only_before_they_start() {
        let t = Transition::Upgrade;
        for last_done in [
            StepId::UpgradeConfig,
            StepId::EnsureDirs,
            StepId::StartDaemons,
            StepId::RestartDaemons,
            StepId::ResumeWork,
            StepId::PostUpgrade,
        ] {
            let done = upto(t, last_done);
            let all = steps_for(t);
            let next = all[all.iter().position(|s| *s == last_done).expect("i") + 1];
            let s = state(t, &done, &done, false);
            let (from, stop) = match next {
                StepId::EnsureDirs | StepId::StartDaemons => (next, true),
                // Daemons in an unknown state: from their start again.
                StepId::RedistConf | StepId::RestartDaemons => (StepId::StartDaemons, true),
                _ => (next, false),
            };
            assert_eq!(
                decide(&s, ConfigAt::Target),
                ResumePoint::Forward {
                    from,
                    stop_daemons: stop
                },
                "after {last_done:?}"
            );
        }
    }

    #[test]
    fn config_back_at_the_source_after_its_step_redoes_the_upgrade() {
        for t in [Transition::Upgrade, Transition::Downgrade] {
            // Both the switch and the configuration step are done.
            let done = upto(t, StepId::EnsureDirs);
            let s = state(t, &done, &done, false);
            match decide(&s, ConfigAt::Source) {
                ResumePoint::Redo { prepare, from } => {
                    assert_eq!(from, StepId::StopNewWork, "{t:?}");
                    assert!(
                        prepare.contains(&StepId::SwitchVersion),
                        "{t:?}: {prepare:?}"
                    );
                }
                other => panic!("{t:?}: {other:?}"),
            }
            // Unknown (unreadable): the journal decides.
            assert!(matches!(
                decide(&s, ConfigAt::Unknown),
                ResumePoint::Forward { .. }
            ));
        }
    }

    #[test]
    fn a_downgrade_redoes_its_late_switch() {
        let t = Transition::Downgrade;
        let done = upto(t, StepId::DowngradeConfig);
        let mut started = done.clone();
        started.push(StepId::SwitchVersion);
        let s = state(t, &started, &done, false);
        assert_eq!(
            decide(&s, ConfigAt::Target),
            ResumePoint::Forward {
                from: StepId::SwitchVersion,
                stop_daemons: true
            }
        );
    }

    #[test]
    fn before_the_change_the_cluster_is_brought_back_then_redone() {
        let t = Transition::Upgrade;
        let done = upto(t, StepId::Backup);
        let mut started = done.clone();
        started.push(StepId::SwitchVersion);
        let s = state(t, &started, &done, false);
        assert_eq!(
            decide(&s, ConfigAt::Source),
            ResumePoint::Redo {
                prepare: vec![
                    StepId::SwitchVersion,
                    StepId::StopDaemons,
                    StepId::StopMasterDaemons
                ],
                from: StepId::StopNewWork
            }
        );
        let done = upto(t, StepId::PauseWatcher);
        let s = state(t, &done, &done, false);
        assert_eq!(
            decide(&s, ConfigAt::Source),
            ResumePoint::Redo {
                prepare: vec![],
                from: StepId::StopNewWork
            }
        );
        let s = state(
            t,
            &[StepId::VerifyInstalled, StepId::WriteIntent],
            &[StepId::VerifyInstalled],
            false,
        );
        assert_eq!(decide(&s, ConfigAt::Source), ResumePoint::StartOver);
    }

    #[test]
    fn a_rolled_back_journal_is_only_cleaned_up() {
        let t = Transition::Upgrade;
        let mut s = state(t, &upto(t, StepId::Backup), &upto(t, StepId::Backup), true);
        s.rolled_back = true;
        assert_eq!(decide(&s, ConfigAt::Source), ResumePoint::Cleanup);
    }
}
