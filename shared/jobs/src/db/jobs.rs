//! Job rows: enqueue (with its message), claim under a fenced lease, and finish. The
//! attempt number is the fence: a result commits only if the row still carries the attempt
//! the worker started with (invariant 3).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::DbError;
use super::outbox::OutboxMessage;
use super::transitions::{self, Transition};
use algoagent_core::{
    ENVELOPE_VERSION, JobEnvelope, JobId, JobKind, JobPayload, JobResult, JobStatus, RunId, StrategyId,
};

/// A job row.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct JobRow {
    /// Job id.
    pub id: JobId,
    /// Its run.
    pub run_id: RunId,
    /// The run's strategy.
    pub strategy_id: StrategyId,
    /// Kind name.
    pub kind: String,
    /// Status name.
    pub status: String,
    /// Attempts started so far.
    pub attempt: i32,
    /// Attempt limit.
    pub max_attempts: i32,
    /// Dedupe key (`<run>:<kind>:<version>`).
    pub idempotency_key: String,
    /// The payload as JSON.
    pub payload: serde_json::Value,
    /// The committed result.
    pub result: Option<serde_json::Value>,
    /// The last error.
    pub error: Option<String>,
    /// Worker holding the lease.
    pub lease_owner: Option<String>,
    /// When the lease runs out.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last (re-)enqueued, for queue-wait measurements.
    pub enqueued_at: DateTime<Utc>,
    /// Last attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// The trace context it was enqueued under (`traceparent`, `tracestate`).
    #[sqlx(default)]
    pub trace_context: serde_json::Value,
}

impl JobRow {
    /// The trace context its messages carry as headers (empty when tracing was off).
    pub fn trace_headers(&self) -> std::collections::BTreeMap<String, String> {
        serde_json::from_value(self.trace_context.clone()).unwrap_or_default()
    }

    /// The typed status.
    pub fn status(&self) -> JobStatus {
        self.status.parse().unwrap_or(JobStatus::Failed)
    }

    /// The typed payload (`None` if the stored JSON no longer decodes).
    pub fn payload(&self) -> Option<JobPayload> {
        serde_json::from_value(self.payload.clone()).ok()
    }

    /// The message that (re-)publishes this job.
    pub fn envelope(&self) -> Option<JobEnvelope> {
        let payload = self.payload()?;
        Some(JobEnvelope {
            v: ENVELOPE_VERSION,
            job_id: self.id,
            run_id: self.run_id,
            strategy_id: self.strategy_id,
            kind: payload.kind(),
            attempt: self.attempt + 1,
            payload,
        })
    }
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Pre-generated id.
    pub id: JobId,
    /// Its run.
    pub run_id: RunId,
    /// The run's strategy.
    pub strategy_id: StrategyId,
    /// What to do.
    pub payload: JobPayload,
    /// Attempts before the job is dead-lettered.
    pub max_attempts: i32,
}

impl NewJob {
    /// The dedupe key: one job per run, kind and version, however often an event repeats.
    /// A standalone job is one per request, so its own id is its key.
    pub fn idempotency_key(&self) -> String {
        let kind = self.payload.kind();
        if kind.is_standalone() {
            return format!("{}:{kind}:{}", self.run_id, self.id);
        }
        let version = self.payload.version_id().map_or_else(|| "-".to_owned(), |v| v.to_string());
        format!("{}:{}:{}", self.run_id, self.payload.kind(), version)
    }
}

