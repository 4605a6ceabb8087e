//! One module per job kind. A handler reads what it needs from Postgres, does its work, and
//! returns an [`Effect`] for the commit step, or a classified [`JobError`].

mod fix;
mod generate;
mod merge;
mod sandbox;
mod test;
mod validate;

use std::sync::Arc;

use algoagent_core::{JobError, JobPayload, JobResult, VersionId};
use algoagent_jobs::db::DbError;
use algoagent_jobs::db::jobs::JobRow;
use algoagent_jobs::runner::Handler;
use algoagent_spec::{RuleMode, StrategySpec};
use algoagent_store::runs::RunRow;
use algoagent_store::versions::VersionRow;
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;

use crate::commit::Effect;
use crate::context::WorkerContext;

/// The worker's handlers behind the engine's [`Handler`]: one module per kind does the work;
/// [`crate::commit::persist`] writes what it produced.
pub struct WorkerHandler {
    /// What every handler may use.
    pub ctx: Arc<WorkerContext>,
}

impl Handler for WorkerHandler {
    type Effect = Effect;

    async fn handle(
        &self,
        row: &JobRow,
        payload: &JobPayload,
        cancel: &CancellationToken,
    ) -> Result<Effect, JobError> {
        run(&self.ctx, row, payload, cancel).await
    }

    async fn persist(
        &self,
        tx: &mut PgConnection,
        row: &JobRow,
        effect: Effect,
    ) -> Result<JobResult, DbError> {
        crate::commit::persist(tx, row, effect).await
    }
}

/// Runs the handler of the job's kind.
async fn run(
    ctx: &WorkerContext,
    row: &JobRow,
    payload: &JobPayload,
    cancel: &CancellationToken,
) -> Result<Effect, JobError> {
    match payload {
        JobPayload::GenerateV1 {} => generate::handle(ctx, row).await,
        JobPayload::ValidateV1 { version_id } => validate::handle(ctx, *version_id).await,
        JobPayload::TestV1 { version_id } => test::handle(ctx, row, *version_id, cancel).await,
        JobPayload::MergeV1 { version_id } => merge::handle(ctx, row, *version_id).await,
        JobPayload::FixV1 { version_id } => fix::handle(ctx, row, *version_id).await,
        JobPayload::SandboxTestV1 { version_id, limits } => {
            sandbox::test(ctx, row, *version_id, *limits, cancel).await
        }
        JobPayload::SandboxBacktestV1 { version_id, limits, backtest } => {
            sandbox::backtest(ctx, row, *version_id, *limits, backtest, cancel).await
        }
    }
}

/// Loads the job's run; a missing run means the message is poison.
async fn load_run(ctx: &WorkerContext, row: &JobRow) -> Result<RunRow, JobError> {
    algoagent_store::runs::get(&ctx.pool, row.run_id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| JobError::Poison(format!("run {} does not exist", row.run_id)))
}

/// Loads a version; a missing version means the message is poison.
async fn load_version(ctx: &WorkerContext, id: VersionId) -> Result<VersionRow, JobError> {
    algoagent_store::versions::get(&ctx.pool, id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| JobError::Poison(format!("version {id} does not exist")))
}

/// The run's spec, as validated at submission.
fn spec_of(run: &RunRow) -> Result<StrategySpec, JobError> {
    let rules =
        if run.provider == algoagent_llm::BUILTIN { RuleMode::Compiled } else { RuleMode::FreeTextAllowed };
    StrategySpec::from_value_with(&run.spec, rules)
        .map_err(|e| JobError::Permanent(format!("stored spec is no longer valid: {e}")))
}

/// The backtest settings a spec asks for, as the sandbox harness takes them (the pipeline's
/// test job and a standalone sandbox job backtest a version the same way).
fn backtest_params(spec: &StrategySpec) -> algoagent_sandbox::BacktestParams {
    algoagent_sandbox::BacktestParams {
        cash: spec.backtest.initial_capital,
        commission: spec.backtest.commission,
        spread: spec.backtest.slippage,
        start: spec.backtest.start_date.map(|d| d.to_string()),
        end: spec.backtest.end_date.map(|d| d.to_string()),
        ..algoagent_sandbox::BacktestParams::default()
    }
}

/// Database errors inside a handler are worth a retry.
fn db_error(err: algoagent_jobs::db::DbError) -> JobError {
    JobError::transient(err)
}

/// The worker's provider, if it is the one the run was submitted for.
fn provider_for<'a>(ctx: &'a WorkerContext, run: &RunRow) -> Result<&'a algoagent_llm::Provider, JobError> {
    use algoagent_llm::CodeProvider;
    if ctx.provider.name() == run.provider {
        Ok(&ctx.provider)
    } else {
        Err(JobError::Permanent(format!(
            "run was submitted for provider '{}' but this worker runs '{}'",
            run.provider,
            ctx.provider.name()
        )))
    }
}

/// Accounts the requests of a failed provider attempt (in their own transaction: the job's
/// outcome is committed separately) and returns the job decision. An invalid answer keeps
/// the model's last raw output in the error, so it is stored with the job and the run.
async fn record_failed_calls(
    ctx: &WorkerContext,
    row: &JobRow,
    failure: algoagent_llm::LlmFailure,
) -> JobError {
    if !failure.calls.is_empty() {
        let recorded = async {
            let mut tx = ctx.pool.begin().await?;
            algoagent_store::memory::record_llm_calls(&mut tx, row.run_id, row.id, &failure.calls).await?;
            tx.commit().await?;
            Ok::<(), anyhow::Error>(())
        }
        .await;
        if let Err(err) = recorded {
            tracing::warn!(error = format!("{err:#}"), "could not account failed LLM calls");
        }
    }
    if let algoagent_llm::LlmError::InvalidOutput { last_raw, error } = &failure.error {
        let raw: String = last_raw.chars().take(4000).collect();
        return JobError::Permanent(format!(
            "the model's output stayed invalid ({error}); last output: {raw}"
        ));
    }
    failure.into_job_error()
}

/// A provider's code as it is committed: formatted as Black would, so every stored version
/// reads the same whoever wrote it. Code the formatter cannot read (a syntax error the
/// validator will name, code over its limits) is kept as given.
async fn formatted(code: String) -> Result<String, JobError> {
    let (code, result) = tokio::task::spawn_blocking(move || {
        let result = algoagent_format::format_python(&code);
        (code, result)
    })
    .await
    .map_err(JobError::transient)?;
    Ok(result.unwrap_or_else(|err| {
        tracing::debug!(error = %err, "the provider's code is kept unformatted");
        code
    }))
}
