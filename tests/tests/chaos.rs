//! Invariants 2, 3 and 10 under fire: 40 runs through a coordinator and 3 workers while a
//! chaos loop SIGKILLs a random worker every few seconds (and restarts it), and a failpoint
//! aborts workers right after a merge reached git but before it committed in Postgres.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use algoagent_tests::{TestEnv, examples_dir};
use rand::seq::SliceRandom;

const RUNS: usize = 40;
const WORKERS: usize = 3;
const MIN_KILLS: usize = 10;
const FAILPOINT: (&str, &str) = ("ALGOAGENT_FAILPOINT", "merge-after-git:0.25");
/// Two jobs per worker: three workers already share two cores with their sandboxes.
const CONCURRENCY: (&str, &str) = ("WORKER_CONCURRENCY", "2");
/// One warm container per worker: every restart builds a new pool.
const POOL: (&str, &str) = ("SANDBOX_WARM_POOL", "1");

fn specs() -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(examples_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    (0..RUNS)
        .map(|i| {
            let mut spec: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&files[i % files.len()]).unwrap()).unwrap();
            spec["name"] = serde_json::Value::String(format!("chaos_{i:02}"));
            serde_json::to_vec(&spec).unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_survive_workers_killed_at_random_and_mid_merge() {
    // Arrange
    let mut env = TestEnv::new().await.unwrap();
    // A job may be in flight on several workers that die in turn: give it the attempts a
    // deployment expecting this much churn would (the default is 5).
    env.extra_env.push(("ALGOAGENT_MAX_ATTEMPTS".into(), "test=12,merge=12,validate=12,generate=12".into()));
    env.start_coordinator().await.unwrap();
    for _ in 0..WORKERS {
        env.start_worker_with(&[], &[FAILPOINT, CONCURRENCY, POOL]).await.unwrap();
    }
    let started = Instant::now();
    let mut run_ids = Vec::new();
    for body in specs() {
        let (status, resp) = env.post("/api/runs", body).await.unwrap();
        assert_eq!(status, 202, "{resp}");
        run_ids.push(resp["run_id"].as_str().unwrap().to_owned());
    }

    // Act: kill a random worker every 3-5 s until MIN_KILLS kills happened (most of the
    // batch), then let it finish; restart any worker that died (killed or aborted by the
    // failpoint, which stays armed to the end).
    let mut kills = 0;
    let mut aborts = 0;
    let mut next_kill = Instant::now() + Duration::from_secs(2);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        for i in 0..env.worker_count() {
            if let Ok(Some(status)) = env.worker(i).try_wait() {
                if status.code().is_none() && !status.to_string().contains("SIGKILL") {
                    aborts += 1;
                }
                env.restart_worker(i, &[], &[FAILPOINT, CONCURRENCY, POOL]).await.unwrap();
            }
        }
        let pending: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM runs WHERE status NOT IN ('merged', 'failed', 'dead', 'cancelled')",
        )
        .fetch_one(&env.pool)
        .await
        .unwrap();
        if pending == 0 && kills >= MIN_KILLS {
            break;
        }
        assert!(Instant::now() < deadline, "{pending} runs still pending after 10 minutes ({kills} kills)");
        if kills < MIN_KILLS && Instant::now() >= next_kill {
            let victim =
                *(0..env.worker_count()).collect::<Vec<_>>().choose(&mut rand::thread_rng()).unwrap();
            env.worker(victim).start_kill().unwrap();
            env.worker(victim).wait().await.unwrap();
            kills += 1;
            env.restart_worker(victim, &[], &[FAILPOINT, CONCURRENCY, POOL]).await.unwrap();
            next_kill = Instant::now() + Duration::from_millis(3000 + rand::random::<u64>() % 2000);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed();

    // Assert: every run merged (the specs deserve it), exactly one version and one merge per
    // run, and every audit chain holds.
    let repo = algoagent_gitflow::StrategyRepo::open_or_init(
        env.repo_path().to_str().unwrap(),
        &env.dir.path().join("c"),
    )
    .unwrap();
    for run_id in &run_ids {
        let (_, run) = env.get(&format!("/api/runs/{run_id}")).await.unwrap();
        assert_eq!(run["status"], "merged", "run {run_id}: {}", run["error"]);
        assert_eq!(run["audit"]["chain_ok"], true, "run {run_id}");
        let versions = run["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 1, "run {run_id} has one version");
        let name = run["strategy"]["name"].as_str().unwrap();
        let version_id = versions[0]["id"].as_i64().unwrap();
        assert_eq!(repo.count_version_commits(name, version_id).unwrap(), 1, "{name}: one version commit");
        let merges = repo
            .history(name)
            .unwrap()
            .into_iter()
            .filter(|c| c.kind == algoagent_gitflow::CommitKind::Merge)
            .count();
        assert_eq!(merges, 1, "{name}: one merge commit");
        for job in run["jobs"].as_array().unwrap() {
            let broken =
                algoagent_jobs::db::transitions::broken_links(&env.pool, "job", job["id"].as_str().unwrap())
                    .await
                    .unwrap();
            assert!(broken.is_empty());
        }
    }
    let backtests: i64 =
        sqlx::query_scalar("SELECT count(*) FROM backtests").fetch_one(&env.pool).await.unwrap();
    assert_eq!(backtests, RUNS as i64, "one stored backtest per test job");
    let logs: String = (0..WORKERS).map(|i| env.worker_log(i)).collect();
    let suppressed = logs.matches("already finished").count()
        + logs.matches("fenced out").count()
        + logs.matches("another worker holds the lease").count();
    let retried: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE attempt > 1").fetch_one(&env.pool).await.unwrap();
    let reaped: i64 = sqlx::query_scalar("SELECT count(*) FROM transitions WHERE actor = 'reaper'")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    println!(
        "chaos: {RUNS} runs, {WORKERS} workers, {kills} SIGKILLs + {aborts} failpoint aborts mid-merge, \
         {suppressed} duplicate deliveries suppressed, {retried} jobs re-run after a death, {reaped} leases reaped, \
         all merged in {:.1} s",
        elapsed.as_secs_f64()
    );
    assert!(kills >= MIN_KILLS);
    env.shutdown().await.unwrap();
}
