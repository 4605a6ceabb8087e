//! Code providers: the builtin rule compiler and any OpenAI-compatible endpoint, behind
//! [`CodeProvider`]. Prompts live in `prompts/` at the repository root; answers are asked
//! for as JSON `{code, entrypoint, dependencies, notes}` and read tolerantly; every HTTP
//! request is accounted ([`LlmCall`]) and classified for the job consumer
//! ([`LlmError::into_job_error`]).
//!
//! Environment (see [`LlmSettings::from_lookup`]): `OPENAI_BASE_URL`, `OPENAI_API_KEY` or
//! `OPENAI_API_KEY_FILE`, `LLM_MODEL`, `LLM_JSON_SCHEMA`, `LLM_TIMEOUT_SECS`,
//! `LLM_OUTPUT_RETRIES`, `LLM_MAX_TOKENS`, `LLM_TEMPERATURE`, `LLM_PRICES`, `LLM_RPM`,
//! `LLM_RPM_BURST`, `LLM_TPM`, `LLM_RATE_WAIT_SECS`.

mod builtin;
mod error;
pub mod extract;
mod openai;
pub mod prompts;
mod provider;
mod settings;
mod transport;
mod types;

pub use builtin::{BUILTIN, BuiltinProvider};
pub use error::{LlmError, LlmFailure};
pub use openai::{OPENAI, OpenAiProvider, worst_case_duration};
pub use provider::{CodeProvider, Provider};
pub use settings::{LlmSettings, PriceTable};
pub use transport::parse_retry_after;
pub use types::{FixRequest, GenerateRequest, LlmOutput};
