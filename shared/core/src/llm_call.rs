//! What one request to a model cost: written by the LLM providers, stored by the failure
//! memory, read by the reports.

use serde::{Deserialize, Serialize};

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
