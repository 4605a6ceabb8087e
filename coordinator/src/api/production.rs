//! The prototype's production routes (`/api/production/...`), kept with their documented
//! request and response shapes so existing clients keep working.

use std::time::Duration;

use algoagent_gitflow::StrategyRepo;
use algoagent_spec::{BacktestConfig, RuleMode, SCHEMA_VERSION, StrategySpec};
use algoagent_validate::{Finding, RuleId, RuleKind, Severity, ValidateOptions, validate};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use super::ApiRoutes;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, Body};
use crate::state::AppState;

/// Prototype-compatible routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .api_route("/api/production/strategies/validate-schema/", post(validate_schema))
        .api_route("/api/production/strategies/validate-code/", post(validate_code))
        .api_route("/api/production/strategies/health/", get(strategies_health))
        .api_route("/api/production/backtests/validate-config/", post(validate_config))
        .api_route("/api/production/backtests/health/", get(backtests_health))
}

async fn validate_schema(Body(body): Body) -> (StatusCode, Json<serde_json::Value>) {
    // The guide's answer is about the schema; whether the built-in rule compiler can compile
    // the spec is reported beside it (an LLM provider can take what it cannot).
    match StrategySpec::parse_json_noted(&body, RuleMode::Schema) {
        Ok((spec, notes)) => {
            let compile_errors = spec.compile_check().err().map(|e| e.0).unwrap_or_default();
            (
                StatusCode::OK,
                Json(serde_json::json!({
                    "status": "valid",
                    "message": "Strategy schema is valid",
                    "validated_data": spec,
                    "schema_version": SCHEMA_VERSION,
                    "compilable": compile_errors.is_empty(),
                    "compile_errors": compile_errors,
                    "warnings": notes,
                })),
            )
        }
        Err(errors) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({
                "status": "invalid",
                "message": "Strategy schema validation failed",
                "errors": errors,
                "details": errors.to_string(),
                "schema_version": SCHEMA_VERSION,
            })),
        ),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateCodeRequest {
    code: String,
    #[serde(default = "yes")]
    strict_mode: bool,
    #[serde(default)]
    entrypoint: Option<String>,
}

fn yes() -> bool {
    true
}

async fn validate_code(
    ApiJson(req): ApiJson<ValidateCodeRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let opts =
        ValidateOptions { entrypoint: req.entrypoint, required_params: Vec::new(), strict: req.strict_mode };
    let code = req.code;
    let report = tokio::task::spawn_blocking(move || {
        let report = validate(&code, &opts);
        (report, code)
    })
    .await?;
    let (report, code) = report;
    // The guide's question is safety: only safety findings make code dangerous. Structure
    // and style findings (no Strategy subclass, no `init`/`next`, ...) say whether the code
    // is a runnable strategy yet, beside the guide's answer.
    let is_safety = |f: &&Finding| RuleId::parse(&f.rule).is_none_or(|r| r.kind() == RuleKind::Safety);
    let dangers: Vec<String> = report.errors().filter(is_safety).map(Finding::render).collect();
    let structure_issues: Vec<String> =
        report.errors().filter(|f| !is_safety(f)).map(Finding::render).collect();
    let warnings: Vec<String> =
        report.findings.iter().filter(|f| f.severity != Severity::Error).map(|f| f.render()).collect();
    if dangers.is_empty() {
        Ok(Json(serde_json::json!({
            "status": "validated",
            "safe": true,
            "message": "Code passed all safety checks",
            "formatted_code": code,
            "checks_passed": report.checks_passed(),
            "strategy_valid": report.accepted(),
            "structure_issues": structure_issues,
            "warnings": warnings,
            "findings": report.findings,
            "metadata": report.metadata,
        })))
    } else {
        Ok(Json(serde_json::json!({
            "status": "rejected",
            "safe": false,
            "message": "Code contains dangerous patterns",
            "issues": dangers,
            "severity": Severity::Error.prototype_level(),
            "checks_passed": report.checks_passed(),
            "strategy_valid": false,
            "structure_issues": structure_issues,
            "warnings": warnings,
            "findings": report.findings,
        })))
    }
}

/// Checks a backtest config; a valid one is stored (audited) and its id returned as
/// `config_id`, which `run-sandbox` takes. An invalid one stores nothing.
async fn validate_config(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    match BacktestConfig::parse_json(&body) {
        Ok((config, warnings)) => {
            let value = serde_json::to_value(&config)?;
            let mut tx = state.pool.begin().await?;
            let id = algoagent_store::backtest_configs::insert(
                &mut tx,
                &value,
                &serde_json::to_value(&warnings)?,
                &caller.actor("api"),
            )
            .await?;
            tx.commit().await?;
            Ok((
                StatusCode::OK,
                Json(serde_json::json!({
                    "status": "valid",
                    "message": "Backtest configuration is valid",
                    "validated_config": config,
                    "warnings": warnings,
                    "config_id": id,
                })),
            ))
        }
        Err(errors) => Ok((
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({
                "status": "invalid",
                "message": "Backtest configuration validation failed",
                "errors": errors,
                "details": errors.to_string(),
            })),
        )),
    }
}

