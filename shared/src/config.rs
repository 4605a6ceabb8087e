//! Typed settings read once from the environment (12-factor), with defaults that work on a
//! developer machine. Every process builds a [`Settings`] at start-up; a bad value stops the
//! process with a message naming the variable, instead of failing later in a handler.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::collections::BTreeMap;

use secrecy::SecretString;

use crate::job::JobKind;

use crate::sandbox::SandboxSettings;

/// A setting that could not be read; names the variable so the operator can fix it.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// Why its value was refused.
    pub reason: String,
}

/// The namespace prefixing every queue, exchange and Redis key, so several deployments
/// (and parallel tests) can share one broker and one Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace(String);

impl Namespace {
    /// Accepts `[a-z][a-z0-9_-]{0,39}`: safe in AMQP names and Redis keys alike.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut chars = raw.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if first_ok && rest_ok && raw.len() <= 40 {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!("'{raw}' must match [a-z][a-z0-9_-]{{0,39}}"))
        }
    }

    /// The namespace itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

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

/// Which generator turns specs into code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmProvider {
    /// The deterministic rule compiler: no API key needed.
    Builtin,
    /// Any OpenAI-compatible endpoint.
    OpenAi,
}

impl LlmProvider {
    /// The name stored with each version and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Builtin => "builtin",
            Self::OpenAi => "openai",
        }
    }
}

