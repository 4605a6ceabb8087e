//! The prototype's on-demand sandbox routes: `POST /api/production/strategies/sandbox-test/`
//! (run a stored strategy's code in the sandbox) and `POST
//! /api/production/backtests/run-sandbox/` (backtest it on given symbols and dates). Each
//! request becomes one standalone job of kind `sandbox` on its own queue, hung off the run
//! that produced the version (so `algoagent status <run>` and `GET /api/jobs?kind=sandbox`
//! show it), retried and dead-lettered like every job, and cancellable. The request waits
//! for the job up to its timeout plus `SANDBOX_SYNC_GRACE_SECS` and answers with the result,
//! or 202 with a status URL. Every input is checked before anything is stored or queued.

use std::time::{Duration, Instant};

use algoagent_core::{
    JobId, JobKind, JobPayload, JobResult, SandboxBacktest, SandboxLimits, StrategyId, SymbolDataset,
};
use algoagent_core::{RunId, SandboxUsage, VersionId};
use algoagent_jobs::db::jobs::{self, JobRow, NewJob};
use algoagent_jobs::db::outbox::{self, OutboxMessage};
use algoagent_sandbox::{CatalogError, DatasetCatalog, file_symbol};
use algoagent_spec::BacktestConfig;
use algoagent_store::versions::{self, VersionRow};
use algoagent_store::{backtest_configs, runs};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiRoutes;
use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;
use crate::state::AppState;

/// Longest timeout a request may ask for, in seconds.
const MAX_TIMEOUT_SECS: u64 = 600;
/// CPU a request may ask for, in thousandths of a CPU.
const CPU_MILLIS: (u32, u32) = (100, 4000);
/// Memory a request may ask for, in MiB.
const MEMORY_MB: (u32, u32) = (64, 4096);
/// Most symbols in one run-sandbox request.
const MAX_SYMBOLS: usize = 20;
/// How often a waiting request looks at its job row.
const POLL: Duration = Duration::from_millis(100);

const TEST_BASE: &str = "/api/production/strategies/sandbox-test";
const BACKTEST_BASE: &str = "/api/production/backtests/run-sandbox";

/// The on-demand sandbox routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .api_route("/api/production/strategies/sandbox-test/", post(sandbox_test))
        .api_route("/api/production/strategies/sandbox-test/{job_id}/", get(test_status))
        .api_route("/api/production/strategies/sandbox-test/{job_id}/cancel/", post(test_cancel))
        .api_route("/api/production/backtests/run-sandbox/", post(run_sandbox))
        .api_route("/api/production/backtests/run-sandbox/{job_id}/", get(backtest_status))
        .api_route("/api/production/backtests/run-sandbox/{job_id}/cancel/", post(backtest_cancel))
}

/// The guide's `resource_limits` (`cpu` "0.5" or 0.5, `memory` "512m"/"1g", `timeout` s).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ResourceLimits {
    /// CPUs, 0.1 to 4, as a number or a string (`"0.5"`).
    #[serde(default)]
    #[schema(value_type = Option<Value>)]
    cpu: Option<serde_json::Value>,
    /// Memory, 64 MiB to 4 GiB, as MiB or a string (`"512m"`, `"1g"`).
    #[serde(default)]
    #[schema(value_type = Option<Value>)]
    memory: Option<serde_json::Value>,
    /// Wall-clock limit in seconds, 1 to 600 (the same as `timeout` when both are given).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 600)]
    timeout: Option<u64>,
}

/// Run a stored strategy's code in the sandbox.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SandboxTestRequest {
    /// The strategy.
    strategy_id: i64,
    /// Its version number, from 1 (default its newest).
    #[serde(default)]
    #[schema(minimum = 1)]
    version: Option<i64>,
    /// Wall-clock limit in seconds, 1 to 600 (default `SANDBOX_TIMEOUT_SECS`).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 600)]
    timeout: Option<u64>,
    /// CPU, memory and time limits.
    #[serde(default)]
    resource_limits: Option<ResourceLimits>,
}

