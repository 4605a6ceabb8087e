//! Invariants 4, 5 and 9: failures are classified, dead letters can be replayed, runs can be
//! cancelled, and SIGTERM drains without losing a job.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use algoagent_tests::{TestEnv, wait_until};
use lapin::options::BasicGetOptions;

async fn reasons(env: &TestEnv) -> Vec<String> {
    sqlx::query_scalar("SELECT reason FROM dead_letters ORDER BY id").fetch_all(&env.pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_and_unknown_kind_messages_are_dead_lettered_with_their_reason() {
    // Arrange
    let mut env = TestEnv::new().await.unwrap();
    env.start_coordinator().await.unwrap();
    env.start_worker(&[]).await.unwrap();
    let (_conn, channel) = env.amqp_channel().await.unwrap();
    let jobs = env.names().jobs_exchange();

    // Act
    algoagent_jobs::queue::publish_confirmed(&channel, &jobs, "generate", b"\x00 not json", &BTreeMap::new())
        .await
        .unwrap();
    let unknown = br#"{"v":1,"job_id":"0190b3f0-0000-7000-8000-000000000001","run_id":"0190b3f0-0000-7000-8000-000000000002","strategy_id":1,"kind":"explode","attempt":1,"payload":{"type":"explode.v1"}}"#;
    algoagent_jobs::queue::publish_confirmed(&channel, &jobs, "validate", unknown, &BTreeMap::new())
        .await
        .unwrap();

    // Assert: a row each, and the messages sit in <ns>.dead with the reason in headers.
    wait_until("two dead letters", Duration::from_secs(20), || async { reasons(&env).await.len() == 2 })
        .await;
    let mut found = reasons(&env).await;
    found.sort();
    assert_eq!(found, ["undecodable", "unknown_kind"]);
    let mut header_reasons = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while header_reasons.len() < 2 && Instant::now() < deadline {
        let got =
            channel.basic_get(&env.names().dead_queue(), BasicGetOptions { no_ack: true }).await.unwrap();
        match got {
            Some(msg) => header_reasons.push(
                algoagent_jobs::queue::header_str(
                    msg.delivery.properties.headers().as_ref(),
                    "x-algoagent-reason",
                )
                .unwrap(),
            ),
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    header_reasons.sort();
    assert_eq!(header_reasons, ["undecodable", "unknown_kind"]);
    // The CLI lists them.
    let out = env.cli(&["dlq", "list"]).await.unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("undecodable") && text.contains("unknown_kind"), "{text}");
    // Nothing to replay without a job: refused with a reason, exit 1.
    let id: i64 = sqlx::query_scalar("SELECT min(id) FROM dead_letters").fetch_one(&env.pool).await.unwrap();
    let out = env.cli(&["dlq", "replay", &id.to_string()]).await.unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_over_its_attempt_limit_is_dead_lettered_and_its_replay_completes_the_run() {
    // Arrange: test jobs get two attempts, and the only test worker cannot reach Docker.
    let mut env = TestEnv::new().await.unwrap();
    env.extra_env.push(("ALGOAGENT_MAX_ATTEMPTS".into(), "test=2".into()));
    env.start_coordinator().await.unwrap();
    env.start_worker(&["generate", "validate", "merge"]).await.unwrap();
    // A "socket" that is a plain file: every Docker call fails like a daemon that went away.
    let fake_socket = env.dir.path().join("docker.sock");
    std::fs::write(&fake_socket, b"").unwrap();
    let docker_host = format!("unix://{}", fake_socket.display());
    let broken = env.start_worker_with(&["test"], &[("DOCKER_HOST", &docker_host)]).await.unwrap();

    // Act
    let run_id = env.submit_example("sma_crossover.json").await.unwrap();
    let run = env.wait_for_run(&run_id, Duration::from_secs(90)).await.unwrap();

    // Assert: dead, with the reason, after exactly two attempts.
    assert_eq!(run["status"], "dead", "{run}");
    let test_job = run["jobs"].as_array().unwrap().iter().find(|j| j["kind"] == "test").unwrap().clone();
    assert_eq!(test_job["status"], "dead");
    assert_eq!(test_job["attempt"], 2);
    let (id, reason): (i64, String) =
        sqlx::query_as("SELECT id, reason FROM dead_letters WHERE kind = 'test'")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert_eq!(reason, "attempts_exhausted");

    // Fix the cause, then replay through the CLI.
    env.restart_worker(broken, &["test"], &[]).await.unwrap();
    let out = env.cli(&["dlq", "replay", &id.to_string()]).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run = env.wait_for_run(&run_id, Duration::from_secs(90)).await.unwrap();
    assert_eq!(run["status"], "merged", "{}", run["error"]);
    let states: Vec<&str> = run["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["entity_type"] == "run")
        .map(|t| t["to_state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["submitted", "generating", "validating", "testing", "dead", "testing", "merging", "merged"]
    );
    assert_eq!(run["audit"]["chain_ok"], true);
    let replayed: String = sqlx::query_scalar(
        "SELECT to_state FROM transitions WHERE entity_type = 'dead_letter' AND entity_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(id.to_string())
    .fetch_one(&env.pool)
    .await
    .unwrap();
    assert_eq!(replayed, "replayed");
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_run_stops_its_running_sandbox_and_discards_the_result() {
    // Arrange: a slow sandbox (a tenth of a CPU) so the test job is surely running.
    let mut env = TestEnv::new().await.unwrap();
    env.start_coordinator().await.unwrap();
    env.start_worker_with(&[], &[("SANDBOX_CPU_MILLIS", "100"), ("SANDBOX_WARM_POOL", "0")]).await.unwrap();
    let run_id = env.submit_example("sma_crossover.json").await.unwrap();
    wait_until("the test job to start", Duration::from_secs(60), || async {
        env.worker_log(0).contains(r#""message":"job started","kind":"test""#)
    })
    .await;

    // Act
    let out = env.cli(&["cancel", &run_id]).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Assert: the worker stopped the job, its container is gone, nothing was stored.
    wait_until("the worker to stop the job", Duration::from_secs(20), || async {
        env.worker_log(0).contains("its jobs in flight were told to stop")
    })
    .await;
    wait_until("the sandbox container to go", Duration::from_secs(20), || async {
        let out = tokio::process::Command::new("docker")
            .args(["ps", "-aq", "--filter", &format!("label=algoagent.run={run_id}")])
            .output()
            .await
            .unwrap();
        out.stdout.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, run) = env.get(&format!("/api/runs/{run_id}")).await.unwrap();
    assert_eq!(run["status"], "cancelled");
    assert!(
        run["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["status"] == "succeeded" || j["status"] == "cancelled")
    );
    assert_eq!(run["backtests"].as_array().unwrap().len(), 0, "the cancelled job's result must be discarded");
    // A second cancel is refused.
    let out = env.cli(&["cancel", &run_id]).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_sandbox_run_finishes_the_job_and_exits_zero() {
    // Arrange
    let mut env = TestEnv::new().await.unwrap();
    env.start_coordinator().await.unwrap();
    env.start_worker(&["generate", "validate", "merge"]).await.unwrap();
    let tester = env
        .start_worker_with(&["test"], &[("SANDBOX_CPU_MILLIS", "250"), ("SANDBOX_WARM_POOL", "0")])
        .await
        .unwrap();
    let run_id = env.submit_example("rsi_reversal.json").await.unwrap();
    wait_until("the test job to start", Duration::from_secs(60), || async {
        env.worker_log(tester).contains(r#""message":"job started","kind":"test""#)
    })
    .await;

    // Act
    algoagent_tests::terminate(env.worker(tester));
    let status =
        tokio::time::timeout(Duration::from_secs(60), env.worker(tester).wait()).await.unwrap().unwrap();

    // Assert: clean exit, the job was finished (not lost), and the run completes.
    assert_eq!(status.code(), Some(0), "worker exit status");
    // The log is copied from the process's stderr by a task of its own, which may still be
    // writing the last lines when the exit is seen.
    wait_until("the worker's last log line", Duration::from_secs(10), || async {
        env.worker_log(tester).contains("worker stopped")
    })
    .await;
    let log = env.worker_log(tester);
    assert!(log.contains("shutdown signal received"), "{log}");
    env.restart_worker(tester, &["test"], &[]).await.unwrap();
    let run = env.wait_for_run(&run_id, Duration::from_secs(90)).await.unwrap();
    assert_eq!(run["status"], "merged", "{}", run["error"]);
    env.shutdown().await.unwrap();
}