/// Everything a coordinator, worker or CLI process needs to know about its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Postgres connection string (may hold a password, hence secret).
    pub database_url: SecretString,
    /// RabbitMQ connection string (may hold a password, hence secret).
    pub amqp_url: SecretString,
    /// Redis connection string (may hold a password, hence secret).
    pub redis_url: SecretString,
    /// Prefix of queues, exchanges and Redis keys.
    pub namespace: Namespace,
    /// Path or URL of the strategies git repository.
    pub strategy_repo: String,
    /// Where local caches (git mirrors) live.
    pub cache_dir: PathBuf,
    /// Code generator used for new runs.
    pub llm_provider: LlmProvider,
    /// Docker sandbox limits and image.
    pub sandbox: SandboxSettings,
    /// Coordinator HTTP listen address.
    pub api_addr: SocketAddr,
    /// Where the CLI finds the coordinator.
    pub api_url: String,
    /// How long a worker may hold a job before the reaper hands it to another worker.
    pub lease_ttl: Duration,
    /// How long SIGTERM waits for in-flight jobs before requeueing them.
    pub drain_timeout: Duration,
    /// Jobs a worker runs at once (also the AMQP prefetch).
    pub worker_concurrency: usize,
    /// Largest accepted HTTP request body.
    pub max_body_bytes: usize,
    /// Fix attempts per run before it fails (spec may lower it).
    pub max_fix_attempts: u32,
    /// Per-kind attempt limits overriding [`JobKind::max_attempts`].
    pub max_attempts: BTreeMap<JobKind, i32>,
    /// The OpenAI-compatible endpoint, model, key, prices and shared budgets.
    pub llm: crate::llm::LlmSettings,
    /// Submissions per minute allowed per API key (`X-API-Key`; one budget for requests
    /// without a key); 0 means unlimited.
    pub submit_rpm: u32,
    /// Submissions an API key may send at once before the rate applies.
    pub submit_burst: u32,
    /// How API keys are enforced.
    pub api_auth: ApiAuth,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads settings through `lookup`, so tests can supply their own environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &'static str, default: &str| lookup(var).unwrap_or_else(|| default.to_owned());
        let namespace = Namespace::parse(&get("ALGOAGENT_NAMESPACE", "algoagent"))
            .map_err(|reason| ConfigError { var: "ALGOAGENT_NAMESPACE", reason })?;
        let llm_provider = match get("LLM_PROVIDER", "builtin").as_str() {
            "builtin" => LlmProvider::Builtin,
            "openai" => LlmProvider::OpenAi,
            other => {
                return Err(ConfigError {
                    var: "LLM_PROVIDER",
                    reason: format!("'{other}' is not one of builtin, openai"),
                });
            }
        };
        let api_auth = match get("API_AUTH", "auto").as_str() {
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
        let api_addr_raw = get("API_ADDR", "127.0.0.1:8000");
        let api_addr: SocketAddr = api_addr_raw.parse().map_err(|e| ConfigError {
            var: "API_ADDR",
            reason: format!("'{api_addr_raw}' is not host:port ({e})"),
        })?;
        let api_url = get("ALGOAGENT_API_URL", &format!("http://{api_addr}"));
        let sandbox = SandboxSettings {
            image: get("SANDBOX_IMAGE", "algoagent-sandbox:latest"),
            runtime: lookup("SANDBOX_RUNTIME").filter(|r| !r.is_empty()),
            memory_bytes: parse_num(&lookup, "SANDBOX_MEMORY_MB", 512, 64, 16_384)? * 1024 * 1024,
            nano_cpus: parse_num(&lookup, "SANDBOX_CPU_MILLIS", 1000, 100, 64_000)? * 1_000_000,
            pids_limit: parse_num(&lookup, "SANDBOX_PIDS", 128, 16, 4096)?,
            timeout: Duration::from_secs(
                parse_num(&lookup, "SANDBOX_TIMEOUT_SECS", 120, 1, 3600)?.unsigned_abs(),
            ),
            datasets_dir: lookup("DATASETS_DIR").filter(|d| !d.is_empty()).map(PathBuf::from),
            warm_pool: usize::try_from(parse_num(&lookup, "SANDBOX_WARM_POOL", 2, 0, 32)?).unwrap_or(2),
            ..SandboxSettings::default()
        };
        Ok(Self {
            database_url: secret_var(
                &lookup,
                ("DATABASE_URL", "DATABASE_URL_FILE"),
                "postgres://postgres@127.0.0.1:5432/algoagent",
            )?
            .into(),
            amqp_url: secret_var(
                &lookup,
                ("AMQP_URL", "AMQP_URL_FILE"),
                "amqp://guest:guest@127.0.0.1:5672/%2f",
            )?
            .into(),
            redis_url: secret_var(&lookup, ("REDIS_URL", "REDIS_URL_FILE"), "redis://127.0.0.1:6379/")?
                .into(),
            namespace,
            strategy_repo: get("STRATEGY_REPO", "var/strategies.git"),
            cache_dir: PathBuf::from(get("ALGOAGENT_CACHE_DIR", "var/cache")),
            llm_provider,
            sandbox,
            api_addr,
            api_url,
            lease_ttl: Duration::from_secs(
                parse_num(&lookup, "ALGOAGENT_LEASE_SECS", 60, 2, 86_400)?.unsigned_abs(),
            ),
            drain_timeout: Duration::from_secs(
                parse_num(&lookup, "ALGOAGENT_DRAIN_SECS", 30, 0, 3600)?.unsigned_abs(),
            ),
            worker_concurrency: usize::try_from(parse_num(&lookup, "WORKER_CONCURRENCY", 4, 1, 256)?)
                .unwrap_or(4),
            max_body_bytes: usize::try_from(parse_num(
                &lookup,
                "API_MAX_BODY_BYTES",
                1 << 20,
                1024,
                64 << 20,
            )?)
            .unwrap_or(1 << 20),
            max_fix_attempts: u32::try_from(parse_num(&lookup, "MAX_FIX_ATTEMPTS", 3, 0, 10)?).unwrap_or(3),
            max_attempts: parse_attempts(lookup("ALGOAGENT_MAX_ATTEMPTS").as_deref().unwrap_or(""))?,
            llm: crate::llm::LlmSettings::from_lookup(&lookup)?,
            submit_rpm: u32::try_from(parse_num(&lookup, "SUBMIT_RPM", 0, 0, 1_000_000)?).unwrap_or(0),
            submit_burst: u32::try_from(parse_num(&lookup, "SUBMIT_BURST", 10, 1, 100_000)?).unwrap_or(10),
            api_auth,
        })
    }

    /// Attempts a job of `kind` gets before it is dead-lettered.
    pub fn attempts_for(&self, kind: JobKind) -> i32 {
        self.max_attempts.get(&kind).copied().unwrap_or_else(|| kind.max_attempts())
    }
}

/// A value that may carry a password: from `VAR`, or from the file named by `VAR_FILE`
/// (Docker and Kubernetes secrets; surrounding whitespace trimmed), not both; `default` when
/// neither is set.
fn secret_var(
    lookup: &impl Fn(&str) -> Option<String>,
    (var, file_var): (&'static str, &'static str),
    default: &str,
) -> Result<String, ConfigError> {
    match (lookup(var), lookup(file_var)) {
        (Some(_), Some(_)) => {
            Err(ConfigError { var: file_var, reason: format!("set either {var} or {file_var}") })
        }
        (Some(value), None) => Ok(value),
        (None, Some(path)) => {
            let value = std::fs::read_to_string(&path)
                .map_err(|e| ConfigError { var: file_var, reason: format!("cannot read '{path}': {e}") })?
                .trim()
                .to_owned();
            if value.is_empty() {
                return Err(ConfigError { var: file_var, reason: format!("'{path}' is empty") });
            }
            Ok(value)
        }
        (None, None) => Ok(default.to_owned()),
    }
}