/// Backtest a stored strategy's code in the sandbox on given symbols and dates.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RunSandboxRequest {
    /// The strategy.
    strategy_id: i64,
    /// Its version number, from 1 (default its newest).
    #[serde(default)]
    #[schema(minimum = 1)]
    version: Option<i64>,
    /// A config stored by `validate-config` (default: the spec's backtest settings).
    #[serde(default)]
    config_id: Option<i64>,
    /// First day, `YYYY-MM-DD`.
    #[serde(default)]
    #[schema(format = Date)]
    start_date: Option<String>,
    /// Last day, `YYYY-MM-DD`, not before `start_date`.
    #[serde(default)]
    #[schema(format = Date)]
    end_date: Option<String>,
    /// 1 to 20 datasets (`GOOG`, `csv:<file>.csv`, `parquet:<file>.parquet`), each once.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 20)]
    symbols: Option<Vec<String>>,
    /// Wall-clock limit in seconds, 1 to 600 (default `SANDBOX_TIMEOUT_SECS`).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 600)]
    timeout: Option<u64>,
    /// CPU, memory and time limits.
    #[serde(default)]
    resource_limits: Option<ResourceLimits>,
}

/// A standalone sandbox job: its ids, its state and, once it ended, its result.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SandboxJob {
    /// The job.
    job_id: JobId,
    /// The strategy whose code runs.
    strategy_id: StrategyId,
    /// The run that produced the version.
    run_id: RunId,
    /// Where to poll it.
    status_url: String,
    /// Attempts started.
    attempt: i32,
    /// `queued`, `running`, `completed`, or how it ended otherwise (`failed`, `dead`,
    /// `cancelled`).
    status: String,
    /// While queued or running: poll `status_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'static str>,
    /// The version that ran, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    version_id: Option<VersionId>,
    /// The backtest stored (run-sandbox, once completed).
    #[serde(skip_serializing_if = "Option::is_none")]
    backtest_id: Option<Option<i64>>,
    /// Whether the code ran to the end without an error on every dataset; false when the
    /// job did not complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    success: Option<bool>,
    /// Why it failed, with the traceback (empty on success), or why the job did not
    /// complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<String>,
    /// Once completed: the container's exit code (of the last run).
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<Option<i64>>,
    /// Once completed: what the code printed and a summary of the backtest.
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<String>,
    /// Once completed: a run was killed at the wall-clock limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    timed_out: Option<bool>,
    /// Once completed: seconds spent in the sandbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    execution_time: Option<f64>,
    /// Once completed: peak memory (MiB) and CPU use (percent of one CPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_usage: Option<SandboxUsage>,
    /// Once completed: the backtest's summary in the guide's words (fractions), when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    results: Option<Option<serde_json::Value>>,
    /// Once completed: one entry per symbol (run-sandbox).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    per_symbol: Option<Vec<serde_json::Value>>,
}

/// Run a strategy's code in the sandbox
///
/// One standalone `sandbox` job on its own queue; the request waits for it up to its
/// timeout plus `SANDBOX_SYNC_GRACE_SECS` and answers with the result, or 202 with the URL
/// to poll.
#[utoipa::path(
    post,
    path = "/api/production/strategies/sandbox-test/",
    tag = "production",
    operation_id = "sandboxTest",
    request_body = SandboxTestRequest,
    responses(
        (status = 200, description = "The job ended: its result", body = SandboxJob),
        (status = 202, description = "Still queued or running: poll `status_url`", body = SandboxJob,
            headers(("Location" = String, description = "The job's status URL"))),
        (status = 400, description = "`MALFORMED_JSON`, `INVALID_REQUEST` (wrong shape, a limit out of range) or `BAD_BODY`", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such strategy", body = ErrorBody),
        (status = 409, description = "`NO_VERSION`: no such version of code yet; `CODE_REJECTED`: the validator refused it", body = ErrorBody),
    )
)]
pub(super) async fn sandbox_test(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<SandboxTestRequest>,
) -> Result<Response, ApiError> {
    let limits = limits(&state, req.timeout, req.resource_limits.as_ref())?;
    let version = pick_version(&state, req.strategy_id, req.version).await?;
    let payload = JobPayload::SandboxTestV1 { version_id: version.id, limits };
    submit(&state, &caller, &version, payload, limits, TEST_BASE).await
}

