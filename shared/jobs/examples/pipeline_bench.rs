//! The engine alone, measured: N pipelines of no-op jobs (generate -> validate -> test ->
//! merge) through the real path. A submission writes the first job, its transition and its
//! outbox row in one transaction; each worker process runs the outbox relay (publisher
//! confirms into the quorum queues) and the engine's runner: Redis lease, claim under the
//! attempt fence, a no-op `Handler` whose `persist` enqueues the next kind, and the settle
//! (job `succeeded` and its transition) in the same transaction, then the ack. Claims
//! waiting at the same time are taken by one statement (`--claim-max M`, default 16; 0
//! claims each alone), and successes waiting at the same time commit in one transaction
//! (`--settle-lanes L`, default 1: one such transaction at a time per worker; 0 commits each
//! job alone). The handler
//! queues what follows, so no job event is needed: each job is one broker message, as in
//! the Celery baseline; `--events` publishes the job events too (the coordinator's path,
//! two messages per job) for comparison.
//!
//! `pipeline_bench run --workers W --n N` makes its own database and namespace, starts W
//! worker processes (this binary with `worker`), warms up, submits pipelines one at a time
//! (`--idle`, the hand-off with nothing queued), then N pipelines as a burst,
//! waits for the N merges, checks every job once (4N `succeeded` transitions, none missing
//! or doubled), and prints a report whose last line is one JSON object. See
//! docs/BENCHMARKS.md and scripts/bench-pipeline.sh.
//!
//! `pipeline_bench parts --n N` times, one at a time on an idle system, each step a hand-off
//! is made of (a Postgres round trip, a durable commit, a NOTIFY reaching a listener, a Redis
//! lease, a confirmed publish and its delivery on a quorum and on a classic queue), so the
//! hand-off's floor can be read off the parts.
//!
//! `pipeline_bench floor --n N [--streams S] [--batch B]` measures what the database alone
//! costs per job: every statement a job makes Postgres run (its enqueue with its transition
//! and outbox row, the relay's take, the claim, the settle that writes the next job), batched
//! B jobs at a time as the engine batches them, from S tasks side by side, with no broker,
//! Redis or worker process. Postgres' CPU per job there is a floor under the whole
//! machine's CPU per job in `run`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use algoagent_core::{
    JobError, JobId, JobKind, JobPayload, JobResult, Namespace, RunId, StrategyId, VersionId,
};
use algoagent_jobs::db::DbError;
use algoagent_jobs::db::jobs::{self, JobRow, NewJob};
use algoagent_jobs::queue::{ConsumerConfig, Names, Relay};
use algoagent_jobs::runner::{Handler, Runner, RunnerConfig};
use algoagent_jobs::settle::Settler;
use anyhow::Context as _;
use secrecy::SecretString;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The broker, unless `AMQP_URL` names another (or the same with `?frame_max=N`).
const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// `AMQP_URL` from the environment, else the local broker.
fn amqp_url() -> SecretString {
    SecretString::from(std::env::var("AMQP_URL").unwrap_or_else(|_| AMQP_URL.to_owned()))
}
/// Clock ticks per second in /proc's CPU times (`USER_HZ`, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;
const REDIS_URL: &str = "redis://127.0.0.1:6379/";
const KINDS: [JobKind; 4] = [JobKind::Generate, JobKind::Validate, JobKind::Test, JobKind::Merge];

/// Does nothing, and writes the next kind's job in the settling transaction.
struct NoopHandler {
    exchange: String,
    actor: String,
}

impl Handler for NoopHandler {
    type Effect = ();

    async fn handle(
        &self,
        _row: &JobRow,
        _payload: &JobPayload,
        _cancel: &CancellationToken,
    ) -> Result<(), JobError> {
        Ok(())
    }

