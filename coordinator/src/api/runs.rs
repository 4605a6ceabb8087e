//! Runs: submit a spec, follow a run, list and cancel runs.

use algoagent_core::LlmProvider;
use algoagent_core::{JobId, JobPayload, RunId, RunStatus, StrategyId};
use algoagent_jobs::db::jobs::JobRow;
use algoagent_jobs::db::jobs::{self, NewJob};
use algoagent_jobs::db::transitions;
use algoagent_jobs::db::transitions::TransitionRow;
use algoagent_spec::{RuleMode, StrategySpec};
use algoagent_store::memory::LlmUsage;
use algoagent_store::runs::{self, NewRun, StrategyRow};
use algoagent_store::{backtests, versions};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiRoutes;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiQuery, Body, bad_query, page};
use crate::state::AppState;

/// Run routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .api_route("/api/runs", post(submit).get(list_runs))
        .api_route("/api/runs/{id}", get(show_run))
        .api_route("/api/runs/{id}/cancel", post(cancel_run))
}

/// What a submission answers: the run started, and which generator writes its code and why.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Submitted {
    /// The new run.
    run_id: RunId,
    /// Its strategy (created by the first submission of the name).
    strategy_id: StrategyId,
    /// The strategy's name.
    name: String,
    /// Always `generating`: the first job is queued.
    status: RunStatus,
    /// The code generator (`LLM_PROVIDER`).
    provider: String,
    /// Whether the built-in rule compiler can compile the spec: `{compilable: true}`, or
    /// `{compilable: false, errors, note}` when an LLM provider generates it instead.
    #[schema(value_type = Object)]
    rule_compiler: serde_json::Value,
    /// Notes on the spec that did not refuse it (deprecated spellings, defaults applied).
    warnings: Vec<algoagent_spec::FieldError>,
    /// `{self: /api/runs/<id>}`.
    links: Links,
}

/// Where to follow a run.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Links {
    /// The run's own URL.
    #[serde(rename = "self")]
    this: String,
}

/// Submit a strategy spec and start its run
///
/// Validates the spec (and, with the built-in provider, compiles it), then writes the
/// strategy, run, first job and its message in one transaction, or nothing. Limited per
/// `X-API-Key` to `SUBMIT_RPM` submissions a minute.
#[utoipa::path(
    post,
    path = "/api/runs",
    tag = "runs",
    operation_id = "submitRun",
    request_body(content = inline(super::openapi::StrategyDefinition), description = "A strategy spec"),
    responses(
        (status = 202, description = "Run accepted; its code is being generated", body = Submitted),
        (status = 400, description = "`MALFORMED_JSON`: the body is not JSON; `BAD_BODY`: it could not be read", body = ErrorBody),
        (status = 422, description = "`INVALID_SPEC` (details lists every field error) or `NOT_COMPILABLE` (the built-in rule compiler cannot compile it and no LLM provider is configured)", body = ErrorBody),
        (status = 429, description = "`RATE_LIMITED`: submission budget spent; `Retry-After` and `details.retry_after_secs` say when to retry", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before submitting again"))),
    )
)]
pub(super) async fn submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<(StatusCode, Json<Submitted>), ApiError> {
    check_submission_budget(&state, &headers).await?;
    let provider = state.settings.common.llm_provider;
    // Schema first (the same answer as validate-schema); then, for the rule compiler, whether
    // it can compile the spec. A model reads free-text rules too, so it takes what the
    // compiler cannot, and the answer says why the run goes to the model.
    let rules = if provider == LlmProvider::Builtin { RuleMode::Schema } else { RuleMode::FreeTextAllowed };
    let (spec, notes) =
        StrategySpec::parse_json_noted(&body, rules).map_err(|e| ApiError::invalid_spec(&e))?;
    let compile_errors = spec.compile_check().err();
    if provider == LlmProvider::Builtin
        && let Some(errors) = &compile_errors
    {
        // The rule compiler is deterministic: if it cannot compile the spec now, it never will.
        return Err(ApiError::client(
            StatusCode::UNPROCESSABLE_ENTITY,
            "NOT_COMPILABLE",
            format!("{errors}; no LLM provider is configured (LLM_PROVIDER=builtin) to take it instead"),
            serde_json::to_value(&errors.0)?,
        ));
    }
    // Which provider generates the code and why, in the answer and in the audit row.
    let routing = match &compile_errors {
        None => serde_json::json!({ "compilable": true }),
        Some(errors) => serde_json::json!({
            "compilable": false,
            "errors": errors.0,
            "note": format!("the rule compiler cannot compile this spec ({errors}); the {} provider generates it", provider.as_str()),
        }),
    };
    let max_fix = i32::try_from(state.settings.common.max_fix_attempts).unwrap_or(3);
    let run = NewRun {
        id: RunId::new(),
        name: spec.name.as_str().to_owned(),
        spec: serde_json::to_value(&spec)?,
        provider: provider.as_str().to_owned(),
        max_fix_attempts: max_fix,
    };
    let mut tx = state.pool.begin().await?;
    let actor = caller.actor("api");
    let strategy_id = runs::create(&mut tx, &run, &actor).await?;
    runs::advance(
        &mut tx,
        run.id,
        RunStatus::Submitted,
        RunStatus::Generating,
        &actor,
        None,
        routing.clone(),
    )
    .await?;
    let job = NewJob {
        id: JobId::new(),
        run_id: run.id,
        strategy_id,
        payload: JobPayload::GenerateV1 {},
        max_attempts: state.settings.common.attempts_for(algoagent_core::JobKind::Generate),
    };
    jobs::enqueue(&mut tx, &job, &state.names.jobs_exchange(), &actor).await?;
    tx.commit().await?;
    tracing::info!(run_id = %run.id, strategy_id = %strategy_id, name = %run.name, "run submitted");
    Ok((
        StatusCode::ACCEPTED,
        Json(Submitted {
            run_id: run.id,
            strategy_id,
            status: RunStatus::Generating,
            provider: provider.as_str().to_owned(),
            rule_compiler: routing,
            warnings: notes,
            links: Links { this: format!("/api/runs/{}", run.id) },
            name: run.name,
        }),
    ))
}