/// Backtest a strategy's code in the sandbox
///
/// On given symbols and dates, with a stored config or the spec's settings; one standalone
/// `sandbox` job, answered like `sandbox-test`.
#[utoipa::path(
    post,
    path = "/api/production/backtests/run-sandbox/",
    tag = "production",
    operation_id = "runSandbox",
    request_body = RunSandboxRequest,
    responses(
        (status = 200, description = "The job ended: its result", body = SandboxJob),
        (status = 202, description = "Still queued or running: poll `status_url`", body = SandboxJob,
            headers(("Location" = String, description = "The job's status URL"))),
        (status = 400, description = "`MALFORMED_JSON`, `INVALID_REQUEST` (wrong shape, a bad date, symbol or limit, an unknown config), `UNKNOWN_SYMBOL`, `DATE_RANGE_NOT_COVERED` or `BAD_BODY`", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such strategy", body = ErrorBody),
        (status = 409, description = "`NO_VERSION`: no such version of code yet; `CODE_REJECTED`: the validator refused it", body = ErrorBody),
    )
)]
pub(super) async fn run_sandbox(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<RunSandboxRequest>,
) -> Result<Response, ApiError> {
    let limits = limits(&state, req.timeout, req.resource_limits.as_ref())?;
    let start = date_field("start_date", req.start_date.as_deref())?;
    let end = date_field("end_date", req.end_date.as_deref())?;
    if let Some(symbols) = &req.symbols {
        check_symbols(symbols)?;
    }
    let version = pick_version(&state, req.strategy_id, req.version).await?;
    let config = match req.config_id {
        Some(id) => {
            let row = backtest_configs::get(&state.pool, id)
                .await?
                .ok_or_else(|| ApiError::invalid_field("config_id", &format!("no stored config {id}")))?;
            serde_json::from_value::<BacktestConfig>(row.config)?
        }
        None => {
            let run = runs::get(&state.pool, version.run_id).await?.ok_or_else(|| {
                ApiError::not_found(format!("run {} of version {}", version.run_id, version.id))
            })?;
            serde_json::from_value::<BacktestConfig>(run.spec["backtest"].clone()).unwrap_or_default()
        }
    };
    let start = start.or(config.start_date);
    let end = end.or(config.end_date);
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(ApiError::invalid_field("end_date", "must not be before start_date"));
    }
    let symbols = match req.symbols {
        Some(symbols) => symbols,
        None if !config.symbols.is_empty() => config.symbols.clone(),
        None => vec![config.dataset.clone()],
    };
    check_symbols(&symbols)?;
    let dir = state.settings.sandbox.datasets_dir.clone();
    let catalog = tokio::task::spawn_blocking(move || DatasetCatalog::scan(dir.as_deref())).await?;
    let mut resolved = Vec::new();
    for (i, symbol) in symbols.iter().enumerate() {
        let name = file_symbol(symbol);
        let info = catalog.resolve(name, start, end).map_err(|err| data_error(i, &err))?;
        resolved.push(SymbolDataset { symbol: symbol.clone(), dataset: info.dataset.clone() });
    }
    let backtest = SandboxBacktest {
        config_id: req.config_id,
        symbols: resolved,
        start_date: start.map(|d| d.to_string()),
        end_date: end.map(|d| d.to_string()),
        cash: config.initial_capital,
        commission: config.commission,
        spread: config.slippage,
    };
    let payload = JobPayload::SandboxBacktestV1 { version_id: version.id, limits, backtest };
    submit(&state, &caller, &version, payload, limits, BACKTEST_BASE).await
}

