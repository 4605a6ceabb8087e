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
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiRoutes;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
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

/// A spec that passed: `validate-schema`'s 200.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SchemaValid {
    /// `valid`.
    #[schema(pattern = "^valid$")]
    status: &'static str,
    /// In words.
    message: &'static str,
    /// The spec as read, defaults filled in.
    #[schema(value_type = Object)]
    validated_data: serde_json::Value,
    /// The schema version checked against.
    schema_version: &'static str,
    /// Whether the built-in rule compiler can compile it.
    compilable: bool,
    /// Why it cannot, when it cannot.
    compile_errors: Vec<algoagent_spec::FieldError>,
    /// Notes that did not refuse it.
    warnings: Vec<algoagent_spec::FieldError>,
}

/// A spec or backtest config that failed: the prototype's 400 of the `validate-*` routes.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Invalid {
    /// `invalid`.
    #[schema(pattern = "^invalid$")]
    status: &'static str,
    /// In words.
    message: &'static str,
    /// Every field error.
    #[schema(value_type = Vec<algoagent_spec::FieldError>)]
    errors: algoagent_spec::SpecErrors,
    /// The errors in one line.
    details: String,
    /// The schema version checked against (`validate-schema` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_version: Option<&'static str>,
}

/// The two shapes of a `validate-*` 400: the prototype's verdict on the document, or the
/// API's error body when the body itself could not be read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(super) enum Refusal {
    /// The document was read and is invalid.
    Invalid(Invalid),
    /// The body could not be read (`BAD_BODY`). Answered by the body extractor's
    /// `ApiError`, never built here: named so the document shows both shapes.
    #[allow(dead_code)]
    Error(ErrorBody),
}

/// Code the validator let through: `validate-code`'s 200 when no safety rule fired.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CodeValidated {
    /// `validated`.
    #[schema(pattern = "^validated$")]
    status: &'static str,
    /// Always true.
    safe: bool,
    /// In words.
    message: &'static str,
    /// The code formatted as Black would (ruff's formatter); the code as given when it
    /// could not be formatted (see `format_error`).
    formatted_code: String,
    /// Whether `formatted_code` is the formatter's output.
    formatted: bool,
    /// Why the code could not be formatted.
    #[serde(skip_serializing_if = "Option::is_none")]
    format_error: Option<String>,
    /// The check groups passed.
    checks_passed: Vec<&'static str>,
    /// Whether it is a runnable strategy (no structure error either).
    strategy_valid: bool,
    /// Structure findings that are errors, rendered.
    structure_issues: Vec<String>,
    /// Findings below error, rendered.
    warnings: Vec<String>,
    /// Every finding.
    findings: Vec<algoagent_validate::Finding>,
    /// Facts about the code.
    metadata: algoagent_validate::Metadata,
}

/// Code a safety rule refused: `validate-code`'s 200 with `safe: false`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CodeRejected {
    /// `rejected`.
    #[schema(pattern = "^rejected$")]
    status: &'static str,
    /// Always false.
    safe: bool,
    /// In words.
    message: &'static str,
    /// The safety findings, rendered.
    issues: Vec<String>,
    /// The prototype's severity word (`high`).
    severity: &'static str,
    /// The check groups passed.
    checks_passed: Vec<&'static str>,
    /// Always false.
    strategy_valid: bool,
    /// Structure findings that are errors, rendered.
    structure_issues: Vec<String>,
    /// Findings below error, rendered.
    warnings: Vec<String>,
    /// Every finding.
    findings: Vec<algoagent_validate::Finding>,
}

/// `validate-code`'s verdict.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(super) enum CodeVerdict {
    /// No safety rule fired.
    Validated(CodeValidated),
    /// A safety rule fired.
    Rejected(CodeRejected),
}

/// A backtest config that passed, stored under `config_id`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ConfigValid {
    /// `valid`.
    #[schema(pattern = "^valid$")]
    status: &'static str,
    /// In words.
    message: &'static str,
    /// The config as read, defaults filled in.
    #[schema(value_type = Object)]
    validated_config: serde_json::Value,
    /// Notes that did not refuse it.
    warnings: Vec<String>,
    /// The stored config's id, which `run-sandbox` takes.
    config_id: i64,
}

