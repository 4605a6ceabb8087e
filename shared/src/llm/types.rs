//! What goes into a code provider and what comes out of it.

use serde::{Deserialize, Serialize};

use crate::job::RunId;
use crate::memory::Similar;
use crate::spec::StrategySpec;

/// Asks for a first version of a strategy.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// The validated spec; with an LLM provider the whole spec (description included) is
    /// sent to the model.
    pub spec: StrategySpec,
    /// The run this generation belongs to (tracing and accounting).
    pub run_id: RunId,
}

/// Asks for a corrected version of code that failed validation or its backtest.
#[derive(Debug, Clone)]
pub struct FixRequest {
    /// The spec the code must implement.
    pub spec: StrategySpec,
    /// The code that failed.
    pub code: String,
    /// Its strategy class.
    pub entrypoint: String,
    /// Why it failed: validator findings or the backtest traceback, as text.
    pub failure: String,
    /// Past failures like this one and their fixes (from [`crate::memory::similar`]); the
    /// prompt shows at most three, best first.
    pub similar: Vec<Similar>,
    /// Which fix attempt this is (1 for the first fix of a run).
    pub attempt: u32,
}

/// A provider's answer: a strategy module plus the accounting of every request it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmOutput {
    /// The complete Python module.
    pub code: String,
    /// Name of the `backtesting.Strategy` subclass in `code`.
    pub entrypoint: String,
    /// Extra packages the model says the code needs (informational: the sandbox image is
    /// fixed, and the validator's import allowlist decides).
    pub dependencies: Vec<String>,
    /// The model's remarks about its code.
    pub notes: String,
    /// One entry per HTTP request made (empty for the builtin provider).
    pub calls: Vec<LlmCall>,
}

/// Accounting of one HTTP request to a model, stored in `llm_calls`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmCall {
    /// Provider name (`openai`).
    pub provider: String,
    /// Model asked.
    pub model: String,
    /// Prompt tokens as reported by the endpoint (0 when it failed).
    pub prompt_tokens: u32,
    /// Completion tokens as reported by the endpoint (0 when it failed).
    pub completion_tokens: u32,
    /// Cost from the configured price table.
    pub cost_usd: f64,
    /// Wall-clock time of the request.
    pub latency_ms: u64,
    /// `ok`, `invalid_output`, `refused`, `http_429`, `http_4xx`, `http_5xx`, `timeout`,
    /// `connection` or `error`.
    pub outcome: String,
}
