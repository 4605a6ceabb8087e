//! The prototype's strategy lifecycle routes: `{id}/lifecycle/` (state history in the
//! guide's words, each with the project's state beside it),
//! `{id}/deploy/` (a deploy commit on main, tagged `<name>/<tag_version>` unless
//! `create_tag` is false) and `{id}/rollback/` (a new commit restoring an
//! earlier version), plus `backtests/{id}/status/`. Deploy and rollback change git and the
//! run's state together, each audited.

use algoagent_core::{RunStatus, StrategyId};
use algoagent_gitflow::{GitError, StrategyRepo};
use algoagent_store::runs::{self, StrategyRow};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiRoutes;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;
use crate::state::AppState;

/// Lifecycle routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .api_route("/api/production/strategies/{id}/lifecycle/", get(lifecycle))
        .api_route("/api/production/strategies/{id}/deploy/", post(deploy))
        .api_route("/api/production/strategies/{id}/rollback/", post(rollback))
        .api_route("/api/production/backtests/{id}/status/", get(backtest_status))
}

fn parse_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::client(
            StatusCode::BAD_REQUEST,
            "BAD_ID",
            format!("id: not a {what} id (integer expected)"),
            serde_json::Value::String(raw.into()),
        )
    })
}

async fn strategy(state: &AppState, raw: &str) -> Result<StrategyRow, ApiError> {
    let id = parse_id(raw, "strategy")?;
    runs::strategy(&state.pool, StrategyId(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("strategy {id}")))
}

/// Counts of a strategy's work, in the guide's words.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LifecycleTracking {
    /// Generate and fix attempts started.
    generation_attempts: i64,
    /// Test attempts started.
    test_attempts: i64,
    /// Fixes used over all runs.
    fix_attempts: i64,
    /// Runs that failed or died.
    error_count: i64,
    /// The latest run error.
    last_error: Option<String>,
}

/// When things last happened to a strategy.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LifecycleTimestamps {
    /// Registered.
    created_at: DateTime<Utc>,
    /// Code last generated or fixed.
    last_generation: Option<DateTime<Utc>>,
    /// Code last tested.
    last_test: Option<DateTime<Utc>>,
    /// A run last merged or deployed.
    last_success: Option<DateTime<Utc>>,
}

/// One entry of a strategy's lifecycle log.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct LifecycleEvent {
    /// When.
    timestamp: DateTime<Utc>,
    /// The guide's word for entering the state (`created`, `generation`, `test`, ...).
    event: String,
    /// What happened, in words.
    details: String,
    /// `strategy` or `run`.
    entity: String,
    /// The state left.
    from_state: Option<String>,
    /// The state entered.
    state: String,
}

/// A strategy's lifecycle in the guide's words.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Lifecycle {
    /// The strategy.
    strategy_id: StrategyId,
    /// Its name.
    name: String,
    /// The guide's word for its state (`created`, `pending`, `passed`, `failed`, ...).
    current_status: String,
    /// The project's state.
    state: String,
    /// Counts of its work.
    lifecycle_tracking: LifecycleTracking,
    /// When things last happened.
    timestamps: LifecycleTimestamps,
    /// Its and its runs' transitions, oldest first.
    audit_log: Vec<LifecycleEvent>,
}

