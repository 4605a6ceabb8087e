//! Persisting a job's outcome: the effect rows (versions, backtests, failure memory), then the
//! engine's settle (status, transition, and the event, retry or dead-letter message), all in
//! one transaction. A result commits only
//! while the job row still carries our attempt: a fenced-out worker rolls back.

use algoagent_core::LlmCall;
use algoagent_core::{JobError, JobResult, VersionId, retry_tier};
use algoagent_gitflow::MergeOutcome;
use algoagent_jobs::db::DbError;
use algoagent_jobs::db::jobs::{self, JobRow};
use algoagent_store::backtests::NewBacktest;
use algoagent_store::versions::{self, NewVersion, VersionRow};
use sqlx::PgConnection;

use crate::context::WorkerContext;

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
async fn persist(conn: &mut PgConnection, row: &JobRow, effect: Effect) -> Result<JobResult, DbError> {
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

/// Commits a handler's outcome according to its failure class.
pub async fn outcome(
    ctx: &WorkerContext,
    row: &JobRow,
    result: Result<Effect, JobError>,
) -> anyhow::Result<()> {
    let Some(kind) = jobs::kind_of(row) else {
        return dead(ctx, row, Some(row.attempt), "unknown_kind", &format!("stored kind '{}'", row.kind))
            .await;
    };
    let settler = &ctx.settler;
    match result {
        Ok(effect) => {
            let mut tx = ctx.pool.begin().await?;
            let result = persist(&mut tx, row, effect).await?;
            if !settler.succeed(&mut tx, row, kind, result).await? {
                tracing::warn!("fenced out: another attempt owns this job; discarding our result");
                return Ok(());
            }
            tx.commit().await?;
        }
        Err(JobError::Permanent(error)) => {
            let mut tx = ctx.pool.begin().await?;
            if settler.fail(&mut tx, row, kind, error).await? {
                tx.commit().await?;
            }
        }
        Err(JobError::Poison(error)) => return dead(ctx, row, Some(row.attempt), "poison", &error).await,
        Err(err @ (JobError::Transient(_) | JobError::RetryAfter { .. })) => {
            let error = err.to_string();
            if row.attempt >= row.max_attempts {
                return dead(ctx, row, Some(row.attempt), "attempts_exhausted", &error).await;
            }
            let at_least = match &err {
                JobError::RetryAfter { after, .. } => Some(*after),
                _ => None,
            };
            let tier = retry_tier(row.attempt, at_least);
            let Some(envelope) = row.envelope() else {
                return dead(ctx, row, Some(row.attempt), "undecodable", "stored payload no longer decodes")
                    .await;
            };
            let mut tx = ctx.pool.begin().await?;
            if settler.retry(&mut tx, row, &envelope, &error, tier).await? {
                tx.commit().await?;
                metrics::counter!("algoagent_job_retries_total", "kind" => kind.as_str()).increment(1);
                tracing::info!(retry_in_s = tier.as_secs(), "transient failure; retry scheduled");
            }
        }
    }
    Ok(())
}

/// Dead-letters a job (see [`algoagent_jobs::settle::Settler::dead`]) and says so.
pub async fn dead(
    ctx: &WorkerContext,
    row: &JobRow,
    running_attempt: Option<i32>,
    reason: &str,
    error: &str,
) -> anyhow::Result<()> {
    if ctx.settler.dead(&ctx.pool, row, running_attempt, reason, error).await? {
        tracing::warn!(reason, error, "job dead-lettered");
    }
    Ok(())
}
