//! The connection pool and the migrations runner.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// A database failure, kept with its source so the caller can classify it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The query or the connection failed.
    #[error("database error")]
    Sqlx(#[from] sqlx::Error),
    /// A migration could not be applied.
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row the caller relies on does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The row exists but is not in a state that allows the change.
    #[error("conflict: {0}")]
    Conflict(String),
}

impl DbError {
    /// True for lost connections and pool timeouts: worth retrying.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Sqlx(e) => {
                matches!(
                    e,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::Protocol(_)
                ) || e.as_database_error().and_then(|d| d.code()).is_some_and(|c| {
                    // serialization failure, deadlock, admin shutdown, cannot connect now
                    matches!(c.as_ref(), "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "08006" | "08003")
                })
            }
            _ => false,
        }
    }
}

/// A connection idle for longer than this is pinged before it is handed out; one used more
/// recently is not, which saves a round trip per query when the engine is busy.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Opens a pool. Connections are made lazily and re-made after a database restart, so a
/// blink of Postgres costs a failed query, not a dead process. A connection that sat idle
/// (as all do while Postgres restarts) is pinged first and replaced if dead; a busy one is
/// trusted, and if the server went away under it the query fails as transient.
pub fn connect(url: &SecretString, max_connections: u32) -> Result<PgPool, DbError> {
    let options: PgConnectOptions = url.expose_secret().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .idle_timeout(Duration::from_secs(300))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options.application_name("algoagent")))
}

/// Applies the migrations embedded from `migrations/` (idempotent; several processes may
/// race, sqlx serialises them with an advisory lock).
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    sqlx::migrate!("../../migrations").run(pool).await?;
    Ok(())
}
