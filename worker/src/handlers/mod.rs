//! One module per job kind. A handler reads what it needs from Postgres, does its work, and
//! returns an [`Effect`] for the commit step, or a classified [`JobError`].

mod generate;
mod merge;
mod test;
mod validate;

use shared::db::jobs::JobRow;
use shared::db::runs::RunRow;
use shared::db::versions::VersionRow;
use shared::job::{JobError, JobPayload, VersionId};
use shared::spec::StrategySpec;
use tokio_util::sync::CancellationToken;

use crate::commit::Effect;
use crate::context::WorkerContext;

/// Runs the handler of the job's kind.
pub async fn run(
    ctx: &WorkerContext,
    row: &JobRow,
    payload: &shared::job::JobPayload,
    cancel: &CancellationToken,
) -> Result<Effect, JobError> {
    match payload {
        JobPayload::GenerateV1 {} => generate::handle(ctx, row).await,
        JobPayload::ValidateV1 { version_id } => validate::handle(ctx, *version_id).await,
        JobPayload::TestV1 { version_id } => test::handle(ctx, row, *version_id, cancel).await,
        JobPayload::MergeV1 { version_id } => merge::handle(ctx, row, *version_id).await,
        JobPayload::FixV1 { .. } => Err(JobError::Permanent(
            "fix jobs need an LLM provider; none is configured for this deployment".into(),
        )),
    }
}

/// Loads the job's run; a missing run means the message is poison.
async fn load_run(ctx: &WorkerContext, row: &JobRow) -> Result<RunRow, JobError> {
    shared::db::runs::get(&ctx.pool, row.run_id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| JobError::Poison(format!("run {} does not exist", row.run_id)))
}

/// Loads a version; a missing version means the message is poison.
async fn load_version(ctx: &WorkerContext, id: VersionId) -> Result<VersionRow, JobError> {
    shared::db::versions::get(&ctx.pool, id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| JobError::Poison(format!("version {id} does not exist")))
}

/// The run's spec, as validated at submission.
fn spec_of(run: &RunRow) -> Result<StrategySpec, JobError> {
    StrategySpec::from_value(&run.spec)
        .map_err(|e| JobError::Permanent(format!("stored spec is no longer valid: {e}")))
}

/// Database errors inside a handler are worth a retry.
fn db_error(err: shared::db::DbError) -> JobError {
    JobError::transient(err)
}