/// Show a strategy's lifecycle
///
/// Its state history in the guide's words, each with the project's state beside it.
#[utoipa::path(
    get,
    path = "/api/production/strategies/{id}/lifecycle/",
    tag = "production",
    operation_id = "strategyLifecycle",
    params(("id" = i64, Path, description = "Strategy id")),
    responses(
        (status = 200, description = "The lifecycle", body = Lifecycle),
        (status = 400, description = "`BAD_ID`: not an integer", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such strategy", body = ErrorBody),
    )
)]
pub(super) async fn lifecycle(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Lifecycle>, ApiError> {
    let s = strategy(&state, &raw).await?;
    type Counts = (i64, i64, i64, i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let (generations, tests, fixes, errors, last_generation, last_test, last_success): Counts = sqlx::query_as(
        "SELECT coalesce(sum(j.attempt) FILTER (WHERE j.kind IN ('generate', 'fix')), 0)::bigint,
                coalesce(sum(j.attempt) FILTER (WHERE j.kind = 'test'), 0)::bigint,
                (SELECT coalesce(sum(fix_attempts), 0)::bigint FROM runs WHERE strategy_id = $1),
                (SELECT count(*) FROM runs WHERE strategy_id = $1 AND status IN ('failed', 'dead')),
                max(j.finished_at) FILTER (WHERE j.kind IN ('generate', 'fix') AND j.status = 'succeeded'),
                max(j.finished_at) FILTER (WHERE j.kind = 'test'),
                (SELECT max(finished_at) FROM runs WHERE strategy_id = $1 AND status IN ('merged', 'deployed'))
           FROM jobs j WHERE j.strategy_id = $1",
    )
    .bind(s.id)
    .fetch_one(&state.pool)
    .await?;
    let latest_run: Option<String> =
        sqlx::query_scalar("SELECT status FROM runs WHERE strategy_id = $1 ORDER BY created_at DESC LIMIT 1")
            .bind(s.id)
            .fetch_optional(&state.pool)
            .await?;
    let current = current_state(&s.status, latest_run.as_deref());
    let last_error: Option<String> = sqlx::query_scalar(
        "SELECT error FROM runs WHERE strategy_id = $1 AND error IS NOT NULL ORDER BY updated_at DESC LIMIT 1",
    )
    .bind(s.id)
    .fetch_optional(&state.pool)
    .await?;
    type AuditRow = (DateTime<Utc>, String, String, Option<String>, serde_json::Value);
    let audit: Vec<AuditRow> = sqlx::query_as(
        "SELECT at, entity_type, to_state, from_state, details FROM transitions
          WHERE (entity_type = 'strategy' AND entity_id = $1::text)
             OR (entity_type = 'run' AND entity_id IN (SELECT id::text FROM runs WHERE strategy_id = $1))
          ORDER BY id",
    )
    .bind(s.id)
    .fetch_all(&state.pool)
    .await?;
    let audit_log = audit
        .into_iter()
        .map(|(at, entity, to, from, details)| {
            let text = match (entity.as_str(), from.as_deref()) {
                ("strategy", None) => "Strategy registered".to_owned(),
                (_, from) => details.get("reason").and_then(|r| r.as_str()).map_or_else(
                    || format!("{entity}: {} -> {to}", from.unwrap_or("new")),
                    |r| format!("{entity}: {} -> {to}: {r}", from.unwrap_or("new")),
                ),
            };
            let event = if entity == "strategy" && from.is_none() { "created" } else { guide_event(&to) };
            LifecycleEvent {
                timestamp: at,
                event: event.to_owned(),
                details: text,
                from_state: from,
                state: to,
                entity,
            }
        })
        .collect();
    Ok(Json(Lifecycle {
        strategy_id: s.id,
        current_status: guide_status(current).to_owned(),
        state: current.to_owned(),
        name: s.name,
        lifecycle_tracking: LifecycleTracking {
            generation_attempts: generations,
            test_attempts: tests,
            fix_attempts: fixes,
            error_count: errors,
            last_error,
        },
        timestamps: LifecycleTimestamps {
            created_at: s.created_at,
            last_generation,
            last_test,
            last_success,
        },
        audit_log,
    }))
}

/// The project's state of a strategy: its latest run's while that run is in progress (or
/// when nothing of it was ever merged), else the strategy's own (`merged`, `deployed`,
/// `rolled_back`: what is on `main`).
fn current_state<'a>(strategy: &'a str, latest_run: Option<&'a str>) -> &'a str {
    match latest_run.map(|r| (r, r.parse::<RunStatus>())) {
        Some((run, Ok(status))) if !status.is_terminal() => run,
        Some((run, _)) if strategy == "registered" => run,
        _ => strategy,
    }
}

/// The prototype guide's word for a project state in `current_status` (`passed` for code
/// whose tests passed); unknown states are returned as they are.
fn guide_status(state: &str) -> &str {
    match state {
        "registered" => "created",
        "submitted" => "pending",
        "merging" | "merged" => "passed",
        "dead" => "failed",
        other => other,
    }
}

/// The prototype guide's word for the event of entering a state in `audit_log`
/// (`generation`, `test`, ...); unknown states are returned as they are.
fn guide_event(state: &str) -> &str {
    match state {
        "registered" => "created",
        "submitted" => "submission",
        "generating" => "generation",
        "validating" => "validation",
        "testing" => "test",
        "fixing" => "fix",
        "merging" => "passed",
        "merged" => "merge",
        "deployed" => "deployment",
        "rolled_back" => "rollback",
        "failed" | "dead" => "error",
        "cancelled" => "cancellation",
        other => other,
    }
}

/// Runs a blocking git operation on the strategies repository.
pub(super) async fn with_repo<T: Send + 'static>(
    state: &AppState,
    op: impl FnOnce(&StrategyRepo) -> Result<T, GitError> + Send + 'static,
) -> Result<T, ApiError> {
    let location = state.settings.common.strategy_repo.clone();
    let cache = state.settings.common.cache_dir.join("git");
    let result =
        tokio::task::spawn_blocking(move || op(&StrategyRepo::open_or_init(&location, &cache)?)).await?;
    result.map_err(git_error)
}

/// The HTTP answer to a refused git operation.
fn git_error(err: GitError) -> ApiError {
    match err {
        GitError::NotFound(what) => ApiError::not_found(what),
        // The guide answers 400 for every request it refuses as invalid.
        GitError::InvalidName { .. } | GitError::InvalidInput { .. } => ApiError::client(
            StatusCode::BAD_REQUEST,
            "INVALID_GIT_INPUT",
            err.to_string(),
            serde_json::Value::Null,
        ),
        GitError::Conflict(why) => {
            ApiError::client(StatusCode::CONFLICT, "GIT_CONFLICT", why, serde_json::Value::Null)
        }
        other => ApiError::from(other),
    }
}

/// Moves the strategy's latest run and the strategy itself to `to` (audited), if the run
/// is in a state that allows it.
async fn record(
    state: &AppState,
    actor: &str,
    s: &StrategyRow,
    to: RunStatus,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    let mut tx = state.pool.begin().await?;
    let latest: Option<(algoagent_core::RunId, String)> = sqlx::query_as(
        "SELECT id, status FROM runs WHERE strategy_id = $1 AND status IN ('merged', 'deployed', 'rolled_back')
          ORDER BY finished_at DESC NULLS LAST LIMIT 1 FOR UPDATE",
    )
    .bind(s.id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((run_id, status)) = latest
        && let Ok(from) = status.parse::<RunStatus>()
        && from.can_move_to(to)
    {
        runs::advance(&mut tx, run_id, from, to, actor, None, details.clone()).await?;
    }
    runs::set_strategy_status(&mut tx, s.id, to.as_str(), actor, details).await?;
    tx.commit().await?;
    Ok(())
}

/// How to deploy a strategy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DeployRequest {
    /// The deploy commit's message (default `Deploy <name> <tag>`).
    #[serde(default)]
    commit_message: Option<String>,
    /// Tag the deploy commit `<name>/<tag_version>`.
    #[serde(default = "yes")]
    #[schema(default = true)]
    create_tag: bool,
    /// The tag's version (default `v<number of merged versions>`); only with `create_tag`.
    #[serde(default)]
    tag_version: Option<String>,
}

/// What a deploy did.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Deployed {
    /// Always `deployed`.
    #[schema(pattern = "^deployed$")]
    status: &'static str,
    /// The strategy.
    strategy_id: StrategyId,
    /// `strategy/<name>`.
    branch: String,
    /// The deploy commit on main.
    commit: String,
    /// The commit of the code deployed.
    deployed_commit: String,
    /// The tag's version, when tagged.
    tag: Option<String>,
    /// The git tag, `<name>/<tag>`.
    git_tag: Option<String>,
    /// The deploy commit's message.
    commit_message: String,
    /// In words.
    message: String,
}

