//! Invariant 3: at-least-once delivery, effectively-once effects.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use algoagent_core::{JobEnvelope, JobKind};
use algoagent_tests::TestEnv;

async fn scalar(env: &TestEnv, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&env.pool).await.unwrap()
}

fn log_count(env: &TestEnv, file: &str, needle: &str) -> usize {
    std::fs::read_to_string(env.dir.path().join(file)).unwrap_or_default().matches(needle).count()
}

async fn publish_copy(env: &TestEnv, channel: &lapin::Channel, envelope: &JobEnvelope) {
    let body = serde_json::to_vec(envelope).unwrap();
    algoagent_jobs::queue::publish_confirmed(
        channel,
        &env.names().jobs_exchange(),
        envelope.kind.as_str(),
        &body,
        &BTreeMap::new(),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_job_is_acked_without_rerunning_and_merges_once() {
    // Arrange: one run merged end to end.
    let mut env = TestEnv::new().await.unwrap();
    env.start_coordinator().await.unwrap();
    env.start_worker(&[]).await.unwrap();
    let run_id = env.submit_example("sma_crossover.json").await.unwrap();
    let run = env.wait_for_run(&run_id, Duration::from_secs(180)).await.unwrap();
    assert_eq!(run["status"], "merged", "{}", run["error"]);
    let transitions_before = scalar(&env, "SELECT count(*) FROM transitions").await;

    // Act: deliver every job of the run twice more.
    let (_conn, channel) = env.amqp_channel().await.unwrap();
    let rows = algoagent_jobs::db::jobs::for_run(&env.pool, run_id.parse().unwrap()).await.unwrap();
    let mut sent = 0;
    for row in &rows {
        let mut envelope = row.envelope().unwrap();
        envelope.attempt = 1;
        publish_copy(&env, &channel, &envelope).await;
        publish_copy(&env, &channel, &envelope).await;
        sent += 2;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while log_count(&env, "worker0.log", "already finished") < sent {
        assert!(Instant::now() < deadline, "duplicates were not all acked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Assert: one result per job, one version, one backtest, one commit; nothing new audited.
    assert_eq!(scalar(&env, "SELECT count(*) FROM strategy_versions").await, 1);
    assert_eq!(scalar(&env, "SELECT count(*) FROM backtests").await, 1);
    assert_eq!(scalar(&env, "SELECT max(attempt)::bigint FROM jobs").await, 1);
    assert_eq!(scalar(&env, "SELECT count(*) FROM transitions").await, transitions_before);
    let repo = algoagent_gitflow::StrategyRepo::open_or_init(
        env.repo_path().to_str().unwrap(),
        &env.dir.path().join("c"),
    )
    .unwrap();
    let version_id = run["versions"][0]["id"].as_i64().unwrap();
    let name = run["strategy"]["name"].as_str().unwrap();
    assert_eq!(repo.count_version_commits(name, version_id).unwrap(), 1);
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_copies_of_a_job_are_fenced_to_one_result() {
    // Arrange: the generate job is queued three times before any worker exists.
    let mut env = TestEnv::new().await.unwrap();
    env.start_coordinator().await.unwrap();
    let run_id = env.submit_example("sma_crossover.json").await.unwrap();
    let (_conn, channel) = env.amqp_channel().await.unwrap();
    let queue = env.names().job_queue(JobKind::Generate);
    let deadline = Instant::now() + Duration::from_secs(20);
    while algoagent_jobs::queue::topology::depth(&channel, &queue).await.unwrap() < 1 {
        assert!(Instant::now() < deadline, "the relay never published the generate job");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let row = algoagent_jobs::db::jobs::for_run(&env.pool, run_id.parse().unwrap()).await.unwrap().remove(0);
    let envelope = row.envelope().unwrap();
    publish_copy(&env, &channel, &envelope).await;
    publish_copy(&env, &channel, &envelope).await;

    // Act: two workers race for the copies.
    env.start_worker(&[]).await.unwrap();
    env.start_worker(&[]).await.unwrap();
    let run = env.wait_for_run(&run_id, Duration::from_secs(180)).await.unwrap();

    // Assert
    assert_eq!(run["status"], "merged", "{}", run["error"]);
    assert_eq!(scalar(&env, "SELECT count(*) FROM strategy_versions").await, 1);
    let succeeded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM transitions WHERE entity_type = 'job' AND entity_id = $1 AND to_state = 'succeeded'",
    )
    .bind(row.id.to_string())
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(succeeded, 1);
    env.shutdown().await.unwrap();
}