/// Live workers serving `kind` (heartbeat in the last minute).
async fn live_workers(state: &AppState, kind: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM workers WHERE stopped_at IS NULL AND last_seen > now() - interval '60 seconds' AND $1 = ANY(kinds)",
    )
    .bind(kind)
    .fetch_one(&state.pool)
    .await
}

/// How long a health check waits for the Docker engine (or the strategies repository)
/// before reporting it unavailable: an engine that hangs must not hang the health check.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the Docker engine itself says: whether it answers a ping, and whether it has the
/// sandbox image. Each question waits at most [`PROBE_TIMEOUT`].
async fn docker_probe(state: &AppState) -> (bool, bool) {
    let Some(sandbox) = &state.docker else {
        return (false, false);
    };
    if !matches!(tokio::time::timeout(PROBE_TIMEOUT, sandbox.ping()).await, Ok(Ok(()))) {
        return (false, false);
    }
    (true, matches!(tokio::time::timeout(PROBE_TIMEOUT, sandbox.check_image()).await, Ok(Ok(()))))
}

/// Whether the strategies repository (where generated code is written, as git objects
/// only) opens, within [`PROBE_TIMEOUT`].
async fn repo_probe(state: &AppState) -> bool {
    let location = state.settings.common.strategy_repo.clone();
    let cache = state.settings.common.cache_dir.join("git");
    let open = tokio::task::spawn_blocking(move || StrategyRepo::open_or_init(&location, &cache).map(|_| ()));
    matches!(tokio::time::timeout(PROBE_TIMEOUT, open).await, Ok(Ok(Ok(()))))
}

/// The guide's `sandbox_runner` component: the engine's own answer, the image, and the
/// workers that run sandboxes.
fn sandbox_runner(state: &AppState, (docker, image): (bool, bool), testers: i64) -> serde_json::Value {
    serde_json::json!({
        "available": docker && image && testers > 0,
        "docker_available": docker,
        "image": state.settings.sandbox.image,
        "image_available": image,
        "workers": testers,
    })
}

async fn strategies_health(
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let tracked: Result<i64, sqlx::Error> =
        sqlx::query_scalar("SELECT count(*) FROM strategies").fetch_one(&state.pool).await;
    let Ok(tracked) = tracked else {
        return Ok(unavailable());
    };
    let testers = live_workers(&state, "test").await?;
    let mergers = live_workers(&state, "merge").await?;
    let (docker, repo) = tokio::join!(docker_probe(&state), repo_probe(&state));
    let runner = sandbox_runner(&state, docker, testers);
    let healthy = runner["available"] == true && repo && mergers > 0;
    let location = &state.settings.common.strategy_repo;
    Ok((
        if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE },
        Json(serde_json::json!({
            "overall": if healthy { "healthy" } else { "degraded" },
            "components": {
                "state_manager": { "available": true, "strategies_tracked": tracked },
                "safe_tools": {
                    "available": repo,
                    "workspace": location,
                    "writes": "git objects only: a bare repository, no working tree; sandboxed code writes only its container's tmpfs",
                },
                "output_validator": { "available": true, "strict_mode": true },
                "sandbox_runner": runner,
                "git_manager": { "available": repo && mergers > 0, "repo_path": location, "workers": mergers },
            }
        })),
    ))
}

async fn backtests_health(
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let db: Result<i64, sqlx::Error> =
        sqlx::query_scalar("SELECT count(*) FROM backtests").fetch_one(&state.pool).await;
    if db.is_err() {
        return Ok(unavailable());
    }
    let testers = live_workers(&state, "test").await?;
    let runner = sandbox_runner(&state, docker_probe(&state).await, testers);
    let healthy = runner["available"] == true;
    Ok((
        if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE },
        Json(serde_json::json!({
            "overall": if healthy { "healthy" } else { "degraded" },
            "components": {
                "state_manager": { "available": true },
                "output_validator": { "available": true, "strict_mode": true },
                "sandbox_runner": runner,
            }
        })),
    ))
}

fn unavailable() -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({
            "overall": "unhealthy",
            "components": { "state_manager": { "available": false } }
        })),
    )
}
