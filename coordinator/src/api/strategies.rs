//! Strategies: the list (with each one's latest run), one strategy with its versions, one
//! version's code, and a strategy's audited history with the verdict of its hash chains.
//! Versions are numbered per strategy, 1 for its first, across all of its runs.

use algoagent_core::{RunId, StrategyId, VersionId};
use algoagent_jobs::db::transitions;
use algoagent_jobs::db::transitions::TransitionRow;
use algoagent_store::runs::{self, StrategyRow, StrategySummary};
use algoagent_store::versions;
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
use super::runs::ChainVerdict;
use crate::state::AppState;

/// Strategy routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .api_route("/api/strategies", get(list))
        .api_route("/api/strategies/{id}", get(show))
        .api_route("/api/strategies/{id}/audit", get(audit))
        .api_route("/api/strategies/{id}/versions/{number}", get(version))
}

/// The filter and page of `GET /api/strategies`; an unknown parameter is refused.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only the strategy of this exact name.
    name: Option<String>,
    /// Page size.
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<i64>,
    /// Strategies to skip.
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

/// A page of strategies.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct StrategyList {
    /// Newest first.
    strategies: Vec<StrategySummary>,
    /// How many strategies match, over all pages.
    count: i64,
    /// The page size used.
    limit: i64,
    /// The strategies skipped.
    offset: i64,
}

/// List strategies, newest first
///
/// Each with its version count and latest run.
#[utoipa::path(
    get,
    path = "/api/strategies",
    tag = "strategies",
    operation_id = "listStrategies",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of strategies", body = StrategyList),
        (status = 400, description = "`BAD_QUERY`: an unknown or malformed parameter, or a value out of range", body = ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<StrategyList>, ApiError> {
    let (limit, offset) = page(q.limit, q.offset)?;
    let (strategies, count) = runs::strategy_summaries(&state.pool, q.name.as_deref(), limit, offset).await?;
    Ok(Json(StrategyList { strategies, count, limit, offset }))
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

/// One version of a strategy, in its listing.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct VersionSummary {
    /// Version id.
    id: VersionId,
    /// Its number within the strategy, from 1.
    number: usize,
    /// The run that produced it.
    run_id: RunId,
    /// Its number within its run (1 generated, +1 per fix).
    version: i32,
    /// `generated` or `fixed`.
    origin: String,
    /// SHA-256 of the code, hex.
    sha256: String,
    /// Validator verdict (null until validated).
    accepted: Option<bool>,
    /// Merge commit on main.
    git_commit: Option<String>,
    /// Created.
    created_at: DateTime<Utc>,
}

/// One strategy and its versions.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct StrategyDetail {
    /// The strategy.
    strategy: StrategyRow,
    /// Its versions, newest first.
    versions: Vec<VersionSummary>,
}

/// A strategy's id and name.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct StrategyRef {
    /// Integer id.
    id: StrategyId,
    /// Unique name.
    name: String,
}

/// One version of a strategy with its code.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct StrategyVersion {
    /// Its strategy.
    strategy: StrategyRef,
    /// Its number within the strategy, from 1.
    number: i64,
    /// Version id.
    id: VersionId,
    /// The run that produced it.
    run_id: RunId,
    /// Its number within its run.
    version: i32,
    /// `generated` or `fixed`.
    origin: String,
    /// Generator.
    provider: String,
    /// Model, for LLM providers.
    model: Option<String>,
    /// Strategy class name.
    entrypoint: String,
    /// SHA-256 of the code, hex.
    sha256: String,
    /// Validator verdict (null until validated).
    accepted: Option<bool>,
    /// Merge commit on main.
    git_commit: Option<String>,
    /// Created.
    created_at: DateTime<Utc>,
    /// Why this version failed, when it did.
    failure: Option<String>,
    /// Python source.
    code: String,
}

/// A strategy's audited history.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct StrategyAudit {
    /// The strategy and its lifecycle status.
    strategy: AuditedStrategy,
    /// Every transition of the strategy, its runs and their jobs, oldest first.
    transitions: Vec<TransitionRow>,
    /// Whether every one of their hash chains holds.
    audit: ChainVerdict,
}

