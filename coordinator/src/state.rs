//! The state every HTTP handler and background task of the coordinator shares.

use std::sync::Arc;

use shared::cache::RateLimiter;
use shared::config::Settings;
use shared::metrics::PrometheusHandle;
use shared::queue::{Names, RelayStats};
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
    /// This process's `metrics` recorder, rendered by `GET /metrics`.
    pub recorder: PrometheusHandle,
}

impl AppState {
    /// Actor name recorded in transitions made by this process.
    pub fn actor(&self) -> &'static str {
        "coordinator"
    }
}
