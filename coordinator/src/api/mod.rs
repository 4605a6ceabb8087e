//! The HTTP API: one module per resource, each exposing `router()`. The prototype's routes
//! under `/api/production/` keep their documented shapes; `/openapi.json` describes them all.

mod auth;
mod dlq;
mod error;
mod extract;
mod health;
mod lifecycle;
mod limit;
mod memory;
mod metrics;
mod openapi;
mod production;
mod runs;
mod workers;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

/// The whole API with its middleware.
pub fn router(state: AppState) -> Router {
    let limit = state.settings.max_body_bytes;
    Router::new()
        .merge(health::router())
        .merge(runs::router())
        .merge(production::router())
        .merge(lifecycle::router())
        .merge(dlq::router())
        .merge(workers::router())
        .merge(memory::router())
        .merge(metrics::router())
        .merge(openapi::router())
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authorize))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limit::refuse_oversized))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
