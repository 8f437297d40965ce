//! The names of the upgrade's steps: stable kebab-case ids, written in the
//! journal and the JSON events, never renamed and never reused. This is
//! their one spelling ([`StepId::as_str`]); serde goes through it. Which
//! steps a transition runs, their titles and what they do are the step
//! table's (`steps.rs`).

use std::fmt;

/// One step of the procedure. The journal names steps by [`StepId::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
pub enum StepId {
    VerifyInstalled,
    CheckTargetRuns,
    RehearseConfig,
    RecordHealth,
    WriteIntent,
    StopNewWork,
    WaitForJobs,
    PauseWatcher,
    StopMasterDaemons,
    ReverifyInstalled,
    StopDaemons,
    Backup,
    DowngradeConfig,
    SwitchVersion,
    UpgradeConfig,
    EnsureDirs,
    StartDaemons,
    RedistConf,
    RestartDaemons,
    CheckStaleCode,
    ResumeWork,
    UnpauseWatcher,
    EnsureJobArchive,
    PostUpgrade,
    VerifyCluster,
    Finish,
}

impl StepId {
    /// Every id, in the procedure's order.
    pub const ALL: [StepId; 26] = [
        StepId::VerifyInstalled,
        StepId::CheckTargetRuns,
        StepId::RehearseConfig,
        StepId::RecordHealth,
        StepId::WriteIntent,
        StepId::StopNewWork,
        StepId::WaitForJobs,
        StepId::PauseWatcher,
        StepId::StopMasterDaemons,
        StepId::ReverifyInstalled,
        StepId::StopDaemons,
        StepId::Backup,
        StepId::DowngradeConfig,
        StepId::SwitchVersion,
        StepId::UpgradeConfig,
        StepId::EnsureDirs,
        StepId::StartDaemons,
        StepId::RedistConf,
        StepId::RestartDaemons,
        StepId::CheckStaleCode,
        StepId::ResumeWork,
        StepId::UnpauseWatcher,
        StepId::EnsureJobArchive,
        StepId::PostUpgrade,
        StepId::VerifyCluster,
        StepId::Finish,
    ];

    /// The id as the journal, the JSON events and the test hooks spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            StepId::VerifyInstalled => "verify-installed",
            StepId::CheckTargetRuns => "check-target-runs",
            StepId::RehearseConfig => "rehearse-config",
            StepId::RecordHealth => "record-health",
            StepId::WriteIntent => "write-intent",
            StepId::StopNewWork => "stop-new-work",
            StepId::WaitForJobs => "wait-for-jobs",
            StepId::PauseWatcher => "pause-watcher",
            StepId::StopMasterDaemons => "stop-master-daemons",
            StepId::ReverifyInstalled => "reverify-installed",
            StepId::StopDaemons => "stop-daemons",
            StepId::Backup => "backup",
            StepId::DowngradeConfig => "downgrade-config",
            StepId::SwitchVersion => "switch-version",
            StepId::UpgradeConfig => "upgrade-config",
            StepId::EnsureDirs => "ensure-dirs",
            StepId::StartDaemons => "start-daemons",
            StepId::RedistConf => "redist-conf",
            StepId::RestartDaemons => "restart-daemons",
            StepId::CheckStaleCode => "check-stale-code",
            StepId::ResumeWork => "resume-work",
            StepId::UnpauseWatcher => "unpause-watcher",
            StepId::EnsureJobArchive => "ensure-job-archive",
            StepId::PostUpgrade => "post-upgrade",
            StepId::VerifyCluster => "verify-cluster",
            StepId::Finish => "finish",
        }
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<StepId> for &'static str {
    fn from(id: StepId) -> &'static str {
        id.as_str()
    }
}

/// A name that is not a step id (a journal of a newer tool, or damaged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown step {0:?}")]
pub struct UnknownStep(pub String);

impl std::str::FromStr for StepId {
    type Err = UnknownStep;
    fn from_str(s: &str) -> Result<StepId, UnknownStep> {
        StepId::ALL
            .into_iter()
            .find(|id| id.as_str() == s)
            .ok_or_else(|| UnknownStep(s.to_string()))
    }
}

impl TryFrom<String> for StepId {
    type Error = UnknownStep;
    fn try_from(s: String) -> Result<StepId, UnknownStep> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_round_trips_through_its_one_spelling() {
        for id in StepId::ALL {
            let json = serde_json::to_string(&id).expect("serialise");
            assert_eq!(json, format!("\"{}\"", id.as_str()));
            assert_eq!(serde_json::from_str::<StepId>(&json).expect("parse"), id);
        }
        assert!(serde_json::from_str::<StepId>("\"no-such-step\"").is_err());
    }
}
