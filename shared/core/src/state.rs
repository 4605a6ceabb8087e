//! The run state machine of `docs/ARCHITECTURE.md` and the job statuses, as types with their allowed
//! moves, so no caller can write a transition the design does not have.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::envelope::JobKind;

impl JobKind {
    /// The run state in which a job of this kind runs; `None` for standalone kinds, which
    /// run beside a run's pipeline and never move it.
    pub fn run_state(self) -> Option<RunStatus> {
        match self {
            Self::Generate => Some(RunStatus::Generating),
            Self::Validate => Some(RunStatus::Validating),
            Self::Test => Some(RunStatus::Testing),
            Self::Fix => Some(RunStatus::Fixing),
            Self::Merge => Some(RunStatus::Merging),
            Self::Sandbox => None,
        }
    }
}

/// Where a run is in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Accepted, nothing started.
    Submitted,
    /// Code is being generated.
    Generating,
    /// Code is being checked.
    Validating,
    /// Code is being backtested.
    Testing,
    /// Code is being repaired.
    Fixing,
    /// Code is being committed.
    Merging,
    /// Code is on `main`.
    Merged,
    /// A merged version is tagged.
    Deployed,
    /// A deployed version was reverted.
    RolledBack,
    /// The run cannot succeed.
    Failed,
    /// A user stopped the run.
    Cancelled,
    /// A job of the run was dead-lettered.
    Dead,
}

impl RunStatus {
    /// Every status, for parsing.
    pub const ALL: [RunStatus; 12] = [
        Self::Submitted,
        Self::Generating,
        Self::Validating,
        Self::Testing,
        Self::Fixing,
        Self::Merging,
        Self::Merged,
        Self::Deployed,
        Self::RolledBack,
        Self::Failed,
        Self::Cancelled,
        Self::Dead,
    ];

    /// The snake_case name stored in Postgres.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Generating => "generating",
            Self::Validating => "validating",
            Self::Testing => "testing",
            Self::Fixing => "fixing",
            Self::Merging => "merging",
            Self::Merged => "merged",
            Self::Deployed => "deployed",
            Self::RolledBack => "rolled_back",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Dead => "dead",
        }
    }

    /// True when no job of the run will run again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Merged | Self::Deployed | Self::RolledBack | Self::Failed | Self::Cancelled | Self::Dead
        )
    }

    /// Whether the design allows moving from `self` to `to`.
    pub fn can_move_to(self, to: RunStatus) -> bool {
        use RunStatus::*;
        match (self, to) {
            (from, Failed | Cancelled | Dead) => !from.is_terminal(),
            (Submitted, Generating)
            | (Generating, Validating)
            | (Validating, Testing | Fixing)
            | (Testing, Merging | Fixing)
            | (Fixing, Validating)
            | (Merging, Merged)
            | (Merged | RolledBack, Deployed)
            | (Deployed, RolledBack | Deployed)
            // An operator replayed the dead-lettered job: the run resumes at its step.
            | (Dead, Generating | Validating | Testing | Fixing | Merging) => true,
            _ => false,
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("unknown run status '{s}'"))
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting in a queue (first time or after a retry).
    Queued,
    /// Held by a worker under a lease.
    Running,
    /// Result committed.
    Succeeded,
    /// Permanently failed.
    Failed,
    /// Dead-lettered.
    Dead,
    /// Its run was cancelled.
    Cancelled,
}

impl JobStatus {
    /// The name stored in Postgres.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
        }
    }

    /// True when the job will not run again (unless replayed from the dead-letter queue).
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

impl FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed, Self::Dead, Self::Cancelled]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown job status '{s}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::RunStatus::*;

    #[test]
    fn the_happy_path_is_allowed_and_shortcuts_are_not() {
        let path = [Submitted, Generating, Validating, Testing, Merging, Merged, Deployed, RolledBack];
        for pair in path.windows(2) {
            assert!(pair[0].can_move_to(pair[1]), "{} -> {}", pair[0], pair[1]);
        }
        assert!(!Submitted.can_move_to(Merged));
        assert!(!Generating.can_move_to(Testing));
        assert!(!Merged.can_move_to(Failed));
        assert!(Testing.can_move_to(Fixing) && Fixing.can_move_to(Validating));
    }

    #[test]
    fn only_live_runs_can_fail_or_be_cancelled() {
        for status in super::RunStatus::ALL {
            assert_eq!(status.can_move_to(Cancelled), !status.is_terminal(), "{status}");
        }
    }
}
