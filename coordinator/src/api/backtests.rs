//! The original API's backtests: `GET /api/backtests/` (newest first, a metrics summary
//! each, paginated) and `GET /api/backtests/{id}/` (one backtest with every metric and its
//! equity curve). The prototype's `production/backtests/{id}/status/` lives in `lifecycle`.

use algoagent_core::StrategyId;
use algoagent_core::{JobId, RunId, VersionId};
use algoagent_store::backtests::{self, BacktestSummary};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiRoutes;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiQuery, page};
use crate::state::AppState;

/// Backtest routes.
pub fn router() -> Router<AppState> {
    Router::new().api_route("/api/backtests", get(list)).api_route("/api/backtests/{id}", get(show))
}

/// The metrics a listing shows; `show` has all of them.
const SUMMARY_METRICS: [&str; 5] = ["trades", "return_pct", "sharpe", "max_drawdown_pct", "win_rate_pct"];

/// The filter and page of `GET /api/backtests`; an unknown parameter is refused.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only the backtests of this strategy (its id).
    strategy: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<i64>,
    /// Backtests to skip.
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

/// One backtest, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct BacktestItem {
    /// Backtest id.
    id: i64,
    /// Its own URL.
    url: String,
    /// Its run.
    run_id: RunId,
    /// The strategy tested.
    strategy_id: StrategyId,
    /// Its name.
    strategy: String,
    /// The version tested.
    version_id: VersionId,
    /// That version's number within its run.
    version: i32,
    /// Dataset name.
    dataset: String,
    /// `ok`, `error`, `timeout`, ...
    status: String,
    /// Met the acceptance criteria.
    passed: bool,
    /// Harness metrics: in a listing only `trades`, `return_pct`, `sharpe`,
    /// `max_drawdown_pct` and `win_rate_pct`; every one in a single backtest.
    #[schema(value_type = Option<Object>)]
    metrics: Option<serde_json::Value>,
    /// Wall-clock time of the sandbox run.
    duration_ms: i64,
    /// Created.
    created_at: DateTime<Utc>,
}

/// A page of backtests.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct BacktestList {
    /// Newest first.
    backtests: Vec<BacktestItem>,
    /// How many backtests match, over all pages.
    count: i64,
    /// The page size used.
    limit: i64,
    /// The backtests skipped.
    offset: i64,
}

/// One backtest in full.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct BacktestDetail {
    /// What a listing shows, with every metric.
    #[serde(flatten)]
    summary: BacktestItem,
    /// The test job.
    job_id: JobId,
    /// Failure reason.
    error: Option<String>,
    /// Peak memory and CPU time of the sandbox.
    #[schema(value_type = Option<Object>)]
    resource_usage: Option<serde_json::Value>,
    /// Down-sampled equity curve.
    #[schema(value_type = Option<Value>)]
    equity_curve: Option<serde_json::Value>,
}

fn summary_json(b: &BacktestSummary, all_metrics: bool) -> BacktestItem {
    let metrics = match (&b.metrics, all_metrics) {
        (Some(m), false) => {
            let picked: serde_json::Map<String, serde_json::Value> = SUMMARY_METRICS
                .iter()
                .filter_map(|k| m.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                .collect();
            Some(serde_json::Value::Object(picked))
        }
        (Some(m), true) => Some(m.clone()),
        (None, _) => None,
    };
    BacktestItem {
        id: b.id,
        url: format!("/api/backtests/{}/", b.id),
        run_id: b.run_id,
        strategy_id: b.strategy_id,
        strategy: b.strategy.clone(),
        version_id: b.version_id,
        version: b.version,
        dataset: b.dataset.clone(),
        status: b.status.clone(),
        passed: b.passed,
        metrics,
        duration_ms: b.duration_ms,
        created_at: b.created_at,
    }
}

/// List backtests, newest first
///
/// Each with a summary of its metrics; filtered by `strategy`, paginated by `limit` (1 to
/// 500, default 50) and `offset`.
#[utoipa::path(
    get,
    path = "/api/backtests",
    tag = "backtests",
    operation_id = "listBacktests",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of backtests", body = BacktestList),
        (status = 400, description = "`BAD_QUERY`: an unknown or malformed parameter, or a value out of range", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<BacktestList>, ApiError> {
    let (limit, offset) = page(q.limit, q.offset)?;
    let (rows, count) = backtests::list(&state.pool, q.strategy.map(StrategyId), limit, offset).await?;
    let backtests = rows.iter().map(|b| summary_json(b, false)).collect();
    Ok(Json(BacktestList { backtests, count, limit, offset }))
}

/// Show one backtest
///
/// Every metric, the equity curve, the error and the sandbox's resource use.
#[utoipa::path(
    get,
    path = "/api/backtests/{id}",
    tag = "backtests",
    operation_id = "showBacktest",
    params(("id" = i64, Path, description = "Backtest id")),
    responses(
        (status = 200, description = "The backtest", body = BacktestDetail),
        (status = 400, description = "`BAD_ID`: not an integer", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such backtest", body = ErrorBody),
    )
)]
pub(super) async fn show(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<BacktestDetail>, ApiError> {
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
    Ok(Json(BacktestDetail {
        summary: summary_json(&summary, true),
        job_id: full.job_id,
        error: full.error,
        resource_usage: full.resource_usage,
        equity_curve: full.equity_curve,
    }))
}
