//! Limits and image of the sandbox, read from the environment by the processes that run it.

use std::path::PathBuf;
use std::time::Duration;

use algoagent_runtime::settings::{ConfigError, number};

use super::error::SandboxError;

/// Largest warm pool a worker may keep (each container holds ~100 MB while it waits).
const MAX_WARM_POOL: usize = 32;

/// Settings of the sandbox (`SANDBOX_*` and `DATASETS_DIR`).
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// Image to run (`SANDBOX_IMAGE`), built by `deploy/sandbox/build-image.sh`.
    pub image: String,
    /// OCI runtime (`SANDBOX_RUNTIME`), e.g. `runsc` for gVisor; `None` is the engine default.
    pub runtime: Option<String>,
    /// Memory limit in bytes; swap is set to the same value, so the container gets no swap.
    pub memory_bytes: i64,
    /// CPU quota in billionths of a CPU (1_000_000_000 = one CPU).
    pub nano_cpus: i64,
    /// Maximum number of processes and threads in the container.
    pub pids_limit: i64,
    /// Wall-clock limit from container start; the container is killed when it passes.
    pub timeout: Duration,
    /// Cap on the harness's stdout; past it the container is killed and the run truncated.
    /// Stderr is drained up to 16 times this much (only its tail is kept).
    pub max_output_bytes: usize,
    /// Size of the tmpfs mounted at `/tmp` (the only writable place in the container).
    pub tmpfs_bytes: u64,
    /// Host directory of CSV and Parquet datasets, mounted read-only at `/datasets` when set.
    pub datasets_dir: Option<PathBuf>,
    /// Pre-started containers kept ready per worker process (`SANDBOX_WARM_POOL`); 0
    /// disables the pool. Each serves one job and is then destroyed.
    pub warm_pool: usize,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            image: "algoagent-sandbox:latest".to_owned(),
            runtime: None,
            memory_bytes: 512 * 1024 * 1024,
            nano_cpus: 1_000_000_000,
            pids_limit: 128,
            timeout: Duration::from_secs(120),
            max_output_bytes: 1024 * 1024,
            tmpfs_bytes: 64 * 1024 * 1024,
            datasets_dir: None,
            warm_pool: 2,
        }
    }
}

impl SandboxSettings {
    /// Reads `SANDBOX_*` and `DATASETS_DIR` through `lookup`; unset variables keep the defaults.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            image: lookup("SANDBOX_IMAGE").unwrap_or_else(|| Self::default().image),
            runtime: lookup("SANDBOX_RUNTIME").filter(|r| !r.is_empty()),
            memory_bytes: number(lookup, "SANDBOX_MEMORY_MB", 512, 64, 16_384)? * 1024 * 1024,
            nano_cpus: number(lookup, "SANDBOX_CPU_MILLIS", 1000, 100, 64_000)? * 1_000_000,
            pids_limit: number(lookup, "SANDBOX_PIDS", 128, 16, 4096)?,
            timeout: Duration::from_secs(
                number(lookup, "SANDBOX_TIMEOUT_SECS", 120, 1, 3600)?.unsigned_abs(),
            ),
            datasets_dir: lookup("DATASETS_DIR").filter(|d| !d.is_empty()).map(PathBuf::from),
            warm_pool: usize::try_from(number(lookup, "SANDBOX_WARM_POOL", 2, 0, 32)?).unwrap_or(2),
            ..Self::default()
        })
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|key: &str| std::env::var(key).ok())
    }

    /// Refuses settings the engine would reject or that would make every run fail.
    pub fn validate(&self) -> Result<(), SandboxError> {
        let invalid = |reason: String| Err(SandboxError::InvalidSettings { reason });
        if self.image.trim().is_empty() {
            return invalid("image must not be empty".to_owned());
        }
        // The engine refuses memory limits under 6 MiB; the interpreter needs far more.
        if self.memory_bytes < 64 * 1024 * 1024 {
            return invalid(format!("memory_bytes {} is below 64 MiB", self.memory_bytes));
        }
        if self.nano_cpus <= 0 {
            return invalid(format!("nano_cpus must be positive, got {}", self.nano_cpus));
        }
        if self.pids_limit <= 0 {
            return invalid(format!("pids_limit must be positive, got {}", self.pids_limit));
        }
        if self.timeout.is_zero() {
            return invalid("timeout must be positive".to_owned());
        }
        if self.max_output_bytes == 0 {
            return invalid("max_output_bytes must be positive".to_owned());
        }
        if self.tmpfs_bytes == 0 {
            return invalid("tmpfs_bytes must be positive".to_owned());
        }
        if self.warm_pool > MAX_WARM_POOL {
            return invalid(format!("warm_pool {} is above {MAX_WARM_POOL}", self.warm_pool));
        }
        if let Some(dir) = self.datasets_dir.as_ref().filter(|d| !d.is_absolute()) {
            return invalid(format!("datasets_dir {} is not absolute", dir.display()));
        }
        Ok(())
    }
}
