//! The state every HTTP handler and background task of the coordinator shares.

use std::sync::Arc;

use crate::settings::Settings;
use algoagent_cache::RateLimiter;
use algoagent_jobs::queue::{Names, RelayStats};
use algoagent_runtime::metrics::PrometheusHandle;
use algoagent_sandbox::Sandbox;
use sqlx::PgPool;

/// Cheap to clone: everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    /// Postgres pool.
    pub pool: PgPool,
    /// Settings.
    pub settings: Arc<Settings>,
    /// Queue and exchange names.
    pub names: Names,
    /// Relay counters, for health.
    pub relay_stats: Arc<RelayStats>,
    /// Per-API-key submission budgets, shared by every coordinator replica through Redis.
    pub limiter: RateLimiter,
    /// A client of the Docker engine (`DOCKER_HOST` or the local socket), so health reports
    /// the engine's own answer; `None` when no client could be made (health says unavailable).
    pub docker: Option<Arc<Sandbox>>,
    /// This process's `metrics` recorder, rendered by `GET /metrics`.
    pub recorder: PrometheusHandle,
}

impl AppState {
    /// Actor name recorded in transitions made by this process.
    pub fn actor(&self) -> &'static str {
        "coordinator"
    }
}
