//! Failure/fix memory for fix prompts, and LLM call accounting, in Postgres (no extra
//! service). Each failure is stored with a normalised error [`signature`]; a fix that later
//! passed is attached to it; [`similar`] ranks past failures by full-text relevance and
//! trigram similarity of signatures, preferring those that were fixed.

mod calls;
mod signature;
mod store;

pub use calls::{LlmUsage, llm_usage, record_llm_call, record_llm_calls};
pub use signature::signature;
pub use store::{Similar, record_failure, record_fix, similar};
