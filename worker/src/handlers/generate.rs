//! generate: spec -> Python code, through the configured provider (the deterministic rule
//! compiler by default, or an OpenAI-compatible model). Every model request is accounted,
//! including those of a failed attempt.

use algoagent_core::JobError;
use algoagent_jobs::db::jobs::JobRow;
use algoagent_llm::{CodeProvider, GenerateRequest};
use algoagent_store::versions::NewVersion;

use super::{formatted, load_run, provider_for, record_failed_calls, spec_of};
use crate::commit::Effect;
use crate::context::WorkerContext;

/// Generates the first version of the run's strategy.
pub async fn handle(ctx: &WorkerContext, row: &JobRow) -> Result<Effect, JobError> {
    let run = load_run(ctx, row).await?;
    let spec = spec_of(&run)?;
    let provider = provider_for(ctx, &run)?;
    let answer = provider.generate(&GenerateRequest { spec, run_id: run.id }).await;
    match answer {
        Ok(out) => Ok(Effect::Generated {
            version: NewVersion {
                strategy_id: run.strategy_id,
                run_id: run.id,
                origin: "generated",
                code: formatted(out.code).await?,
                entrypoint: out.entrypoint,
                provider: provider.name().to_owned(),
                model: provider.model().map(str::to_owned),
                parent_id: None,
            },
            calls: out.calls,
        }),
        Err(failure) => Err(record_failed_calls(ctx, row, failure).await),
    }
}