/// Per-API-key submission limit (`SUBMIT_RPM`), refused with 429 and `Retry-After` before
/// anything is read or stored. The key is hashed into the Redis key, never stored. If
/// Redis is unreachable the limit is not enforced (logged): submissions must not stop
/// because the limiter blinked.
async fn check_submission_budget(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if state.settings.submit_rpm == 0 {
        return Ok(());
    }
    use sha2::Digest;
    let key = headers.get("x-api-key").map(|v| v.as_bytes()).unwrap_or(b"anonymous");
    let bucket = format!("submit:{}", &hex::encode(sha2::Sha256::digest(key))[..16]);
    match state.limiter.check(&bucket, state.settings.submit_rpm, state.settings.submit_burst, 1).await {
        Ok(decision) if decision.allowed => Ok(()),
        Ok(decision) => {
            metrics::counter!("algoagent_ratelimit_exhausted_total", "budget" => "submissions").increment(1);
            let secs = decision.retry_after.as_secs_f64().ceil().max(1.0);
            Err(ApiError::client(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                format!(
                    "submission limit of {} per minute reached; retry in {secs} s",
                    state.settings.submit_rpm
                ),
                serde_json::json!({ "retry_after_secs": secs }),
            ))
        }
        Err(err) => {
            tracing::warn!(error = %err, "submission limiter unavailable; not enforcing it");
            Ok(())
        }
    }
}

/// The filters and page of `GET /api/runs`; an unknown parameter is refused.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only the runs in this state.
    #[param(value_type = Option<RunStatus>)]
    status: Option<String>,
    /// Only the runs of this strategy (its id).
    strategy: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<i64>,
    /// Runs to skip.
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

/// One run in a listing.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RunSummary {
    /// Run id.
    run_id: RunId,
    /// Its strategy.
    strategy_id: StrategyId,
    /// The spec's name.
    #[schema(value_type = Option<String>)]
    name: Option<serde_json::Value>,
    /// Current state.
    #[schema(value_type = RunStatus)]
    status: String,
    /// Why it failed.
    error: Option<String>,
    /// Submitted.
    created_at: DateTime<Utc>,
    /// Reached a terminal state.
    finished_at: Option<DateTime<Utc>>,
    /// Fixes used.
    fix_attempts: i32,
}

/// A page of runs.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RunList {
    /// Newest first.
    runs: Vec<RunSummary>,
    /// The page size used.
    limit: i64,
    /// The runs skipped.
    offset: i64,
}