/// The guide's component health of the production routes.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ProductionHealth {
    /// `healthy`, `degraded` (a component is down) or `unhealthy` (Postgres is).
    #[schema(pattern = "^(healthy|degraded|unhealthy)$")]
    overall: &'static str,
    /// Each component's `available` and facts (`state_manager`, `safe_tools`,
    /// `output_validator`, `sandbox_runner`, `git_manager`).
    #[schema(value_type = Object)]
    components: serde_json::Value,
}

/// Validate a strategy spec
///
/// The guide's schema check; whether the built-in rule compiler can compile the spec is
/// reported beside it. Stores nothing.
#[utoipa::path(
    post,
    path = "/api/production/strategies/validate-schema/",
    tag = "production",
    operation_id = "validateSchema",
    request_body(content = inline(super::openapi::StrategyDefinition), description = "A strategy spec"),
    responses(
        (status = 200, description = "The spec is valid", body = SchemaValid),
        (status = 400, description = "The spec is invalid (every field error listed), or the body could not be read", body = Refusal),
    )
)]
pub(super) async fn validate_schema(
    Body(body): Body,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    // The guide's answer is about the schema; whether the built-in rule compiler can compile
    // the spec is reported beside it (an LLM provider can take what it cannot).
    match StrategySpec::parse_json_noted(&body, RuleMode::Schema) {
        Ok((spec, notes)) => {
            let compile_errors = spec.compile_check().err().map(|e| e.0).unwrap_or_default();
            let answer = SchemaValid {
                status: "valid",
                message: "Strategy schema is valid",
                validated_data: serde_json::to_value(&spec)?,
                schema_version: SCHEMA_VERSION,
                compilable: compile_errors.is_empty(),
                compile_errors,
                warnings: notes,
            };
            Ok((StatusCode::OK, Json(serde_json::to_value(answer)?)))
        }
        Err(errors) => {
            let answer = Refusal::Invalid(Invalid {
                status: "invalid",
                message: "Strategy schema validation failed",
                details: errors.to_string(),
                errors,
                schema_version: Some(SCHEMA_VERSION),
            });
            Ok((StatusCode::BAD_REQUEST, Json(serde_json::to_value(answer)?)))
        }
    }
}

/// Code to check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ValidateCodeRequest {
    /// Python source.
    code: String,
    /// Style findings are errors too.
    #[serde(default = "yes")]
    #[schema(default = true)]
    strict_mode: bool,
    /// The strategy class to look for (default: the first `Strategy` subclass).
    #[serde(default)]
    entrypoint: Option<String>,
}

fn yes() -> bool {
    true
}

/// Validate Python strategy code
///
/// The guide's safety verdict (only safety findings make code dangerous), with structure
/// and style findings beside it. Stores nothing.
#[utoipa::path(
    post,
    path = "/api/production/strategies/validate-code/",
    tag = "production",
    operation_id = "validateCode",
    request_body = ValidateCodeRequest,
    responses(
        (status = 200, description = "The verdict: `validated` or `rejected`", body = CodeVerdict),
        (status = 400, description = "`MALFORMED_JSON`, `INVALID_REQUEST` (wrong shape) or `BAD_BODY`", body = ErrorBody),
    )
)]
pub(super) async fn validate_code(
    ApiJson(req): ApiJson<ValidateCodeRequest>,
) -> Result<Json<CodeVerdict>, ApiError> {
    let opts =
        ValidateOptions { entrypoint: req.entrypoint, required_params: Vec::new(), strict: req.strict_mode };
    let code = req.code;
    let report = tokio::task::spawn_blocking(move || {
        let report = validate(&code, &opts);
        let formatted = algoagent_format::format_python(&code);
        (report, code, formatted)
    })
    .await?;
    let (report, code, formatted) = report;
    // The guide's question is safety: only safety findings make code dangerous. Structure
    // and style findings (no Strategy subclass, no `init`/`next`, ...) say whether the code
    // is a runnable strategy yet, beside the guide's answer.
    let is_safety = |f: &&Finding| RuleId::parse(&f.rule).is_none_or(|r| r.kind() == RuleKind::Safety);
    let dangers: Vec<String> = report.errors().filter(is_safety).map(Finding::render).collect();
    let structure_issues: Vec<String> =
        report.errors().filter(|f| !is_safety(f)).map(Finding::render).collect();
    let warnings: Vec<String> =
        report.findings.iter().filter(|f| f.severity != Severity::Error).map(|f| f.render()).collect();
    let checks_passed = report.safety_checks_passed();
    if dangers.is_empty() {
        Ok(Json(CodeVerdict::Validated(CodeValidated {
            status: "validated",
            safe: true,
            message: "Code passed all safety checks",
            formatted: formatted.is_ok(),
            format_error: formatted.as_ref().err().map(ToString::to_string),
            formatted_code: formatted.unwrap_or(code),
            checks_passed,
            strategy_valid: report.accepted(),
            structure_issues,
            warnings,
            findings: report.findings,
            metadata: report.metadata,
        })))
    } else {
        Ok(Json(CodeVerdict::Rejected(CodeRejected {
            status: "rejected",
            safe: false,
            message: "Code contains dangerous patterns",
            issues: dangers,
            severity: Severity::Error.prototype_level(),
            checks_passed,
            strategy_valid: false,
            structure_issues,
            warnings,
            findings: report.findings,
        })))
    }
}

