//! fix: a version failed its validation or its backtest; ask the model for a corrected
//! version, quoting the failure and the most similar past failures with the fixes that
//! passed. The new version goes back through validate and test.

use algoagent_core::{JobError, VersionId};
use algoagent_jobs::db::jobs::JobRow;
use algoagent_llm::{CodeProvider, FixRequest};
use algoagent_store::versions::NewVersion;

use super::{formatted, load_run, load_version, provider_for, record_failed_calls, spec_of};
use crate::commit::Effect;
use crate::context::WorkerContext;

/// Past failures quoted in a fix prompt.
const SIMILAR: i64 = 3;

/// Repairs one failed version.
pub async fn handle(ctx: &WorkerContext, row: &JobRow, version_id: VersionId) -> Result<Effect, JobError> {
    let version = load_version(ctx, version_id).await?;
    let run = load_run(ctx, row).await?;
    let spec = spec_of(&run)?;
    let provider = provider_for(ctx, &run)?;
    let failure = version
        .failure
        .clone()
        .ok_or_else(|| JobError::Poison(format!("version {version_id} has no recorded failure")))?;
    let similar =
        algoagent_store::memory::similar(&ctx.pool, &failure, SIMILAR).await.map_err(JobError::transient)?;
    let request = FixRequest {
        spec,
        code: version.code,
        entrypoint: version.entrypoint,
        failure,
        similar,
        attempt: u32::try_from(run.fix_attempts).unwrap_or(1).max(1),
    };
    match provider.fix(&request).await {
        Ok(out) => Ok(Effect::Generated {
            version: NewVersion {
                strategy_id: run.strategy_id,
                run_id: run.id,
                origin: "fixed",
                code: formatted(out.code).await?,
                entrypoint: out.entrypoint,
                provider: provider.name().to_owned(),
                model: provider.model().map(str::to_owned),
                parent_id: Some(version_id),
            },
            calls: out.calls,
        }),
        Err(failure) => Err(record_failed_calls(ctx, row, failure).await),
    }
}