/// A strategy's id, name and status.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AuditedStrategy {
    /// Integer id.
    id: StrategyId,
    /// Unique name.
    name: String,
    /// Lifecycle status of the strategy as a whole.
    status: String,
}

/// Show one strategy and its versions
///
/// Versions newest first, numbered from 1 (its first version).
#[utoipa::path(
    get,
    path = "/api/strategies/{id}",
    tag = "strategies",
    operation_id = "showStrategy",
    params(("id" = i64, Path, description = "Strategy id")),
    responses(
        (status = 200, description = "The strategy", body = StrategyDetail),
        (status = 400, description = "`BAD_ID`: not an integer", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such strategy", body = ErrorBody),
    )
)]
pub(super) async fn show(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<StrategyDetail>, ApiError> {
    let strategy = strategy(&state, &raw).await?;
    let versions = versions::for_strategy(&state.pool, strategy.id).await?;
    let total = versions.len();
    let versions = versions
        .into_iter()
        .enumerate()
        .map(|(i, v)| VersionSummary {
            id: v.id,
            number: total - i,
            run_id: v.run_id,
            version: v.version,
            origin: v.origin,
            sha256: v.sha256,
            accepted: v.accepted,
            git_commit: v.git_commit,
            created_at: v.created_at,
        })
        .collect();
    Ok(Json(StrategyDetail { strategy, versions }))
}

/// Show one version of a strategy with its code
#[utoipa::path(
    get,
    path = "/api/strategies/{id}/versions/{number}",
    tag = "strategies",
    operation_id = "showStrategyVersion",
    params(
        ("id" = i64, Path, description = "Strategy id"),
        ("number" = i64, Path, description = "Version number within the strategy, from 1"),
    ),
    responses(
        (status = 200, description = "The version", body = StrategyVersion),
        (status = 400, description = "`BAD_ID`: an id or number is not an integer", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such strategy or version", body = ErrorBody),
    )
)]
pub(super) async fn version(
    State(state): State<AppState>,
    Path((raw, number)): Path<(String, String)>,
) -> Result<Json<StrategyVersion>, ApiError> {
    let strategy = strategy(&state, &raw).await?;
    let number = parse_int(&number, "number")?;
    let version =
        if number >= 1 { versions::nth_of_strategy(&state.pool, strategy.id, number).await? } else { None };
    let Some(v) = version else {
        return Err(ApiError::not_found(format!("version {number} of strategy {}", strategy.name)));
    };
    Ok(Json(StrategyVersion {
        strategy: StrategyRef { id: strategy.id, name: strategy.name },
        number,
        id: v.id,
        run_id: v.run_id,
        version: v.version,
        origin: v.origin,
        provider: v.provider,
        model: v.model,
        entrypoint: v.entrypoint,
        sha256: v.sha256,
        accepted: v.accepted,
        git_commit: v.git_commit,
        created_at: v.created_at,
        failure: v.failure,
        code: v.code,
    }))
}

/// Show a strategy's audited history
///
/// Every transition of a strategy, of its runs and of their jobs, oldest first, and whether
/// every one of their hash chains holds.
#[utoipa::path(
    get,
    path = "/api/strategies/{id}/audit",
    tag = "strategies",
    operation_id = "auditStrategy",
    params(("id" = i64, Path, description = "Strategy id")),
    responses(
        (status = 200, description = "The strategy's history", body = StrategyAudit),
        (status = 400, description = "`BAD_ID`: not an integer", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such strategy", body = ErrorBody),
    )
)]
pub(super) async fn audit(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<StrategyAudit>, ApiError> {
    let strategy = strategy(&state, &raw).await?;
    let transitions = transitions::for_strategy(&state.pool, strategy.id).await?;
    let broken = transitions::broken_links_for_strategy(&state.pool, strategy.id).await?;
    Ok(Json(StrategyAudit {
        strategy: AuditedStrategy { id: strategy.id, name: strategy.name, status: strategy.status },
        transitions,
        audit: ChainVerdict::of(broken),
    }))
}
