//! LLM call accounting: one `llm_calls` row per HTTP request, and per-run totals for
//! `status`.

use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use algoagent_core::LlmCall;
use algoagent_core::{JobId, RunId};
use algoagent_jobs::db::DbError;

/// Totals of a run's LLM calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LlmUsage {
    /// Requests made.
    pub calls: i64,
    /// Prompt tokens over all requests.
    pub prompt_tokens: i64,
    /// Completion tokens over all requests.
    pub completion_tokens: i64,
    /// Cost in USD from the price table.
    pub cost_usd: f64,
    /// Time spent waiting for answers.
    pub latency_ms: i64,
    /// Requests whose outcome was not `ok`.
    pub failed_calls: i64,
}

/// Stores one call made for `job_id` of `run_id`; returns its row id.
pub async fn record_llm_call(
    conn: &mut PgConnection,
    run_id: RunId,
    job_id: JobId,
    call: &LlmCall,
) -> Result<i64, DbError> {
    let id = sqlx::query_scalar(
        "INSERT INTO llm_calls (run_id, job_id, provider, model, prompt_tokens, completion_tokens,
                                cost_usd, latency_ms, outcome)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING id",
    )
    .bind(run_id)
    .bind(job_id)
    .bind(&call.provider)
    .bind(&call.model)
    .bind(i64::from(call.prompt_tokens))
    .bind(i64::from(call.completion_tokens))
    .bind(call.cost_usd)
    .bind(i64::try_from(call.latency_ms).unwrap_or(i64::MAX))
    .bind(&call.outcome)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Stores every call of one job (in the caller's transaction, with the job's result).
pub async fn record_llm_calls(
    conn: &mut PgConnection,
    run_id: RunId,
    job_id: JobId,
    calls: &[LlmCall],
) -> Result<(), DbError> {
    for call in calls {
        record_llm_call(&mut *conn, run_id, job_id, call).await?;
    }
    Ok(())
}

/// Totals of `run_id`'s calls (zeros when there were none).
pub async fn llm_usage(pool: &PgPool, run_id: RunId) -> Result<LlmUsage, DbError> {
    let usage = sqlx::query_as::<_, LlmUsage>(
        "SELECT count(*) AS calls,
                coalesce(sum(prompt_tokens), 0)::int8 AS prompt_tokens,
                coalesce(sum(completion_tokens), 0)::int8 AS completion_tokens,
                coalesce(sum(cost_usd), 0)::float8 AS cost_usd,
                coalesce(sum(latency_ms), 0)::int8 AS latency_ms,
                count(*) FILTER (WHERE outcome <> 'ok') AS failed_calls
         FROM llm_calls WHERE run_id = $1",
    )
    .bind(run_id)
    .fetch_one(pool)
    .await?;
    Ok(usage)
}
