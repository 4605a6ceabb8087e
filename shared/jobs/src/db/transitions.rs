//! The append-only, hash-chained audit trail (invariant 1). Rows are only ever inserted, in
//! the transaction of the change they record; the chain is computed by a trigger.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::DbError;
use algoagent_core::{JobId, StrategyId};

/// One state change to record.
#[derive(Debug, Clone)]
pub struct Transition {
    /// `run`, `job`, `strategy`, `dead_letter` or `branch` (a deleted strategy branch).
    pub entity_type: &'static str,
    /// The entity's id as text.
    pub entity_id: String,
    /// Previous state (`None` when the entity is created).
    pub from: Option<String>,
    /// New state.
    pub to: String,
    /// Who made the change (`api`, `coordinator`, `worker:<id>`, `cli:<key>`).
    pub actor: String,
    /// The job that caused it, if any.
    pub job_id: Option<JobId>,
    /// Anything an auditor would want (reason, attempt, commit...).
    pub details: serde_json::Value,
}

/// A recorded transition.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TransitionRow {
    /// Global order.
    pub id: i64,
    /// Entity type.
    pub entity_type: String,
    /// Entity id.
    pub entity_id: String,
    /// Previous state.
    pub from_state: Option<String>,
    /// New state.
    pub to_state: String,
    /// Who.
    pub actor: String,
    /// Causing job.
    pub job_id: Option<JobId>,
    /// Details.
    pub details: serde_json::Value,
    /// When.
    pub at: DateTime<Utc>,
    /// Hash of the previous row of the entity.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

/// Records one transition inside the caller's transaction.
pub async fn record(conn: &mut PgConnection, t: &Transition) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO transitions (entity_type, entity_id, from_state, to_state, actor, job_id, details, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, '', '')",
    )
    .bind(t.entity_type)
    .bind(&t.entity_id)
    .bind(&t.from)
    .bind(&t.to)
    .bind(&t.actor)
    .bind(t.job_id)
    .bind(&t.details)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every transition of one entity, oldest first.
pub async fn for_entity(
    pool: &PgPool,
    entity_type: &str,
    entity_id: &str,
) -> Result<Vec<TransitionRow>, DbError> {
    Ok(sqlx::query_as::<_, TransitionRow>(
        "SELECT * FROM transitions WHERE entity_type = $1 AND entity_id = $2 ORDER BY id",
    )
    .bind(entity_type)
    .bind(entity_id)
    .fetch_all(pool)
    .await?)
}

/// Every transition of a run and of its jobs, oldest first: the run's whole story.
pub async fn for_run(pool: &PgPool, run_id: &str) -> Result<Vec<TransitionRow>, DbError> {
    Ok(sqlx::query_as::<_, TransitionRow>(
        "SELECT t.* FROM transitions t
          WHERE (t.entity_type = 'run' AND t.entity_id = $1)
             OR (t.entity_type = 'job' AND t.entity_id IN (SELECT id::text FROM jobs WHERE run_id = $1::uuid))
          ORDER BY t.id",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?)
}

/// Ids of rows whose hash does not follow from their predecessor; empty when the chain holds.
pub async fn broken_links(pool: &PgPool, entity_type: &str, entity_id: &str) -> Result<Vec<i64>, DbError> {
    Ok(sqlx::query_scalar("SELECT id FROM transitions_broken_links($1, $2)")
        .bind(entity_type)
        .bind(entity_id)
        .fetch_all(pool)
        .await?)
}

/// The entities of a strategy's story: the strategy itself, its runs and their jobs.
const STRATEGY_ENTITIES: &str = "
    SELECT 'strategy'::text AS entity_type, $1::bigint::text AS entity_id
    UNION ALL SELECT 'run', id::text FROM runs WHERE strategy_id = $1
    UNION ALL SELECT 'job', id::text FROM jobs WHERE strategy_id = $1";

/// Every transition of a strategy, of its runs and of their jobs, oldest first.
pub async fn for_strategy(pool: &PgPool, strategy_id: StrategyId) -> Result<Vec<TransitionRow>, DbError> {
    Ok(sqlx::query_as::<_, TransitionRow>(&format!(
        "SELECT t.* FROM transitions t JOIN ({STRATEGY_ENTITIES}) e
            ON t.entity_type = e.entity_type AND t.entity_id = e.entity_id
          ORDER BY t.id"
    ))
    .bind(strategy_id)
    .fetch_all(pool)
    .await?)
}

/// Ids of broken rows over every hash chain of a strategy (its own, its runs', their jobs');
/// empty when all of them hold.
pub async fn broken_links_for_strategy(pool: &PgPool, strategy_id: StrategyId) -> Result<Vec<i64>, DbError> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT b.id FROM ({STRATEGY_ENTITIES}) e,
                LATERAL transitions_broken_links(e.entity_type, e.entity_id) b
          ORDER BY b.id"
    ))
    .bind(strategy_id)
    .fetch_all(pool)
    .await?)
}
