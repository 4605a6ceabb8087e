//! Strategies and runs: creation, conditional state moves and reads.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use algoagent_core::{RunId, RunStatus, StrategyId};
use algoagent_jobs::db::DbError;
use algoagent_jobs::db::transitions::{self, Transition};

/// A strategy: the stable identity behind many runs and versions.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StrategyRow {
    /// Integer id (the prototype's API uses integers).
    pub id: StrategyId,
    /// Unique, validated name.
    pub name: String,
    /// Lifecycle status of the strategy as a whole.
    pub status: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A run row.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RunRow {
    /// Run id.
    pub id: RunId,
    /// Its strategy.
    pub strategy_id: StrategyId,
    /// Current state (see [`RunStatus`]).
    pub status: String,
    /// The submitted spec, as validated.
    pub spec: serde_json::Value,
    /// Code generator.
    pub provider: String,
    /// Fixes used.
    pub fix_attempts: i32,
    /// Fix budget.
    pub max_fix_attempts: i32,
    /// Why it failed.
    pub error: Option<String>,
    /// Submitted.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Reached a terminal state.
    pub finished_at: Option<DateTime<Utc>>,
}

impl RunRow {
    /// The typed status (unknown text maps to `Failed`, which cannot happen with the CHECKs).
    pub fn status(&self) -> RunStatus {
        self.status.parse().unwrap_or(RunStatus::Failed)
    }
}

/// What a submission creates.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Pre-generated id (returned to the client).
    pub id: RunId,
    /// Strategy name (validated).
    pub name: String,
    /// The spec as JSON.
    pub spec: serde_json::Value,
    /// Code generator.
    pub provider: String,
    /// Fix budget.
    pub max_fix_attempts: i32,
}

/// Creates the strategy if new (audited), then the run in `submitted` (audited).
pub async fn create(conn: &mut PgConnection, run: &NewRun, actor: &str) -> Result<StrategyId, DbError> {
    let (strategy_id, created): (StrategyId, bool) = sqlx::query_as(
        "INSERT INTO strategies (name) VALUES ($1)
         ON CONFLICT (name) DO UPDATE SET updated_at = now()
         RETURNING id, (xmax = 0) AS created",
    )
    .bind(&run.name)
    .fetch_one(&mut *conn)
    .await?;
    if created {
        transitions::record(
            conn,
            &Transition {
                entity_type: "strategy",
                entity_id: strategy_id.to_string(),
                from: None,
                to: "registered".into(),
                actor: actor.into(),
                job_id: None,
                details: serde_json::json!({ "name": run.name }),
            },
        )
        .await?;
    }
    sqlx::query(
        "INSERT INTO runs (id, strategy_id, status, spec, provider, max_fix_attempts) VALUES ($1, $2, 'submitted', $3, $4, $5)",
    )
    .bind(run.id)
    .bind(strategy_id)
    .bind(&run.spec)
    .bind(&run.provider)
    .bind(run.max_fix_attempts)
    .execute(&mut *conn)
    .await?;
    transitions::record(
        conn,
        &Transition {
            entity_type: "run",
            entity_id: run.id.to_string(),
            from: None,
            to: RunStatus::Submitted.as_str().into(),
            actor: actor.into(),
            job_id: None,
            details: serde_json::json!({ "strategy_id": strategy_id, "provider": run.provider }),
        },
    )
    .await?;
    Ok(strategy_id)
}

/// Moves a run from `from` to `to` if it is still in `from`, and audits it. Returns false
/// when the run had already moved (a duplicate event), so callers stay idempotent.
pub async fn advance(
    conn: &mut PgConnection,
    run_id: RunId,
    from: RunStatus,
    to: RunStatus,
    actor: &str,
    job_id: Option<algoagent_core::JobId>,
    details: serde_json::Value,
) -> Result<bool, DbError> {
    if !from.can_move_to(to) {
        return Err(DbError::Conflict(format!("run cannot move from {from} to {to}")));
    }
    let error = if matches!(to, RunStatus::Failed | RunStatus::Dead | RunStatus::Cancelled) {
        details.get("reason").and_then(|r| r.as_str()).map(str::to_owned)
    } else {
        None
    };
    let moved = sqlx::query(
        "UPDATE runs SET status = $3, updated_at = now(), error = coalesce($4, error),
                finished_at = CASE WHEN $5 THEN now() ELSE finished_at END
          WHERE id = $1 AND status = $2",
    )
    .bind(run_id)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(error)
    .bind(to.is_terminal())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if moved {
        transitions::record(
            conn,
            &Transition {
                entity_type: "run",
                entity_id: run_id.to_string(),
                from: Some(from.as_str().into()),
                to: to.as_str().into(),
                actor: actor.into(),
                job_id,
                details,
            },
        )
        .await?;
    }
    Ok(moved)
}