/// How to roll a strategy back.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RollbackRequest {
    /// The commit whose version of the strategy to restore: 4 to 40 hexadecimal digits.
    #[schema(pattern = "^[0-9a-fA-F]{4,40}$")]
    commit_hash: String,
    /// Why (recorded in the commit and the audit).
    #[serde(default)]
    reason: Option<String>,
}

/// What a rollback did.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RolledBack {
    /// Always `rolled_back`.
    #[schema(pattern = "^rolled_back$")]
    status: &'static str,
    /// The strategy.
    strategy_id: StrategyId,
    /// The commit restored.
    reverted_to: String,
    /// The new commit on main.
    commit: String,
    /// Always `main`.
    branch: &'static str,
    /// Why.
    reason: String,
    /// In words.
    message: String,
}

fn yes() -> bool {
    true
}

/// Deploy a strategy
///
/// A deploy commit on main, tagged `<name>/<tag_version>` unless `create_tag` is false; git
/// and the run's state change together, audited.
#[utoipa::path(
    post,
    path = "/api/production/strategies/{id}/deploy/",
    tag = "production",
    operation_id = "deployStrategy",
    params(("id" = i64, Path, description = "Strategy id")),
    request_body = DeployRequest,
    responses(
        (status = 200, description = "Deployed", body = Deployed),
        (status = 400, description = "`BAD_ID`, `MALFORMED_JSON`, `INVALID_REQUEST` (wrong shape, a bad tag), `INVALID_GIT_INPUT` or `BAD_BODY`", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such strategy, or nothing of it merged", body = ErrorBody),
        (status = 409, description = "`GIT_CONFLICT`: the tag exists, or main moved", body = ErrorBody),
    )
)]
pub(super) async fn deploy(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<DeployRequest>,
) -> Result<Json<Deployed>, ApiError> {
    let s = strategy(&state, &raw).await?;
    if !req.create_tag && req.tag_version.is_some() {
        return Err(ApiError::invalid_field(
            "tag_version",
            "create_tag is false: no tag is made, so give no tag_version",
        ));
    }
    let tag = if req.create_tag {
        let version: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM strategy_versions WHERE strategy_id = $1 AND git_commit IS NOT NULL",
        )
        .bind(s.id)
        .fetch_one(&state.pool)
        .await?;
        Some(req.tag_version.clone().unwrap_or_else(|| format!("v{version}")))
    } else {
        None
    };
    // Tags are repository-wide: the git ref is named after the strategy.
    let git_tag = tag.as_ref().map(|t| format!("{}/{t}", s.name));
    let message = req.commit_message.clone().unwrap_or_else(|| match &tag {
        Some(t) => format!("Deploy {} {t}", s.name),
        None => format!("Deploy {}", s.name),
    });
    let (name, t, m) = (s.name.clone(), git_tag.clone(), message.clone());
    let deployment = match with_repo(&state, move |repo| Ok(repo.deploy(&name, t.as_deref(), &m))).await? {
        Ok(deployment) => deployment,
        Err(GitError::InvalidName { what: "tag name", reason, .. }) => {
            return Err(ApiError::invalid_field(
                "tag_version",
                &format!("not a valid git tag name: {reason}"),
            ));
        }
        Err(other) => return Err(git_error(other)),
    };
    record(
        &state,
        &caller.actor("operator"),
        &s,
        RunStatus::Deployed,
        serde_json::json!({
            "tag": tag,
            "git_tag": git_tag,
            "commit": deployment.commit,
            "deployed_commit": deployment.deployed,
            "message": message,
        }),
    )
    .await?;
    Ok(Json(Deployed {
        status: "deployed",
        strategy_id: s.id,
        branch: format!("strategy/{}", s.name),
        commit: deployment.commit,
        deployed_commit: deployment.deployed,
        tag,
        git_tag,
        commit_message: message,
        message: format!("Strategy {} deployed successfully", s.name),
    }))
}

