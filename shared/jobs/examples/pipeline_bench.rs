//! The engine alone, measured: N pipelines of no-op jobs (generate -> validate -> test ->
//! merge) through the real path. A submission writes the first job, its transition and its
//! outbox row in one transaction; each worker process runs the outbox relay (publisher
//! confirms into the quorum queues) and the engine's runner: Redis lease, claim under the
//! attempt fence, a no-op `Handler` whose `persist` enqueues the next kind, and the settle
//! (job `succeeded`, its transition, its event) in the same transaction, then the ack.
//!
//! `pipeline_bench run --workers W --n N` makes its own database and namespace, starts W
//! worker processes (this binary with `worker`), warms up, submits N pipelines as a burst,
//! waits for the N merges, checks every job once (4N `succeeded` transitions, none missing
//! or doubled), and prints a report whose last line is one JSON object. See
//! docs/BENCHMARKS.md and scripts/bench-pipeline.sh.

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
    match args.first().map(String::as_str) {
        Some("worker") => {
            let db = arg("--db").context("--db")?;
            let ns = arg("--ns").context("--ns")?;
            let concurrency: usize = arg("--concurrency").unwrap_or_else(|| "16".into()).parse()?;
            worker(&db, &ns, concurrency).await
        }
        Some("run") => {
            let workers: usize = arg("--workers").unwrap_or_else(|| "1".into()).parse()?;
            let n: usize = arg("--n").unwrap_or_else(|| "2000".into()).parse()?;
            let warm: usize = arg("--warm").unwrap_or_else(|| "200".into()).parse()?;
            let concurrency: usize = arg("--concurrency").unwrap_or_else(|| "16".into()).parse()?;
            run(workers, n, warm, concurrency).await
        }
        _ => anyhow::bail!(
            "usage: pipeline_bench run [--workers W] [--n N] [--warm N] [--concurrency C] | worker --db URL --ns NS"
        ),
    }
}

/// One worker process: the relay and one consumer per kind, all through the runner.
async fn worker(db: &str, ns: &str, concurrency: usize) -> anyhow::Result<()> {
    let names = Names::new(&Namespace::parse(ns).map_err(anyhow::Error::msg)?);
    let pool = algoagent_jobs::db::connect(&SecretString::from(db.to_owned()), 16)?;
    let redis = algoagent_cache::connect(&SecretString::from(REDIS_URL.to_owned())).await?;
    let worker_id = format!("bench-{}", std::process::id());
    let handler = NoopHandler { exchange: names.jobs_exchange(), actor: format!("worker:{worker_id}") };
    let runner = Arc::new(Runner::new(
        handler,
        pool.clone(),
        algoagent_cache::Leases::new(redis, ns),
        Settler::new(names.clone(), format!("worker:{worker_id}")),
        RunnerConfig {
            worker_id: worker_id.clone(),
            kinds: KINDS.to_vec(),
            lease_ttl: Duration::from_secs(60),
        },
    ));
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
    let mut consumers = tokio::task::JoinSet::new();
    for kind in KINDS {
        let config = ConsumerConfig {
            amqp_url: amqp.clone(),
            names: names.clone(),
            queue: names.job_queue(kind),
            tag: format!("{worker_id}-{kind}"),
            prefetch: u16::try_from(concurrency).unwrap_or(u16::MAX),
            drain_timeout: Duration::from_secs(10),
        };
        let runner = Arc::clone(&runner);
        consumers.spawn(algoagent_jobs::queue::consume(
            config,
            Arc::clone(&permits),
            tracker.clone(),
            cancel.clone(),
            move |d| {
                let runner = Arc::clone(&runner);
                async move { runner.handle_delivery(d).await }
            },
        ));
    }
    while consumers.join_next().await.is_some() {}
    relay_cancel.cancel();
    relay.await?;
    Ok(())
}

/// The driver: database, namespace, workers, warm-up, burst, checks, report.
async fn run(workers: usize, n: usize, warm: usize, concurrency: usize) -> anyhow::Result<()> {
    let tag = format!("{:010x}", rand::random::<u64>() & 0xff_ffff_ffff);
    let db_name = format!("algoagent_t{tag}");
    let ns = format!("t{tag}");
    let mut admin = PgConnection::connect(ADMIN_URL).await?;
    sqlx::query(&format!("CREATE DATABASE {db_name}")).execute(&mut admin).await?;
    let db_url = format!("postgres://postgres@127.0.0.1:5432/{db_name}");
    let result = measure(&db_url, &ns, workers, n, warm, concurrency).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")).execute(&mut admin).await?;
    delete_queues(&ns).await;
    let report = result?;
    println!("{report}");
    Ok(())
}

