//! Persisting a job's outcome: the effect rows, the job's new status, its transition and the
//! event (or retry, or dead-letter) message, all in one transaction. A result commits only
//! while the job row still carries our attempt: a fenced-out worker rolls back.

use std::collections::BTreeMap;

use shared::db::DbError;
use shared::db::backtests::NewBacktest;
use shared::db::dead_letters::{self, NewDeadLetter};
use shared::db::jobs::{self, JobRow};
use shared::db::outbox::{self, OutboxMessage};
use shared::db::versions::{self, NewVersion, VersionRow};
use shared::gitflow::MergeOutcome;
use shared::job::{
    ENVELOPE_VERSION, JobEnvelope, JobError, JobEvent, JobKind, JobOutcome, JobResult, JobStatus, VersionId,
    retry_tier, tier_name,
};
use shared::llm::LlmCall;
use shared::queue::RETRY_TIER_HEADER;
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
        report: shared::validate::Report,
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
    shared::memory::record_failure(conn, version.run_id, version.id.0, failure, &version.code).await?;
    Ok(())
}

/// Persists the effect rows and returns the result to report.
async fn persist(conn: &mut PgConnection, row: &JobRow, effect: Effect) -> Result<JobResult, DbError> {
    Ok(match effect {
        Effect::Generated { version, calls } => {
            shared::memory::record_llm_calls(conn, row.run_id, row.id, &calls).await?;
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
            let backtest_id = shared::db::backtests::insert(conn, &backtest).await?;
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
                    shared::memory::record_fix(conn, failure_id, &version.code).await?;
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

fn event_message(ctx: &WorkerContext, row: &JobRow, kind: JobKind, outcome: JobOutcome) -> OutboxMessage {
    let routing_key = format!("job.{}.{}", kind.as_str(), outcome.word());
    let event = JobEvent {
        v: ENVELOPE_VERSION,
        job_id: row.id,
        run_id: row.run_id,
        kind,
        attempt: row.attempt,
        outcome,
    };
    OutboxMessage {
        exchange: ctx.names.events_exchange(),
        routing_key,
        payload: serde_json::to_value(&event).unwrap_or_default(),
        headers: BTreeMap::new(),
    }
}

fn actor(ctx: &WorkerContext) -> String {
    format!("worker:{}", ctx.worker_id)
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
    match result {
        Ok(effect) => {
            let mut tx = ctx.pool.begin().await?;
            let result = persist(&mut tx, row, effect).await?;
            if !jobs::finish(
                &mut tx,
                row.id,
                row.attempt,
                JobStatus::Succeeded,
                Some(&result),
                None,
                &actor(ctx),
            )
            .await?
            {
                tracing::warn!("fenced out: another attempt owns this job; discarding our result");
                return Ok(());
            }
            outbox::push(&mut tx, &event_message(ctx, row, kind, JobOutcome::Succeeded { result })).await?;
            tx.commit().await?;
        }
        Err(JobError::Permanent(error)) => {
            let mut tx = ctx.pool.begin().await?;
            if !jobs::finish(&mut tx, row.id, row.attempt, JobStatus::Failed, None, Some(&error), &actor(ctx))
                .await?
            {
                return Ok(());
            }
            outbox::push(&mut tx, &event_message(ctx, row, kind, JobOutcome::Failed { error })).await?;
            tx.commit().await?;
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
            if !jobs::finish(&mut tx, row.id, row.attempt, JobStatus::Queued, None, Some(&error), &actor(ctx))
                .await?
            {
                return Ok(());
            }
            outbox::push(&mut tx, &retry_message(ctx, &envelope, tier)).await?;
            tx.commit().await?;
            metrics::counter!("algoagent_job_retries_total", "kind" => kind.as_str()).increment(1);
            tracing::info!(retry_in_s = tier.as_secs(), "transient failure; retry scheduled");
        }
    }
    Ok(())
}

fn retry_message(ctx: &WorkerContext, envelope: &JobEnvelope, tier: std::time::Duration) -> OutboxMessage {
    OutboxMessage {
        exchange: ctx.names.retry_exchange(),
        routing_key: envelope.kind.as_str().to_owned(),
        payload: serde_json::to_value(envelope).unwrap_or_default(),
        headers: BTreeMap::from([(RETRY_TIER_HEADER.to_owned(), tier_name(tier))]),
    }
}

/// Sends the same message back through a retry tier, to look again once the current
/// holder's lease has run out (a duplicate delivery while another worker runs the job).
pub async fn recheck_later(ctx: &WorkerContext, envelope: &JobEnvelope) -> anyhow::Result<()> {
    let lease = ctx.settings.lease_ttl;
    let tier = shared::job::RETRY_TIERS
        .iter()
        .copied()
        .find(|t| *t >= lease / 2)
        .unwrap_or(shared::job::RETRY_TIERS[4]);
    let mut tx = ctx.pool.begin().await?;
    outbox::push(&mut tx, &retry_message(ctx, envelope, tier)).await?;
    tx.commit().await?;
    Ok(())
}

fn dead_letter_message(
    ctx: &WorkerContext,
    raw: &[u8],
    kind: Option<&str>,
    reason: &str,
    error: &str,
) -> OutboxMessage {
    let payload = serde_json::from_slice(raw).unwrap_or_else(
        |_| serde_json::json!({
        // Escaped, because Postgres text and jsonb refuse NUL and the bytes may be anything.
        "raw": String::from_utf8_lossy(raw).chars().take(4096).collect::<String>().escape_debug().to_string()
    }),
    );
    let mut headers = BTreeMap::from([
        ("x-algoagent-reason".to_owned(), reason.to_owned()),
        ("x-algoagent-error".to_owned(), error.chars().take(1024).collect()),
    ]);
    if let Some(kind) = kind {
        headers.insert("x-algoagent-kind".into(), kind.to_owned());
    }
    OutboxMessage {
        exchange: ctx.names.dlx(),
        routing_key: kind.unwrap_or("unknown").to_owned(),
        payload,
        headers,
    }
}

/// Dead-letters a message that has no usable job row (undecodable, unknown kind, missing).
pub async fn dead_letter_raw(
    ctx: &WorkerContext,
    raw: &[u8],
    envelope: Option<&JobEnvelope>,
    reason: &str,
    error: &str,
) -> anyhow::Result<()> {
    let kind = envelope.map(|e| e.kind.as_str());
    let mut tx = ctx.pool.begin().await?;
    dead_letters::insert(
        &mut tx,
        &NewDeadLetter {
            job_id: envelope.map(|e| e.job_id),
            run_id: envelope.map(|e| e.run_id),
            kind,
            reason,
            error,
            raw,
        },
        &actor(ctx),
    )
    .await?;
    outbox::push(&mut tx, &dead_letter_message(ctx, raw, kind, reason, error)).await?;
    tx.commit().await?;
    count_dead_letter(kind, reason);
    Ok(())
}

/// Dead-letters a job: row `dead`, a `dead_letters` row, the message to `<ns>.dlx` with the
/// reason in headers, and a `dead` event so the run shows it.
pub async fn dead(
    ctx: &WorkerContext,
    row: &JobRow,
    running_attempt: Option<i32>,
    reason: &str,
    error: &str,
) -> anyhow::Result<()> {
    let Some(envelope) = row.envelope() else {
        return dead_letter_raw(ctx, row.payload.to_string().as_bytes(), None, reason, error).await;
    };
    let raw = serde_json::to_vec(&envelope)?;
    let mut tx = ctx.pool.begin().await?;
    let moved = match running_attempt {
        Some(attempt) => {
            jobs::finish(&mut tx, row.id, attempt, JobStatus::Dead, None, Some(error), &actor(ctx)).await?
        }
        None => jobs::set_status(&mut tx, row.id, JobStatus::Dead, Some(error), &actor(ctx)).await?,
    };
    if !moved {
        return Ok(());
    }
    dead_letters::insert(
        &mut tx,
        &NewDeadLetter {
            job_id: Some(row.id),
            run_id: Some(row.run_id),
            kind: Some(envelope.kind.as_str()),
            reason,
            error,
            raw: &raw,
        },
        &actor(ctx),
    )
    .await?;
    outbox::push(&mut tx, &dead_letter_message(ctx, &raw, Some(envelope.kind.as_str()), reason, error))
        .await?;
    let outcome = JobOutcome::Dead { reason: reason.to_owned(), error: error.to_owned() };
    outbox::push(&mut tx, &event_message(ctx, row, envelope.kind, outcome)).await?;
    tx.commit().await?;
    count_dead_letter(Some(envelope.kind.as_str()), reason);
    tracing::warn!(reason, error, "job dead-lettered");
    Ok(())
}

/// Counts a committed dead letter by kind and reason (a closed set of words).
fn count_dead_letter(kind: Option<&str>, reason: &str) {
    metrics::counter!(
        "algoagent_dead_letters_total",
        "kind" => kind.unwrap_or("unknown").to_owned(),
        "reason" => reason.to_owned()
    )
    .increment(1);
}