/// Counts one more fix attempt of a run.
pub async fn bump_fix_attempts(conn: &mut PgConnection, run_id: RunId) -> Result<(), DbError> {
    sqlx::query("UPDATE runs SET fix_attempts = fix_attempts + 1 WHERE id = $1")
        .bind(run_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Locks a run for the rest of the transaction (serialises event handling per run).
pub async fn lock(conn: &mut PgConnection, run_id: RunId) -> Result<Option<RunRow>, DbError> {
    Ok(sqlx::query_as::<_, RunRow>("SELECT * FROM runs WHERE id = $1 FOR UPDATE")
        .bind(run_id)
        .fetch_optional(conn)
        .await?)
}

/// Reads one run.
pub async fn get(pool: &PgPool, run_id: RunId) -> Result<Option<RunRow>, DbError> {
    Ok(sqlx::query_as::<_, RunRow>("SELECT * FROM runs WHERE id = $1")
        .bind(run_id)
        .fetch_optional(pool)
        .await?)
}

/// Reads one strategy.
pub async fn strategy(pool: &PgPool, id: StrategyId) -> Result<Option<StrategyRow>, DbError> {
    Ok(sqlx::query_as::<_, StrategyRow>("SELECT * FROM strategies WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// Reads one strategy by name.
pub async fn strategy_by_name(conn: &mut PgConnection, name: &str) -> Result<Option<StrategyRow>, DbError> {
    Ok(sqlx::query_as::<_, StrategyRow>("SELECT * FROM strategies WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await?)
}

/// All strategies, newest first.
pub async fn strategies(pool: &PgPool, limit: i64) -> Result<Vec<StrategyRow>, DbError> {
    Ok(sqlx::query_as::<_, StrategyRow>("SELECT * FROM strategies ORDER BY id DESC LIMIT $1")
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

/// Sets a strategy's lifecycle status (audited).
pub async fn set_strategy_status(
    conn: &mut PgConnection,
    id: StrategyId,
    to: &str,
    actor: &str,
    details: serde_json::Value,
) -> Result<(), DbError> {
    let from: Option<String> =
        sqlx::query_scalar("UPDATE strategies s SET status = $2, updated_at = now() FROM strategies old WHERE s.id = $1 AND old.id = s.id RETURNING old.status")
            .bind(id)
            .bind(to)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(from) = from else { return Err(DbError::NotFound(format!("strategy {id}"))) };
    transitions::record(
        conn,
        &Transition {
            entity_type: "strategy",
            entity_id: id.to_string(),
            from: Some(from),
            to: to.into(),
            actor: actor.into(),
            job_id: None,
            details,
        },
    )
    .await
}

/// A strategy with its version count and latest run, for listings.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StrategySummary {
    /// Integer id.
    pub id: StrategyId,
    /// Unique name.
    pub name: String,
    /// Lifecycle status of the strategy as a whole.
    pub status: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change of the strategy or of its latest run.
    pub updated_at: DateTime<Utc>,
    /// How many versions its runs produced.
    pub versions: i64,
    /// Its newest run.
    pub latest_run_id: Option<RunId>,
    /// That run's state.
    pub latest_run_status: Option<String>,
}

/// Strategies, newest first, optionally only the one named `name`; with the total count.
pub async fn strategy_summaries(
    pool: &PgPool,
    name: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<StrategySummary>, i64), DbError> {
    let rows = sqlx::query_as::<_, StrategySummary>(
        "SELECT s.id, s.name, s.status, s.created_at,
                greatest(s.updated_at, r.updated_at) AS updated_at,
                (SELECT count(*) FROM strategy_versions v WHERE v.strategy_id = s.id) AS versions,
                r.id AS latest_run_id, r.status AS latest_run_status
           FROM strategies s
           LEFT JOIN LATERAL (SELECT id, status, updated_at FROM runs WHERE strategy_id = s.id
                               ORDER BY created_at DESC, id LIMIT 1) r ON true
          WHERE ($1::text IS NULL OR s.name = $1)
          ORDER BY s.id DESC LIMIT $2 OFFSET $3",
    )
    .bind(name)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM strategies WHERE ($1::text IS NULL OR name = $1)")
        .bind(name)
        .fetch_one(pool)
        .await?;
    Ok((rows, total))
}

/// Runs, newest first, optionally of one state and/or one strategy.
pub async fn list(
    pool: &PgPool,
    status: Option<&str>,
    strategy: Option<StrategyId>,
    limit: i64,
    offset: i64,
) -> Result<Vec<RunRow>, DbError> {
    Ok(sqlx::query_as::<_, RunRow>(
        "SELECT * FROM runs WHERE ($1::text IS NULL OR status = $1) AND ($2::bigint IS NULL OR strategy_id = $2)
          ORDER BY created_at DESC, id LIMIT $3 OFFSET $4",
    )
    .bind(status)
    .bind(strategy)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?)
}