/// Roll a strategy back
///
/// A new commit on main restoring the strategy as it was at `commit_hash`; git and the
/// run's state change together, audited.
#[utoipa::path(
    post,
    path = "/api/production/strategies/{id}/rollback/",
    tag = "production",
    operation_id = "rollbackStrategy",
    params(("id" = i64, Path, description = "Strategy id")),
    request_body = RollbackRequest,
    responses(
        (status = 200, description = "Rolled back", body = RolledBack),
        (status = 400, description = "`BAD_ID`, `MALFORMED_JSON`, `INVALID_REQUEST` (wrong shape), `INVALID_GIT_INPUT` (not a commit hash) or `BAD_BODY`", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such strategy or commit", body = ErrorBody),
        (status = 409, description = "`GIT_CONFLICT`: nothing to restore, or main moved", body = ErrorBody),
    )
)]
pub(super) async fn rollback(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<RollbackRequest>,
) -> Result<Json<RolledBack>, ApiError> {
    let s = strategy(&state, &raw).await?;
    let reason = req.reason.clone().unwrap_or_else(|| "rollback requested".into());
    let (name, to, why) = (s.name.clone(), req.commit_hash.clone(), reason.clone());
    let commit = with_repo(&state, move |repo| repo.rollback(&name, &to, &why)).await?;
    record(
        &state,
        &caller.actor("operator"),
        &s,
        RunStatus::RolledBack,
        serde_json::json!({ "reason": reason, "reverted_to": req.commit_hash, "commit": commit }),
    )
    .await?;
    Ok(Json(RolledBack {
        status: "rolled_back",
        strategy_id: s.id,
        reverted_to: req.commit_hash,
        commit,
        branch: "main",
        reason,
        message: format!("Strategy {} rolled back successfully", s.name),
    }))
}

