//! The provider abstraction. [`CodeProvider`] is the contract (async methods returning
//! `Send` futures, so handlers can be spawned); [`Provider`] is the one implementation the
//! binaries hold: an enum over the two providers, which dispatches statically (no boxing,
//! no `dyn`, and the trait need not be object-safe).

use std::future::Future;

use super::builtin::{BUILTIN, BuiltinProvider};
use super::openai::{OPENAI, OpenAiProvider};
use super::{FixRequest, GenerateRequest, LlmFailure, LlmOutput, LlmSettings};
use algoagent_cache::RateLimiter;
use algoagent_core::LlmProvider;

/// Something that turns specs into strategy code and repairs code that failed.
///
/// Errors carry the requests made before giving up ([`LlmFailure::calls`]), so failed
/// attempts are accounted too; on success they are in [`LlmOutput::calls`].
pub trait CodeProvider: Send + Sync {
    /// `builtin` or `openai` (stored with each version and each call).
    fn name(&self) -> &str;
    /// The model, for LLM providers.
    fn model(&self) -> Option<&str>;
    /// A first version of `req.spec`.
    fn generate(&self, req: &GenerateRequest) -> impl Future<Output = Result<LlmOutput, LlmFailure>> + Send;
    /// A corrected version of `req.code`.
    fn fix(&self, req: &FixRequest) -> impl Future<Output = Result<LlmOutput, LlmFailure>> + Send;
}

impl CodeProvider for BuiltinProvider {
    fn name(&self) -> &str {
        BUILTIN
    }
    fn model(&self) -> Option<&str> {
        None
    }
    async fn generate(&self, req: &GenerateRequest) -> Result<LlmOutput, LlmFailure> {
        tracing::info_span!("rules.generate", provider = BUILTIN)
            .in_scope(|| BuiltinProvider::generate(self, req))
    }
    async fn fix(&self, req: &FixRequest) -> Result<LlmOutput, LlmFailure> {
        tracing::info_span!("rules.fix", provider = BUILTIN, attempt = req.attempt)
            .in_scope(|| BuiltinProvider::fix(self, req))
    }
}

impl CodeProvider for OpenAiProvider {
    fn name(&self) -> &str {
        OPENAI
    }
    fn model(&self) -> Option<&str> {
        Some(OpenAiProvider::model(self))
    }
    async fn generate(&self, req: &GenerateRequest) -> Result<LlmOutput, LlmFailure> {
        OpenAiProvider::generate(self, req).await
    }
    async fn fix(&self, req: &FixRequest) -> Result<LlmOutput, LlmFailure> {
        OpenAiProvider::fix(self, req).await
    }
}

/// The configured provider.
pub enum Provider {
    /// The rule compiler.
    Builtin(BuiltinProvider),
    /// An OpenAI-compatible endpoint (boxed: it is large and the builtin one is empty).
    OpenAi(Box<OpenAiProvider>),
}

impl Provider {
    /// The provider `kind` (`LLM_PROVIDER`), with `settings` for the `openai` one.
    pub fn new(kind: LlmProvider, settings: &LlmSettings) -> Self {
        match kind {
            LlmProvider::Builtin => Self::Builtin(BuiltinProvider),
            LlmProvider::OpenAi => Self::OpenAi(Box::new(OpenAiProvider::new(settings.clone()))),
        }
    }

    /// Shares `limiter`'s budgets (`LLM_RPM`, `LLM_TPM`) with every other worker; no effect
    /// on the builtin provider.
    pub fn with_rate_limiter(self, limiter: RateLimiter) -> Self {
        match self {
            Self::OpenAi(p) => Self::OpenAi(Box::new(p.with_rate_limiter(limiter))),
            other => other,
        }
    }
}

impl CodeProvider for Provider {
    fn name(&self) -> &str {
        match self {
            Self::Builtin(p) => CodeProvider::name(p),
            Self::OpenAi(p) => CodeProvider::name(p.as_ref()),
        }
    }
    fn model(&self) -> Option<&str> {
        match self {
            Self::Builtin(p) => CodeProvider::model(p),
            Self::OpenAi(p) => CodeProvider::model(p.as_ref()),
        }
    }
    async fn generate(&self, req: &GenerateRequest) -> Result<LlmOutput, LlmFailure> {
        match self {
            Self::Builtin(p) => CodeProvider::generate(p, req).await,
            Self::OpenAi(p) => p.generate(req).await,
        }
    }
    async fn fix(&self, req: &FixRequest) -> Result<LlmOutput, LlmFailure> {
        match self {
            Self::Builtin(p) => CodeProvider::fix(p, req).await,
            Self::OpenAi(p) => p.fix(req).await,
        }
    }
}
