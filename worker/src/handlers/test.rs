//! test: backtest a version in the hardened sandbox and judge it against the spec's
//! acceptance criteria. Code failures are results (the run moves on); Docker failures are
//! transient (the job retries).

use std::collections::HashMap;

use algoagent_core::{JobError, VersionId};
use algoagent_jobs::db::jobs::JobRow;
use algoagent_sandbox::{HarnessRequest, HarnessResponse, SandboxRun};
use algoagent_spec::StrategySpec;
use algoagent_store::backtests::NewBacktest;
use tokio_util::sync::CancellationToken;

use super::{backtest_params, load_run, load_version, spec_of};
use crate::commit::Effect;
use crate::context::WorkerContext;

/// Runs the backtest of one version.
pub async fn handle(
    ctx: &WorkerContext,
    row: &JobRow,
    version_id: VersionId,
    cancel: &CancellationToken,
) -> Result<Effect, JobError> {
    let sandbox = ctx
        .sandbox
        .as_ref()
        .ok_or_else(|| JobError::Poison("test job reached a worker without a sandbox".into()))?;
    let version = load_version(ctx, version_id).await?;
    let run = load_run(ctx, row).await?;
    let spec = spec_of(&run)?;
    let request = HarnessRequest {
        code: version.code.clone(),
        entrypoint: version.entrypoint.clone(),
        dataset: spec.backtest.dataset.clone(),
        config: backtest_params(&spec),
    };
    let labels = HashMap::from([
        ("algoagent.job".to_owned(), row.id.to_string()),
        ("algoagent.run".to_owned(), row.run_id.to_string()),
        ("algoagent.namespace".to_owned(), ctx.settings.common.namespace.as_str().to_owned()),
    ]);
    let outcome = sandbox.run(&request, &labels, cancel).await.map_err(|err| {
        if err.is_transient() {
            JobError::transient(err)
        } else {
            JobError::Permanent(format!("sandbox: {err}"))
        }
    })?;
    if cancel.is_cancelled() {
        return Err(JobError::transient(anyhow::anyhow!("job stopped: lease lost or cancelled")));
    }
    let (status, passed, reason) = judge(&spec, &outcome);
    let (metrics, equity_curve) = match &outcome.response {
        Some(HarnessResponse::Ok(report)) => {
            (serde_json::to_value(&report.metrics).ok(), serde_json::to_value(&report.equity_curve).ok())
        }
        _ => (None, None),
    };
    let failure = reason.as_ref().map(|reason| match &outcome.response {
        Some(HarnessResponse::Error(e)) => {
            format!("The backtest raised {}: {}\n{}", e.error_type, e.error, e.traceback)
        }
        _ => format!("The backtest failed: {reason}"),
    });
    Ok(Effect::Tested {
        version,
        failure,
        backtest: NewBacktest {
            run_id: row.run_id,
            version_id,
            job_id: row.id,
            dataset: request.dataset,
            status,
            passed,
            metrics,
            equity_curve,
            error: reason.clone(),
            duration_ms: i64::try_from(outcome.duration.as_millis()).unwrap_or(i64::MAX),
            resource_usage: serde_json::to_value(outcome.resource_usage).ok(),
        },
        reason,
    })
}

/// Status word, verdict and reason of a sandbox run under the spec's acceptance criteria.
fn judge(spec: &StrategySpec, run: &SandboxRun) -> (String, bool, Option<String>) {
    let status = match (&run.response, run.timed_out, run.oom_killed) {
        (_, true, _) => "timeout",
        (_, _, true) => "oom",
        (Some(HarnessResponse::Ok(_)), ..) => "ok",
        (Some(HarnessResponse::Error(_)), ..) => "error",
        (Some(HarnessResponse::InvalidRequest { .. }), ..) => "invalid_request",
        (None, ..) => "no_result",
    };
    let Some(HarnessResponse::Ok(report)) = &run.response else {
        return (
            status.into(),
            false,
            Some(run.failure_reason().unwrap_or_else(|| "backtest produced no result".into())),
        );
    };
    let acceptance = &spec.acceptance;
    let m = &report.metrics;
    let mut unmet = Vec::new();
    if u64::from(acceptance.min_trades) > m.trades {
        unmet.push(format!("{} trades, at least {} required", m.trades, acceptance.min_trades));
    }
    if let Some(max_dd) = acceptance.max_drawdown_pct
        && m.max_drawdown_pct.abs() > max_dd
    {
        unmet.push(format!("max drawdown {:.2}% exceeds {max_dd}%", m.max_drawdown_pct.abs()));
    }
    if let Some(min_ret) = acceptance.min_return_pct
        && m.return_pct < min_ret
    {
        unmet.push(format!("return {:.2}% below {min_ret}%", m.return_pct));
    }
    if let Some(min_sharpe) = acceptance.min_sharpe
        && m.sharpe.is_none_or(|s| s < min_sharpe)
    {
        unmet.push(format!("Sharpe {:?} below {min_sharpe}", m.sharpe));
    }
    if unmet.is_empty() {
        (status.into(), true, None)
    } else {
        (status.into(), false, Some(format!("acceptance criteria not met: {}", unmet.join("; "))))
    }
}