/// 400 for a symbol or range the data does not cover, naming what exists.
fn data_error(index: usize, err: &CatalogError) -> ApiError {
    let (code, kind) = match err {
        CatalogError::UnknownSymbol { .. } => ("UNKNOWN_SYMBOL", "unknown_symbol"),
        CatalogError::OutOfRange { .. } => ("DATE_RANGE_NOT_COVERED", "date_range"),
    };
    let msg = err.to_string();
    ApiError::client(
        StatusCode::BAD_REQUEST,
        code,
        format!("symbols.{index}: {msg}"),
        serde_json::json!([{ "loc": ["symbols", index], "msg": msg, "type": kind }]),
    )
}

/// Symbols: 1 to 20, each a plain name (`[A-Za-z0-9][A-Za-z0-9._-]{0,31}`, `csv:<file>` or
/// `parquet:<file>`).
fn check_symbols(symbols: &[String]) -> Result<(), ApiError> {
    if symbols.is_empty() || symbols.len() > MAX_SYMBOLS {
        return Err(ApiError::invalid_field("symbols", &format!("give 1 to {MAX_SYMBOLS} symbols")));
    }
    for (i, symbol) in symbols.iter().enumerate() {
        let name = file_symbol(symbol);
        let mut chars = name.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && name.len() <= 32
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && !name.contains("..");
        if !ok {
            let msg = "a symbol is 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit";
            return Err(ApiError::client(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                format!("symbols.{i}: {msg}"),
                serde_json::json!([{ "loc": ["symbols", i], "msg": msg, "type": "value_error" }]),
            ));
        }
        if symbols[..i].contains(symbol) {
            return Err(ApiError::invalid_field("symbols", &format!("'{symbol}' is given twice")));
        }
    }
    Ok(())
}

fn date_field(field: &str, raw: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    raw.map(|r| {
        NaiveDate::parse_from_str(r, "%Y-%m-%d")
            .map_err(|_| ApiError::invalid_field(field, &format!("'{r}' is not a YYYY-MM-DD date")))
    })
    .transpose()
}

/// The request's limits, checked, with the settings' as defaults.
fn limits(
    state: &AppState,
    timeout: Option<u64>,
    resources: Option<&ResourceLimits>,
) -> Result<SandboxLimits, ApiError> {
    let none = ResourceLimits::default();
    let resources = resources.unwrap_or(&none);
    let timeout = match (timeout, resources.timeout) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::invalid_field(
                "timeout",
                "given twice (timeout and resource_limits.timeout) with different values",
            ));
        }
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => state.settings.sandbox.timeout.as_secs(),
    };
    if !(1..=MAX_TIMEOUT_SECS).contains(&timeout) {
        return Err(ApiError::invalid_field("timeout", &format!("must be 1 to {MAX_TIMEOUT_SECS} seconds")));
    }
    let cpu_millis = match &resources.cpu {
        None => u32::try_from(state.settings.sandbox.nano_cpus / 1_000_000).unwrap_or(1000),
        Some(value) => parse_cpu(value).ok_or_else(|| {
            ApiError::invalid_field(
                "resource_limits.cpu",
                &format!("a number of CPUs from {} to {} (\"0.5\" or 0.5)", 0.1, 4),
            )
        })?,
    };
    let memory_mb = match &resources.memory {
        None => u32::try_from(state.settings.sandbox.memory_bytes / (1024 * 1024)).unwrap_or(512),
        Some(value) => parse_memory(value).ok_or_else(|| {
            ApiError::invalid_field(
                "resource_limits.memory",
                &format!("a size from {}m to {}m (\"512m\", \"1g\")", MEMORY_MB.0, MEMORY_MB.1),
            )
        })?,
    };
    let timeout_secs = u32::try_from(timeout).unwrap_or(u32::MAX);
    Ok(SandboxLimits { timeout_secs, memory_mb, cpu_millis })
}

