//! The `builtin` provider: the deterministic rule compiler of [`algoagent_spec::codegen`]. No network,
//! no key, no accounting rows; it cannot repair code.

use super::{FixRequest, GenerateRequest, LlmError, LlmFailure, LlmOutput};

/// Name of this provider in versions and status output.
pub const BUILTIN: &str = "builtin";

/// The rule compiler as a provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinProvider;

impl BuiltinProvider {
    /// Compiles the spec's rules into a strategy module.
    pub fn generate(&self, req: &GenerateRequest) -> Result<LlmOutput, LlmFailure> {
        let generated = algoagent_spec::codegen::generate(&req.spec)?;
        Ok(LlmOutput {
            code: generated.code,
            entrypoint: generated.entrypoint,
            dependencies: Vec::new(),
            notes: "Compiled by the builtin rule compiler.".into(),
            calls: Vec::new(),
        })
    }

    /// Always [`LlmError::Unsupported`]: a rule compiler has nothing to repair with.
    pub fn fix(&self, _req: &FixRequest) -> Result<LlmOutput, LlmFailure> {
        Err(LlmError::Unsupported.into())
    }
}
