//! Invariant 9: a blinking dependency costs time, never work. RabbitMQ, then Postgres, then
//! Redis are restarted in the middle of a batch; every run completes and no process exits.
//!
//! This test restarts the machine's shared services, so `scripts/test.sh` runs it alone,
//! after every other test.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use algoagent_tests::{TestEnv, examples_dir};

const RUNS: usize = 12;

fn sh(script: &str) {
    let status = Command::new("bash").arg("-c").arg(script).status().unwrap();
    assert!(status.success(), "`{script}` failed: {status}");
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

async fn wait_port(port: u16, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while port_open(port) != up {
        assert!(Instant::now() < deadline, "port {port} never became {}", if up { "open" } else { "closed" });
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Stops the broker, checks the coordinator reports itself degraded meanwhile, restarts it
/// and checks health comes back.
async fn restart_rabbitmq(env: &TestEnv) {
    sh("rabbitmqctl -q stop_app");
    wait_health(env, 503).await;
    sh("rabbitmqctl -q start_app");
    wait_port(5672, true).await;
    wait_health(env, 200).await;
}

async fn wait_health(env: &TestEnv, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (got, body) = env.get("/health").await.unwrap();
        if got == status {
            if status == 503 {
                assert_eq!(body["components"]["rabbitmq"]["available"], false, "{body}");
            }
            return;
        }
        assert!(Instant::now() < deadline, "/health never answered {status}: {got} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn restart_postgres() {
    sh(
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | sort -V | tail -n1) main restart -m fast",
    );
    wait_port(5432, true).await;
}

async fn restart_redis() {
    sh("redis-cli shutdown nosave || true");
    wait_port(6379, false).await;
    sh("redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no");
    wait_port(6379, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_complete_across_broker_database_and_cache_restarts() {
    // Arrange
    let mut env = TestEnv::new().await.unwrap();
    env.start_coordinator().await.unwrap();
    env.start_worker(&[]).await.unwrap();
    env.start_worker(&[]).await.unwrap();
    let spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(examples_dir().join("sma_crossover.json")).unwrap()).unwrap();
    let mut run_ids = Vec::new();
    let submit = |i: usize| {
        let mut s = spec.clone();
        s["name"] = serde_json::Value::String(format!("restart_{i:02}"));
        serde_json::to_vec(&s).unwrap()
    };
    for i in 0..RUNS / 2 {
        let (status, resp) = env.post("/api/runs", submit(i)).await.unwrap();
        assert_eq!(status, 202, "{resp}");
        run_ids.push(resp["run_id"].as_str().unwrap().to_owned());
    }

    // Act: restart each dependency in turn while runs are in flight.
    let started = Instant::now();
    restart_rabbitmq(&env).await;
    let after_rabbit = started.elapsed();
    restart_postgres().await;
    let after_pg = started.elapsed();
    restart_redis().await;
    let after_redis = started.elapsed();
    // Submissions after the restarts work too.
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in RUNS / 2..RUNS {
        loop {
            let (status, resp) = env.post("/api/runs", submit(i)).await.unwrap();
            if status == 202 {
                run_ids.push(resp["run_id"].as_str().unwrap().to_owned());
                break;
            }
            assert!(
                Instant::now() < deadline,
                "submissions keep failing after the restarts: {status} {resp}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    // Assert
    for run_id in &run_ids {
        let run = env.wait_for_run(run_id, Duration::from_secs(240)).await.unwrap();
        assert_eq!(run["status"], "merged", "run {run_id}: {}", run["error"]);
    }
    let recovered = started.elapsed();
    for i in 0..env.worker_count() {
        assert!(env.worker(i).try_wait().unwrap().is_none(), "worker {i} exited");
    }
    assert!(env.coordinator().try_wait().unwrap().is_none(), "the coordinator exited");
    println!(
        "restarts: rabbitmq restarted by {:.1} s, postgres by {:.1} s, redis by {:.1} s; all {RUNS} runs merged {:.1} s after the first restart",
        after_rabbit.as_secs_f64(),
        after_pg.as_secs_f64(),
        after_redis.as_secs_f64(),
        recovered.as_secs_f64()
    );
    env.shutdown().await.unwrap();
}