fn parse_cpu(value: &serde_json::Value) -> Option<u32> {
    let cpus = match value {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    let millis = (cpus * 1000.0).round();
    (millis.is_finite() && millis >= f64::from(CPU_MILLIS.0) && millis <= f64::from(CPU_MILLIS.1))
        .then_some(millis as u32)
}

fn parse_memory(value: &serde_json::Value) -> Option<u32> {
    let mb = match value {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            let s = s.strip_suffix('b').unwrap_or(&s);
            let (digits, factor) = match s.chars().last()? {
                'k' => (&s[..s.len() - 1], 1.0 / 1024.0),
                'm' => (&s[..s.len() - 1], 1.0),
                'g' => (&s[..s.len() - 1], 1024.0),
                _ => (s, 1.0 / (1024.0 * 1024.0)),
            };
            digits.parse::<f64>().ok()? * factor
        }
        _ => return None,
    };
    let mb = mb.round();
    (mb.is_finite() && mb >= f64::from(MEMORY_MB.0) && mb <= f64::from(MEMORY_MB.1)).then_some(mb as u32)
}

/// The strategy's version to run: `version` (numbered from 1) or its newest.
async fn pick_version(
    state: &AppState,
    strategy_id: i64,
    number: Option<i64>,
) -> Result<VersionRow, ApiError> {
    let id = StrategyId(strategy_id);
    runs::strategy(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("strategy {strategy_id}")))?;
    let version = match number {
        Some(n) if n < 1 => return Err(ApiError::invalid_field("version", "versions are numbered from 1")),
        Some(n) => versions::nth_of_strategy(&state.pool, id, n).await?,
        None => versions::for_strategy(&state.pool, id).await?.into_iter().next(),
    };
    let version = version.ok_or_else(|| {
        ApiError::client(
            StatusCode::CONFLICT,
            "NO_VERSION",
            format!("strategy {strategy_id} has no such version of code yet"),
            serde_json::json!({ "strategy_id": strategy_id, "version": number }),
        )
    })?;
    if version.accepted == Some(false) {
        return Err(ApiError::client(
            StatusCode::CONFLICT,
            "CODE_REJECTED",
            format!(
                "version {} of strategy {strategy_id} was refused by the validator; it is not run",
                version.id
            ),
            serde_json::json!({ "strategy_id": strategy_id, "version_id": version.id }),
        ));
    }
    Ok(version)
}

/// Enqueues the job (row, transition and message in one transaction) and waits for it.
async fn submit(
    state: &AppState,
    caller: &Caller,
    version: &VersionRow,
    payload: JobPayload,
    limits: SandboxLimits,
    base: &'static str,
) -> Result<Response, ApiError> {
    let job = NewJob {
        id: JobId::new(),
        run_id: version.run_id,
        strategy_id: version.strategy_id,
        payload,
        max_attempts: state.settings.common.attempts_for(JobKind::Sandbox),
    };
    let mut tx = state.pool.begin().await?;
    jobs::enqueue(&mut tx, &job, &state.names.jobs_exchange(), &caller.actor("api")).await?;
    tx.commit().await?;
    tracing::info!(job_id = %job.id, version_id = %version.id, "sandbox job queued");
    let within = Duration::from_secs(u64::from(limits.timeout_secs)) + state.settings.sandbox_sync_grace;
    let row = wait_for(state, job.id, within).await?;
    Ok(answer(&row, base))
}

/// The job row once it ended, or as it is when `within` has passed.
async fn wait_for(state: &AppState, id: JobId, within: Duration) -> Result<JobRow, ApiError> {
    let deadline = Instant::now() + within;
    loop {
        let row =
            jobs::get(&state.pool, id).await?.ok_or_else(|| ApiError::not_found(format!("job {id}")))?;
        let left = deadline.saturating_duration_since(Instant::now());
        if !matches!(row.status.as_str(), "queued" | "running") || left.is_zero() {
            return Ok(row);
        }
        tokio::time::sleep(POLL.min(left)).await;
    }
}

