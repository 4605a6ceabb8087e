//! generate: spec -> Python code. The built-in rule compiler is deterministic and needs no
//! API key; other providers arrive with the LLM module.

use shared::db::jobs::JobRow;
use shared::db::versions::NewVersion;
use shared::job::JobError;

use super::{load_run, spec_of};
use crate::commit::Effect;
use crate::context::WorkerContext;

/// Generates the first version of the run's strategy.
pub async fn handle(ctx: &WorkerContext, row: &JobRow) -> Result<Effect, JobError> {
    let run = load_run(ctx, row).await?;
    let spec = spec_of(&run)?;
    if run.provider != "builtin" {
        return Err(JobError::Permanent(format!(
            "provider '{}' is not available in this deployment",
            run.provider
        )));
    }
    let generated =
        shared::codegen::generate(&spec).map_err(|e| JobError::Permanent(format!("rule compiler: {e}")))?;
    Ok(Effect::Generated(NewVersion {
        strategy_id: run.strategy_id,
        run_id: run.id,
        origin: "generated",
        code: generated.code,
        entrypoint: generated.entrypoint,
        provider: run.provider,
        model: None,
    }))
}
