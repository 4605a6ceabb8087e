//! What every job handler may use: settings, the pool, Redis leases, the sandbox and the
//! strategies repository.

use std::sync::Arc;

use crate::settings::Settings;
use algoagent_cache::{Leases, RateLimiter};
use algoagent_core::JobKind;
use algoagent_gitflow::StrategyRepo;
use algoagent_jobs::queue::Names;
use algoagent_llm::Provider;
use algoagent_sandbox::Sandbox;
use anyhow::Context as _;
use sqlx::PgPool;

use crate::Args;

/// Shared, read-only state of one worker process.
pub struct WorkerContext {
    /// Settings from the environment.
    pub settings: Settings,
    /// Postgres pool.
    pub pool: PgPool,
    /// Redis leases under the namespace.
    pub leases: Leases,
    /// Queue and exchange names.
    pub names: Names,
    /// The Docker sandbox, when this worker serves `test`.
    pub sandbox: Option<Sandbox>,
    /// The strategies repository, when this worker serves `merge`.
    pub repo: Option<Arc<StrategyRepo>>,
    /// The code generator (rule compiler or LLM), sharing rate budgets through Redis.
    pub provider: Provider,
    /// Unique id of this process (host-pid-random).
    pub worker_id: String,
    /// Host name, for `algoagent workers`.
    pub host: String,
    /// Kinds served.
    pub kinds: Vec<JobKind>,
}

impl WorkerContext {
    /// Connects to everything the served kinds need; fails fast with context on bad setup.
    pub async fn connect(settings: Settings, args: &Args) -> anyhow::Result<Self> {
        let pool =
            algoagent_jobs::db::connect(&settings.common.database_url, 8).context("database settings")?;
        let redis =
            algoagent_cache::connect(&settings.common.redis_url).await.context("connecting to Redis")?;
        let leases = Leases::new(redis.clone(), settings.common.namespace.as_str());
        let provider = Provider::new(settings.common.llm_provider, &settings.llm)
            .with_rate_limiter(RateLimiter::new(redis, settings.common.namespace.as_str()));
        let sandbox = if args.kinds.contains(&JobKind::Test) || args.kinds.contains(&JobKind::Sandbox) {
            let sandbox = Sandbox::connect(settings.sandbox.clone()).context("connecting to Docker")?;
            // Containers left by a crashed worker are removed before taking new work.
            match sandbox.sweep(settings.sandbox.timeout).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "swept leftover sandbox containers"),
                Err(err) => tracing::warn!(error = %err, "sandbox sweep failed"),
            }
            Some(sandbox)
        } else {
            None
        };
        let repo = if args.kinds.contains(&JobKind::Merge) {
            let repo = StrategyRepo::open_or_init(
                &settings.common.strategy_repo,
                &settings.common.cache_dir.join("git"),
            )
            .context("opening the strategies repository")?;
            Some(Arc::new(repo))
        } else {
            None
        };
        let host =
            hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_else(|_| "unknown".into());
        let worker_id = args
            .id
            .clone()
            .unwrap_or_else(|| format!("{host}-{}-{:04x}", std::process::id(), rand::random::<u16>()));
        let names = Names::new(&settings.common.namespace);
        Ok(Self {
            names,
            settings,
            pool,
            leases,
            sandbox,
            repo,
            provider,
            worker_id,
            host,
            kinds: args.kinds.clone(),
        })
    }
}
