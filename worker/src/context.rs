//! What every job handler may use: settings, the pool, Redis leases, the sandbox and the
//! strategies repository, plus the registry of in-flight jobs whose leases the heartbeat
//! extends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::settings::Settings;
use algoagent_cache::{Leases, RateLimiter};
use algoagent_core::{JobId, JobKind, RunId};
use algoagent_gitflow::StrategyRepo;
use algoagent_jobs::queue::Names;
use algoagent_jobs::settle::Settler;
use algoagent_llm::Provider;
use algoagent_sandbox::Sandbox;
use anyhow::Context as _;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

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
    /// The engine's settle path, writing transitions as this worker.
    pub settler: Settler,
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
    /// Jobs running now, so the heartbeat can extend their leases.
    pub in_flight: InFlight,
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
        let sandbox = if args.kinds.contains(&JobKind::Test) {
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
            settler: Settler::new(names.clone(), format!("worker:{worker_id}")),
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
            in_flight: InFlight::default(),
        })
    }

    /// The Redis lease key of a job.
    pub fn lease_key(job_id: JobId) -> String {
        format!("lease:job:{job_id}")
    }
}

/// One job being worked on.
#[derive(Clone)]
pub struct Running {
    /// Its run (cancellation is per run).
    pub run_id: RunId,
    /// The attempt we hold (the fence).
    pub attempt: i32,
    /// Our Redis lease value.
    pub owner: String,
    /// Fired to stop the job (cancellation, lost lease).
    pub cancel: CancellationToken,
}

/// Registry of running jobs. A std mutex: held only for map operations, never across await.
#[derive(Default)]
pub struct InFlight(Mutex<HashMap<JobId, Running>>);

impl InFlight {
    /// Registers a job.
    pub fn insert(&self, id: JobId, running: Running) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(id, running);
        }
    }

    /// Forgets a job.
    pub fn remove(&self, id: JobId) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(&id);
        }
    }

    /// Tells every job of `run_id` to stop; returns how many were running.
    pub fn cancel_run(&self, run_id: RunId) -> usize {
        self.snapshot().iter().filter(|(_, r)| r.run_id == run_id).map(|(_, r)| r.cancel.cancel()).count()
    }

    fn snapshot(&self) -> Vec<(JobId, Running)> {
        self.0.lock().map(|m| m.iter().map(|(k, v)| (*k, v.clone())).collect()).unwrap_or_default()
    }

    /// Extends every held lease; a job whose lease was lost is told to stop. Returns the
    /// number of jobs in flight.
    pub async fn extend_all(&self, ctx: &WorkerContext) -> i32 {
        let jobs = self.snapshot();
        let ttl = ctx.settings.common.lease_ttl;
        for (id, running) in &jobs {
            let redis = ctx.leases.extend(&WorkerContext::lease_key(*id), &running.owner, ttl).await;
            let db = algoagent_jobs::db::jobs::extend_lease(&ctx.pool, *id, running.attempt, ttl).await;
            match db {
                Ok(false) => {
                    tracing::warn!(job_id = %id, "lease lost to another attempt; stopping the job");
                    metrics::counter!("algoagent_lease_losses_total").increment(1);
                    running.cancel.cancel();
                }
                Ok(true) => {}
                Err(err) => tracing::warn!(job_id = %id, error = %err, "could not extend lease in Postgres"),
            }
            if let Err(err) = redis {
                tracing::warn!(job_id = %id, error = %err, "could not extend lease in Redis");
            }
        }
        i32::try_from(jobs.len()).unwrap_or(i32::MAX)
    }
}
