//! The prototype's health routes (`/api/production/{strategies,backtests}/health/`): the
//! guide's components, `safe_tools` included, and `docker_available` as the Docker engine
//! itself answers: true with the real engine, false (promptly, not hanging) when the engine
//! is missing or never answers, whatever the workers' heartbeats say.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use algoagent_tests::TestEnv;
use serde_json::Value;

/// Polls `path` until `ready` holds (workers need a heartbeat first), giving up after a minute.
async fn health_until(env: &TestEnv, path: &str, ready: impl Fn(u16, &Value) -> bool) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = env.get(path).await.unwrap();
        if ready(status, &body) || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_real_engine_and_a_worker_every_component_of_the_guide_is_available() {
    // Arrange: the machine's Docker engine and one worker of every kind.
    let env = TestEnv::start(1).await.unwrap();

    // Act
    let (status, body) = health_until(&env, "/api/production/strategies/health/", |s, _| s == 200).await;
    let (b_status, backtests) = env.get("/api/production/backtests/health/").await.unwrap();

    // Assert
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["overall"], "healthy");
    let c = &body["components"];
    for component in ["state_manager", "safe_tools", "output_validator", "sandbox_runner", "git_manager"] {
        assert_eq!(c[component]["available"], true, "{component}: {body}");
    }
    assert_eq!(c["safe_tools"]["workspace"], env.repo_path().to_str().unwrap());
    assert_eq!(c["git_manager"]["repo_path"], env.repo_path().to_str().unwrap());
    assert_eq!(c["sandbox_runner"]["docker_available"], true);
    assert_eq!(c["sandbox_runner"]["image_available"], true);
    assert_eq!(c["state_manager"]["strategies_tracked"], 0);
    assert_eq!(b_status, 200, "{backtests}");
    assert_eq!(backtests["components"]["sandbox_runner"]["docker_available"], true);
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_that_never_answers_or_is_missing_is_reported_unavailable_not_waited_for() {
    // Arrange: a "Docker socket" that accepts connections and never answers, and one that
    // does not exist; a worker with a live heartbeat (it uses the real engine).
    let mut env = TestEnv::new().await.unwrap();
    let socket = env.dir.path().join("silent-docker.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    env.extra_env.push(("DOCKER_HOST".into(), format!("unix://{}", socket.display())));
    env.start_coordinator().await.unwrap();
    env.extra_env.clear();
    env.start_worker(&[]).await.unwrap();

    // Act: the worker's heartbeat is in, yet the engine the coordinator asks is silent.
    let (status, body) = health_until(&env, "/api/production/strategies/health/", |_, b| {
        b["components"]["sandbox_runner"]["workers"].as_i64().unwrap_or(0) > 0
    })
    .await;
    let (b_status, backtests) = env.get("/api/production/backtests/health/").await.unwrap();

    // Assert
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["overall"], "degraded");
    assert_eq!(body["components"]["sandbox_runner"]["workers"], 1, "{body}");
    assert_eq!(body["components"]["sandbox_runner"]["docker_available"], false, "{body}");
    assert_eq!(body["components"]["sandbox_runner"]["available"], false);
    assert_eq!(body["components"]["safe_tools"]["available"], true, "{body}");
    assert_eq!(b_status, 503, "{backtests}");
    assert_eq!(backtests["components"]["sandbox_runner"]["docker_available"], false);
    silent.abort();

    // A socket path with nothing behind it: unavailable too.
    env.shutdown().await.unwrap();
    let mut env = TestEnv::new().await.unwrap();
    let missing = env.dir.path().join("no-docker-here.sock");
    env.extra_env.push(("DOCKER_HOST".into(), format!("unix://{}", missing.display())));
    env.start_coordinator().await.unwrap();
    let (status, body) = env.get("/api/production/backtests/health/").await.unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["components"]["sandbox_runner"]["docker_available"], false, "{body}");

    // Bad input: the health routes are GET only, and say so in the guide's error body.
    let (status, body) = env.post("/api/production/strategies/health/", "{}").await.unwrap();
    assert_eq!(status, 405, "{body}");
    assert_eq!(body["code"], "METHOD_NOT_ALLOWED");
    for key in ["error", "details", "timestamp"] {
        assert!(body.get(key).is_some(), "no {key} in {body}");
    }
    env.shutdown().await.unwrap();
}