/// The answer for a job: 200 with the result once it ended, 202 with the status URL before.
fn answer(row: &JobRow, base: &str) -> Response {
    let status_url = format!("{base}/{}/", row.id);
    let mut body = SandboxJob {
        job_id: row.id,
        strategy_id: row.strategy_id,
        run_id: row.run_id,
        status_url: status_url.clone(),
        attempt: row.attempt,
        status: row.status.clone(),
        message: None,
        version_id: None,
        backtest_id: None,
        success: None,
        errors: None,
        exit_code: None,
        output: None,
        timed_out: None,
        execution_time: None,
        resource_usage: None,
        results: None,
        per_symbol: None,
    };
    let pending = matches!(row.status.as_str(), "queued" | "running");
    match row.status.as_str() {
        "queued" | "running" => {
            body.message = Some("still running; poll status_url for the result");
        }
        "succeeded" => {
            let result = row.result.clone().and_then(|r| serde_json::from_value::<JobResult>(r).ok());
            if let Some(JobResult::SandboxRan { version_id, backtest_id, report }) = result {
                body.status = "completed".into();
                body.version_id = Some(version_id);
                body.success = Some(report.success);
                body.errors = Some(report.errors);
                body.exit_code = Some(report.exit_code);
                body.output = Some(report.output);
                body.timed_out = Some(report.timed_out);
                body.execution_time = Some(report.execution_time);
                body.resource_usage = Some(report.resource_usage);
                body.results = Some(report.results);
                body.per_symbol = Some(report.per_symbol);
                if base == BACKTEST_BASE {
                    body.backtest_id = Some(backtest_id);
                }
            } else {
                body.status = "failed".into();
                body.errors = Some("the job's stored result does not decode".into());
            }
        }
        _ => {
            body.success = Some(false);
            body.errors = Some(row.error.clone().unwrap_or_default());
        }
    }
    if pending {
        (StatusCode::ACCEPTED, [(LOCATION, status_url)], Json(body)).into_response()
    } else {
        (StatusCode::OK, Json(body)).into_response()
    }
}

/// The job behind a status or cancel URL, if it is of that route's flavour.
async fn job_of(state: &AppState, raw: &str, base: &str) -> Result<JobRow, ApiError> {
    let id: JobId = raw.parse().map_err(|_| {
        ApiError::client(
            StatusCode::BAD_REQUEST,
            "BAD_ID",
            "job_id: not a job id (UUID expected)",
            serde_json::Value::String(raw.to_owned()),
        )
    })?;
    let row = jobs::get(&state.pool, id).await?;
    let wanted = if base == TEST_BASE { "sandbox_test.v1" } else { "sandbox_backtest.v1" };
    row.filter(|r| r.payload["type"] == wanted).ok_or_else(|| ApiError::not_found(format!("job {raw}")))
}

/// Show a sandbox-test job
#[utoipa::path(
    get,
    path = "/api/production/strategies/sandbox-test/{job_id}/",
    tag = "production",
    operation_id = "sandboxTestStatus",
    params(("job_id" = uuid::Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job ended: its result", body = SandboxJob),
        (status = 202, description = "Still queued or running", body = SandboxJob,
            headers(("Location" = String, description = "The job's status URL"))),
        (status = 400, description = "`BAD_ID`: not a UUID", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such sandbox-test job", body = ErrorBody),
    )
)]
pub(super) async fn test_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(answer(&job_of(&state, &id, TEST_BASE).await?, TEST_BASE))
}

/// Show a run-sandbox job
#[utoipa::path(
    get,
    path = "/api/production/backtests/run-sandbox/{job_id}/",
    tag = "production",
    operation_id = "runSandboxStatus",
    params(("job_id" = uuid::Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job ended: its result", body = SandboxJob),
        (status = 202, description = "Still queued or running", body = SandboxJob,
            headers(("Location" = String, description = "The job's status URL"))),
        (status = 400, description = "`BAD_ID`: not a UUID", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such run-sandbox job", body = ErrorBody),
    )
)]
pub(super) async fn backtest_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(answer(&job_of(&state, &id, BACKTEST_BASE).await?, BACKTEST_BASE))
}

