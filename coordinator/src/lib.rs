//! The coordinator: accepts submissions, drives each run's state machine from job events,
//! relays the outbox and re-enqueues jobs whose worker died. Safe to run as several replicas:
//! every transition is conditional, claims use `SKIP LOCKED`, the reaper takes an advisory
//! lock (invariant 10).

mod api;
mod events;
mod pipeline;
mod reaper;
mod state;

use std::sync::Arc;

use anyhow::Context as _;
use shared::config::Settings;
use shared::queue::{Names, Relay};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use api::router;
pub use state::AppState;

/// Command-line options.
#[derive(Debug, clap::Parser)]
#[command(name = "algoagent-coordinator", about = "AlgoAgent coordinator")]
pub struct Args {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Operational subcommands.
#[derive(Debug, Default, clap::Subcommand)]
pub enum Command {
    /// Run the API, the state machine, the relay and the reaper.
    #[default]
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API keys (stored hashed; a new key is printed once).
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `algoagent-coordinator keys ...`.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it on stdout (the only time it is shown).
    Create {
        /// Unique name of the holder (letters, digits, `_.-`, up to 64).
        #[arg(long)]
        name: String,
        /// viewer, submitter or operator.
        #[arg(long)]
        role: String,
    },
    /// List keys (names, roles, dates; never the keys).
    List,
    /// Revoke a key by name; it stops working at once.
    Revoke {
        /// The key's name.
        name: String,
    },
}

/// Runs a `keys` subcommand against the database.
pub async fn keys(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    use shared::db::api_keys::{self, Role};
    let pool = shared::db::connect(&settings.database_url, 2).context("database settings")?;
    shared::db::migrate(&pool).await.context("applying migrations")?;
    match command {
        KeysCommand::Create { name, role } => {
            let role = Role::parse(&role)
                .with_context(|| format!("--role '{role}' is not one of viewer, submitter, operator"))?;
            let key = api_keys::create(&pool, &name, role)
                .await
                .with_context(|| format!("creating key '{name}' (names are unique: letters, digits, _.-)"))?;
            println!("{key}");
        }
        KeysCommand::List => {
            for k in api_keys::list(&pool).await? {
                let state = k.revoked_at.map_or_else(|| "active".to_owned(), |t| format!("revoked {t}"));
                println!("{}\t{}\tcreated {}\t{state}", k.name, k.role, k.created_at);
            }
        }
        KeysCommand::Revoke { name } => {
            anyhow::ensure!(api_keys::revoke(&pool, &name).await?, "no active key named '{name}'");
            println!("revoked {name}");
        }
    }
    Ok(())
}

/// Applies migrations.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let pool = shared::db::connect(&settings.database_url, 2).context("database settings")?;
    shared::db::migrate(&pool).await.context("applying migrations")?;
    tracing::info!("migrations applied");
    Ok(())
}

/// Runs every coordinator subsystem until `cancel` fires.
pub async fn run(settings: Settings, listener: TcpListener, cancel: CancellationToken) -> anyhow::Result<()> {
    let recorder = shared::metrics::install()?;
    let pool = shared::db::connect(&settings.database_url, 16).context("database settings")?;
    migrate_with_retry(&pool, &cancel).await?;
    warn_if_open(&pool, &settings).await;
    let names = Names::new(&settings.namespace);
    let relay = Relay::new(pool.clone(), settings.amqp_url.clone(), names.clone());
    let redis = connect_redis(&settings, &cancel).await?;
    let limiter = shared::cache::RateLimiter::new(redis, settings.namespace.as_str());
    let state = AppState {
        pool: pool.clone(),
        settings: Arc::new(settings),
        names,
        relay_stats: Arc::clone(&relay.stats),
        limiter,
        recorder: recorder.clone(),
    };

    let mut tasks = tokio::task::JoinSet::new();
    let relay_cancel = CancellationToken::new();
    tasks.spawn(relay.run(relay_cancel.clone()));
    tasks.spawn(shared::metrics::upkeep(recorder, cancel.clone()));
    tasks.spawn(events::run(state.clone(), cancel.clone()));
    tasks.spawn(reaper::run(state.clone(), cancel.clone()));

    let addr = listener.local_addr().context("reading the listen address")?;
    tracing::info!(%addr, "coordinator listening");
    let app = router(state.clone());
    let server = axum::serve(listener, app).with_graceful_shutdown(cancel.clone().cancelled_owned());
    let served = server.await.context("HTTP server");
    // Let the event consumer drain before the relay's last flush.
    cancel.cancel();
    while tasks.len() > 1 {
        if tasks.join_next().await.is_none() {
            break;
        }
    }
    relay_cancel.cancel();
    while tasks.join_next().await.is_some() {}
    tracing::info!("coordinator stopped");
    served
}

/// Redis at start-up: waited for, like Postgres (the connection manager reconnects later).
async fn connect_redis(
    settings: &Settings,
    cancel: &CancellationToken,
) -> anyhow::Result<redis::aio::ConnectionManager> {
    let mut backoff = shared::backoff::Backoff::new(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(5),
    );
    loop {
        match shared::cache::connect(&settings.redis_url).await {
            Ok(conn) => return Ok(conn),
            Err(err) => {
                tracing::warn!(error = %err, "waiting for Redis");
                if shared::backoff::sleep_or_cancel(backoff.next_delay(), cancel).await {
                    anyhow::bail!("cancelled while waiting for Redis");
                }
            }
        }
    }
}

/// Migrations at start-up wait for Postgres instead of crash-looping.
async fn migrate_with_retry(pool: &sqlx::PgPool, cancel: &CancellationToken) -> anyhow::Result<()> {
    let mut backoff = shared::backoff::Backoff::new(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(5),
    );
    while let Err(err) = pool.acquire().await {
        tracing::warn!(error = %err, "waiting for Postgres");
        if shared::backoff::sleep_or_cancel(backoff.next_delay(), cancel).await {
            anyhow::bail!("cancelled while waiting for Postgres");
        }
    }
    shared::db::migrate(pool).await.context("applying migrations")
}

/// Says at start-up when the API accepts requests without a key.
async fn warn_if_open(pool: &sqlx::PgPool, settings: &Settings) {
    use shared::config::ApiAuth;
    match settings.api_auth {
        ApiAuth::Off => tracing::warn!("API_AUTH=off: the API does not check API keys"),
        ApiAuth::Auto => {
            if matches!(shared::db::api_keys::any_active(pool).await, Ok(false)) {
                tracing::warn!(
                    "no API key exists yet, so the API is open; create one with `algoagent-coordinator keys create --name NAME --role operator`"
                );
            }
        }
        ApiAuth::Required => {}
    }
}
