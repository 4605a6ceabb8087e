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
    // The validator's own span in the job's trace (the closure runs on another thread).
    let span = tracing::info_span!("validate", lines = code.lines().count());
    let (report, took) = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let started = std::time::Instant::now();
        let report = validate(&code, &opts);
        (report, started.elapsed())
    })
    .await
    .map_err(JobError::transient)?;
    metrics::histogram!("algoagent_validator_duration_seconds").record(took.as_secs_f64());
    let refused: std::collections::BTreeSet<&str> = report.errors().map(|f| f.rule.as_str()).collect();
    for rule in refused {
        metrics::counter!("algoagent_validator_refusals_total", "rule" => rule.to_owned()).increment(1);
    }
    Ok(Effect::Validated { version, report })
}
