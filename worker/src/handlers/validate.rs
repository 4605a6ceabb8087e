//! validate: safety and structure checks of a version before anything runs it.

use algoagent_core::{JobError, VersionId};
use algoagent_validate::{ValidateOptions, validate};

use super::load_version;
use crate::commit::Effect;
use crate::context::WorkerContext;

/// Validates one version against its run's spec (entrypoint and parameters).
pub async fn handle(ctx: &WorkerContext, version_id: VersionId) -> Result<Effect, JobError> {
    let version = load_version(ctx, version_id).await?;
    let run = algoagent_store::runs::get(&ctx.pool, version.run_id)
        .await
        .map_err(JobError::transient)?
        .ok_or_else(|| JobError::Poison(format!("run {} does not exist", version.run_id)))?;
    let spec = super::spec_of(&run)?;
    let opts = ValidateOptions {
        entrypoint: Some(version.entrypoint.clone()),
        required_params: spec.parameters.keys().cloned().collect(),
        strict: true,
    };
    // CPU-bound parsing stays off the async executor.
    let code = version.code.clone();
    let report =
        tokio::task::spawn_blocking(move || validate(&code, &opts)).await.map_err(JobError::transient)?;
    Ok(Effect::Validated { version, report })
}