    async fn persist(&self, tx: &mut PgConnection, row: &JobRow, (): ()) -> Result<JobResult, DbError> {
        let v = VersionId(0);
        let (next, result) = match jobs::kind_of(row) {
            Some(JobKind::Generate) => {
                (Some(JobPayload::ValidateV1 { version_id: v }), JobResult::Generated { version_id: v })
            }
            Some(JobKind::Validate) => (
                Some(JobPayload::TestV1 { version_id: v }),
                JobResult::Validated { version_id: v, accepted: true, summary: String::new() },
            ),
            Some(JobKind::Test) => (
                Some(JobPayload::MergeV1 { version_id: v }),
                JobResult::Tested { version_id: v, backtest_id: 0, passed: true, reason: None },
            ),
            _ => (
                None,
                JobResult::Merged {
                    version_id: v,
                    version_commit: String::new(),
                    merge_commit: String::new(),
                },
            ),
        };
        if let Some(payload) = next {
            let job = NewJob {
                id: JobId::new(),
                run_id: row.run_id,
                strategy_id: row.strategy_id,
                payload,
                max_attempts: 3,
            };
            jobs::enqueue(tx, &job, &self.exchange, &self.actor).await?;
        }
        Ok(result)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let flag = |name: &str| args.iter().any(|a| a == name);
    match args.first().map(String::as_str) {
        Some("worker") => {
            let db = arg("--db").context("--db")?;
            let ns = arg("--ns").context("--ns")?;
            let concurrency: usize = arg("--concurrency").unwrap_or_else(|| "16".into()).parse()?;
            let lanes: usize = arg("--settle-lanes").unwrap_or_else(|| "1".into()).parse()?;
            let claims: usize = arg("--claim-max").unwrap_or_else(|| "16".into()).parse()?;
            worker(&db, &ns, concurrency, lanes, claims, flag("--events")).await
        }
        Some("run") => {
            let workers: usize = arg("--workers").unwrap_or_else(|| "1".into()).parse()?;
            let n: usize = arg("--n").unwrap_or_else(|| "2000".into()).parse()?;
            let warm: usize = arg("--warm").unwrap_or_else(|| "200".into()).parse()?;
            let idle: usize = arg("--idle").unwrap_or_else(|| "20".into()).parse()?;
            let concurrency: usize = arg("--concurrency").unwrap_or_else(|| "16".into()).parse()?;
            let lanes: usize = arg("--settle-lanes").unwrap_or_else(|| "1".into()).parse()?;
            let claims: usize = arg("--claim-max").unwrap_or_else(|| "16".into()).parse()?;
            run(Shape { workers, n, warm, idle, concurrency, lanes, claims, events: flag("--events") }).await
        }
        Some("floor") => {
            let n: usize = arg("--n").unwrap_or_else(|| "2000".into()).parse()?;
            let streams: usize = arg("--streams").unwrap_or_else(|| "2".into()).parse()?;
            let batch: i64 = arg("--batch").unwrap_or_else(|| "16".into()).parse()?;
            let report = in_scratch(|db_url, ns| async move {
                measure_floor(&db_url, &ns, n, streams.max(1), batch.max(1)).await
            })
            .await?;
            println!("{report}");
            Ok(())
        }
        Some("parts") => {
            let n: usize = arg("--n").unwrap_or_else(|| "500".into()).parse()?;
            parts(n).await
        }
        _ => anyhow::bail!(
            "usage: pipeline_bench run [--workers W] [--n N] [--warm N] [--idle N] [--concurrency C] [--settle-lanes L] [--claim-max M] [--events] | floor [--n N] [--streams S] [--batch B] | parts [--n N] | worker --db URL --ns NS [--concurrency C] [--settle-lanes L] [--claim-max M] [--events]"
        ),
    }
}

/// One worker process: the relay and one consumer per kind, all through the runner. With
/// `events`, each job's end is also published as a job event (into the coordinator's queue,
/// which nothing consumes here), as in a deployment whose coordinator advances runs by them.
/// With `lanes` > 0, successes are committed together, `lanes` transactions at a time.
async fn worker(
    db: &str,
    ns: &str,
    concurrency: usize,
    lanes: usize,
    claims: usize,
    events: bool,
) -> anyhow::Result<()> {
    let names = Names::new(&Namespace::parse(ns).map_err(anyhow::Error::msg)?);
    let pool = algoagent_jobs::db::connect(&SecretString::from(db.to_owned()), 16)?;
    let redis = algoagent_cache::connect(&SecretString::from(REDIS_URL.to_owned())).await?;
    let worker_id = format!("bench-{}", std::process::id());
    let handler = NoopHandler { exchange: names.jobs_exchange(), actor: format!("worker:{worker_id}") };
    let settler = Settler::new(names.clone(), format!("worker:{worker_id}"));
    let settler = if events { settler } else { settler.without_events() };
    let runner = Runner::new(
        handler,
        pool.clone(),
        algoagent_cache::Leases::new(redis, ns),
        settler,
        RunnerConfig {
            worker_id: worker_id.clone(),
            kinds: KINDS.to_vec(),
            lease_ttl: Duration::from_secs(60),
        },
    );
    let runner = if lanes > 0 { runner.with_settle_batches(lanes, concurrency) } else { runner };
    let runner = Arc::new(if claims > 0 { runner.with_claim_batches(claims) } else { runner });
    let cancel = CancellationToken::new();
    let on_term = cancel.clone();
    tokio::spawn(async move {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            term.recv().await;
        }
        on_term.cancel();
    });
    let amqp = amqp_url();
    let relay_cancel = CancellationToken::new();
    let relay = tokio::spawn(Relay::new(pool, amqp.clone(), names.clone()).run(relay_cancel.clone()));
    let permits = Arc::new(Semaphore::new(concurrency));
    let tracker = TaskTracker::new();
    let config = ConsumerConfig {
        amqp_url: amqp.clone(),
        names: names.clone(),
        queues: KINDS.iter().map(|kind| names.job_queue(*kind)).collect(),
        tag: worker_id.clone(),
        prefetch: u16::try_from(concurrency).unwrap_or(u16::MAX),
        drain_timeout: Duration::from_secs(10),
    };
    algoagent_jobs::queue::consume(config, permits, tracker, cancel, move |d| {
        let runner = Arc::clone(&runner);
        async move { runner.handle_delivery(d).await }
    })
    .await;
    relay_cancel.cancel();
    relay.await?;
    Ok(())
}