/// Validate a backtest config
///
/// A valid one is stored (audited) and its id returned as `config_id`, which `run-sandbox`
/// takes. An invalid one stores nothing.
#[utoipa::path(
    post,
    path = "/api/production/backtests/validate-config/",
    tag = "production",
    operation_id = "validateConfig",
    request_body(content = inline(super::openapi::BacktestConfigDocument), description = "A backtest config"),
    responses(
        (status = 200, description = "The config is valid and stored", body = ConfigValid),
        (status = 400, description = "The config is invalid (every field error listed), or the body could not be read", body = Refusal),
    )
)]
pub(super) async fn validate_config(
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
            let answer = ConfigValid {
                status: "valid",
                message: "Backtest configuration is valid",
                validated_config: value,
                warnings,
                config_id: id,
            };
            Ok((StatusCode::OK, Json(serde_json::to_value(answer)?)))
        }
        Err(errors) => {
            let answer = Refusal::Invalid(Invalid {
                status: "invalid",
                message: "Backtest configuration validation failed",
                details: errors.to_string(),
                errors,
                schema_version: None,
            });
            Ok((StatusCode::BAD_REQUEST, Json(serde_json::to_value(answer)?)))
        }
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

/// Health of the strategy components
///
/// State manager, safe tools (the strategies repository), validator, sandbox runner (Docker,
/// image, test workers) and git manager (merge workers); public.
#[utoipa::path(
    get,
    path = "/api/production/strategies/health/",
    tag = "production",
    operation_id = "strategiesHealth",
    responses(
        (status = 200, description = "Every component available", body = ProductionHealth),
        (status = 503, description = "A component is unavailable", body = ProductionHealth),
        (status = 500, description = "`INTERNAL`: a query failed after Postgres answered", body = ErrorBody),
    )
)]
pub(super) async fn strategies_health(
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<ProductionHealth>), ApiError> {
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
        Json(ProductionHealth {
            overall: if healthy { "healthy" } else { "degraded" },
            components: serde_json::json!({
                "state_manager": { "available": true, "strategies_tracked": tracked },
                "safe_tools": {
                    "available": repo,
                    "workspace": location,
                    "writes": "git objects only: a bare repository, no working tree; sandboxed code writes only its container's tmpfs",
                },
                "output_validator": { "available": true, "strict_mode": true },
                "sandbox_runner": runner,
                "git_manager": { "available": repo && mergers > 0, "repo_path": location, "workers": mergers },
            }),
        }),
    ))
}

/// Health of the backtest components
///
/// State manager, validator and sandbox runner (Docker, image, test workers); public.
#[utoipa::path(
    get,
    path = "/api/production/backtests/health/",
    tag = "production",
    operation_id = "backtestsHealth",
    responses(
        (status = 200, description = "Every component available", body = ProductionHealth),
        (status = 503, description = "A component is unavailable", body = ProductionHealth),
        (status = 500, description = "`INTERNAL`: a query failed after Postgres answered", body = ErrorBody),
    )
)]
pub(super) async fn backtests_health(
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<ProductionHealth>), ApiError> {
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
        Json(ProductionHealth {
            overall: if healthy { "healthy" } else { "degraded" },
            components: serde_json::json!({
                "state_manager": { "available": true },
                "output_validator": { "available": true, "strict_mode": true },
                "sandbox_runner": runner,
            }),
        }),
    ))
}

fn unavailable() -> (StatusCode, Json<ProductionHealth>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(ProductionHealth {
            overall: "unhealthy",
            components: serde_json::json!({ "state_manager": { "available": false } }),
        }),
    )
}
