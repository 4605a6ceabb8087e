//! The run state machine's decisions, as a pure function of a job event: which state the
//! run must be in for the event to count, where it goes next, and which job follows.

use algoagent_core::{JobKind, JobOutcome, JobPayload, JobResult, RunStatus, VersionId};

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

/// How many fixes a run may still ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixBudget {
    /// Fixes already asked for.
    pub used: i32,
    /// The run's limit.
    pub max: i32,
    /// Whether the run's provider can fix code at all (the rule compiler cannot).
    pub provider_fixes: bool,
}

impl FixBudget {
    fn left(self) -> bool {
        self.provider_fixes && self.used < self.max
    }
}

/// A failed check: another fix if the budget allows, else the run fails with the reason.
fn failed_check(from: RunStatus, version_id: VersionId, reason: String, budget: FixBudget) -> Step {
    if budget.left() {
        let reason = format!("fix {} of {}: {reason}", budget.used + 1, budget.max);
        Step {
            from,
            to: RunStatus::Fixing,
            next_job: Some(JobPayload::FixV1 { version_id }),
            reason: Some(reason),
        }
    } else if budget.provider_fixes && budget.max > 0 {
        let reason = format!("{reason} (fix budget of {} spent)", budget.max);
        Step { from, to: RunStatus::Failed, next_job: None, reason: Some(reason) }
    } else {
        Step { from, to: RunStatus::Failed, next_job: None, reason: Some(reason) }
    }
}

/// Decides the step for a job event; `None` for the events of standalone kinds, which never
/// move a run.
pub fn decide(kind: JobKind, outcome: &JobOutcome, budget: FixBudget) -> Option<Step> {
    let from = kind.run_state()?;
    Some(decide_in(kind, from, outcome, budget))
}

/// The step for an event of a pipeline kind that runs while the run is in `from`.
fn decide_in(kind: JobKind, from: RunStatus, outcome: &JobOutcome, budget: FixBudget) -> Step {
    let step = |to, next_job, reason| Step { from, to, next_job, reason };
    match outcome {
        JobOutcome::Succeeded { result } => match result {
            // A first version, or a fixed one: either way it is checked from the start.
            JobResult::Generated { version_id } => {
                step(RunStatus::Validating, Some(JobPayload::ValidateV1 { version_id: *version_id }), None)
            }
            JobResult::Validated { version_id, accepted: true, .. } => {
                step(RunStatus::Testing, Some(JobPayload::TestV1 { version_id: *version_id }), None)
            }
            JobResult::Validated { version_id, accepted: false, summary } => {
                failed_check(from, *version_id, format!("validation rejected the code: {summary}"), budget)
            }
            JobResult::Tested { version_id, passed: true, .. } => {
                step(RunStatus::Merging, Some(JobPayload::MergeV1 { version_id: *version_id }), None)
            }
            JobResult::Tested { version_id, passed: false, reason, .. } => failed_check(
                from,
                *version_id,
                format!("backtest failed: {}", reason.as_deref().unwrap_or("no reason given")),
                budget,
            ),
            JobResult::Merged { .. } => step(RunStatus::Merged, None, None),
            // Standalone results have no pipeline step; `decide` never gets here for them.
            JobResult::SandboxRan { .. } => step(from, None, None),
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

    const NO_FIX: FixBudget = FixBudget { used: 0, max: 3, provider_fixes: false };

    #[test]
    fn each_success_enqueues_the_next_step() {
        let v = VersionId(3);
        let s = decide(
            JobKind::Generate,
            &JobOutcome::Succeeded { result: JobResult::Generated { version_id: v } },
            NO_FIX,
        )
        .expect("a pipeline kind");
        assert_eq!(
            (s.from, s.to, s.next_job),
            (RunStatus::Generating, RunStatus::Validating, Some(JobPayload::ValidateV1 { version_id: v }))
        );
        let s = decide(
            JobKind::Validate,
            &JobOutcome::Succeeded {
                result: JobResult::Validated { version_id: v, accepted: true, summary: String::new() },
            },
            NO_FIX,
        )
        .expect("a pipeline kind");
        assert_eq!(s.next_job, Some(JobPayload::TestV1 { version_id: v }));
        let s = decide(
            JobKind::Test,
            &JobOutcome::Succeeded {
                result: JobResult::Tested { version_id: v, backtest_id: 1, passed: true, reason: None },
            },
            NO_FIX,
        )
        .expect("a pipeline kind");
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
            NO_FIX,
        )
        .expect("a pipeline kind");
        assert_eq!((s.to, s.next_job), (RunStatus::Merged, None));
    }

    #[test]
    fn a_failed_check_is_fixed_while_the_budget_lasts() {
        let rejected = JobOutcome::Succeeded {
            result: JobResult::Validated {
                version_id: VersionId(5),
                accepted: false,
                summary: "eval".into(),
            },
        };
        let s = decide(JobKind::Validate, &rejected, FixBudget { used: 1, max: 3, provider_fixes: true })
            .expect("a pipeline kind");
        assert_eq!(
            (s.to, s.next_job),
            (RunStatus::Fixing, Some(JobPayload::FixV1 { version_id: VersionId(5) }))
        );
        assert!(s.reason.as_deref().is_some_and(|r| r.starts_with("fix 2 of 3")));
        let s = decide(JobKind::Validate, &rejected, FixBudget { used: 3, max: 3, provider_fixes: true })
            .expect("a pipeline kind");
        assert_eq!(s.to, RunStatus::Failed);
        assert!(s.reason.as_deref().is_some_and(|r| r.contains("budget of 3 spent")));
        let fixed = JobOutcome::Succeeded { result: JobResult::Generated { version_id: VersionId(6) } };
        let s = decide(JobKind::Fix, &fixed, FixBudget { used: 1, max: 3, provider_fixes: true })
            .expect("a pipeline kind");
        assert_eq!((s.from, s.to), (RunStatus::Fixing, RunStatus::Validating));
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
            NO_FIX,
        )
        .expect("a pipeline kind");
        assert_eq!(s.to, RunStatus::Failed);
        assert!(s.reason.as_deref().is_some_and(|r| r.contains("eval")));
        let s = decide(
            JobKind::Test,
            &JobOutcome::Dead { reason: "attempts_exhausted".into(), error: "docker".into() },
            NO_FIX,
        )
        .expect("a pipeline kind");
        assert_eq!((s.from, s.to), (RunStatus::Testing, RunStatus::Dead));
        for kind in JobKind::ALL {
            let Some(s) = decide(kind, &JobOutcome::Failed { error: "x".into() }, NO_FIX) else {
                assert!(kind.is_standalone(), "{kind}");
                continue;
            };
            assert!(s.from.can_move_to(s.to), "{kind}");
        }
    }
}