/// A backtest's status in the guide's words.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct BacktestStatus {
    /// The backtest.
    backtest_id: i64,
    /// `completed` or `failed`.
    #[schema(pattern = "^(completed|failed)$")]
    status: &'static str,
    /// Its test job started.
    started_at: Option<DateTime<Utc>>,
    /// It was recorded.
    completed_at: DateTime<Utc>,
    /// Seconds in the sandbox.
    execution_time: f64,
    /// Why it failed.
    error_message: Option<String>,
    /// `{current_status: passed|failed, test_attempts, error_count, last_error}`.
    #[schema(value_type = Object)]
    state_tracking: serde_json::Value,
    /// The test job's transitions: `{timestamp, event, details}`.
    #[schema(value_type = Vec<Object>)]
    audit_log: Vec<serde_json::Value>,
    /// `{total_return, sharpe_ratio, max_drawdown, win_rate, total_trades}` (fractions).
    #[schema(value_type = Object)]
    results: serde_json::Value,
    /// Peak memory and CPU time of the sandbox.
    #[schema(value_type = Option<Object>)]
    resource_usage: Option<serde_json::Value>,
}

/// Show a backtest's status
///
/// In the guide's words: status, timing, state tracking, the job's audit log and the
/// results as fractions.
#[utoipa::path(
    get,
    path = "/api/production/backtests/{id}/status/",
    tag = "production",
    operation_id = "backtestStatus",
    params(("id" = i64, Path, description = "Backtest id")),
    responses(
        (status = 200, description = "The backtest's status", body = BacktestStatus),
        (status = 400, description = "`BAD_ID`: not an integer", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such backtest", body = ErrorBody),
    )
)]
pub(super) async fn backtest_status(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<BacktestStatus>, ApiError> {
    let id = parse_id(&raw, "backtest")?;
    let b = algoagent_store::backtests::get(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("backtest {id}")))?;
    let job = algoagent_jobs::db::jobs::get(&state.pool, b.job_id).await?;
    let history =
        algoagent_jobs::db::transitions::for_entity(&state.pool, "job", &b.job_id.to_string()).await?;
    let audit_log: Vec<serde_json::Value> = history
        .iter()
        .map(|t| serde_json::json!({ "timestamp": t.at, "event": t.to_state, "details": t.details }))
        .collect();
    let m = b.metrics.clone().unwrap_or_default();
    Ok(Json(BacktestStatus {
        backtest_id: b.id,
        status: if b.status == "ok" { "completed" } else { "failed" },
        started_at: job.as_ref().and_then(|j| j.started_at),
        completed_at: b.created_at,
        execution_time: b.duration_ms as f64 / 1000.0,
        error_message: b.error.clone(),
        state_tracking: serde_json::json!({
            "current_status": if b.passed { "passed" } else { "failed" },
            "test_attempts": job.as_ref().map_or(0, |j| j.attempt),
            "error_count": i32::from(!b.passed),
            "last_error": b.error,
        }),
        audit_log,
        results: serde_json::json!({
            "total_return": m.get("return_pct").and_then(|v| v.as_f64()).map(|p| p / 100.0),
            "sharpe_ratio": m.get("sharpe"),
            "max_drawdown": m.get("max_drawdown_pct").and_then(|v| v.as_f64()).map(|p| p / 100.0),
            "win_rate": m.get("win_rate_pct").and_then(|v| v.as_f64()).map(|p| p / 100.0),
            "total_trades": m.get("trades"),
        }),
        resource_usage: b.resource_usage,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_state_is_the_run_in_progress_else_what_is_on_main() {
        assert_eq!(current_state("merged", Some("testing")), "testing");
        assert_eq!(current_state("merged", Some("failed")), "merged");
        assert_eq!(current_state("registered", Some("failed")), "failed");
        assert_eq!(current_state("registered", None), "registered");
        assert_eq!(guide_status(current_state("deployed", Some("deployed"))), "deployed");
        assert_eq!(guide_status("merged"), "passed");
        assert_eq!(guide_event("generating"), "generation");
    }
}
