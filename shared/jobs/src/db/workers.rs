//! Worker heartbeats: who is alive, what it serves and how busy it is.

use sqlx::PgPool;

use super::DbError;

/// Registers or refreshes a worker's heartbeat.
pub async fn heartbeat(
    pool: &PgPool,
    id: &str,
    host: &str,
    pid: i32,
    kinds: &[String],
    in_flight: i32,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO workers (id, host, pid, kinds, jobs_in_flight) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET last_seen = now(), jobs_in_flight = EXCLUDED.jobs_in_flight, stopped_at = NULL",
    )
    .bind(id)
    .bind(host)
    .bind(pid)
    .bind(kinds)
    .bind(in_flight)
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks a worker as stopped (graceful shutdown).
pub async fn stopped(pool: &PgPool, id: &str) -> Result<(), DbError> {
    sqlx::query("UPDATE workers SET stopped_at = now(), jobs_in_flight = 0 WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// A worker as seen through its heartbeats.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct WorkerRow {
    /// Worker id.
    pub id: String,
    /// Host name.
    pub host: String,
    /// Process id on the host.
    pub pid: i32,
    /// Kinds served.
    pub kinds: Vec<String>,
    /// Jobs running at the last heartbeat.
    pub jobs_in_flight: i32,
    /// First heartbeat.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Last heartbeat.
    pub last_seen: chrono::DateTime<chrono::Utc>,
    /// Set on graceful shutdown.
    pub stopped_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Heartbeat within the last minute and not stopped.
    pub live: bool,
}

/// Workers seen in the last day, live ones first.
pub async fn list(pool: &PgPool) -> Result<Vec<WorkerRow>, DbError> {
    Ok(sqlx::query_as::<_, WorkerRow>(
        "SELECT *, (stopped_at IS NULL AND last_seen > now() - interval '60 seconds') AS live FROM workers
          WHERE last_seen > now() - interval '1 day' ORDER BY live DESC, last_seen DESC",
    )
    .fetch_all(pool)
    .await?)
}
