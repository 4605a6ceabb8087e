//! Runs: submit a spec, follow a run, list and cancel runs.

use algoagent_core::LlmProvider;
use algoagent_core::{JobId, JobPayload, RunId, RunStatus, StrategyId};
use algoagent_jobs::db::jobs::{self, NewJob};
use algoagent_jobs::db::transitions;
use algoagent_spec::{RuleMode, StrategySpec};
use algoagent_store::runs::{self, NewRun};
use algoagent_store::{backtests, versions};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use super::ApiRoutes;
use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiQuery, Body, bad_query, page};
use crate::state::AppState;

/// Run routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .api_route("/api/runs", post(submit).get(list_runs))
        .api_route("/api/runs/{id}", get(show_run))
        .api_route("/api/runs/{id}/cancel", post(cancel_run))
}

/// Validates a spec and starts its run: strategy, run, first job and its message are written
/// in one transaction, or nothing is.
async fn submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
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
        Json(serde_json::json!({
            "run_id": run.id,
            "strategy_id": strategy_id,
            "name": run.name,
            "status": RunStatus::Generating,
            "provider": provider.as_str(),
            "rule_compiler": routing,
            "warnings": notes,
            "links": { "self": format!("/api/runs/{}", run.id) },
        })),
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    status: Option<String>,
    /// Only the runs of this strategy (its id).
    strategy: Option<i64>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Runs, newest first (`?status=`, `?strategy=`, `?limit=`, `?offset=`).
async fn list_runs(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if let Some(status) = &q.status {
        status.parse::<RunStatus>().map_err(|e| bad_query("status", e))?;
    }
    let (limit, offset) = page(q.limit, q.offset)?;
    let rows =
        runs::list(&state.pool, q.status.as_deref(), q.strategy.map(StrategyId), limit, offset).await?;
    let runs: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "run_id": r.id, "strategy_id": r.strategy_id, "name": r.spec.get("name"), "status": r.status,
                "error": r.error, "created_at": r.created_at, "finished_at": r.finished_at,
                "fix_attempts": r.fix_attempts,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "runs": runs, "limit": limit, "offset": offset })))
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

/// Everything about one run: state, jobs, versions, backtests and its audited history, with
/// the verdict of the hash chain.
async fn show_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
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
    let versions: Vec<serde_json::Value> = versions
        .iter()
        .map(|v| {
            serde_json::json!({
                "id": v.id, "version": v.version, "origin": v.origin, "provider": v.provider, "model": v.model,
                "entrypoint": v.entrypoint, "sha256": v.sha256, "accepted": v.accepted, "findings": v.findings,
                "metadata": v.metadata, "git_commit": v.git_commit, "created_at": v.created_at, "code": v.code,
                "parent_id": v.parent_id, "failure": v.failure,
            })
        })
        .collect();
    let backtests: Vec<serde_json::Value> = backtests
        .iter()
        .map(|b| {
            serde_json::json!({
                "id": b.id, "version_id": b.version_id, "dataset": b.dataset, "status": b.status, "passed": b.passed,
                "metrics": b.metrics, "error": b.error, "duration_ms": b.duration_ms, "created_at": b.created_at,
                "resource_usage": b.resource_usage,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "run_id": run.id,
        "status": run.status,
        "error": run.error,
        "strategy": strategy,
        "provider": run.provider,
        "spec": run.spec,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "jobs": jobs,
        "versions": versions,
        "backtests": backtests,
        "transitions": history,
        "audit": { "chain_ok": broken.is_empty(), "broken_links": broken },
        "fix_attempts": run.fix_attempts,
        "max_fix_attempts": run.max_fix_attempts,
        "llm": llm,
    })))
}

/// Cancels a live run: the run and its pending jobs become `cancelled` and every worker is
/// told (through the outbox, on `<ns>.control`) to stop the run's jobs in flight; a result
/// that arrives later is fenced out because its job is no longer `running`.
async fn cancel_run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
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
    Ok(Json(
        serde_json::json!({ "run_id": run_id, "status": RunStatus::Cancelled, "jobs_cancelled": cancelled_jobs }),
    ))
}