/// List runs, newest first
///
/// Filtered by `status` and `strategy`, paginated by `limit` (1 to 500, default 50) and
/// `offset`.
#[utoipa::path(
    get,
    path = "/api/runs",
    tag = "runs",
    operation_id = "listRuns",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of runs", body = RunList),
        (status = 400, description = "`BAD_QUERY`: an unknown or malformed parameter, or a value out of range", body = ErrorBody),
    )
)]
pub(super) async fn list_runs(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<RunList>, ApiError> {
    if let Some(status) = &q.status {
        status.parse::<RunStatus>().map_err(|e| bad_query("status", e))?;
    }
    let (limit, offset) = page(q.limit, q.offset)?;
    let rows =
        runs::list(&state.pool, q.status.as_deref(), q.strategy.map(StrategyId), limit, offset).await?;
    let runs = rows
        .into_iter()
        .map(|r| RunSummary {
            run_id: r.id,
            strategy_id: r.strategy_id,
            name: r.spec.get("name").cloned(),
            status: r.status,
            error: r.error,
            created_at: r.created_at,
            finished_at: r.finished_at,
            fix_attempts: r.fix_attempts,
        })
        .collect();
    Ok(Json(RunList { runs, limit, offset }))
}

fn parse_run_id(raw: &str) -> Result<RunId, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::client(
            StatusCode::BAD_REQUEST,
            "BAD_ID",
            "id: not a run id (UUID expected)",
            serde_json::Value::String(raw.into()),
        )
    })
}

/// One version of a run's code.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RunVersion {
    /// Version id.
    id: algoagent_core::VersionId,
    /// 1 for generated code, +1 per fix.
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
    /// Validator findings.
    #[schema(value_type = Option<Vec<algoagent_validate::Finding>>)]
    findings: Option<serde_json::Value>,
    /// Validator metadata.
    #[schema(value_type = Option<algoagent_validate::Metadata>)]
    metadata: Option<serde_json::Value>,
    /// Merge commit on main.
    git_commit: Option<String>,
    /// Created.
    created_at: DateTime<Utc>,
    /// Python source.
    code: String,
    /// The version this one repairs.
    parent_id: Option<algoagent_core::VersionId>,
    /// Why this version failed, when it did.
    failure: Option<String>,
}

/// One backtest of a run.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RunBacktest {
    /// Backtest id.
    id: i64,
    /// The version tested.
    version_id: algoagent_core::VersionId,
    /// Dataset name.
    dataset: String,
    /// `ok`, `error`, `timeout`, ...
    status: String,
    /// Met the acceptance criteria.
    passed: bool,
    /// Harness metrics.
    #[schema(value_type = Option<Object>)]
    metrics: Option<serde_json::Value>,
    /// Failure reason.
    error: Option<String>,
    /// Wall-clock time of the sandbox run.
    duration_ms: i64,
    /// Created.
    created_at: DateTime<Utc>,
    /// Peak memory and CPU time of the sandbox.
    #[schema(value_type = Option<Object>)]
    resource_usage: Option<serde_json::Value>,
}

/// The verdict of an entity's hash chains.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ChainVerdict {
    /// Every link holds.
    chain_ok: bool,
    /// Ids of the transitions whose link does not.
    broken_links: Vec<i64>,
}

impl ChainVerdict {
    /// The verdict given the broken links found.
    pub(super) fn of(broken_links: Vec<i64>) -> Self {
        Self { chain_ok: broken_links.is_empty(), broken_links }
    }
}

/// Everything about one run.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RunDetail {
    /// Run id.
    run_id: RunId,
    /// Current state.
    #[schema(value_type = RunStatus)]
    status: String,
    /// Why it failed.
    error: Option<String>,
    /// Its strategy.
    strategy: Option<StrategyRow>,
    /// Code generator.
    provider: String,
    /// The submitted spec, as validated.
    #[schema(value_type = Object)]
    spec: serde_json::Value,
    /// Submitted.
    created_at: DateTime<Utc>,
    /// Reached a terminal state.
    finished_at: Option<DateTime<Utc>>,
    /// Its jobs.
    jobs: Vec<JobRow>,
    /// Its versions of code.
    versions: Vec<RunVersion>,
    /// Its backtests.
    backtests: Vec<RunBacktest>,
    /// Its and its jobs' transitions, oldest first.
    transitions: Vec<TransitionRow>,
    /// The verdict of the run's hash chain.
    audit: ChainVerdict,
    /// Fixes used.
    fix_attempts: i32,
    /// Fix budget.
    max_fix_attempts: i32,
    /// Totals of the run's LLM calls.
    llm: LlmUsage,
}

