//! `GET /api/workers`: live workers from their heartbeats.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::ApiRoutes;
use super::error::ApiError;
use crate::state::AppState;

/// Worker routes.
pub fn router() -> Router<AppState> {
    Router::new().api_route("/api/workers", get(list))
}

async fn list(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = algoagent_jobs::db::workers::list(&state.pool).await?;
    Ok(Json(serde_json::json!({ "workers": rows })))
}
