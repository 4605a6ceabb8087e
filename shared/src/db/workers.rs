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
