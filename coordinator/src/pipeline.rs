//! The run state machine's decisions, as a pure function of a job event: which state the
//! run must be in for the event to count, where it goes next, and which job follows.

use shared::job::{JobKind, JobOutcome, JobPayload, JobResult, RunStatus};

/// What an event does to its run.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The state the run must be in; otherwise the event is stale or a duplicate.
    pub from: RunStatus,
    /// The state it moves to.
    pub to: RunStatus,
    /// The job to enqueue in the same transaction, if any.
    pub next_job: Option<JobPayload>,
    /// Why (stored in the transition's details and, for failures, on the run).
    pub reason: Option<String>,
}

/// Decides the step for a job event.
pub fn decide(kind: JobKind, outcome: &JobOutcome) -> Step {
    let from = kind.run_state();
    let step = |to, next_job, reason| Step { from, to, next_job, reason };
    match outcome {
        JobOutcome::Succeeded { result } => match result {
            JobResult::Generated { version_id } => {
                step(RunStatus::Validating, Some(JobPayload::ValidateV1 { version_id: *version_id }), None)
            }
            JobResult::Validated { version_id, accepted: true, .. } => {
                step(RunStatus::Testing, Some(JobPayload::TestV1 { version_id: *version_id }), None)
            }
            JobResult::Validated { accepted: false, summary, .. } => {
                step(RunStatus::Failed, None, Some(format!("validation rejected the code: {summary}")))
            }
            JobResult::Tested { version_id, passed: true, .. } => {
                step(RunStatus::Merging, Some(JobPayload::MergeV1 { version_id: *version_id }), None)
            }
            JobResult::Tested { passed: false, reason, .. } => step(
                RunStatus::Failed,
                None,
                Some(format!("backtest failed: {}", reason.as_deref().unwrap_or("no reason given"))),
            ),
            JobResult::Merged { .. } => step(RunStatus::Merged, None, None),
        },
        JobOutcome::Failed { error } => {
            step(RunStatus::Failed, None, Some(format!("{kind} failed: {error}")))
        }
        JobOutcome::Dead { reason, error } => {
            step(RunStatus::Dead, None, Some(format!("{kind} job dead-lettered ({reason}): {error}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::job::VersionId;

    #[test]
    fn each_success_enqueues_the_next_step() {
        let v = VersionId(3);
        let s = decide(
            JobKind::Generate,
            &JobOutcome::Succeeded { result: JobResult::Generated { version_id: v } },
        );
        assert_eq!(
            (s.from, s.to, s.next_job),
            (RunStatus::Generating, RunStatus::Validating, Some(JobPayload::ValidateV1 { version_id: v }))
        );
        let s = decide(
            JobKind::Validate,
            &JobOutcome::Succeeded {
                result: JobResult::Validated { version_id: v, accepted: true, summary: String::new() },
            },
        );
        assert_eq!(s.next_job, Some(JobPayload::TestV1 { version_id: v }));
        let s = decide(
            JobKind::Test,
            &JobOutcome::Succeeded {
                result: JobResult::Tested { version_id: v, backtest_id: 1, passed: true, reason: None },
            },
        );
        assert_eq!(s.next_job, Some(JobPayload::MergeV1 { version_id: v }));
        let s = decide(
            JobKind::Merge,
            &JobOutcome::Succeeded {
                result: JobResult::Merged {
                    version_id: v,
                    version_commit: "a".into(),
                    merge_commit: "b".into(),
                },
            },
        );
        assert_eq!((s.to, s.next_job), (RunStatus::Merged, None));
    }

    #[test]
    fn rejections_and_failures_end_the_run_with_a_reason() {
        let s = decide(
            JobKind::Validate,
            &JobOutcome::Succeeded {
                result: JobResult::Validated {
                    version_id: VersionId(1),
                    accepted: false,
                    summary: "line 1: eval".into(),
                },
            },
        );
        assert_eq!(s.to, RunStatus::Failed);
        assert!(s.reason.as_deref().is_some_and(|r| r.contains("eval")));
        let s = decide(
            JobKind::Test,
            &JobOutcome::Dead { reason: "attempts_exhausted".into(), error: "docker".into() },
        );
        assert_eq!((s.from, s.to), (RunStatus::Testing, RunStatus::Dead));
        for kind in JobKind::ALL {
            let s = decide(kind, &JobOutcome::Failed { error: "x".into() });
            assert!(s.from.can_move_to(s.to), "{kind}");
        }
    }
}
