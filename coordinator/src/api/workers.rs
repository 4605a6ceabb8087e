//! `GET /api/workers`: live workers from their heartbeats.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::ApiRoutes;
use super::error::ApiError;
use crate::state::AppState;
use algoagent_jobs::db::workers::WorkerRow;
use serde::Serialize;
use utoipa::ToSchema;

/// Worker routes.
pub fn router() -> Router<AppState> {
    Router::new().api_route("/api/workers", get(list))
}

/// The workers known from their heartbeats.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct WorkerList {
    /// Live and recently stopped workers.
    workers: Vec<WorkerRow>,
}

/// List workers from their heartbeats
#[utoipa::path(
    get,
    path = "/api/workers",
    tag = "workers",
    operation_id = "listWorkers",
    responses((status = 200, description = "The workers", body = WorkerList))
)]
pub(super) async fn list(State(state): State<AppState>) -> Result<Json<WorkerList>, ApiError> {
    let workers = algoagent_jobs::db::workers::list(&state.pool).await?;
    Ok(Json(WorkerList { workers }))
}
