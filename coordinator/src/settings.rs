//! The coordinator's settings: the shared part (services, namespace, engine limits) and the
//! HTTP API's own (listen address, body limit, submission budget, key enforcement).

use std::net::SocketAddr;

use algoagent_runtime::settings::{Common, ConfigError, number};
use algoagent_sandbox::SandboxSettings;

/// How the HTTP API checks `X-API-Key` (`API_AUTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiAuth {
    /// Keys are required once any key exists; until then (a fresh developer machine) the API
    /// is open and says so at start-up.
    Auto,
    /// Every non-public route needs a key, even before one exists.
    Required,
    /// No checks (a trusted network in front); keys are ignored.
    Off,
}

/// Everything the coordinator reads from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Services, namespace, repository and engine limits shared with the workers.
    pub common: Common,
    /// HTTP listen address (`API_ADDR`).
    pub api_addr: SocketAddr,
    /// Largest accepted HTTP request body (`API_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Submissions per minute allowed per API key (`X-API-Key`; one budget for requests
    /// without a key); 0 means unlimited (`SUBMIT_RPM`).
    pub submit_rpm: u32,
    /// Submissions an API key may send at once before the rate applies (`SUBMIT_BURST`).
    pub submit_burst: u32,
    /// How API keys are enforced (`API_AUTH`).
    pub api_auth: ApiAuth,
    /// The sandbox image and limits (`SANDBOX_*`), so health checks ask the Docker engine
    /// about the image the workers run.
    pub sandbox: SandboxSettings,
    /// How long past a standalone sandbox job's own timeout the API waits for it before
    /// answering 202 with a status URL (`SANDBOX_SYNC_GRACE_SECS`, default 15, 0 to 300):
    /// the queue wait and the container's start.
    pub sandbox_sync_grace: std::time::Duration,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|key: &str| std::env::var(key).ok())
    }

    /// Reads settings through `lookup`, so tests can supply their own environment.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let api_auth = match lookup("API_AUTH").as_deref().unwrap_or("auto") {
            "auto" => ApiAuth::Auto,
            "required" => ApiAuth::Required,
            "off" => ApiAuth::Off,
            other => {
                return Err(ConfigError {
                    var: "API_AUTH",
                    reason: format!("'{other}' is not one of auto, required, off"),
                });
            }
        };
        let api_addr_raw = lookup("API_ADDR").unwrap_or_else(|| "127.0.0.1:8000".to_owned());
        let api_addr: SocketAddr = api_addr_raw.parse().map_err(|e| ConfigError {
            var: "API_ADDR",
            reason: format!("'{api_addr_raw}' is not host:port ({e})"),
        })?;
        Ok(Self {
            common: Common::from_lookup(lookup)?,
            api_addr,
            max_body_bytes: usize::try_from(number(lookup, "API_MAX_BODY_BYTES", 1 << 20, 1024, 64 << 20)?)
                .unwrap_or(1 << 20),
            submit_rpm: u32::try_from(number(lookup, "SUBMIT_RPM", 0, 0, 1_000_000)?).unwrap_or(0),
            submit_burst: u32::try_from(number(lookup, "SUBMIT_BURST", 10, 1, 100_000)?).unwrap_or(10),
            api_auth,
            sandbox: SandboxSettings::from_lookup(lookup)?,
            sandbox_sync_grace: std::time::Duration::from_secs(
                number(lookup, "SANDBOX_SYNC_GRACE_SECS", 15, 0, 300)?.unsigned_abs(),
            ),
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
        assert_eq!(s.api_addr.port(), 8000);
        assert_eq!(s.api_auth, ApiAuth::Auto);
        assert_eq!(s.common.namespace.as_str(), "algoagent");
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = settings(&[("API_AUTH", "yes")]).expect_err("refused");
        assert_eq!(err.var, "API_AUTH");
        let err = settings(&[("API_ADDR", "nowhere")]).expect_err("refused");
        assert_eq!(err.var, "API_ADDR");
        let err = settings(&[("API_MAX_BODY_BYTES", "12")]).expect_err("refused");
        assert!(err.to_string().contains("outside"), "{err}");
        assert_eq!(settings(&[("API_AUTH", "required")]).expect("valid").api_auth, ApiAuth::Required);
    }
}
