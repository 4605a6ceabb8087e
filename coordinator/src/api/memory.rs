//! `GET /api/memory/search?q=...`: the failure memory the fix loop consults, for operators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::ApiRoutes;
use super::error::ApiError;
use super::extract::ApiQuery;
use crate::state::AppState;

/// Memory routes.
pub fn router() -> Router<AppState> {
    Router::new().api_route("/api/memory/search", get(search))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: String,
    limit: Option<i64>,
}

async fn search(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if query.q.trim().is_empty() || query.q.len() > 10_000 {
        return Err(ApiError::client(
            StatusCode::BAD_REQUEST,
            "BAD_QUERY",
            "q: give an error text of 1 to 10000 characters",
            serde_json::Value::Null,
        ));
    }
    let hits = algoagent_store::memory::similar(&state.pool, &query.q, query.limit.unwrap_or(5).clamp(1, 50))
        .await?;
    Ok(Json(serde_json::json!({ "results": hits })))
}
