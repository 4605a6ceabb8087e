//! Strategies: the list (with each one's latest run), one strategy with its versions, one
//! version's code, and a strategy's audited history with the verdict of its hash chains.
//! Versions are numbered per strategy, 1 for its first, across all of its runs.

use algoagent_core::StrategyId;
use algoagent_jobs::db::transitions;
use algoagent_store::runs::{self, StrategyRow};
use algoagent_store::versions;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::ApiRoutes;
use super::error::ApiError;
use super::extract::{ApiQuery, page};
use crate::state::AppState;

/// Strategy routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .api_route("/api/strategies", get(list))
        .api_route("/api/strategies/{id}", get(show))
        .api_route("/api/strategies/{id}/audit", get(audit))
        .api_route("/api/strategies/{id}/versions/{number}", get(version))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only the strategy of this exact name.
    name: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Strategies, newest first, each with its version count and latest run.
async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (limit, offset) = page(q.limit, q.offset)?;
    let (rows, count) = runs::strategy_summaries(&state.pool, q.name.as_deref(), limit, offset).await?;
    Ok(Json(serde_json::json!({ "strategies": rows, "count": count, "limit": limit, "offset": offset })))
}

fn parse_int(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::client(
            StatusCode::BAD_REQUEST,
            "BAD_ID",
            format!("{what}: not an integer"),
            serde_json::Value::String(raw.into()),
        )
    })
}

async fn strategy(state: &AppState, raw: &str) -> Result<StrategyRow, ApiError> {
    let id = parse_int(raw, "id")?;
    runs::strategy(&state.pool, StrategyId(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("strategy {id}")))
}

/// One strategy and its versions, newest first, numbered from 1 (its first version).
async fn show(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let strategy = strategy(&state, &raw).await?;
    let versions = versions::for_strategy(&state.pool, strategy.id).await?;
    let total = versions.len();
    let versions: Vec<serde_json::Value> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::json!({
                "id": v.id, "number": total - i, "run_id": v.run_id, "version": v.version, "origin": v.origin,
                "sha256": v.sha256, "accepted": v.accepted, "git_commit": v.git_commit, "created_at": v.created_at,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "strategy": strategy, "versions": versions })))
}

/// One version of a strategy with its code.
async fn version(
    State(state): State<AppState>,
    Path((raw, number)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let strategy = strategy(&state, &raw).await?;
    let number = parse_int(&number, "number")?;
    let version =
        if number >= 1 { versions::nth_of_strategy(&state.pool, strategy.id, number).await? } else { None };
    let Some(v) = version else {
        return Err(ApiError::not_found(format!("version {number} of strategy {}", strategy.name)));
    };
    Ok(Json(serde_json::json!({
        "strategy": { "id": strategy.id, "name": strategy.name },
        "number": number,
        "id": v.id, "run_id": v.run_id, "version": v.version, "origin": v.origin, "provider": v.provider,
        "model": v.model, "entrypoint": v.entrypoint, "sha256": v.sha256, "accepted": v.accepted,
        "git_commit": v.git_commit, "created_at": v.created_at, "failure": v.failure, "code": v.code,
    })))
}

/// Every transition of a strategy, of its runs and of their jobs, oldest first, and whether
/// every one of their hash chains holds.
async fn audit(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let strategy = strategy(&state, &raw).await?;
    let history = transitions::for_strategy(&state.pool, strategy.id).await?;
    let broken = transitions::broken_links_for_strategy(&state.pool, strategy.id).await?;
    Ok(Json(serde_json::json!({
        "strategy": { "id": strategy.id, "name": strategy.name, "status": strategy.status },
        "transitions": history,
        "audit": { "chain_ok": broken.is_empty(), "broken_links": broken },
    })))
}