/// What one run does: worker processes, the burst, the warm-up before it, the pipelines
/// submitted one at a time (the idle hand-off) and each worker's jobs at once.
#[derive(Debug, Clone, Copy)]
struct Shape {
    workers: usize,
    n: usize,
    warm: usize,
    idle: usize,
    concurrency: usize,
    /// Settle lanes per worker (0: each success commits alone).
    lanes: usize,
    /// Claims per statement at most (0: each claim alone).
    claims: usize,
    /// Whether workers publish job events too (two broker messages per job instead of one).
    events: bool,
}

/// The driver: database, namespace, workers, warm-up, idle pipelines, burst, checks, report.
async fn run(shape: Shape) -> anyhow::Result<()> {
    let report = in_scratch(|db_url, ns| async move { measure(&db_url, &ns, shape).await }).await?;
    println!("{report}");
    Ok(())
}

/// Runs `body` with a database URL and a namespace of its own, and removes both afterwards,
/// whatever it returned.
async fn in_scratch<F, Fut, T>(body: F) -> anyhow::Result<T>
where
    F: FnOnce(String, String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let tag = format!("{:010x}", rand::random::<u64>() & 0xff_ffff_ffff);
    let db_name = format!("algoagent_t{tag}");
    let ns = format!("t{tag}");
    let mut admin = PgConnection::connect(ADMIN_URL).await?;
    sqlx::query(&format!("CREATE DATABASE {db_name}")).execute(&mut admin).await?;
    let result = body(format!("postgres://postgres@127.0.0.1:5432/{db_name}"), ns.clone()).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")).execute(&mut admin).await?;
    delete_queues(&ns).await;
    result
}

