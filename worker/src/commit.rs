//! What a handler produced and how it is written: the effect rows (versions, backtests,
//! failure memory), inside the engine's settling transaction (`algoagent_jobs::runner`), which
//! also ends the job and queues its event. A result commits only
//! while the job row still carries our attempt: a fenced-out worker rolls back.

use algoagent_core::LlmCall;
use algoagent_core::{JobResult, VersionId};
use algoagent_gitflow::MergeOutcome;
use algoagent_jobs::db::DbError;
use algoagent_jobs::db::jobs::JobRow;
use algoagent_store::backtests::NewBacktest;
use algoagent_store::versions::{self, NewVersion, VersionRow};
use sqlx::PgConnection;

/// What a successful handler produced, persisted by [`outcome`].
#[derive(Debug)]
pub enum Effect {
    /// New code to store as a version (generate and fix jobs).
    Generated {
        /// The version.
        version: NewVersion,
        /// The model requests it took, for accounting.
        calls: Vec<LlmCall>,
    },
    /// The validator's report on a version.
    Validated {
        /// The version checked.
        version: VersionRow,
        /// The report.
        report: algoagent_validate::Report,
    },
    /// A backtest to store.
    Tested {
        /// The version tested.
        version: VersionRow,
        /// The backtest row.
        backtest: NewBacktest,
        /// Why it did not pass (one line).
        reason: Option<String>,
        /// What a fix needs to know: the reason plus the traceback, when it did not pass.
        failure: Option<String>,
    },
    /// A standalone sandbox run's report, and its backtest row (run-sandbox).
    SandboxRan {
        /// The version run.
        version_id: VersionId,
        /// What happened.
        report: algoagent_core::SandboxReport,
        /// The backtest to store, for run-sandbox.
        backtest: Option<NewBacktest>,
    },
    /// The merge that happened.
    Merged {
        /// The version merged.
        version_id: VersionId,
        /// Commits.
        outcome: MergeOutcome,
    },
}

/// Remembers a failed version (for its fix prompt and for future similar failures).
async fn remember_failure(
    conn: &mut PgConnection,
    version: &VersionRow,
    failure: &str,
) -> Result<(), DbError> {
    versions::set_failure(conn, version.id, failure).await?;
    algoagent_store::memory::record_failure(conn, version.run_id, version.id.0, failure, &version.code)
        .await?;
    Ok(())
}

/// Persists the effect rows and returns the result to report.
pub async fn persist(conn: &mut PgConnection, row: &JobRow, effect: Effect) -> Result<JobResult, DbError> {
    Ok(match effect {
        Effect::Generated { version, calls } => {
            algoagent_store::memory::record_llm_calls(conn, row.run_id, row.id, &calls).await?;
            JobResult::Generated { version_id: versions::insert(conn, &version).await? }
        }
        Effect::Validated { version, report } => {
            let findings = serde_json::to_value(&report.findings).unwrap_or_default();
            let metadata = serde_json::to_value(&report.metadata).unwrap_or_default();
            versions::set_validation(conn, version.id, report.accepted(), &findings, &metadata).await?;
            if !report.accepted() {
                let rendered: Vec<String> = report.errors().map(|f| f.render()).collect();
                remember_failure(
                    conn,
                    &version,
                    &format!("The validator refused the code:\n{}", rendered.join("\n")),
                )
                .await?;
            }
            JobResult::Validated {
                version_id: version.id,
                accepted: report.accepted(),
                summary: report.summary(),
            }
        }
        Effect::Tested { version, backtest, reason, failure } => {
            let backtest_id = algoagent_store::backtests::insert(conn, &backtest).await?;
            if let Some(failure) = &failure {
                remember_failure(conn, &version, failure).await?;
            } else if let Some(parent) = version.parent_id {
                // A fix that passed: the failure it repaired now has a known-good fix.
                let failure_id: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM memories WHERE kind = 'failure' AND version_id = $1")
                        .bind(parent.0)
                        .fetch_optional(&mut *conn)
                        .await?;
                if let Some(failure_id) = failure_id {
                    algoagent_store::memory::record_fix(conn, failure_id, &version.code).await?;
                }
            }
            JobResult::Tested { version_id: version.id, backtest_id, passed: backtest.passed, reason }
        }
        Effect::SandboxRan { version_id, report, backtest } => {
            let backtest_id = match &backtest {
                Some(b) => Some(algoagent_store::backtests::insert(conn, b).await?),
                None => None,
            };
            JobResult::SandboxRan { version_id, backtest_id, report }
        }
        Effect::Merged { version_id, outcome } => {
            versions::set_commit(conn, version_id, &outcome.merge_commit).await?;
            JobResult::Merged {
                version_id,
                version_commit: outcome.version_commit,
                merge_commit: outcome.merge_commit,
            }
        }
    })
}
