//! How a provider fails, and what the job consumer should do about it (invariant 4).

use std::time::Duration;

use algoagent_core::JobError;
use algoagent_core::LlmCall;
use algoagent_spec::codegen::CodegenError;

/// Why a provider produced no code.
///
/// `Transient` and `Permanent` print their cause in `Display` rather than exposing it as
/// `source()`, so a chain printed with `{:#}` does not say everything twice. Provider
/// error texts are scrubbed of the API key before they get here, and no variant holds the
/// key, so `Display` and `Debug` are safe to log and store.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The endpoint answered 429 or our shared budget (Redis) is spent: come back later.
    #[error("rate limited{}", retry_after.map(|d| format!(" (retry after {d:?})")).unwrap_or_default())]
    RateLimited {
        /// How long to wait, when known (the `Retry-After` header or the limiter).
        retry_after: Option<Duration>,
    },
    /// A timeout, a 5xx, a lost connection or a garbled response: retry with backoff.
    #[error("transient provider failure: {0:#}")]
    Transient(anyhow::Error),
    /// The endpoint refused the request for good (4xx other than 429: bad key, unknown
    /// model, quota exhausted): retrying will not help.
    #[error("provider refused the request: {0:#}")]
    Permanent(anyhow::Error),
    /// The model kept answering something that is not the requested JSON, even after being
    /// shown the parse error; `last_raw` is its last answer, kept for the run's record.
    #[error("invalid model output: {error}")]
    InvalidOutput {
        /// The last answer, verbatim.
        last_raw: String,
        /// Why it was refused.
        error: String,
    },
    /// The provider cannot do this (the builtin rule compiler cannot repair code).
    #[error("the builtin provider cannot repair code; fixes need an LLM provider")]
    Unsupported,
    /// The builtin compiler could not turn the spec into code.
    #[error("the spec cannot be compiled: {0}")]
    Codegen(#[from] CodegenError),
}

impl LlmError {
    /// The decision for the job consumer: rate limits become `RetryAfter` (or `Transient`
    /// when no delay is known), transient failures `Transient`, everything else
    /// `Permanent` (the run moves on: fix or fail).
    pub fn into_job_error(self) -> JobError {
        match self {
            Self::RateLimited { retry_after: Some(after) } => {
                JobError::RetryAfter { after, source: anyhow::Error::new(self) }
            }
            Self::RateLimited { retry_after: None } => JobError::Transient(anyhow::Error::new(self)),
            Self::Transient(_) => JobError::Transient(anyhow::Error::new(self)),
            other => JobError::Permanent(format!("{other:#}")),
        }
    }

    /// True for failures worth retrying (rate limits and transient failures).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transient(_))
    }
}

/// A failed generation or fix together with the requests it made, so accounting records
/// the calls of failed attempts too (a 429 or an invalid answer still costs).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct LlmFailure {
    /// What went wrong (printed by `Display`, hence not also a `source()`).
    pub error: LlmError,
    /// Every HTTP request made before giving up, in order.
    pub calls: Vec<LlmCall>,
}

impl LlmFailure {
    /// The decision for the job consumer (see [`LlmError::into_job_error`]).
    pub fn into_job_error(self) -> JobError {
        self.error.into_job_error()
    }
}

impl From<LlmError> for LlmFailure {
    fn from(error: LlmError) -> Self {
        Self { error, calls: Vec::new() }
    }
}

impl From<CodegenError> for LlmFailure {
    fn from(error: CodegenError) -> Self {
        LlmError::from(error).into()
    }
}
