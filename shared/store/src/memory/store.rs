//! Storing failures and fixes, and finding the past failures most like a new one.

use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::signature;
use algoagent_core::RunId;
use algoagent_jobs::db::DbError;

/// The longest error text stored (characters); tracebacks with huge outputs are cut.
const MAX_TEXT: usize = 16_000;

/// A past failure like the one at hand, with the fix that later passed, if any.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Similar {
    /// Memory row id of the failure.
    pub id: i64,
    /// The error text (findings or traceback) as recorded.
    pub failure: String,
    /// Its normalised signature.
    pub signature: String,
    /// The code that failed.
    pub code: String,
    /// The code of the fix that later passed.
    pub fix_code: Option<String>,
    /// Relevance (higher is more similar): trigram similarity of signatures, full-text
    /// rank, and a bonus for failures that were fixed.
    pub score: f64,
}

fn clip(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

/// Records that `version_id` of `run_id` failed with `error`; returns the memory id.
/// Idempotent per version: recording the same version again updates the row and returns
/// the same id (a redelivered job does not duplicate memories).
pub async fn record_failure(
    conn: &mut PgConnection,
    run_id: RunId,
    version_id: i64,
    error: &str,
    code: &str,
) -> Result<i64, DbError> {
    let id = sqlx::query_scalar(
        "INSERT INTO memories (kind, signature, text, code, run_id, version_id)
         VALUES ('failure', $1, $2, $3, $4, $5)
         ON CONFLICT (version_id) WHERE kind = 'failure'
         DO UPDATE SET signature = EXCLUDED.signature, text = EXCLUDED.text, code = EXCLUDED.code
         RETURNING id",
    )
    .bind(signature(error))
    .bind(clip(error, MAX_TEXT))
    .bind(code)
    .bind(run_id)
    .bind(version_id)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Records that the failure `failure_id` was repaired by `fix_code`, which later passed:
/// the failure row gets the fix (so [`similar`] can offer it), and a `fix` row keeps the
/// history. Idempotent; [`DbError::NotFound`] when no such failure exists.
pub async fn record_fix(conn: &mut PgConnection, failure_id: i64, fix_code: &str) -> Result<(), DbError> {
    let fixed: Option<i64> = sqlx::query_scalar(
        "WITH f AS (
             UPDATE memories SET fix_code = $2, fixed_at = now()
             WHERE id = $1 AND kind = 'failure'
             RETURNING id, signature, text, run_id
         )
         INSERT INTO memories (kind, signature, text, code, fix_code, run_id, failure_id)
         SELECT 'fix', signature, text, $2, $2, run_id, id FROM f
         ON CONFLICT (failure_id) DO UPDATE SET code = EXCLUDED.code, fix_code = EXCLUDED.fix_code
         RETURNING id",
    )
    .bind(failure_id)
    .bind(fix_code)
    .fetch_optional(conn)
    .await?;
    match fixed {
        Some(_) => Ok(()),
        None => Err(DbError::NotFound(format!("failure memory {failure_id}"))),
    }
}

/// The `limit` past failures most similar to `error`, best first.
///
/// Candidates match either by trigram similarity of signatures (`%`, pg_trgm's threshold)
/// or by full text (any word of the error, via an OR of its lexemes). The score weighs
/// signature similarity 0.6 and the full-text rank 0.4, plus 0.1 when a fix later passed.
pub async fn similar(pool: &PgPool, error: &str, limit: i64) -> Result<Vec<Similar>, DbError> {
    let rows = sqlx::query_as::<_, Similar>(
        "WITH q AS (
             SELECT NULLIF(replace(plainto_tsquery('english', $1)::text, '&', '|'), '')::tsquery AS query
         )
         SELECT m.id, m.text AS failure, m.signature, m.code, m.fix_code,
                (0.6 * similarity(m.signature, $2)
                 + 0.4 * coalesce(ts_rank_cd(m.tsv, q.query, 32), 0)
                 + CASE WHEN m.fix_code IS NOT NULL THEN 0.1 ELSE 0 END)::float8 AS score
         FROM memories m, q
         WHERE m.kind = 'failure' AND (m.signature % $2 OR m.tsv @@ q.query)
         ORDER BY score DESC, m.id DESC
         LIMIT $3",
    )
    .bind(clip(error, MAX_TEXT))
    .bind(signature(error))
    .bind(limit.max(0))
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
