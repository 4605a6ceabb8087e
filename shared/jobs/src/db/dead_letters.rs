//! Dead letters: messages that can never be processed as they are, kept with their reason
//! so an operator can inspect and replay them (invariants 4 and 5).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::DbError;
use super::transitions::{self, Transition};
use algoagent_core::{JobId, RunId};

/// A stored dead letter.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DeadLetterRow {
    /// Id.
    pub id: i64,
    /// The job, when the message decoded far enough to tell.
    pub job_id: Option<JobId>,
    /// The run, likewise.
    pub run_id: Option<RunId>,
    /// The kind, likewise.
    pub kind: Option<String>,
    /// Machine reason: `undecodable`, `unknown_kind`, `attempts_exhausted`, `missing_job`.
    pub reason: String,
    /// Human detail.
    pub error: String,
    /// The message body when it was JSON.
    pub payload: Option<serde_json::Value>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Replayed.
    pub replayed_at: Option<DateTime<Utc>>,
}

/// A dead letter to store.
#[derive(Debug, Clone)]
pub struct NewDeadLetter<'a> {
    /// The job, if known.
    pub job_id: Option<JobId>,
    /// The run, if known.
    pub run_id: Option<RunId>,
    /// The kind, if known.
    pub kind: Option<&'a str>,
    /// Machine reason.
    pub reason: &'a str,
    /// Human detail.
    pub error: &'a str,
    /// The raw message body.
    pub raw: &'a [u8],
}

/// Stores a dead letter (audited) and returns its id.
pub async fn insert(conn: &mut PgConnection, d: &NewDeadLetter<'_>, actor: &str) -> Result<i64, DbError> {
    let payload: Option<serde_json::Value> = serde_json::from_slice(d.raw).ok();
    // Postgres text refuses NUL; an error may quote the hostile bytes that caused it.
    let error = d.error.replace('\0', "\\0");
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO dead_letters (job_id, run_id, kind, reason, error, payload, raw)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(d.job_id)
    .bind(d.run_id)
    .bind(d.kind)
    .bind(d.reason)
    .bind(&error)
    .bind(&payload)
    .bind(d.raw)
    .fetch_one(&mut *conn)
    .await?;
    transitions::record(
        conn,
        &Transition {
            entity_type: "dead_letter",
            entity_id: id.to_string(),
            from: None,
            to: "dead".into(),
            actor: actor.into(),
            job_id: d.job_id,
            details: serde_json::json!({ "reason": d.reason, "error": d.error, "kind": d.kind }),
        },
    )
    .await?;
    Ok(id)
}

/// Dead letters not yet replayed or purged, newest first, optionally of one kind or reason.
pub async fn list(
    pool: &PgPool,
    kind: Option<&str>,
    reason: Option<&str>,
    limit: i64,
) -> Result<Vec<DeadLetterRow>, DbError> {
    Ok(sqlx::query_as::<_, DeadLetterRow>(
        "SELECT id, job_id, run_id, kind, reason, error, payload, created_at, replayed_at FROM dead_letters
          WHERE replayed_at IS NULL AND purged_at IS NULL
            AND ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR reason = $2)
          ORDER BY id DESC LIMIT $3",
    )
    .bind(kind)
    .bind(reason)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// One dead letter, whatever its state.
pub async fn get(pool: &PgPool, id: i64) -> Result<Option<DeadLetterRow>, DbError> {
    Ok(sqlx::query_as::<_, DeadLetterRow>(
        "SELECT id, job_id, run_id, kind, reason, error, payload, created_at, replayed_at FROM dead_letters WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// Open dead letters filtered by kind and reason, oldest first (for bulk replay).
pub async fn open_ids(pool: &PgPool, kind: Option<&str>, reason: Option<&str>) -> Result<Vec<i64>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM dead_letters WHERE replayed_at IS NULL AND purged_at IS NULL
            AND ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR reason = $2) ORDER BY id",
    )
    .bind(kind)
    .bind(reason)
    .fetch_all(pool)
    .await?)
}

/// Locks an open dead letter for replay or purge.
pub async fn lock_open(conn: &mut PgConnection, id: i64) -> Result<DeadLetterRow, DbError> {
    let row = sqlx::query_as::<_, DeadLetterRow>(
        "SELECT id, job_id, run_id, kind, reason, error, payload, created_at, replayed_at FROM dead_letters
          WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Err(DbError::NotFound(format!("dead letter {id}"))) };
    let purged: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT purged_at FROM dead_letters WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    if row.replayed_at.is_some() || purged.is_some() {
        return Err(DbError::Conflict(format!("dead letter {id} was already replayed or purged")));
    }
    Ok(row)
}

/// Marks a locked dead letter `replayed` or `purged` (audited).
pub async fn close(
    conn: &mut PgConnection,
    id: i64,
    to: &'static str,
    actor: &str,
    details: serde_json::Value,
) -> Result<(), DbError> {
    let column = if to == "replayed" { "replayed_at" } else { "purged_at" };
    sqlx::query(&format!("UPDATE dead_letters SET {column} = now() WHERE id = $1"))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    transitions::record(
        conn,
        &Transition {
            entity_type: "dead_letter",
            entity_id: id.to_string(),
            from: Some("dead".into()),
            to: to.into(),
            actor: actor.into(),
            job_id: None,
            details,
        },
    )
    .await
}
