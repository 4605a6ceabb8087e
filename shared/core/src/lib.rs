//! AlgoAgent's vocabulary, with no I/O: identifiers, the job kinds and the messages that
//! carry them, the run state machine, the failure classes that decide retries, and the
//! deployment words (namespace, generator) every process shares.

mod config;
mod envelope;
mod failure;
mod ids;
mod llm_call;
mod state;

pub use config::{LlmProvider, Namespace};
pub use envelope::{
    DecodeError, ENVELOPE_VERSION, JobEnvelope, JobEvent, JobKind, JobOutcome, JobPayload, JobResult,
    SandboxBacktest, SandboxLimits, SandboxReport, SandboxUsage, SymbolDataset,
};
pub use failure::{JobError, RETRY_TIERS, retry_tier, tier_name};
pub use ids::{JobId, RunId, StrategyId, VersionId};
pub use llm_call::LlmCall;
pub use state::{JobStatus, RunStatus};
