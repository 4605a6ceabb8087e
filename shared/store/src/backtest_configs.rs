//! Stored backtest configurations: a config that passed validation, kept with an id so a
//! later backtest can name it (`config_id`). Rows are immutable; each insert is audited.

use algoagent_jobs::db::DbError;
use algoagent_jobs::db::transitions::{self, Transition};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

/// A stored config.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BacktestConfigRow {
    /// Its id (`config_id`).
    pub id: i64,
    /// The validated config, defaults filled in.
    pub config: serde_json::Value,
    /// The warnings validation gave.
    pub warnings: serde_json::Value,
    /// Who stored it (the API key's actor).
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Stores a validated config and audits it; returns its id.
pub async fn insert(
    conn: &mut PgConnection,
    config: &serde_json::Value,
    warnings: &serde_json::Value,
    actor: &str,
) -> Result<i64, DbError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO backtest_configs (config, warnings, created_by) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(config)
    .bind(warnings)
    .bind(actor)
    .fetch_one(&mut *conn)
    .await?;
    transitions::record(
        conn,
        &Transition {
            entity_type: "backtest_config",
            entity_id: id.to_string(),
            from: None,
            to: "stored".into(),
            actor: actor.into(),
            job_id: None,
            details: serde_json::json!({}),
        },
    )
    .await?;
    Ok(id)
}

/// One stored config.
pub async fn get(pool: &PgPool, id: i64) -> Result<Option<BacktestConfigRow>, DbError> {
    Ok(sqlx::query_as::<_, BacktestConfigRow>("SELECT * FROM backtest_configs WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?)
}