async fn measure(db_url: &str, ns: &str, shape: Shape) -> anyhow::Result<serde_json::Value> {
    let Shape { workers, n, warm, idle, concurrency, lanes, claims, events } = shape;
    let pool = algoagent_jobs::db::connect(&SecretString::from(db_url.to_owned()), 8)?;
    algoagent_jobs::db::migrate(&pool).await?;
    let names = Names::new(&Namespace::parse(ns).map_err(anyhow::Error::msg)?);
    let conn = algoagent_jobs::queue::connect(&amqp_url(), "pipeline-bench").await?;
    let channel = conn.create_channel().await?;
    algoagent_jobs::queue::topology::declare(&channel, &names).await?;

    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for _ in 0..workers {
        let mut command = tokio::process::Command::new(&exe);
        command.args(["worker", "--db", db_url, "--ns", ns, "--concurrency", &concurrency.to_string()]);
        command.args(["--settle-lanes", &lanes.to_string(), "--claim-max", &claims.to_string()]);
        if events {
            command.arg("--events");
        }
        let child = command.env("RUST_LOG", "warn").stdout(Stdio::null()).kill_on_drop(true).spawn()?;
        children.push(child);
    }
    let pids: Vec<u32> = children.iter().filter_map(tokio::process::Child::id).collect();
    wait_for_consumers(&channel, &names, workers).await?;

    submit(&pool, &names, warm).await?;
    wait_for_merges(&pool, warm).await?;
    // The idle hand-off: one pipeline at a time, so no job waits behind another.
    let idle_start = chrono::Utc::now();
    for i in 1..=idle {
        submit(&pool, &names, 1).await?;
        wait_for_merges(&pool, warm + i).await?;
    }
    let idle_rss_kb = pids.iter().filter_map(|p| proc_status_kb(*p, "VmRSS")).max().unwrap_or(0);
    let cpu_before: u64 = pids.iter().filter_map(|p| cpu_ticks(*p)).sum();
    let machine_before = machine_ticks().unwrap_or_default();

    let burst_start = chrono::Utc::now();
    let started = Instant::now();
    submit(&pool, &names, n).await?;
    wait_for_merges(&pool, warm + idle + n).await?;
    let wall = started.elapsed();
    let cpu_after: u64 = pids.iter().filter_map(|p| cpu_ticks(*p)).sum();
    let machine_after = machine_ticks().unwrap_or_default();
    let peak_rss_kb = pids.iter().filter_map(|p| proc_status_kb(*p, "VmHWM")).max().unwrap_or(0);

    for child in &mut children {
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
    }
    for child in &mut children {
        let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
    }

    let stats: (f64, f64, f64, f64, f64, f64, f64, f64, f64) = sqlx::query_as(
        "WITH burst AS (SELECT *, xmin::text AS tx FROM jobs WHERE run_id IN (SELECT run_id FROM jobs WHERE kind = 'generate' AND created_at >= $1)),
              waits AS (SELECT extract(epoch FROM started_at - enqueued_at) * 1000 AS ms FROM burst),
              e2e AS (SELECT extract(epoch FROM max(finished_at) - min(created_at)) * 1000 AS ms FROM burst GROUP BY run_id),
              span AS (SELECT extract(epoch FROM max(finished_at) - min(created_at)) AS s FROM burst)
         SELECT (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM waits),
                (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) FROM waits),
                (SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) FROM waits),
                (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM e2e),
                (SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) FROM e2e),
                (SELECT s FROM span)::float8,
                (SELECT count(*) FROM burst)::float8,
                -- A job's row was last written by its settle, so jobs that share an xmin
                -- committed together.
                (SELECT count(*)::float8 / greatest(count(DISTINCT tx), 1) FROM burst),
                -- Likewise a claim's `running` transition and the jobs claimed with it.
                (SELECT count(*)::float8 / greatest(count(DISTINCT xmin::text), 1) FROM transitions
                  WHERE entity_type = 'job' AND to_state = 'running' AND job_id IN (SELECT id FROM burst))",
    )
    .bind(burst_start)
    .fetch_one(&pool)
    .await?;
    let (wait_p50, wait_p95, wait_p99, e2e_p50, e2e_p99, span_s, burst_jobs, jobs_per_settle, jobs_per_claim) =
        stats;
    // The idle hand-off and its two halves: from the settle's start to the relay's take (the
    // settle, its commit, the relay's wake-up), and from the take to the claim (publish,
    // delivery, lease, claim). `sent_at` is the relay's transaction start.
    let (idle_p50, idle_p95, to_relay_p50, to_claim_p50): (Option<f64>, Option<f64>, Option<f64>, Option<f64>) =
        sqlx::query_as(
            "WITH idle AS (SELECT j.enqueued_at, j.started_at, o.sent_at FROM jobs j
                             JOIN outbox o ON o.payload->>'job_id' = j.id::text AND o.routing_key = j.kind
                            WHERE j.created_at >= $1 AND j.created_at < $2),
                  ms AS (SELECT extract(epoch FROM started_at - enqueued_at) * 1000 AS wait,
                                extract(epoch FROM sent_at - enqueued_at) * 1000 AS to_relay,
                                extract(epoch FROM started_at - sent_at) * 1000 AS to_claim FROM idle)
             SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY wait), percentile_cont(0.95) WITHIN GROUP (ORDER BY wait),
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY to_relay), percentile_cont(0.5) WITHIN GROUP (ORDER BY to_claim)
               FROM ms",
        )
    .bind(idle_start)
    .bind(burst_start)
    .fetch_one(&pool)
    .await?;
    let [idle_p50, idle_p95, to_relay_p50, to_claim_p50] =
        [idle_p50, idle_p95, to_relay_p50, to_claim_p50].map(|ms| ms.unwrap_or(f64::NAN));
    // Every job once: one `succeeded` transition per job, 4 jobs per pipeline.
    let (jobs_total, succeeded_jobs, duplicated) = job_counts(&pool).await?;
    let expected = i64::try_from(4 * (warm + idle + n))?;
    let lost = expected - succeeded_jobs;
    let cpu_ms_per_job =
        (cpu_after.saturating_sub(cpu_before)) as f64 * 1000.0 / TICKS_PER_S / burst_jobs.max(1.0);
    // The machine's CPU over the burst (the driver's polling included): what a job costs
    // everything on the box, and whether the burst was CPU-bound (busy near 100 %).
    let machine_busy = machine_after.0.saturating_sub(machine_before.0) as f64;
    let machine_all = machine_after.1.saturating_sub(machine_before.1) as f64;
    let machine_cpu_ms_per_job = machine_busy * 1000.0 / TICKS_PER_S / burst_jobs.max(1.0);
    let machine_busy_pct = 100.0 * machine_busy / machine_all.max(1.0);
    let pipelines_per_s = n as f64 / span_s.max(1e-9);
    eprintln!(
        "workers {workers}, N {n} (+{warm} warm-up, {idle} one at a time), concurrency {concurrency} per worker, settle lanes {lanes}, claims per statement up to {claims}, job events {}: {pipelines_per_s:.1} pipelines/s, \
         {:.1} jobs/s over {span_s:.2} s (driver wall {:.2} s); queue wait p50 {wait_p50:.1} ms, p95 {wait_p95:.1} ms, p99 {wait_p99:.1} ms \
         (idle: p50 {idle_p50:.2} ms = {to_relay_p50:.2} to the relay's take + {to_claim_p50:.2} to the claim, p95 {idle_p95:.2} ms); e2e p50 {e2e_p50:.0} ms, p99 {e2e_p99:.0} ms; worker RSS idle {:.1} MB, peak {:.1} MB; \
         {cpu_ms_per_job:.2} CPU ms per job (workers), {machine_cpu_ms_per_job:.2} (the machine, {machine_busy_pct:.0} % busy), {jobs_per_settle:.2} jobs per settle and {jobs_per_claim:.2} per claim transaction; jobs {jobs_total} (expected {expected}), lost {lost}, duplicated {duplicated}",
        if events { "on" } else { "off" },
        burst_jobs / span_s.max(1e-9),
        wall.as_secs_f64(),
        idle_rss_kb as f64 / 1024.0,
        peak_rss_kb as f64 / 1024.0,
    );
    if lost != 0 || duplicated != 0 || jobs_total != expected {
        anyhow::bail!(
            "correctness: {jobs_total} jobs for {expected} expected, {lost} lost, {duplicated} duplicated"
        );
    }
    Ok(serde_json::json!({
        "workers": workers,
        "n": n,
        "events": events,
        "settle_lanes": lanes,
        "claim_max": claims,
        "jobs_per_settle_tx": round2(jobs_per_settle),
        "jobs_per_claim_tx": round2(jobs_per_claim),
        "pipelines_per_s": round1(pipelines_per_s),
        "jobs_per_s": round1(burst_jobs / span_s.max(1e-9)),
        "queue_wait_p50_ms": round1(wait_p50),
        "queue_wait_p95_ms": round1(wait_p95),
        "queue_wait_p99_ms": round1(wait_p99),
        "idle_queue_wait_p50_ms": round2(idle_p50),
        "idle_queue_wait_p95_ms": round2(idle_p95),
        "idle_to_relay_p50_ms": round2(to_relay_p50),
        "idle_relay_to_claim_p50_ms": round2(to_claim_p50),
        "e2e_p50_ms": round1(e2e_p50),
        "e2e_p99_ms": round1(e2e_p99),
        "worker_idle_rss_mb": round1(idle_rss_kb as f64 / 1024.0),
        "worker_peak_rss_mb": round1(peak_rss_kb as f64 / 1024.0),
        "cpu_ms_per_job": round2(cpu_ms_per_job),
        "machine_cpu_ms_per_job": round2(machine_cpu_ms_per_job),
        "machine_busy_pct": round1(machine_busy_pct),
        "lost": lost,
        "duplicated": duplicated,
    }))
}

