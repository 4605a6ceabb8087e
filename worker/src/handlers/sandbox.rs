//! sandbox: a standalone run of one version in the sandbox, asked for through the API
//! (sandbox-test: the run's own dataset; run-sandbox: given symbols and dates), held to the
//! request's limits. Code failures and timeouts are part of the report; Docker failures are
//! transient (the job retries); a missing version is poison.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use algoagent_core::{JobError, SandboxBacktest, SandboxLimits, SandboxReport, SandboxUsage, VersionId};
use algoagent_jobs::db::jobs::JobRow;
use algoagent_sandbox::{BacktestParams, HarnessRequest, HarnessResponse, RunOverrides, SandboxRun};
use algoagent_store::backtests::NewBacktest;
use algoagent_store::versions::VersionRow;
use tokio_util::sync::CancellationToken;

use super::{backtest_params, load_run, load_version, spec_of};
use crate::commit::Effect;
use crate::context::WorkerContext;

/// One dataset to run on.
struct Target {
    symbol: String,
    dataset: String,
    config: BacktestParams,
}

/// Runs a sandbox-test job: the version on its run's dataset and settings.
pub async fn test(
    ctx: &WorkerContext,
    row: &JobRow,
    version_id: VersionId,
    limits: SandboxLimits,
    cancel: &CancellationToken,
) -> Result<Effect, JobError> {
    let version = load_version(ctx, version_id).await?;
    let run = load_run(ctx, row).await?;
    let spec = spec_of(&run)?;
    let target = Target {
        symbol: spec.backtest.dataset.clone(),
        dataset: spec.backtest.dataset.clone(),
        config: backtest_params(&spec),
    };
    let runs = run_all(ctx, row, &version, &[target], limits, cancel).await?;
    Ok(Effect::SandboxRan { version_id, report: report(&runs), backtest: None })
}

/// Runs a run-sandbox job: the version on every symbol, one after the other, within one
/// timeout for them all; stores one backtest row.
pub async fn backtest(
    ctx: &WorkerContext,
    row: &JobRow,
    version_id: VersionId,
    limits: SandboxLimits,
    backtest: &SandboxBacktest,
    cancel: &CancellationToken,
) -> Result<Effect, JobError> {
    let version = load_version(ctx, version_id).await?;
    let targets: Vec<Target> = backtest
        .symbols
        .iter()
        .map(|s| Target {
            symbol: s.symbol.clone(),
            dataset: s.dataset.clone(),
            config: BacktestParams {
                cash: backtest.cash,
                commission: backtest.commission,
                spread: backtest.spread,
                start: backtest.start_date.clone(),
                end: backtest.end_date.clone(),
                ..BacktestParams::default()
            },
        })
        .collect();
    let runs = run_all(ctx, row, &version, &targets, limits, cancel).await?;
    let report = report(&runs);
    let all_ok = runs.iter().all(|(_, r)| r.as_ref().is_some_and(SandboxRun::is_ok));
    let status = if report.timed_out {
        "timeout"
    } else if all_ok {
        "ok"
    } else {
        "error"
    };
    let (metrics, equity_curve) = match runs.as_slice() {
        [(_, Some(run))] => match &run.response {
            Some(HarnessResponse::Ok(r)) => {
                (serde_json::to_value(&r.metrics).ok(), serde_json::to_value(&r.equity_curve).ok())
            }
            _ => (None, None),
        },
        _ => (
            report
                .results
                .clone()
                .map(|results| serde_json::json!({ "results": results, "per_symbol": report.per_symbol })),
            None,
        ),
    };
    let datasets: Vec<&str> = targets.iter().map(|t| t.dataset.as_str()).collect();
    let new = NewBacktest {
        run_id: row.run_id,
        version_id,
        job_id: row.id,
        dataset: datasets.join(","),
        status: status.to_owned(),
        passed: all_ok,
        metrics,
        equity_curve,
        error: (!report.errors.is_empty()).then(|| report.errors.clone()),
        duration_ms: (report.execution_time * 1000.0) as i64,
        resource_usage: serde_json::to_value(report.resource_usage).ok(),
    };
    Ok(Effect::SandboxRan { version_id, report, backtest: Some(new) })
}

/// Runs every target in turn within the job's one deadline; a target reached after the
/// deadline is not started (`None`) and counts as timed out.
async fn run_all(
    ctx: &WorkerContext,
    row: &JobRow,
    version: &VersionRow,
    targets: &[Target],
    limits: SandboxLimits,
    cancel: &CancellationToken,
) -> Result<Vec<(String, Option<SandboxRun>)>, JobError> {
    let sandbox = ctx
        .sandbox
        .as_ref()
        .ok_or_else(|| JobError::Poison("sandbox job reached a worker without a sandbox".into()))?;
    let labels = HashMap::from([
        ("algoagent.job".to_owned(), row.id.to_string()),
        ("algoagent.run".to_owned(), row.run_id.to_string()),
        ("algoagent.namespace".to_owned(), ctx.settings.common.namespace.as_str().to_owned()),
    ]);
    let deadline = Instant::now() + Duration::from_secs(u64::from(limits.timeout_secs));
    let mut runs = Vec::new();
    for target in targets {
        let left = deadline.saturating_duration_since(Instant::now());
        if left < Duration::from_secs(1) {
            runs.push((target.symbol.clone(), None));
            continue;
        }
        let overrides = RunOverrides {
            memory_bytes: i64::from(limits.memory_mb) * 1024 * 1024,
            nano_cpus: i64::from(limits.cpu_millis) * 1_000_000,
            timeout: left,
        };
        let request = HarnessRequest {
            code: version.code.clone(),
            entrypoint: version.entrypoint.clone(),
            dataset: target.dataset.clone(),
            config: target.config.clone(),
        };
        let run =
            sandbox.run_with_limits(&request, &labels, cancel, Some(&overrides)).await.map_err(|err| {
                if err.is_transient() {
                    JobError::transient(err)
                } else {
                    JobError::Permanent(format!("sandbox: {err}"))
                }
            })?;
        if cancel.is_cancelled() {
            return Err(JobError::transient(anyhow::anyhow!("job stopped: lease lost or cancelled")));
        }
        runs.push((target.symbol.clone(), Some(run)));
    }
    Ok(runs)
}

