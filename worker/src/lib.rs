//! The worker: stateless consumers of job queues (invariant 10). Any worker can take any job
//! of the kinds it serves; everything it knows comes from the message and Postgres.

mod commit;
mod context;
mod control;
mod failpoint;
mod handlers;
mod metrics_http;
pub mod settings;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::settings::Settings;
use algoagent_core::JobKind;
use algoagent_jobs::queue::{ConsumerConfig, Names, Relay};
use algoagent_jobs::runner::{Runner, RunnerConfig};
use algoagent_jobs::settle::Settler;
use anyhow::Context as _;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use context::WorkerContext;
use handlers::WorkerHandler;

/// The engine's runner over this worker's handlers.
type WorkerRunner = Runner<WorkerHandler>;

/// Command-line options of the worker.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "algoagent-worker", about = "Consumes AlgoAgent jobs")]
pub struct Args {
    /// Job kinds to serve, comma-separated (sandbox-heavy kinds can scale separately).
    #[arg(long, value_delimiter = ',', default_value = "generate,validate,test,fix,merge,sandbox", value_parser = parse_kind)]
    pub kinds: Vec<JobKind>,
    /// Worker id (defaults to host-pid-random).
    #[arg(long)]
    pub id: Option<String>,
    /// Where to serve Prometheus `GET /metrics` (e.g. `0.0.0.0:9100`); not served when unset,
    /// so several workers on one host need no port plan.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

fn parse_kind(s: &str) -> Result<JobKind, String> {
    s.parse()
}

/// Runs the worker until `cancel` fires, then drains and returns.
pub async fn run(settings: Settings, args: Args, cancel: CancellationToken) -> anyhow::Result<()> {
    let recorder = algoagent_runtime::metrics::install()?;
    metrics_http::baseline(&args.kinds);
    let metrics_listener = match args.metrics_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding METRICS_ADDR {addr}"))?;
            tracing::info!(addr = %listener.local_addr()?, "metrics listening");
            Some(listener)
        }
        None => None,
    };
    let health = metrics_http::Health::new(heartbeat_every(&settings));
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(algoagent_runtime::metrics::upkeep(recorder.clone(), cancel.clone()));
    if let Some(listener) = metrics_listener {
        // Served before connecting, so a probe sees "starting" while Postgres is waited for.
        tasks.spawn(metrics_http::serve(listener, recorder, Arc::clone(&health), cancel.clone()));
    }
    let ctx = Arc::new(WorkerContext::connect(settings, &args).await.context("starting worker")?);
    tracing::info!(worker = %ctx.worker_id, kinds = ?args.kinds, "worker started");
    let names = Names::new(&ctx.settings.common.namespace);
    let tracker = TaskTracker::new();

    if let Some(sandbox) = &ctx.sandbox {
        // Warm containers (imports done) cut a test job's start-up from ~0.7 s to ~10 ms.
        sandbox.start_pool(cancel.child_token()).await;
    }
    let relay = Relay::new(ctx.pool.clone(), ctx.settings.common.amqp_url.clone(), names.clone());
    let relay_cancel = CancellationToken::new();
    tasks.spawn(relay.run(relay_cancel.clone()));

    let runner = Arc::new(Runner::new(
        WorkerHandler { ctx: Arc::clone(&ctx) },
        ctx.pool.clone(),
        ctx.leases.clone(),
        Settler::new(names.clone(), format!("worker:{}", ctx.worker_id)),
        RunnerConfig {
            worker_id: ctx.worker_id.clone(),
            kinds: args.kinds.clone(),
            lease_ttl: ctx.settings.common.lease_ttl,
        },
    ));
    let permits = Arc::new(Semaphore::new(ctx.settings.worker_concurrency));
    let prefetch = u16::try_from(ctx.settings.worker_concurrency).unwrap_or(u16::MAX);
    let config = ConsumerConfig {
        amqp_url: ctx.settings.common.amqp_url.clone(),
        names: names.clone(),
        queues: args.kinds.iter().map(|kind| names.job_queue(*kind)).collect(),
        tag: ctx.worker_id.clone(),
        prefetch,
        drain_timeout: ctx.settings.common.drain_timeout,
    };
    tasks.spawn(heartbeat(Arc::clone(&ctx), Arc::clone(&runner), health, cancel.clone()));
    tasks.spawn(control::run(Arc::clone(&ctx), Arc::clone(&runner), cancel.clone()));

    // Every kind's queue on one connection, until cancelled and drained.
    algoagent_jobs::queue::consume(config, Arc::clone(&permits), tracker.clone(), cancel.clone(), move |d| {
        let runner = Arc::clone(&runner);
        async move { runner.handle_delivery(d).await }
    })
    .await;
    if let Some(sandbox) = &ctx.sandbox {
        sandbox.drain_pool().await;
    }
    // Consumers have drained; publish what the last jobs wrote, then stop the relay.
    relay_cancel.cancel();
    while tasks.join_next().await.is_some() {}
    if let Err(err) = algoagent_jobs::db::workers::stopped(&ctx.pool, &ctx.worker_id).await {
        tracing::warn!(error = %err, "could not mark worker stopped");
    }
    tracing::info!(worker = %ctx.worker_id, "worker stopped");
    Ok(())
}

/// How often a worker heartbeats: three times per lease, so one late beat loses no lease.
fn heartbeat_every(settings: &Settings) -> Duration {
    (settings.common.lease_ttl / 3).max(Duration::from_millis(500))
}

/// Records liveness (in Postgres and for the probes) and extends the leases of in-flight jobs.
async fn heartbeat(
    ctx: Arc<WorkerContext>,
    runner: Arc<WorkerRunner>,
    health: Arc<metrics_http::Health>,
    cancel: CancellationToken,
) {
    let every = heartbeat_every(&ctx.settings);
    let kinds: Vec<String> = ctx.kinds.iter().map(|k| k.as_str().to_owned()).collect();
    loop {
        let in_flight = runner.extend_leases().await;
        // Bounded, so a database that hangs makes the worker unready, not a stalled loop.
        let write = algoagent_jobs::db::workers::heartbeat(
            &ctx.pool,
            &ctx.worker_id,
            &ctx.host,
            i32::try_from(std::process::id()).unwrap_or(0),
            &kinds,
            in_flight,
        );
        match tokio::time::timeout(every, write).await {
            Ok(Ok(())) => health.beat(true),
            Ok(Err(err)) => {
                health.beat(false);
                tracing::warn!(error = %err, "heartbeat failed");
            }
            Err(_) => {
                health.beat(false);
                tracing::warn!(timeout_ms = every.as_millis(), "heartbeat timed out");
            }
        }
        if algoagent_runtime::backoff::sleep_or_cancel(every, &cancel).await {
            return;
        }
    }
}