/// Every job in the database, the jobs with a `succeeded` transition, and those with more
/// than one: a run is correct when all three say each job succeeded exactly once.
async fn job_counts(pool: &PgPool) -> anyhow::Result<(i64, i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT (SELECT count(*) FROM jobs),
                (SELECT count(DISTINCT job_id) FROM transitions WHERE entity_type = 'job' AND to_state = 'succeeded'),
                (SELECT count(*) FROM (SELECT job_id FROM transitions WHERE entity_type = 'job' AND to_state = 'succeeded'
                                        GROUP BY job_id HAVING count(*) > 1) d)",
    )
    .fetch_one(pool)
    .await?)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Submits `n` pipelines: a strategy and run row each, then each first job with its
/// transition and outbox row in one transaction, from 8 concurrent submitters.
async fn submit(pool: &PgPool, names: &Names, n: usize) -> anyhow::Result<()> {
    let runs: Vec<(RunId, StrategyId)> = {
        let mut tx = pool.begin().await?;
        let mut runs = Vec::with_capacity(n);
        for _ in 0..n {
            let run = RunId::new();
            let id: i64 = sqlx::query_scalar("INSERT INTO strategies (name) VALUES ($1) RETURNING id")
                .bind(format!("b{}", run.0.simple()))
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO runs (id, strategy_id, status, spec, provider, max_fix_attempts)
                 VALUES ($1, $2, 'submitted', '{}'::jsonb, 'builtin', 0)",
            )
            .bind(run)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            runs.push((run, StrategyId(id)));
        }
        tx.commit().await?;
        runs
    };
    let exchange = names.jobs_exchange();
    let mut submitters = tokio::task::JoinSet::new();
    for chunk in runs.chunks(n.div_ceil(8).max(1)) {
        let (pool, exchange, chunk) = (pool.clone(), exchange.clone(), chunk.to_vec());
        submitters.spawn(async move {
            for (run_id, strategy_id) in chunk {
                let job = NewJob {
                    id: JobId::new(),
                    run_id,
                    strategy_id,
                    payload: JobPayload::GenerateV1 {},
                    max_attempts: 3,
                };
                let mut tx = pool.begin().await?;
                jobs::enqueue(&mut tx, &job, &exchange, "bench").await?;
                tx.commit().await?;
            }
            Ok::<(), anyhow::Error>(())
        });
    }
    while let Some(done) = submitters.join_next().await {
        done??;
    }
    Ok(())
}

