//! Strategy versions: every piece of code a run produced, with its checks and its commit.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use algoagent_core::{RunId, StrategyId, VersionId};
use algoagent_jobs::db::DbError;

/// A stored version.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct VersionRow {
    /// Version id.
    pub id: VersionId,
    /// Its strategy.
    pub strategy_id: StrategyId,
    /// The run that produced it.
    pub run_id: RunId,
    /// 1 for generated code, +1 per fix.
    pub version: i32,
    /// Python source.
    pub code: String,
    /// Strategy class name.
    pub entrypoint: String,
    /// SHA-256 of the code, hex.
    pub sha256: String,
    /// `generated` or `fixed`.
    pub origin: String,
    /// Generator.
    pub provider: String,
    /// Model, for LLM providers.
    pub model: Option<String>,
    /// Validator findings.
    pub findings: Option<serde_json::Value>,
    /// Validator metadata.
    pub metadata: Option<serde_json::Value>,
    /// Validator verdict (None until validated).
    pub accepted: Option<bool>,
    /// Merge commit on main.
    pub git_commit: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// The version this one repairs (fixed versions).
    pub parent_id: Option<VersionId>,
    /// Why this version failed (findings or the backtest's error), when it did.
    pub failure: Option<String>,
}

/// A version to store.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// Its strategy.
    pub strategy_id: StrategyId,
    /// Its run.
    pub run_id: RunId,
    /// `generated` or `fixed`.
    pub origin: &'static str,
    /// Python source.
    pub code: String,
    /// Strategy class name.
    pub entrypoint: String,
    /// Generator.
    pub provider: String,
    /// Model, for LLM providers.
    pub model: Option<String>,
    /// The version this one repairs.
    pub parent_id: Option<VersionId>,
}

/// Stores a version with the next number of its run.
pub async fn insert(conn: &mut PgConnection, v: &NewVersion) -> Result<VersionId, DbError> {
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(v.code.as_bytes()));
    Ok(sqlx::query_scalar(
        "INSERT INTO strategy_versions (strategy_id, run_id, version, code, entrypoint, sha256, origin, provider, model, parent_id)
         VALUES ($1, $2, (SELECT coalesce(max(version), 0) + 1 FROM strategy_versions WHERE run_id = $2), $3, $4, $5, $6, $7, $8, $9)
         RETURNING id",
    )
    .bind(v.strategy_id)
    .bind(v.run_id)
    .bind(&v.code)
    .bind(&v.entrypoint)
    .bind(sha)
    .bind(v.origin)
    .bind(&v.provider)
    .bind(&v.model)
    .bind(v.parent_id)
    .fetch_one(conn)
    .await?)
}

/// Reads one version.
pub async fn get(pool: &PgPool, id: VersionId) -> Result<Option<VersionRow>, DbError> {
    Ok(sqlx::query_as::<_, VersionRow>("SELECT * FROM strategy_versions WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// Records the validator's verdict.
pub async fn set_validation(
    conn: &mut PgConnection,
    id: VersionId,
    accepted: bool,
    findings: &serde_json::Value,
    metadata: &serde_json::Value,
) -> Result<(), DbError> {
    sqlx::query("UPDATE strategy_versions SET accepted = $2, findings = $3, metadata = $4 WHERE id = $1")
        .bind(id)
        .bind(accepted)
        .bind(findings)
        .bind(metadata)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records why a version failed (the fix prompt quotes it).
pub async fn set_failure(conn: &mut PgConnection, id: VersionId, failure: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE strategy_versions SET failure = $2 WHERE id = $1")
        .bind(id)
        .bind(failure)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the merge commit.
pub async fn set_commit(conn: &mut PgConnection, id: VersionId, commit: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE strategy_versions SET git_commit = $2 WHERE id = $1")
        .bind(id)
        .bind(commit)
        .execute(conn)
        .await?;
    Ok(())
}

/// Every version of a run, oldest first.
pub async fn for_run(pool: &PgPool, run_id: RunId) -> Result<Vec<VersionRow>, DbError> {
    Ok(sqlx::query_as::<_, VersionRow>("SELECT * FROM strategy_versions WHERE run_id = $1 ORDER BY version")
        .bind(run_id)
        .fetch_all(pool)
        .await?)
}

/// Every version of a strategy, newest first.
pub async fn for_strategy(pool: &PgPool, id: StrategyId) -> Result<Vec<VersionRow>, DbError> {
    Ok(sqlx::query_as::<_, VersionRow>(
        "SELECT * FROM strategy_versions WHERE strategy_id = $1 ORDER BY id DESC",
    )
    .bind(id)
    .fetch_all(pool)
    .await?)
}

/// The `number`-th version of a strategy (1 is its first, in creation order across all of
/// its runs), as the API and `algoagent diff` count them.
pub async fn nth_of_strategy(
    pool: &PgPool,
    id: StrategyId,
    number: i64,
) -> Result<Option<VersionRow>, DbError> {
    Ok(sqlx::query_as::<_, VersionRow>(
        "SELECT * FROM strategy_versions WHERE strategy_id = $1 ORDER BY id OFFSET $2 LIMIT 1",
    )
    .bind(id)
    .bind(number.saturating_sub(1).max(0))
    .fetch_optional(pool)
    .await?)
}
