//! Typed settings read once from the environment (12-factor), with defaults that work on a
//! developer machine: the part every long-running process shares, and the helpers each
//! binary's own settings are read with. A bad value stops the process at start-up with a
//! message naming the variable, instead of failing later in a handler.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use algoagent_core::{JobKind, LlmProvider, Namespace};
use secrecy::SecretString;

/// A setting that could not be read; names the variable so the operator can fix it.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// Why its value was refused.
    pub reason: String,
}

/// What the coordinator and every worker need alike: where the services are, the namespace,
/// the strategies repository and the job engine's timing and attempt limits.
#[derive(Debug, Clone)]
pub struct Common {
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
    /// How long a worker may hold a job before the reaper hands it to another worker.
    pub lease_ttl: Duration,
    /// How long SIGTERM waits for in-flight jobs before requeueing them.
    pub drain_timeout: Duration,
    /// Fix attempts per run before it fails (spec may lower it).
    pub max_fix_attempts: u32,
    /// Per-kind attempt limits overriding [`JobKind::max_attempts`].
    pub max_attempts: BTreeMap<JobKind, i32>,
}

impl Common {
    /// Reads the shared settings through `lookup` (the process environment, or a test's).
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
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
        Ok(Self {
            database_url: secret_var(
                lookup,
                ("DATABASE_URL", "DATABASE_URL_FILE"),
                "postgres://postgres@127.0.0.1:5432/algoagent",
            )?
            .into(),
            amqp_url: secret_var(
                lookup,
                ("AMQP_URL", "AMQP_URL_FILE"),
                "amqp://guest:guest@127.0.0.1:5672/%2f",
            )?
            .into(),
            redis_url: secret_var(lookup, ("REDIS_URL", "REDIS_URL_FILE"), "redis://127.0.0.1:6379/")?.into(),
            namespace,
            strategy_repo: get("STRATEGY_REPO", "var/strategies.git"),
            cache_dir: PathBuf::from(get("ALGOAGENT_CACHE_DIR", "var/cache")),
            llm_provider,
            lease_ttl: Duration::from_secs(
                number(lookup, "ALGOAGENT_LEASE_SECS", 60, 2, 86_400)?.unsigned_abs(),
            ),
            drain_timeout: Duration::from_secs(
                number(lookup, "ALGOAGENT_DRAIN_SECS", 30, 0, 3600)?.unsigned_abs(),
            ),
            max_fix_attempts: u32::try_from(number(lookup, "MAX_FIX_ATTEMPTS", 3, 0, 10)?).unwrap_or(3),
            max_attempts: parse_attempts(lookup("ALGOAGENT_MAX_ATTEMPTS").as_deref().unwrap_or(""))?,
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
pub fn number(
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

/// A test's environment: the pairs given and nothing else.
#[cfg(test)]
pub(crate) fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let env: std::collections::HashMap<String, String> =
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |k| env.get(k).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common(pairs: &[(&str, &str)]) -> Result<Common, ConfigError> {
        Common::from_lookup(&env_of(pairs))
    }

    #[test]
    fn defaults_work_without_any_variable() {
        let s = common(&[]).expect("defaults");
        assert_eq!(s.namespace.as_str(), "algoagent");
        assert_eq!(s.llm_provider, LlmProvider::Builtin);
        assert_eq!(s.lease_ttl, Duration::from_secs(60));
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = common(&[("ALGOAGENT_NAMESPACE", "../x")]).expect_err("refused");
        assert_eq!(err.var, "ALGOAGENT_NAMESPACE");
        let err = common(&[("ALGOAGENT_LEASE_SECS", "1")]).expect_err("refused");
        assert!(err.to_string().contains("outside"), "{err}");
        let err = common(&[("ALGOAGENT_MAX_ATTEMPTS", "explode=2")]).expect_err("refused");
        assert_eq!(err.var, "ALGOAGENT_MAX_ATTEMPTS");
        let err = common(&[("LLM_PROVIDER", "magic")]).expect_err("refused");
        assert_eq!(err.var, "LLM_PROVIDER");
    }

    #[test]
    fn attempt_limits_can_be_set_per_kind() {
        let s = common(&[("ALGOAGENT_MAX_ATTEMPTS", "test=2, merge=7")]).expect("valid");
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
        let s = common(&[("DATABASE_URL_FILE", &db), ("AMQP_URL_FILE", &amqp), ("REDIS_URL_FILE", &redis)])
            .expect("valid");
        assert_eq!(s.database_url.expose_secret(), "postgres://app:s3cret@db:5432/algoagent");
        assert_eq!(s.amqp_url.expose_secret(), "amqp://app:s3cret@mq:5672/%2f");
        assert_eq!(s.redis_url.expose_secret(), "redis://:s3cret@cache:6379/");

        let err = common(&[("DATABASE_URL", "postgres://x"), ("DATABASE_URL_FILE", &db)]).expect_err("both");
        assert_eq!(err.var, "DATABASE_URL_FILE");
        let missing = dir.path().join("absent").to_string_lossy().into_owned();
        let err = common(&[("AMQP_URL_FILE", &missing)]).expect_err("unreadable");
        assert_eq!(err.var, "AMQP_URL_FILE");
        let empty = file("empty", "\n");
        let err = common(&[("REDIS_URL_FILE", &empty)]).expect_err("empty");
        assert_eq!(err.var, "REDIS_URL_FILE");
    }
}