async fn wait_for_merges(pool: &PgPool, total: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let merged: i64 =
            sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'merge' AND status = 'succeeded'")
                .fetch_one(pool)
                .await?;
        if merged >= i64::try_from(total)? {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "only {merged} of {total} pipelines merged after 600 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for_consumers(channel: &lapin::Channel, names: &Names, workers: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut ready = true;
        for kind in KINDS {
            let q = channel
                .queue_declare(
                    &names.job_queue(kind),
                    lapin::options::QueueDeclareOptions { passive: true, ..Default::default() },
                    lapin::types::FieldTable::default(),
                )
                .await?;
            ready &= q.consumer_count() as usize >= workers;
        }
        if ready {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "workers did not start consuming within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The database's share of `n` pipelines: submitted as in `run`, then `streams` tasks each
/// take up to `batch` outbox rows (the relay), claim their jobs in one statement and settle
/// them in one transaction whose `persist` writes the next jobs, until every job succeeded.
async fn measure_floor(
    db_url: &str,
    ns: &str,
    n: usize,
    streams: usize,
    batch: i64,
) -> anyhow::Result<serde_json::Value> {
    let max_connections = u32::try_from(streams)? + 9;
    let pool = algoagent_jobs::db::connect(&SecretString::from(db_url.to_owned()), max_connections)?;
    algoagent_jobs::db::migrate(&pool).await?;
    let names = Names::new(&Namespace::parse(ns).map_err(anyhow::Error::msg)?);
    let handler = Arc::new(NoopHandler { exchange: names.jobs_exchange(), actor: "worker:floor".into() });
    let settler = Settler::new(names.clone(), "worker:floor").without_events();
    let (machine_before, pg_before, own_before) =
        (machine_ticks().unwrap_or_default(), postgres_ticks(), cpu_ticks(std::process::id()).unwrap_or(0));
    let started = Instant::now();
    submit(&pool, &names, n).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..streams {
        let (pool, handler, settler) = (pool.clone(), Arc::clone(&handler), settler.clone());
        tasks.spawn(async move {
            loop {
                let mut tx = pool.begin().await?;
                let taken = algoagent_jobs::db::outbox::take(&mut tx, batch).await?;
                tx.commit().await?;
                if taken.is_empty() {
                    let open: i64 =
                        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status <> 'succeeded'")
                            .fetch_one(&pool)
                            .await?;
                    if open == 0 {
                        return Ok::<(), anyhow::Error>(());
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                let ids = taken
                    .iter()
                    .map(|row| serde_json::from_value::<JobId>(row.payload["job_id"].clone()))
                    .collect::<Result<Vec<_>, _>>()?;
                let rows = jobs::claim_many(&pool, &ids, "floor", Duration::from_secs(60)).await?;
                anyhow::ensure!(rows.len() == ids.len(), "claimed {} of {} jobs", rows.len(), ids.len());
                let mut tx = pool.begin().await?;
                let mut successes = Vec::with_capacity(rows.len());
                for row in &rows {
                    let result = handler.persist(&mut tx, row, ()).await?;
                    let kind = jobs::kind_of(row).context("stored kind")?;
                    successes.push(settler.success(row, kind, result));
                }
                anyhow::ensure!(settler.succeed_many(&mut tx, &successes).await?, "a job was fenced out");
                tx.commit().await?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let wall = started.elapsed().as_secs_f64();
    let machine_after = machine_ticks().unwrap_or_default();
    let (pg_after, own_after) = (postgres_ticks(), cpu_ticks(std::process::id()).unwrap_or(0));
    let (jobs_total, succeeded, duplicated) = job_counts(&pool).await?;
    let expected = 4 * i64::try_from(n)?;
    anyhow::ensure!(
        jobs_total == expected && succeeded == expected && duplicated == 0,
        "{jobs_total} jobs, {succeeded} succeeded of {expected}, {duplicated} twice"
    );
    let jobs = expected as f64;
    let ms_per_job = |ticks: u64| round2(ticks as f64 * 1000.0 / TICKS_PER_S / jobs);
    let machine_all = machine_after.1.saturating_sub(machine_before.1) as f64;
    let machine_busy = machine_after.0.saturating_sub(machine_before.0);
    let report = serde_json::json!({
        "n": n,
        "streams": streams,
        "batch": batch,
        "pipelines_per_s": round1(n as f64 / wall),
        "jobs_per_s": round1(jobs / wall),
        "machine_cpu_ms_per_job": ms_per_job(machine_busy),
        "machine_busy_pct": round1(100.0 * machine_busy as f64 / machine_all.max(1.0)),
        "postgres_cpu_ms_per_job": ms_per_job(pg_after.saturating_sub(pg_before)),
        "client_cpu_ms_per_job": ms_per_job(own_after.saturating_sub(own_before)),
    });
    eprintln!(
        "the database alone, {n} pipelines, {streams} streams, batches of {batch}: {:.1} pipelines/s; CPU per job: \
         Postgres {} ms, this client {} ms, the machine {} ms ({} % busy); every job succeeded once",
        n as f64 / wall,
        report["postgres_cpu_ms_per_job"],
        report["client_cpu_ms_per_job"],
        report["machine_cpu_ms_per_job"],
        report["machine_busy_pct"],
    );
    Ok(report)
}

/// CPU ticks of every process named `postgres` (the server, its backends and helpers).
fn postgres_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "postgres")
        })
        .filter_map(cpu_ticks)
        .sum()
}

/// The hand-off's parts, each timed alone `n` times; prints one JSON object of p50/p95 ms.
async fn parts(n: usize) -> anyhow::Result<()> {
    let timings = in_scratch(|db_url, ns| async move { time_parts(&db_url, &ns, n).await }).await?;
    let report: serde_json::Map<String, serde_json::Value> = timings
        .into_iter()
        .map(|(name, mut ms)| {
            ms.sort_by(f64::total_cmp);
            let at = |q: f64| round2(ms[((ms.len() - 1) as f64 * q) as usize]);
            (name.to_owned(), serde_json::json!({ "p50_ms": at(0.5), "p95_ms": at(0.95) }))
        })
        .collect();
    println!("{}", serde_json::Value::Object(report));
    Ok(())
}

/// Milliseconds since `start`.
fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

async fn time_parts(db_url: &str, ns: &str, n: usize) -> anyhow::Result<Vec<(&'static str, Vec<f64>)>> {
    let mut pg = PgConnection::connect(db_url).await?;
    sqlx::query("CREATE TABLE probe (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
        .execute(&mut pg)
        .await?;
    let mut listener = sqlx::postgres::PgListener::connect(db_url).await?;
    listener.listen("probe").await?;
    let leases = algoagent_cache::Leases::new(
        algoagent_cache::connect(&SecretString::from(REDIS_URL.to_owned())).await?,
        ns,
    );
    let amqp = algoagent_jobs::queue::connect(&amqp_url(), "pipeline-bench-parts").await?;
    let publisher = amqp.create_channel().await?;
    publisher.confirm_select(lapin::options::ConfirmSelectOptions::default()).await?;
    let receiver = amqp.create_channel().await?;
    let mut deliveries = Vec::new();
    // Each queue type with the names of its two timings.
    let types = [
        ("quorum", "quorum_publish_confirm", "quorum_publish_deliver"),
        ("classic", "classic_publish_confirm", "classic_publish_deliver"),
    ];
    for (kind, confirm_name, deliver_name) in types {
        let queue = format!("{ns}.probe.{kind}");
        let mut args = lapin::types::FieldTable::default();
        args.insert("x-queue-type".into(), lapin::types::AMQPValue::LongString(kind.into()));
        let durable = lapin::options::QueueDeclareOptions { durable: true, ..Default::default() };
        publisher.queue_declare(&queue, durable, args).await?;
        let consumer = receiver
            .basic_consume(
                &queue,
                &format!("probe-{kind}"),
                lapin::options::BasicConsumeOptions { no_ack: true, ..Default::default() },
                lapin::types::FieldTable::default(),
            )
            .await?;
        deliveries.push((confirm_name, deliver_name, queue, consumer));
    }
    let mut out: Vec<(&'static str, Vec<f64>)> = Vec::new();
    let mut select = Vec::with_capacity(n);
    let mut commit = Vec::with_capacity(n);
    let mut notify = Vec::with_capacity(n);
    let mut lease = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        sqlx::query("SELECT 1").execute(&mut pg).await?;
        select.push(ms_since(t));
        // A durable commit: one row, synchronous_commit on (the server's default).
        let t = Instant::now();
        sqlx::query("INSERT INTO probe DEFAULT VALUES").execute(&mut pg).await?;
        commit.push(ms_since(t));
        let t = Instant::now();
        sqlx::query("SELECT pg_notify('probe', $1)").bind(i.to_string()).execute(&mut pg).await?;
        listener.recv().await?;
        notify.push(ms_since(t));
        let t = Instant::now();
        anyhow::ensure!(leases.acquire(&format!("probe:{i}"), "bench", Duration::from_secs(60)).await?);
        lease.push(ms_since(t));
    }
    out.extend([
        ("pg_round_trip", select),
        ("pg_commit", commit),
        ("pg_notify", notify),
        ("redis_lease", lease),
    ]);
    for (confirm_name, deliver_name, queue, mut consumer) in deliveries {
        let (mut confirm, mut deliver) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            let t = Instant::now();
            algoagent_jobs::queue::publish_confirmed(&publisher, "", &queue, b"{}", &Default::default())
                .await?;
            confirm.push(ms_since(t));
            futures::StreamExt::next(&mut consumer).await.context("consumer closed")??;
            deliver.push(ms_since(t));
        }
        out.extend([(confirm_name, confirm), (deliver_name, deliver)]);
    }
    let _ = amqp.close(200, "done").await;
    Ok(out)
}

/// Removes the bench namespace's queues (its exchanges hold nothing).
async fn delete_queues(ns: &str) {
    let Ok(out) = std::process::Command::new("rabbitmqctl").args(["-q", "list_queues", "name"]).output()
    else {
        return;
    };
    for q in String::from_utf8_lossy(&out.stdout).lines().filter(|q| q.starts_with(&format!("{ns}."))) {
        let _ = std::process::Command::new("rabbitmqctl").args(["-q", "delete_queue", q]).output();
    }
}

/// A `kB` field of /proc/<pid>/status (VmRSS now, VmHWM the peak).
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The whole machine's CPU ticks from the first line of /proc/stat: (busy, all). Busy is
/// everything but idle, I/O wait and the hypervisor's steal, so it counts Postgres, the
/// broker, Redis, the kernel and the bench alike.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let all: u64 = ticks.iter().sum();
    let idle = ticks.get(3)? + ticks.get(4)? + ticks.get(7)?;
    Some((all - idle, all))
}

/// User + system CPU ticks of a process (/proc/<pid>/stat fields 14 and 15).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}