/// The API's report of the runs: success, output, errors, limits hit, usage and results.
fn report(runs: &[(String, Option<SandboxRun>)]) -> SandboxReport {
    let mut output = Vec::new();
    let mut errors = Vec::new();
    let mut per_symbol = Vec::new();
    let mut timed_out = false;
    let mut exit_code = None;
    let mut seconds = 0.0;
    let mut peak: Option<u64> = None;
    let mut cpu_ms: Option<u64> = None;
    let mut oks = Vec::new();
    for (symbol, run) in runs {
        let Some(run) = run else {
            timed_out = true;
            errors.push(format!("{symbol}: not started: the timeout was spent on the symbols before it"));
            per_symbol
                .push(serde_json::json!({ "symbol": symbol, "status": "timeout", "error": "not started" }));
            continue;
        };
        timed_out |= run.timed_out;
        exit_code = run.exit_code.or(exit_code);
        seconds += run.duration.as_secs_f64();
        if let Some(bytes) = run.resource_usage.peak_memory_bytes {
            peak = Some(peak.unwrap_or(0).max(bytes));
        }
        if let Some(ms) = run.resource_usage.cpu_time_ms {
            cpu_ms = Some(cpu_ms.unwrap_or(0) + ms);
        }
        let mut entry =
            serde_json::json!({ "symbol": symbol, "exit_code": run.exit_code, "timed_out": run.timed_out });
        match &run.response {
            Some(HarnessResponse::Ok(r)) => {
                let m = &r.metrics;
                output.push(format!(
                    "Strategy executed successfully on {symbol}: {} trades, return {:.2}%, Sharpe {}, max drawdown {:.2}% ({} to {})",
                    m.trades,
                    m.return_pct,
                    m.sharpe.map_or_else(|| "n/a".to_owned(), |s| format!("{s:.2}")),
                    m.max_drawdown_pct,
                    m.start,
                    m.end,
                ));
                let results = guide_results(m);
                entry["status"] = "ok".into();
                entry["results"] = results.clone();
                oks.push(results);
            }
            _ => {
                let reason = run.failure_reason().unwrap_or_else(|| "no result".to_owned());
                let mut text = format!("{symbol}: {reason}");
                if let Some(HarnessResponse::Error(e)) = &run.response
                    && !e.traceback.is_empty()
                {
                    text.push('\n');
                    text.push_str(&e.traceback);
                }
                errors.push(text);
                entry["status"] = if run.timed_out { "timeout" } else { "error" }.into();
                entry["error"] = reason.into();
            }
        }
        if !run.stderr_tail.trim().is_empty() {
            output.push(run.stderr_tail.trim_end().to_owned());
        }
        per_symbol.push(entry);
    }
    let success = !runs.is_empty() && oks.len() == runs.len();
    let cpu_percent =
        cpu_ms.filter(|_| seconds > 0.0).map(|ms| ((ms as f64 / 10.0 / seconds) * 10.0).round() / 10.0);
    SandboxReport {
        success,
        exit_code,
        output: output.join("\n"),
        errors: errors.join("\n"),
        timed_out,
        execution_time: (seconds * 1000.0).round() / 1000.0,
        resource_usage: SandboxUsage {
            max_memory_mb: peak.map(|b| (b + 512 * 1024) / (1024 * 1024)),
            cpu_percent,
        },
        results: aggregate(&oks),
        per_symbol: if runs.len() > 1 { per_symbol } else { Vec::new() },
    }
}

/// One backtest's summary in the guide's words: fractions, not percentages.
fn guide_results(m: &algoagent_sandbox::Metrics) -> serde_json::Value {
    let frac = |pct: f64| if pct.is_finite() { Some(pct / 100.0) } else { None };
    serde_json::json!({
        "total_return": frac(m.return_pct),
        "sharpe_ratio": m.sharpe,
        "max_drawdown": frac(m.max_drawdown_pct),
        "win_rate": m.win_rate_pct.and_then(frac),
        "total_trades": m.trades,
    })
}

/// Several symbols' results in one: the mean return, Sharpe and win rate, the worst
/// drawdown, the trades summed. `None` when none ran to the end.
fn aggregate(results: &[serde_json::Value]) -> Option<serde_json::Value> {
    match results {
        [] => None,
        [one] => Some(one.clone()),
        many => {
            let values = |key: &str| -> Vec<f64> { many.iter().filter_map(|r| r[key].as_f64()).collect() };
            let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
            Some(serde_json::json!({
                "total_return": mean(values("total_return")),
                "sharpe_ratio": mean(values("sharpe_ratio")),
                "max_drawdown": values("max_drawdown").into_iter().reduce(f64::min),
                "win_rate": mean(values("win_rate")),
                "total_trades": many.iter().filter_map(|r| r["total_trades"].as_u64()).sum::<u64>(),
            }))
        }
    }
}
