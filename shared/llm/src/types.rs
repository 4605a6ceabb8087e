//! What goes into a code provider and what comes out of it.

use algoagent_core::LlmCall;
use serde::{Deserialize, Serialize};

use algoagent_core::RunId;
use algoagent_spec::StrategySpec;
use algoagent_store::memory::Similar;

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
    /// Past failures like this one and their fixes (from [`algoagent_store::memory::similar`]); the
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