/// Parses `test=2,generate=3` (kinds not named keep their default).
fn parse_attempts(raw: &str) -> Result<BTreeMap<JobKind, i32>, ConfigError> {
    let var = "ALGOAGENT_MAX_ATTEMPTS";
    let mut out = BTreeMap::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (kind, n) = part
            .split_once('=')
            .ok_or_else(|| ConfigError { var, reason: format!("'{part}' is not kind=N") })?;
        let kind: JobKind = kind.trim().parse().map_err(|reason| ConfigError { var, reason })?;
        let n: i32 = n
            .trim()
            .parse()
            .map_err(|_| ConfigError { var, reason: format!("'{n}' is not a whole number") })?;
        if !(1..=100).contains(&n) {
            return Err(ConfigError { var, reason: format!("{n} is outside 1..=100") });
        }
        out.insert(kind, n);
    }
    Ok(out)
}

/// Parses an integer variable within `[min, max]`, or returns `default` when unset.
fn parse_num(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    let Some(raw) = lookup(var) else { return Ok(default) };
    let value: i64 = raw
        .trim()
        .parse()
        .map_err(|_| ConfigError { var, reason: format!("'{raw}' is not a whole number") })?;
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError { var, reason: format!("{value} is outside {min}..={max}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::from_lookup(|k| env.get(k).cloned())
    }

    #[test]
    fn defaults_work_without_any_variable() {
        let s = settings(&[]).expect("defaults");
        assert_eq!(s.namespace.as_str(), "algoagent");
        assert_eq!(s.llm_provider, LlmProvider::Builtin);
        assert_eq!(s.api_addr.port(), 8000);
        assert_eq!(s.api_auth, ApiAuth::Auto);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = settings(&[("SANDBOX_MEMORY_MB", "lots")]).expect_err("refused");
        assert_eq!(err.var, "SANDBOX_MEMORY_MB");
        let err = settings(&[("ALGOAGENT_NAMESPACE", "../x")]).expect_err("refused");
        assert_eq!(err.var, "ALGOAGENT_NAMESPACE");
        let err = settings(&[("WORKER_CONCURRENCY", "0")]).expect_err("refused");
        assert!(err.to_string().contains("outside"), "{err}");
        let err = settings(&[("ALGOAGENT_MAX_ATTEMPTS", "explode=2")]).expect_err("refused");
        assert_eq!(err.var, "ALGOAGENT_MAX_ATTEMPTS");
        let err = settings(&[("API_AUTH", "yes")]).expect_err("refused");
        assert_eq!(err.var, "API_AUTH");
        assert_eq!(settings(&[("API_AUTH", "required")]).expect("valid").api_auth, ApiAuth::Required);
    }

    #[test]
    fn attempt_limits_can_be_set_per_kind() {
        let s = settings(&[("ALGOAGENT_MAX_ATTEMPTS", "test=2, merge=7")]).expect("valid");
        assert_eq!(s.attempts_for(JobKind::Test), 2);
        assert_eq!(s.attempts_for(JobKind::Merge), 7);
        assert_eq!(s.attempts_for(JobKind::Generate), JobKind::Generate.max_attempts());
    }

    #[test]
    fn connection_urls_can_come_from_secret_files() {
        use secrecy::ExposeSecret;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = |name: &str, body: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, body).expect("write");
            path.to_string_lossy().into_owned()
        };
        let db = file("db", "postgres://app:s3cret@db:5432/algoagent\n");
        let amqp = file("amqp", "amqp://app:s3cret@mq:5672/%2f");
        let redis = file("redis", "  redis://:s3cret@cache:6379/ \n");
        let s = settings(&[("DATABASE_URL_FILE", &db), ("AMQP_URL_FILE", &amqp), ("REDIS_URL_FILE", &redis)])
            .expect("valid");
        assert_eq!(s.database_url.expose_secret(), "postgres://app:s3cret@db:5432/algoagent");
        assert_eq!(s.amqp_url.expose_secret(), "amqp://app:s3cret@mq:5672/%2f");
        assert_eq!(s.redis_url.expose_secret(), "redis://:s3cret@cache:6379/");

        let err =
            settings(&[("DATABASE_URL", "postgres://x"), ("DATABASE_URL_FILE", &db)]).expect_err("both");
        assert_eq!(err.var, "DATABASE_URL_FILE");
        let missing = dir.path().join("absent").to_string_lossy().into_owned();
        let err = settings(&[("AMQP_URL_FILE", &missing)]).expect_err("unreadable");
        assert_eq!(err.var, "AMQP_URL_FILE");
        let empty = file("empty", "\n");
        let err = settings(&[("REDIS_URL_FILE", &empty)]).expect_err("empty");
        assert_eq!(err.var, "REDIS_URL_FILE");
    }
}
