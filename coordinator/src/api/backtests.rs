//! The original API's backtests: `GET /api/backtests/` (newest first, a metrics summary
//! each, paginated) and `GET /api/backtests/{id}/` (one backtest with every metric and its
//! equity curve). The prototype's `production/backtests/{id}/status/` lives in `lifecycle`.

use algoagent_core::StrategyId;
use algoagent_store::backtests::{self, BacktestSummary};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::ApiRoutes;
use super::error::ApiError;
use super::extract::{ApiQuery, page};
use crate::state::AppState;

/// Backtest routes.
pub fn router() -> Router<AppState> {
    Router::new().api_route("/api/backtests", get(list)).api_route("/api/backtests/{id}", get(show))
}

/// The metrics a listing shows; `show` has all of them.
const SUMMARY_METRICS: [&str; 5] = ["trades", "return_pct", "sharpe", "max_drawdown_pct", "win_rate_pct"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only the backtests of this strategy (its id).
    strategy: Option<i64>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn summary_json(b: &BacktestSummary, all_metrics: bool) -> serde_json::Value {
    let metrics = match (&b.metrics, all_metrics) {
        (Some(m), false) => {
            let picked: serde_json::Map<String, serde_json::Value> = SUMMARY_METRICS
                .iter()
                .filter_map(|k| m.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                .collect();
            serde_json::Value::Object(picked)
        }
        (Some(m), true) => m.clone(),
        (None, _) => serde_json::Value::Null,
    };
    serde_json::json!({
        "id": b.id,
        "url": format!("/api/backtests/{}/", b.id),
        "run_id": b.run_id,
        "strategy_id": b.strategy_id,
        "strategy": b.strategy,
        "version_id": b.version_id,
        "version": b.version,
        "dataset": b.dataset,
        "status": b.status,
        "passed": b.passed,
        "metrics": metrics,
        "duration_ms": b.duration_ms,
        "created_at": b.created_at,
    })
}

/// Backtests, newest first (`?strategy=`, `?limit=` 1 to 500, default 50, `?offset=`).
async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (limit, offset) = page(q.limit, q.offset)?;
    let (rows, count) = backtests::list(&state.pool, q.strategy.map(StrategyId), limit, offset).await?;
    let results: Vec<serde_json::Value> = rows.iter().map(|b| summary_json(b, false)).collect();
    Ok(Json(serde_json::json!({ "backtests": results, "count": count, "limit": limit, "offset": offset })))
}

/// One backtest: every metric, the equity curve, the error and the sandbox's resource use.
async fn show(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id: i64 = raw.parse().map_err(|_| {
        ApiError::client(
            StatusCode::BAD_REQUEST,
            "BAD_ID",
            "id: not a backtest id (integer expected)",
            serde_json::Value::String(raw.clone()),
        )
    })?;
    let not_found = || ApiError::not_found(format!("backtest {id}"));
    let summary = backtests::summary(&state.pool, id).await?.ok_or_else(not_found)?;
    let full = backtests::get(&state.pool, id).await?.ok_or_else(not_found)?;
    let mut body = summary_json(&summary, true);
    if let Some(map) = body.as_object_mut() {
        map.insert("job_id".into(), serde_json::json!(full.job_id));
        map.insert("error".into(), serde_json::json!(full.error));
        map.insert("resource_usage".into(), serde_json::json!(full.resource_usage));
        map.insert("equity_curve".into(), serde_json::json!(full.equity_curve));
    }
    Ok(Json(body))
}
