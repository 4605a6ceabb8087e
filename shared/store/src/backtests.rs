//! Backtest results: metrics, equity curve and outcome of every test job.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use algoagent_core::{JobId, RunId, StrategyId, VersionId};
use algoagent_jobs::db::DbError;

/// A stored backtest.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct BacktestRow {
    /// Backtest id (integers, as in the prototype's API).
    pub id: i64,
    /// Its run.
    pub run_id: RunId,
    /// The version tested.
    pub version_id: VersionId,
    /// The test job.
    pub job_id: JobId,
    /// Dataset name.
    pub dataset: String,
    /// `ok`, `error`, `timeout`, ...
    pub status: String,
    /// Met the acceptance criteria.
    pub passed: bool,
    /// Harness metrics.
    pub metrics: Option<serde_json::Value>,
    /// Down-sampled equity curve.
    pub equity_curve: Option<serde_json::Value>,
    /// Failure reason.
    pub error: Option<String>,
    /// Wall-clock time of the sandbox run.
    pub duration_ms: i64,
    /// Peak memory and CPU time of the sandbox.
    pub resource_usage: Option<serde_json::Value>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A backtest to store.
#[derive(Debug, Clone)]
pub struct NewBacktest {
    /// Its run.
    pub run_id: RunId,
    /// The version tested.
    pub version_id: VersionId,
    /// The test job (unique: one backtest per job).
    pub job_id: JobId,
    /// Dataset name.
    pub dataset: String,
    /// Outcome status.
    pub status: String,
    /// Met the acceptance criteria.
    pub passed: bool,
    /// Metrics.
    pub metrics: Option<serde_json::Value>,
    /// Equity curve.
    pub equity_curve: Option<serde_json::Value>,
    /// Failure reason.
    pub error: Option<String>,
    /// Duration.
    pub duration_ms: i64,
    /// Peak memory and CPU time.
    pub resource_usage: Option<serde_json::Value>,
}

/// Stores a backtest; a second store for the same job returns the first one's id.
pub async fn insert(conn: &mut PgConnection, b: &NewBacktest) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO backtests (run_id, version_id, job_id, dataset, status, passed, metrics, equity_curve, error, duration_ms, resource_usage)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (job_id) DO UPDATE SET job_id = EXCLUDED.job_id
         RETURNING id",
    )
    .bind(b.run_id)
    .bind(b.version_id)
    .bind(b.job_id)
    .bind(&b.dataset)
    .bind(&b.status)
    .bind(b.passed)
    .bind(&b.metrics)
    .bind(&b.equity_curve)
    .bind(&b.error)
    .bind(b.duration_ms)
    .bind(&b.resource_usage)
    .fetch_one(conn)
    .await?)
}

/// Reads one backtest.
pub async fn get(pool: &PgPool, id: i64) -> Result<Option<BacktestRow>, DbError> {
    Ok(sqlx::query_as::<_, BacktestRow>("SELECT * FROM backtests WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// Every backtest of a run, oldest first.
pub async fn for_run(pool: &PgPool, run_id: RunId) -> Result<Vec<BacktestRow>, DbError> {
    Ok(sqlx::query_as::<_, BacktestRow>("SELECT * FROM backtests WHERE run_id = $1 ORDER BY id")
        .bind(run_id)
        .fetch_all(pool)
        .await?)
}

/// A backtest with its strategy and version, for listings (no equity curve).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BacktestSummary {
    /// Backtest id.
    pub id: i64,
    /// Its run.
    pub run_id: RunId,
    /// The strategy tested.
    pub strategy_id: StrategyId,
    /// Its name.
    pub strategy: String,
    /// The version tested.
    pub version_id: VersionId,
    /// That version's number within its run.
    pub version: i32,
    /// Dataset name.
    pub dataset: String,
    /// `ok`, `error`, `timeout`, ...
    pub status: String,
    /// Met the acceptance criteria.
    pub passed: bool,
    /// Harness metrics.
    pub metrics: Option<serde_json::Value>,
    /// Wall-clock time of the sandbox run.
    pub duration_ms: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
}

const SUMMARY: &str = "SELECT b.id, b.run_id, v.strategy_id, s.name AS strategy, b.version_id, v.version,
        b.dataset, b.status, b.passed, b.metrics, b.duration_ms, b.created_at
   FROM backtests b
   JOIN strategy_versions v ON v.id = b.version_id
   JOIN strategies s ON s.id = v.strategy_id";

/// Backtests, newest first, optionally of one strategy; with the total count.
pub async fn list(
    pool: &PgPool,
    strategy: Option<StrategyId>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<BacktestSummary>, i64), DbError> {
    let rows = sqlx::query_as::<_, BacktestSummary>(&format!(
        "{SUMMARY} WHERE ($1::bigint IS NULL OR v.strategy_id = $1)
          ORDER BY b.created_at DESC, b.id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(strategy)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar(
        "SELECT count(*) FROM backtests b JOIN strategy_versions v ON v.id = b.version_id
          WHERE ($1::bigint IS NULL OR v.strategy_id = $1)",
    )
    .bind(strategy)
    .fetch_one(pool)
    .await?;
    Ok((rows, total))
}

/// One backtest's summary (its strategy and version).
pub async fn summary(pool: &PgPool, id: i64) -> Result<Option<BacktestSummary>, DbError> {
    Ok(sqlx::query_as::<_, BacktestSummary>(&format!("{SUMMARY} WHERE b.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?)
}
