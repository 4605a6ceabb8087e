//! `GET /api/`: the API root, as Django REST framework's browsable root answers it: every
//! resource and its URL, absolute when the request names its host. Templated URLs keep
//! their `{id}`; `/openapi.json` describes each route in full.

use axum::http::HeaderMap;
use axum::http::header::HOST;
use axum::routing::get;
use axum::{Json, Router};

use super::ApiRoutes;
use crate::state::AppState;

/// Index route.
pub fn router() -> Router<AppState> {
    Router::new().api_route("/api/", get(index))
}

/// List the API's resources and their URLs
///
/// Every resource and its URL, absolute when the request names its host (`Host`,
/// `X-Forwarded-Proto`); templated URLs keep their `{id}`.
#[utoipa::path(
    get,
    path = "/api/",
    tag = "meta",
    operation_id = "apiRoot",
    responses((status = 200, description = "Resource names and their URLs (`production` nests its own)", body = Object))
)]
pub(super) async fn index(headers: HeaderMap) -> Json<serde_json::Value> {
    // The scheme a proxy in front saw, else plain HTTP (the coordinator serves no TLS).
    let scheme = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).unwrap_or("http");
    let base = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
        .map(|host| format!("{scheme}://{host}"))
        .unwrap_or_default();
    let url = |path: &str| serde_json::Value::String(format!("{base}{path}"));
    Json(serde_json::json!({
        "strategies": url("/api/strategies/"),
        "strategy": url("/api/strategies/{id}/"),
        "strategy_versions": url("/api/strategies/{id}/versions/{number}/"),
        "strategy_audit": url("/api/strategies/{id}/audit/"),
        "runs": url("/api/runs/"),
        "run": url("/api/runs/{id}/"),
        "backtests": url("/api/backtests/"),
        "backtest": url("/api/backtests/{id}/"),
        "jobs": url("/api/jobs/"),
        "workers": url("/api/workers/"),
        "dlq": url("/api/dlq/"),
        "memory": url("/api/memory/search/?q={text}"),
        "production": {
            "strategies": {
                "validate_schema": url("/api/production/strategies/validate-schema/"),
                "validate_code": url("/api/production/strategies/validate-code/"),
                "health": url("/api/production/strategies/health/"),
                "lifecycle": url("/api/production/strategies/{id}/lifecycle/"),
                "deploy": url("/api/production/strategies/{id}/deploy/"),
                "rollback": url("/api/production/strategies/{id}/rollback/"),
            },
            "backtests": {
                "validate_config": url("/api/production/backtests/validate-config/"),
                "health": url("/api/production/backtests/health/"),
                "status": url("/api/production/backtests/{id}/status/"),
            },
        },
        "openapi": url("/openapi.json"),
        "health": url("/health"),
        "metrics": url("/metrics"),
    }))
}
