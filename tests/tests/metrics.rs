//! Metrics from every process: after one run through a real coordinator and a real worker,
//! the worker's `GET /metrics` (on `METRICS_ADDR`) counts and times the jobs it ran, the
//! sandbox run, the validator and the merge, and the coordinator's `GET /metrics` counts its
//! HTTP requests by matched route, its run transitions and the Postgres gauges. A database
//! that does not answer leaves `/metrics` answering without the Postgres gauges, and a worker
//! whose heartbeats hang is unready but live.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use algoagent_tests::TestEnv;
use algoagent_tests::prom::{self, Sample};

async fn scrape(url: &str) -> Vec<Sample> {
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{url}: {content_type}");
    prom::parse(&resp.text().await.unwrap())
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    prom::sum(samples, name, labels).unwrap_or_else(|| panic!("no sample of {name} with {labels:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_and_the_coordinator_export_what_one_run_did() {
    // Arrange
    let mut env = TestEnv::new().await.unwrap();
    env.start_coordinator().await.unwrap();
    env.start_worker(&[]).await.unwrap();

    // Act
    let run_id = env.submit_example("sma_crossover.json").await.unwrap();
    let run = env.wait_for_run(&run_id, Duration::from_secs(240)).await.unwrap();
    assert_eq!(run["status"], "merged", "run {run_id} ended {}: {}", run["status"], run["error"]);
    let (status, _) = env.get("/api/no-such-route").await.unwrap();
    assert_eq!(status, 404);
    let worker = scrape(env.worker_metrics_url(0)).await;
    let coordinator = scrape(&format!("{}/metrics", env.api)).await;

    // Assert: the worker ran each step once, each succeeded, and each was timed.
    for kind in ["generate", "validate", "test", "merge"] {
        let k = [("kind", kind)];
        assert_eq!(value(&worker, "algoagent_jobs_started_total", &k), 1.0, "{kind}");
        assert_eq!(
            value(&worker, "algoagent_jobs_finished_total", &[("kind", kind), ("outcome", "succeeded")]),
            1.0,
            "{kind}"
        );
        assert_eq!(value(&worker, "algoagent_job_duration_seconds_count", &k), 1.0, "{kind}");
        assert_eq!(value(&worker, "algoagent_job_queue_wait_seconds_count", &k), 1.0, "{kind}");
        assert_eq!(value(&worker, "algoagent_job_retries_total", &k), 0.0, "{kind}");
    }
    assert_eq!(prom::sum(&worker, "algoagent_jobs_started_total", &[("kind", "fix")]), Some(0.0));
    assert_eq!(value(&worker, "algoagent_sandbox_runs_total", &[("exit_reason", "ok")]), 1.0);
    assert_eq!(
        value(&worker, "algoagent_sandbox_pool_hits_total", &[])
            + value(&worker, "algoagent_sandbox_pool_misses_total", &[]),
        1.0
    );
    assert!(value(&worker, "algoagent_sandbox_container_start_seconds_count", &[]) >= 1.0);
    assert_eq!(value(&worker, "algoagent_sandbox_active", &[]), 0.0);
    assert_eq!(value(&worker, "algoagent_validator_duration_seconds_count", &[]), 1.0);
    assert_eq!(
        prom::sum(&worker, "algoagent_validator_refusals_total", &[]),
        None,
        "the builtin code is clean"
    );
    assert_eq!(value(&worker, "algoagent_git_merge_duration_seconds_count", &[("outcome", "ok")]), 1.0);
    assert_eq!(value(&worker, "algoagent_lease_losses_total", &[]), 0.0);
    // Histogram buckets are cumulative: the +Inf bucket holds every observation.
    assert_eq!(
        value(&worker, "algoagent_job_duration_seconds_bucket", &[("kind", "test"), ("le", "+Inf")]),
        1.0
    );

    // Assert: the coordinator counted its requests by route pattern, not by URL.
    let post = [("method", "POST"), ("route", "/api/runs"), ("status", "202")];
    assert_eq!(value(&coordinator, "algoagent_http_requests_total", &post), 1.0);
    let polls = [("method", "GET"), ("route", "/api/runs/{id}"), ("status", "200")];
    assert!(value(&coordinator, "algoagent_http_requests_total", &polls) >= 1.0);
    assert!(
        !coordinator.iter().any(|s| s.labels.get("route").is_some_and(|r| r.contains(&run_id))),
        "a raw URL became a label"
    );
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert_eq!(value(&coordinator, "algoagent_http_requests_total", &unmatched), 1.0);
    assert!(
        value(&coordinator, "algoagent_http_request_duration_seconds_count", &[("route", "/api/runs")])
            >= 1.0
    );
    assert_eq!(value(&coordinator, "algoagent_runs", &[("status", "merged")]), 1.0);
    assert_eq!(value(&coordinator, "algoagent_postgres_scrape_success", &[]), 1.0);
    assert_eq!(value(&coordinator, "algoagent_dead_letters_open", &[]), 0.0);

    // Every message of the run was published by one relay or the other, and timed, and the
    // coordinator counted the run's last transition. Both are counted after their commit,
    // which may trail what the run's state already shows: scrape again until they settle.
    // (A relay that never won a row has no sample.)
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox").fetch_one(&env.pool).await.unwrap();
    let worker_url = env.worker_metrics_url(0).to_owned();
    let coordinator_url = format!("{}/metrics", env.api);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (published, lagged, merged) = loop {
        let (w, c) = (scrape(&worker_url).await, scrape(&coordinator_url).await);
        let both =
            |name: &str| prom::sum(&w, name, &[]).unwrap_or(0.0) + prom::sum(&c, name, &[]).unwrap_or(0.0);
        let published = both("algoagent_outbox_published_total");
        let merged = prom::sum(&c, "algoagent_run_transitions_total", &[("to", "merged")]).unwrap_or(0.0);
        if (published >= rows as f64 && merged >= 1.0) || std::time::Instant::now() > deadline {
            break (published, both("algoagent_outbox_relay_lag_seconds_count"), merged);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(merged, 1.0);
    assert_eq!(published, rows as f64);
    assert_eq!(lagged, rows as f64);
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_without_the_postgres_gauges_while_the_database_is_stuck() {
    // Arrange: a transaction holds an exclusive lock on `runs`, so the collector's first
    // query waits for it.
    let mut env = TestEnv::new().await.unwrap();
    env.start_coordinator().await.unwrap();
    let mut tx = env.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE").execute(&mut *tx).await.unwrap();

    // Act
    let stuck = scrape(&format!("{}/metrics", env.api)).await;
    tx.rollback().await.unwrap();
    let freed = scrape(&format!("{}/metrics", env.api)).await;

    // Assert
    assert_eq!(value(&stuck, "algoagent_postgres_scrape_success", &[]), 0.0);
    assert_eq!(prom::sum(&stuck, "algoagent_outbox_pending", &[]), None);
    assert!(value(&stuck, "algoagent_http_requests_total", &[("route", "/health")]) >= 1.0);
    assert_eq!(value(&freed, "algoagent_postgres_scrape_success", &[]), 1.0);
    assert_eq!(value(&freed, "algoagent_outbox_pending", &[]), 0.0);
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_is_unready_but_live_while_postgres_hangs() {
    // Arrange: a 3 s lease makes the worker heartbeat every second.
    let mut env = TestEnv::new().await.unwrap();
    env.start_worker_with(&["merge"], &[("ALGOAGENT_LEASE_SECS", "3")]).await.unwrap();
    let base = env.worker_metrics_url(0).trim_end_matches("/metrics").to_owned();
    let probe = |path: &'static str| {
        let url = format!("{base}{path}");
        async move {
            let resp = reqwest::get(&url).await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let wait_for = |path: &'static str, want: u16| {
        let probe = &probe;
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                let (status, body) = probe(path).await;
                if status == want || std::time::Instant::now() > deadline {
                    return (status, body);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(wait_for("/health/ready", 200).await.0, 200);
    assert_eq!(probe("/health/live").await.0, 200);

    // Act: a transaction holds the workers table, so every heartbeat write hangs.
    let mut tx = env.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE workers IN ACCESS EXCLUSIVE MODE").execute(&mut *tx).await.unwrap();
    let (unready, body) = wait_for("/health/ready", 503).await;
    let (live, live_body) = probe("/health/live").await;
    tx.rollback().await.unwrap();
    let (ready_again, _) = wait_for("/health/ready", 200).await;

    // Assert: not ready while the database hangs, yet live (the loop still ticks), and ready
    // again once it answers.
    assert_eq!(unready, 503, "{body}");
    assert_eq!(body["status"], "database unreachable");
    assert_eq!(live, 200, "{live_body}");
    assert_eq!(live_body["status"], "ok");
    assert_eq!(ready_again, 200);
    env.shutdown().await.unwrap();
}