/// Show one run
///
/// State, jobs, versions, backtests and its audited history, with the verdict of the hash
/// chain.
#[utoipa::path(
    get,
    path = "/api/runs/{id}",
    tag = "runs",
    operation_id = "showRun",
    params(("id" = uuid::Uuid, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run", body = RunDetail),
        (status = 400, description = "`BAD_ID`: not a UUID", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such run", body = ErrorBody),
    )
)]
pub(super) async fn show_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RunDetail>, ApiError> {
    let run_id = parse_run_id(&id)?;
    let Some(run) = runs::get(&state.pool, run_id).await? else {
        return Err(ApiError::not_found(format!("run {id}")));
    };
    let strategy = runs::strategy(&state.pool, run.strategy_id).await?;
    let jobs = jobs::for_run(&state.pool, run_id).await?;
    let versions = versions::for_run(&state.pool, run_id).await?;
    let backtests = backtests::for_run(&state.pool, run_id).await?;
    let history = transitions::for_run(&state.pool, &run_id.to_string()).await?;
    let broken = transitions::broken_links(&state.pool, "run", &run_id.to_string()).await?;
    let llm = algoagent_store::memory::llm_usage(&state.pool, run_id).await?;
    let versions = versions
        .into_iter()
        .map(|v| RunVersion {
            id: v.id,
            version: v.version,
            origin: v.origin,
            provider: v.provider,
            model: v.model,
            entrypoint: v.entrypoint,
            sha256: v.sha256,
            accepted: v.accepted,
            findings: v.findings,
            metadata: v.metadata,
            git_commit: v.git_commit,
            created_at: v.created_at,
            code: v.code,
            parent_id: v.parent_id,
            failure: v.failure,
        })
        .collect();
    let backtests = backtests
        .into_iter()
        .map(|b| RunBacktest {
            id: b.id,
            version_id: b.version_id,
            dataset: b.dataset,
            status: b.status,
            passed: b.passed,
            metrics: b.metrics,
            error: b.error,
            duration_ms: b.duration_ms,
            created_at: b.created_at,
            resource_usage: b.resource_usage,
        })
        .collect();
    Ok(Json(RunDetail {
        run_id: run.id,
        status: run.status,
        error: run.error,
        strategy,
        provider: run.provider,
        spec: run.spec,
        created_at: run.created_at,
        finished_at: run.finished_at,
        jobs,
        versions,
        backtests,
        transitions: history,
        audit: ChainVerdict::of(broken),
        fix_attempts: run.fix_attempts,
        max_fix_attempts: run.max_fix_attempts,
        llm,
    }))
}

/// What a cancellation answers.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Cancelled {
    /// The run.
    run_id: RunId,
    /// Always `cancelled`.
    status: RunStatus,
    /// How many of its pending jobs were cancelled.
    jobs_cancelled: usize,
}

/// Cancel a live run
///
/// The run and its pending jobs become `cancelled` and every worker is told (through the
/// outbox, on `<ns>.control`) to stop the run's jobs in flight; a result that arrives later
/// is fenced out because its job is no longer `running`.
#[utoipa::path(
    post,
    path = "/api/runs/{id}/cancel",
    tag = "runs",
    operation_id = "cancelRun",
    params(("id" = uuid::Uuid, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run is cancelled", body = Cancelled),
        (status = 400, description = "`BAD_ID`: not a UUID", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such run", body = ErrorBody),
        (status = 409, description = "`RUN_FINISHED`: the run already ended", body = ErrorBody),
    )
)]
pub(super) async fn cancel_run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Cancelled>, ApiError> {
    let run_id = parse_run_id(&id)?;
    let mut tx = state.pool.begin().await?;
    let Some(run) = runs::lock(&mut tx, run_id).await? else {
        return Err(ApiError::not_found(format!("run {id}")));
    };
    let status = run.status();
    if status.is_terminal() {
        return Err(ApiError::client(
            StatusCode::CONFLICT,
            "RUN_FINISHED",
            format!("run {id} is already {status}"),
            serde_json::json!({ "status": status }),
        ));
    }
    let details = serde_json::json!({ "reason": "cancelled by a user" });
    let actor = caller.actor("api");
    runs::advance(&mut tx, run_id, status, RunStatus::Cancelled, &actor, None, details).await?;
    let cancelled_jobs = jobs::cancel_for_run(&mut tx, run_id, &actor).await?;
    algoagent_jobs::db::outbox::push(
        &mut tx,
        &algoagent_jobs::db::outbox::OutboxMessage {
            exchange: state.names.control_exchange(),
            routing_key: String::new(),
            payload: serde_json::json!({ "cancel_run": run_id }),
            headers: algoagent_runtime::tracecontext::current_headers(),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(run_id = %run_id, cancelled_jobs, "run cancelled");
    Ok(Json(Cancelled { run_id, status: RunStatus::Cancelled, jobs_cancelled: cancelled_jobs }))
}
