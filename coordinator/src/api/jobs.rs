//! `GET /api/jobs`: jobs, newest first, by status, kind or run; what `algoagent jobs` shows.

use algoagent_core::{JobKind, JobStatus, RunId};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::ApiRoutes;
use super::error::ApiError;
use super::extract::{ApiQuery, bad_query, page};
use crate::state::AppState;

/// Job routes.
pub fn router() -> Router<AppState> {
    Router::new().api_route("/api/jobs", get(list))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    kind: Option<String>,
    run: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if let Some(status) = &q.status {
        status.parse::<JobStatus>().map_err(|e| bad_query("status", e))?;
    }
    if let Some(kind) = &q.kind {
        kind.parse::<JobKind>().map_err(|e| bad_query("kind", e))?;
    }
    let run = match &q.run {
        Some(raw) => {
            Some(raw.parse::<RunId>().map_err(|_| bad_query("run", "not a run id (UUID expected)"))?)
        }
        None => None,
    };
    let (limit, offset) = page(q.limit, q.offset)?;
    let (rows, count) = algoagent_jobs::db::jobs::list(
        &state.pool,
        q.status.as_deref(),
        q.kind.as_deref(),
        run,
        limit,
        offset,
    )
    .await?;
    let jobs: Vec<serde_json::Value> = rows
        .iter()
        .map(|j| {
            serde_json::json!({
                "id": j.id, "run_id": j.run_id, "strategy_id": j.strategy_id, "kind": j.kind, "status": j.status,
                "attempt": j.attempt, "max_attempts": j.max_attempts, "error": j.error,
                "created_at": j.created_at, "started_at": j.started_at, "finished_at": j.finished_at,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "jobs": jobs, "count": count, "limit": limit, "offset": offset })))
}