/// Cancel a sandbox-test job
///
/// A queued or running job becomes `cancelled` (audited) and the worker running it kills
/// its container; a result that still arrives is fenced out.
#[utoipa::path(
    post,
    path = "/api/production/strategies/sandbox-test/{job_id}/cancel/",
    tag = "production",
    operation_id = "sandboxTestCancel",
    params(("job_id" = uuid::Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "Cancelled", body = SandboxJob),
        (status = 400, description = "`BAD_ID`: not a UUID", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such sandbox-test job", body = ErrorBody),
        (status = 409, description = "`JOB_FINISHED`: the job already ended", body = ErrorBody),
    )
)]
pub(super) async fn test_cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    cancel(&state, &caller, &id, TEST_BASE).await
}

/// Cancel a run-sandbox job
///
/// As for a sandbox-test job.
#[utoipa::path(
    post,
    path = "/api/production/backtests/run-sandbox/{job_id}/cancel/",
    tag = "production",
    operation_id = "runSandboxCancel",
    params(("job_id" = uuid::Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "Cancelled", body = SandboxJob),
        (status = 400, description = "`BAD_ID`: not a UUID", body = ErrorBody),
        (status = 404, description = "`NOT_FOUND`: no such run-sandbox job", body = ErrorBody),
        (status = 409, description = "`JOB_FINISHED`: the job already ended", body = ErrorBody),
    )
)]
pub(super) async fn backtest_cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    cancel(&state, &caller, &id, BACKTEST_BASE).await
}

/// Cancels a queued or running standalone job: `cancelled` (audited) and, in the same
/// transaction, `{cancel_job}` on `<ns>.control` so the worker running it kills its
/// container; a result that still arrives is fenced out.
async fn cancel(state: &AppState, caller: &Caller, raw: &str, base: &str) -> Result<Response, ApiError> {
    let row = job_of(state, raw, base).await?;
    let mut tx = state.pool.begin().await?;
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1 FOR UPDATE")
        .bind(row.id)
        .fetch_optional(&mut *tx)
        .await?;
    let status = status.unwrap_or_default();
    if !matches!(status.as_str(), "queued" | "running") {
        return Err(ApiError::client(
            StatusCode::CONFLICT,
            "JOB_FINISHED",
            format!("job {} is already {status}", row.id),
            serde_json::json!({ "status": status }),
        ));
    }
    let actor = caller.actor("api");
    jobs::set_status(
        &mut tx,
        row.id,
        algoagent_core::JobStatus::Cancelled,
        Some("cancelled by a user"),
        &actor,
    )
    .await?;
    outbox::push(
        &mut tx,
        &OutboxMessage {
            exchange: state.names.control_exchange(),
            routing_key: String::new(),
            payload: serde_json::json!({ "cancel_job": row.id }),
            headers: Default::default(),
        },
    )
    .await?;
    tx.commit().await?;
    let row =
        jobs::get(&state.pool, row.id).await?.ok_or_else(|| ApiError::not_found(format!("job {raw}")))?;
    Ok(answer(&row, base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_the_guides_spellings_and_refuse_absurd_ones() {
        assert_eq!(parse_cpu(&serde_json::json!("0.5")), Some(500));
        assert_eq!(parse_cpu(&serde_json::json!(1.0)), Some(1000));
        assert_eq!(parse_cpu(&serde_json::json!("1000")), None);
        assert_eq!(parse_memory(&serde_json::json!("512m")), Some(512));
        assert_eq!(parse_memory(&serde_json::json!("1g")), Some(1024));
        assert_eq!(parse_memory(&serde_json::json!("1t")), None);
        assert_eq!(parse_memory(&serde_json::json!("999g")), None);
        assert!(check_symbols(&["../etc/passwd".to_owned()]).is_err());
        assert!(check_symbols(&["AAPL".to_owned(), "GOOGL".to_owned()]).is_ok());
    }
}
