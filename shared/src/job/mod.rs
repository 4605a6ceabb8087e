//! Jobs: identifiers, the messages that carry them, the run state machine and the failure
//! classes that decide retries.

mod envelope;
mod failure;
mod ids;
mod state;

pub use envelope::{
    DecodeError, ENVELOPE_VERSION, JobEnvelope, JobEvent, JobKind, JobOutcome, JobPayload, JobResult,
};
pub use failure::{JobError, RETRY_TIERS, retry_tier, tier_name};
pub use ids::{JobId, RunId, StrategyId, VersionId};
pub use state::{JobStatus, RunStatus};
