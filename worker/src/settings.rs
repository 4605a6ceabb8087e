//! The worker's settings: the shared part (services, namespace, engine limits) and what only
//! a worker uses (concurrency, the LLM endpoint and budgets, the sandbox's limits).

use algoagent_llm::LlmSettings;
use algoagent_runtime::settings::{Common, ConfigError, number};
use algoagent_sandbox::SandboxSettings;

/// Everything a worker reads from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Services, namespace, repository and engine limits shared with the coordinator.
    pub common: Common,
    /// Jobs a worker runs at once, also the AMQP prefetch (`WORKER_CONCURRENCY`).
    pub worker_concurrency: usize,
    /// The OpenAI-compatible endpoint, model, key, prices and shared budgets (`LLM_*`).
    pub llm: LlmSettings,
    /// Docker sandbox limits and image (`SANDBOX_*`).
    pub sandbox: SandboxSettings,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|key: &str| std::env::var(key).ok())
    }

    /// Reads settings through `lookup`, so tests can supply their own environment.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            common: Common::from_lookup(lookup)?,
            worker_concurrency: usize::try_from(number(lookup, "WORKER_CONCURRENCY", 4, 1, 256)?)
                .unwrap_or(4),
            llm: LlmSettings::from_lookup(lookup)?,
            sandbox: SandboxSettings::from_lookup(lookup)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::from_lookup(&|k: &str| env.get(k).cloned())
    }

    #[test]
    fn defaults_work_without_any_variable() {
        let s = settings(&[]).expect("defaults");
        assert_eq!(s.worker_concurrency, 4);
        assert_eq!(s.sandbox.memory_bytes, 512 * 1024 * 1024);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = settings(&[("SANDBOX_MEMORY_MB", "lots")]).expect_err("refused");
        assert_eq!(err.var, "SANDBOX_MEMORY_MB");
        let err = settings(&[("WORKER_CONCURRENCY", "0")]).expect_err("refused");
        assert!(err.to_string().contains("outside"), "{err}");
    }
}