/// Inserts the job (unless its idempotency key exists), audits it, and puts its message
/// in the outbox addressed to `exchange`. Returns false for a duplicate.
///
/// One statement (the row, its transition and its message, or none of them), so enqueuing
/// costs one round trip inside the caller's transaction.
pub async fn enqueue(
    conn: &mut PgConnection,
    job: &NewJob,
    exchange: &str,
    actor: &str,
) -> Result<bool, DbError> {
    let kind = job.payload.kind();
    let payload = serde_json::to_value(&job.payload).map_err(|e| DbError::Conflict(e.to_string()))?;
    // The enqueuing span (an HTTP request, an event the coordinator applies) parents the job.
    let trace = serde_json::to_value(algoagent_runtime::tracecontext::current_headers()).unwrap_or_default();
    let envelope = JobEnvelope {
        v: ENVELOPE_VERSION,
        job_id: job.id,
        run_id: job.run_id,
        strategy_id: job.strategy_id,
        kind,
        attempt: 1,
        payload: job.payload.clone(),
    };
    let envelope = serde_json::to_value(&envelope).map_err(|e| DbError::Conflict(e.to_string()))?;
    let inserted = sqlx::query(
        "WITH job AS (
           INSERT INTO jobs (id, run_id, strategy_id, kind, status, max_attempts, idempotency_key, payload, trace_context)
           VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING
           RETURNING id),
         audit AS (
           INSERT INTO transitions (entity_type, entity_id, from_state, to_state, actor, job_id, details, prev_hash, hash)
           SELECT 'job', id::text, NULL, 'queued', $9, id, $10, '', '' FROM job)
         INSERT INTO outbox (exchange, routing_key, payload, headers)
         SELECT $11, $4, $12, $8 FROM job",
    )
    .bind(job.id)
    .bind(job.run_id)
    .bind(job.strategy_id)
    .bind(kind.as_str())
    .bind(job.max_attempts)
    .bind(job.idempotency_key())
    .bind(&payload)
    .bind(&trace)
    .bind(actor)
    .bind(serde_json::json!({ "kind": kind, "run_id": job.run_id }))
    .bind(exchange)
    .bind(&envelope)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    Ok(inserted)
}

/// What a worker found when it tried to take a job.
#[derive(Debug, Clone)]
pub enum ClaimOutcome {
    /// The job is ours, at this attempt.
    Claimed(JobRow),
    /// The job already finished (a redelivery): ack without running.
    Finished(JobStatus),
    /// Another worker holds a live lease.
    Busy,
    /// Attempts are spent: dead-letter.
    OverLimit(JobRow),
    /// No such job (poison).
    Missing,
}

/// Takes a queued job (or one whose lease expired): status `running`, attempt + 1, lease
/// until now + `lease`. Audited, in its own transaction.
///
/// The common case is one statement (lock, update and transition together, one round trip
/// and one commit); only a job that is not claimable takes the slower path that says why.
pub async fn claim(
    pool: &PgPool,
    job_id: JobId,
    worker: &str,
    lease: Duration,
) -> Result<ClaimOutcome, DbError> {
    match claim_many(pool, &[job_id], worker, lease).await?.pop() {
        Some(row) => Ok(ClaimOutcome::Claimed(row)),
        None => claim_or_explain(pool, job_id, worker, lease).await,
    }
}

/// Takes every claimable job of `job_ids` in one statement (one round trip, one commit), as
/// [`claim`] takes one; returns the rows it took. A job it did not take (busy, finished,
/// over its limit, missing) is left as it was, for [`claim`] to say why.
///
/// Rows are locked in id order, so two such claims never wait for each other in a cycle.
pub async fn claim_many(
    pool: &PgPool,
    job_ids: &[JobId],
    worker: &str,
    lease: Duration,
) -> Result<Vec<JobRow>, DbError> {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    Ok(sqlx::query_as::<_, JobRow>(
        "WITH old AS (SELECT id, status FROM jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE),
         claimed AS (
           UPDATE jobs j SET status = 'running', attempt = j.attempt + 1, lease_owner = $2,
                  lease_expires_at = now() + make_interval(secs => $3::double precision / 1000),
                  started_at = now(), updated_at = now()
             FROM old
            WHERE j.id = old.id AND j.attempt < j.max_attempts
              AND (old.status = 'queued'
                   OR (old.status = 'running' AND coalesce(j.lease_expires_at <= now(), true)))
           RETURNING j.*, old.status AS from_status),
         audit AS (
           INSERT INTO transitions (entity_type, entity_id, from_state, to_state, actor, job_id, details, prev_hash, hash)
           SELECT 'job', id::text, from_status, 'running', 'worker:' || $2, id,
                  jsonb_build_object('attempt', attempt), '', ''
             FROM claimed)
         SELECT * FROM claimed",
    )
    .bind(job_ids)
    .bind(worker)
    .bind(lease_ms)
    .fetch_all(pool)
    .await?)
}