async fn measure(
    db_url: &str,
    ns: &str,
    workers: usize,
    n: usize,
    warm: usize,
    concurrency: usize,
) -> anyhow::Result<serde_json::Value> {
    let pool = algoagent_jobs::db::connect(&SecretString::from(db_url.to_owned()), 8)?;
    algoagent_jobs::db::migrate(&pool).await?;
    let names = Names::new(&Namespace::parse(ns).map_err(anyhow::Error::msg)?);
    let conn = algoagent_jobs::queue::connect(&amqp_url(), "pipeline-bench").await?;
    let channel = conn.create_channel().await?;
    algoagent_jobs::queue::topology::declare(&channel, &names).await?;

    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for _ in 0..workers {
        let child = tokio::process::Command::new(&exe)
            .args(["worker", "--db", db_url, "--ns", ns, "--concurrency", &concurrency.to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        children.push(child);
    }
    let pids: Vec<u32> = children.iter().filter_map(tokio::process::Child::id).collect();
    wait_for_consumers(&channel, &names, workers).await?;

    submit(&pool, &names, warm).await?;
    wait_for_merges(&pool, warm).await?;
    let idle_rss_kb = pids.iter().filter_map(|p| proc_status_kb(*p, "VmRSS")).max().unwrap_or(0);
    let cpu_before: u64 = pids.iter().filter_map(|p| cpu_ticks(*p)).sum();

    let burst_start = chrono::Utc::now();
    let started = Instant::now();
    submit(&pool, &names, n).await?;
    wait_for_merges(&pool, warm + n).await?;
    let wall = started.elapsed();
    let cpu_after: u64 = pids.iter().filter_map(|p| cpu_ticks(*p)).sum();
    let peak_rss_kb = pids.iter().filter_map(|p| proc_status_kb(*p, "VmHWM")).max().unwrap_or(0);

    for child in &mut children {
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
    }
    for child in &mut children {
        let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
    }

    let stats: (f64, f64, f64, f64, f64, f64, f64) = sqlx::query_as(
        "WITH burst AS (SELECT * FROM jobs WHERE run_id IN (SELECT run_id FROM jobs WHERE kind = 'generate' AND created_at >= $1)),
              waits AS (SELECT extract(epoch FROM started_at - enqueued_at) * 1000 AS ms FROM burst),
              e2e AS (SELECT extract(epoch FROM max(finished_at) - min(created_at)) * 1000 AS ms FROM burst GROUP BY run_id),
              span AS (SELECT extract(epoch FROM max(finished_at) - min(created_at)) AS s FROM burst)
         SELECT (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM waits),
                (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) FROM waits),
                (SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) FROM waits),
                (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM e2e),
                (SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) FROM e2e),
                (SELECT s FROM span)::float8,
                (SELECT count(*) FROM burst)::float8",
    )
    .bind(burst_start)
    .fetch_one(&pool)
    .await?;
    let (wait_p50, wait_p95, wait_p99, e2e_p50, e2e_p99, span_s, burst_jobs) = stats;
    let idle_wait: Option<f64> = sqlx::query_scalar(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - enqueued_at) * 1000)
           FROM jobs WHERE created_at < $1",
    )
    .bind(burst_start)
    .fetch_one(&pool)
    .await?;
    // Every job once: one `succeeded` transition per job, 4 jobs per pipeline.
    let (jobs_total, succeeded_jobs, duplicated): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM jobs),
                (SELECT count(DISTINCT job_id) FROM transitions WHERE entity_type = 'job' AND to_state = 'succeeded'),
                (SELECT count(*) FROM (SELECT job_id FROM transitions WHERE entity_type = 'job' AND to_state = 'succeeded'
                                        GROUP BY job_id HAVING count(*) > 1) d)",
    )
    .fetch_one(&pool)
    .await?;
    let expected = i64::try_from(4 * (warm + n))?;
    let lost = expected - succeeded_jobs;
    let ticks_per_s = 100.0;
    let cpu_ms_per_job =
        (cpu_after.saturating_sub(cpu_before)) as f64 * 1000.0 / ticks_per_s / burst_jobs.max(1.0);
    let pipelines_per_s = n as f64 / span_s.max(1e-9);
    eprintln!(
        "workers {workers}, N {n} (+{warm} warm-up), concurrency {concurrency} per worker: {pipelines_per_s:.1} pipelines/s, \
         {:.1} jobs/s over {span_s:.2} s (driver wall {:.2} s); queue wait p50 {wait_p50:.1} ms, p95 {wait_p95:.1} ms, p99 {wait_p99:.1} ms \
         (idle warm-up p50 {:.1} ms); e2e p50 {e2e_p50:.0} ms, p99 {e2e_p99:.0} ms; worker RSS idle {:.1} MB, peak {:.1} MB; \
         {cpu_ms_per_job:.2} CPU ms per job (workers); jobs {jobs_total} (expected {expected}), lost {lost}, duplicated {duplicated}",
        burst_jobs / span_s.max(1e-9),
        wall.as_secs_f64(),
        idle_wait.unwrap_or(f64::NAN),
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
        "pipelines_per_s": round1(pipelines_per_s),
        "jobs_per_s": round1(burst_jobs / span_s.max(1e-9)),
        "queue_wait_p50_ms": round1(wait_p50),
        "queue_wait_p95_ms": round1(wait_p95),
        "queue_wait_p99_ms": round1(wait_p99),
        "idle_queue_wait_p50_ms": round1(idle_wait.unwrap_or(f64::NAN)),
        "e2e_p50_ms": round1(e2e_p50),
        "e2e_p99_ms": round1(e2e_p99),
        "worker_idle_rss_mb": round1(idle_rss_kb as f64 / 1024.0),
        "worker_peak_rss_mb": round1(peak_rss_kb as f64 / 1024.0),
        "cpu_ms_per_job": (cpu_ms_per_job * 100.0).round() / 100.0,
        "lost": lost,
        "duplicated": duplicated,
    }))
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
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

/// User + system CPU ticks of a process (/proc/<pid>/stat fields 14 and 15).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}