/// The slow path of [`claim`]: reads the job under lock and says why it cannot be taken (or
/// takes it, if it became claimable since).
async fn claim_or_explain(
    pool: &PgPool,
    job_id: JobId,
    worker: &str,
    lease: Duration,
) -> Result<ClaimOutcome, DbError> {
    let mut tx = pool.begin().await?;
    let Some(row) = sqlx::query_as::<_, JobRow>("SELECT * FROM jobs WHERE id = $1 FOR UPDATE")
        .bind(job_id)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(ClaimOutcome::Missing);
    };
    let status = row.status();
    if status.is_terminal() {
        return Ok(ClaimOutcome::Finished(status));
    }
    if status == JobStatus::Running && row.lease_expires_at.is_some_and(|t| t > Utc::now()) {
        return Ok(ClaimOutcome::Busy);
    }
    if row.attempt >= row.max_attempts {
        return Ok(ClaimOutcome::OverLimit(row));
    }
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let claimed = sqlx::query_as::<_, JobRow>(
        "UPDATE jobs SET status = 'running', attempt = attempt + 1, lease_owner = $2,
                lease_expires_at = now() + make_interval(secs => $3::double precision / 1000),
                started_at = now(), updated_at = now()
          WHERE id = $1 RETURNING *",
    )
    .bind(job_id)
    .bind(worker)
    .bind(lease_ms)
    .fetch_one(&mut *tx)
    .await?;
    transitions::record(
        &mut tx,
        &Transition {
            entity_type: "job",
            entity_id: job_id.to_string(),
            from: Some(status.as_str().into()),
            to: JobStatus::Running.as_str().into(),
            actor: format!("worker:{worker}"),
            job_id: Some(job_id),
            details: serde_json::json!({ "attempt": claimed.attempt }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(ClaimOutcome::Claimed(claimed))
}

/// Extends the lease of a job this worker still holds at `attempt`; false if fenced out.
pub async fn extend_lease(
    pool: &PgPool,
    job_id: JobId,
    attempt: i32,
    lease: Duration,
) -> Result<bool, DbError> {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    Ok(sqlx::query(
        "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3::double precision / 1000)
          WHERE id = $1 AND attempt = $2 AND status = 'running'",
    )
    .bind(job_id)
    .bind(attempt)
    .bind(lease_ms)
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// [`finish`]'s statement, ending in `$tail`: the move (only from `running` at the caller's
/// attempt) and its transition, counted.
macro_rules! finish_sql {
    ($tail:literal) => {
        concat!(
            "WITH moved AS (
               UPDATE jobs SET status = $3, result = coalesce($4, result), error = $5, lease_owner = NULL,
                      lease_expires_at = NULL, updated_at = now(),
                      finished_at = CASE WHEN $6 THEN now() ELSE NULL END,
                      enqueued_at = CASE WHEN $6 THEN enqueued_at ELSE now() END
                WHERE id = $1 AND attempt = $2 AND status = 'running'
               RETURNING id),
             audit AS (
               INSERT INTO transitions (entity_type, entity_id, from_state, to_state, actor, job_id, details, prev_hash, hash)
               SELECT 'job', id::text, 'running', $3, $7, id, $8, '', '' FROM moved
               RETURNING 1)",
            $tail
        )
    };
}

/// The move alone.
const FINISH: &str = finish_sql!(" SELECT count(*) FROM audit");

/// The move and, only when it happened, the message that follows it.
const FINISH_THEN: &str = finish_sql!(
    ", message AS (
         INSERT INTO outbox (exchange, routing_key, payload, headers) SELECT $9, $10, $11, $12 FROM moved)
     SELECT count(*) FROM audit"
);

/// What [`finish`] writes: the job's new status and what it ended with.
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a> {
    /// The new status (final, or `queued` for a retry).
    pub to: JobStatus,
    /// The result, on success.
    pub result: Option<&'a JobResult>,
    /// The error, on failure.
    pub error: Option<&'a str>,
    /// Who moved it (the transition's actor).
    pub actor: &'a str,
}

/// Moves a running job at `attempt` to a final or retry status, audited, and puts `then`
/// (the event or the retry that follows) in the outbox. Returns false when the worker was
/// fenced out (another attempt took over): nothing is written and the caller must roll back.
///
/// One statement: the move, its transition and its message, or none of them.
pub async fn finish(
    conn: &mut PgConnection,
    job_id: JobId,
    attempt: i32,
    finish: Finish<'_>,
    then: Option<&OutboxMessage>,
) -> Result<bool, DbError> {
    let Finish { to, result, error, actor } = finish;
    let result =
        result.map(serde_json::to_value).transpose().map_err(|e| DbError::Conflict(e.to_string()))?;
    let finished = to.is_terminal();
    let query = if then.is_some() { FINISH_THEN } else { FINISH };
    let mut statement = sqlx::query_scalar::<_, i64>(query)
        .bind(job_id)
        .bind(attempt)
        .bind(to.as_str())
        .bind(&result)
        .bind(error)
        .bind(finished)
        .bind(actor)
        .bind(serde_json::json!({ "attempt": attempt, "error": error }));
    if let Some(msg) = then {
        statement = statement
            .bind(&msg.exchange)
            .bind(&msg.routing_key)
            .bind(&msg.payload)
            .bind(serde_json::to_value(&msg.headers).unwrap_or_default());
    }
    let moved = statement.fetch_one(&mut *conn).await? == 1;
    Ok(moved)
}

/// One job's end in [`succeed_many`]: the attempt it ran at (its fence), what it produced
/// and the message that follows, if any.
#[derive(Debug, Clone)]
pub struct Success {
    /// The job.
    pub job_id: JobId,
    /// The attempt it ran at.
    pub attempt: i32,
    /// What it produced.
    pub result: JobResult,
    /// The event that follows it, if its settler publishes one.
    pub then: Option<OutboxMessage>,
}

/// Moves every job of `successes` that is still running at its attempt to `succeeded`, as
/// [`finish`] moves one, each with its transition and its message; returns how many it
/// moved. Fewer than given means some were fenced out, and the caller must roll back.
///
/// One statement for them all, so a batch of concurrent successes costs one round trip
/// instead of one each.
pub async fn succeed_many(
    conn: &mut PgConnection,
    successes: &[Success],
    actor: &str,
) -> Result<usize, DbError> {
    let ids: Vec<JobId> = successes.iter().map(|s| s.job_id).collect();
    let attempts: Vec<i32> = successes.iter().map(|s| s.attempt).collect();
    let results = successes
        .iter()
        .map(|s| serde_json::to_value(&s.result))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| DbError::Conflict(e.to_string()))?;
    let followed: Vec<(JobId, &OutboxMessage)> =
        successes.iter().filter_map(|s| Some((s.job_id, s.then.as_ref()?))).collect();
    let moved: i64 = sqlx::query_scalar(
        "WITH input AS (SELECT * FROM unnest($1::uuid[], $2::int4[], $3::jsonb[]) AS i(id, attempt, result)),
         moved AS (
           UPDATE jobs j SET status = 'succeeded', result = i.result, error = NULL, lease_owner = NULL,
                  lease_expires_at = NULL, updated_at = now(), finished_at = now()
             FROM input i
            WHERE j.id = i.id AND j.attempt = i.attempt AND j.status = 'running'
           RETURNING j.id, j.attempt),
         audit AS (
           INSERT INTO transitions (entity_type, entity_id, from_state, to_state, actor, job_id, details, prev_hash, hash)
           SELECT 'job', id::text, 'running', 'succeeded', $4, id,
                  jsonb_build_object('attempt', attempt, 'error', NULL), '', ''
             FROM moved
           RETURNING 1),
         message AS (
           INSERT INTO outbox (exchange, routing_key, payload, headers)
           SELECT m.exchange, m.routing_key, m.payload, m.headers
             FROM unnest($5::uuid[], $6::text[], $7::text[], $8::jsonb[], $9::jsonb[])
                  WITH ORDINALITY AS m(job_id, exchange, routing_key, payload, headers, n)
             JOIN moved ON moved.id = m.job_id
            ORDER BY m.n)
         SELECT count(*) FROM audit",
    )
    .bind(&ids)
    .bind(&attempts)
    .bind(&results)
    .bind(actor)
    .bind(followed.iter().map(|(id, _)| *id).collect::<Vec<_>>())
    .bind(followed.iter().map(|(_, m)| m.exchange.as_str()).collect::<Vec<_>>())
    .bind(followed.iter().map(|(_, m)| m.routing_key.as_str()).collect::<Vec<_>>())
    .bind(followed.iter().map(|(_, m)| m.payload.clone()).collect::<Vec<_>>())
    .bind(followed.iter().map(|(_, m)| serde_json::to_value(&m.headers).unwrap_or_default()).collect::<Vec<_>>())
    .fetch_one(&mut *conn)
    .await?;
    Ok(usize::try_from(moved).unwrap_or(0))
}

/// Moves a job that is not running (queued, over its limit, undeliverable) to `to`, audited.
pub async fn set_status(
    conn: &mut PgConnection,
    job_id: JobId,
    to: JobStatus,
    error: Option<&str>,
    actor: &str,
) -> Result<bool, DbError> {
    let from: Option<String> = sqlx::query_scalar(
        "UPDATE jobs j SET status = $2, error = coalesce($3, j.error), updated_at = now(),
                lease_owner = NULL, lease_expires_at = NULL,
                finished_at = CASE WHEN $2 IN ('queued', 'running') THEN NULL ELSE now() END
           FROM jobs old WHERE j.id = $1 AND old.id = j.id AND j.status <> $2 RETURNING old.status",
    )
    .bind(job_id)
    .bind(to.as_str())
    .bind(error)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(from) = from else { return Ok(false) };
    transitions::record(
        conn,
        &Transition {
            entity_type: "job",
            entity_id: job_id.to_string(),
            from: Some(from),
            to: to.as_str().into(),
            actor: actor.into(),
            job_id: Some(job_id),
            details: serde_json::json!({ "error": error }),
        },
    )
    .await?;
    Ok(true)
}

/// Reads one job.
pub async fn get(pool: &PgPool, job_id: JobId) -> Result<Option<JobRow>, DbError> {
    Ok(sqlx::query_as::<_, JobRow>("SELECT * FROM jobs WHERE id = $1")
        .bind(job_id)
        .fetch_optional(pool)
        .await?)
}

/// Every job of a run, oldest first.
pub async fn for_run(pool: &PgPool, run_id: RunId) -> Result<Vec<JobRow>, DbError> {
    Ok(sqlx::query_as::<_, JobRow>("SELECT * FROM jobs WHERE run_id = $1 ORDER BY created_at, id")
        .bind(run_id)
        .fetch_all(pool)
        .await?)
}

/// Running jobs whose lease ran out (their worker died), locked for the reaper.
pub async fn expired_leases(conn: &mut PgConnection, limit: i64) -> Result<Vec<JobRow>, DbError> {
    Ok(sqlx::query_as::<_, JobRow>(
        "SELECT * FROM jobs WHERE status = 'running' AND lease_expires_at < now()
          ORDER BY lease_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// The kind of a stored job, typed.
pub fn kind_of(row: &JobRow) -> Option<JobKind> {
    row.kind.parse().ok()
}

/// Puts a dead job back in the queue with a fresh attempt budget (`extra` more attempts),
/// audited; returns the row, or `Conflict` if the job is not dead.
pub async fn revive(
    conn: &mut PgConnection,
    job_id: JobId,
    extra: i32,
    actor: &str,
    details: serde_json::Value,
) -> Result<JobRow, DbError> {
    let row = sqlx::query_as::<_, JobRow>(
        "UPDATE jobs SET status = 'queued', max_attempts = attempt + $2, error = NULL, lease_owner = NULL,
                lease_expires_at = NULL, finished_at = NULL, enqueued_at = now(), updated_at = now()
          WHERE id = $1 AND status = 'dead' RETURNING *",
    )
    .bind(job_id)
    .bind(extra)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| DbError::Conflict(format!("job {job_id} is not dead")))?;
    transitions::record(
        conn,
        &Transition {
            entity_type: "job",
            entity_id: job_id.to_string(),
            from: Some(JobStatus::Dead.as_str().into()),
            to: JobStatus::Queued.as_str().into(),
            actor: actor.into(),
            job_id: Some(job_id),
            details,
        },
    )
    .await?;
    Ok(row)
}

/// Cancels every queued or running job of a run (audited); returns how many.
pub async fn cancel_for_run(conn: &mut PgConnection, run_id: RunId, actor: &str) -> Result<usize, DbError> {
    let ids: Vec<JobId> = sqlx::query_scalar(
        "SELECT id FROM jobs WHERE run_id = $1 AND status IN ('queued', 'running') FOR UPDATE",
    )
    .bind(run_id)
    .fetch_all(&mut *conn)
    .await?;
    for id in &ids {
        set_status(conn, *id, JobStatus::Cancelled, Some("run cancelled"), actor).await?;
    }
    Ok(ids.len())
}

/// Jobs, newest first, optionally of one status, kind or run; with the total count.
pub async fn list(
    pool: &PgPool,
    status: Option<&str>,
    kind: Option<&str>,
    run: Option<RunId>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<JobRow>, i64), DbError> {
    const FILTER: &str = "($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR kind = $2)
        AND ($3::uuid IS NULL OR run_id = $3)";
    let rows = sqlx::query_as::<_, JobRow>(&format!(
        "SELECT * FROM jobs WHERE {FILTER} ORDER BY created_at DESC, id LIMIT $4 OFFSET $5"
    ))
    .bind(status)
    .bind(kind)
    .bind(run)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar(&format!("SELECT count(*) FROM jobs WHERE {FILTER}"))
        .bind(status)
        .bind(kind)
        .bind(run)
        .fetch_one(pool)
        .await?;
    Ok((rows, total))
}
