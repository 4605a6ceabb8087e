//! Invariant 8: bad input gets a clear error naming the field and changes nothing.
#![allow(clippy::unwrap_used)]

use algoagent_tests::TestEnv;

async fn count(env: &TestEnv, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&env.pool).await.unwrap()
}

async fn assert_nothing_stored(env: &TestEnv) {
    for table in ["strategies", "runs", "jobs", "strategy_versions", "outbox", "transitions"] {
        assert_eq!(count(env, table).await, 0, "{table} must stay empty");
    }
    let (_conn, channel) = env.amqp_channel().await.unwrap();
    let depth = algoagent_jobs::queue::topology::depth(
        &channel,
        &env.names().job_queue(algoagent_core::JobKind::Generate),
    )
    .await
    .unwrap();
    assert_eq!(depth, 0, "no job message may be queued");
}

const GOOD: &str =
    r#"{"name":"Ok_Name","entry_rules":["close > sma(close, 20)"],"exit_rules":["close < sma(close, 20)"]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_unknown_and_hostile_specs_are_refused_and_leave_nothing_behind() {
    // Arrange: a coordinator and no worker, so anything queued would stay visible.
    let mut env = TestEnv::new().await.unwrap();
    env.start_coordinator().await.unwrap();

    // Act + Assert: malformed JSON is a 400.
    let (status, body) = env.post("/api/runs", "{\"name\": \"x\",").await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "MALFORMED_JSON");
    assert!(body["timestamp"].is_string());

    // An unknown field is named.
    let unknown = GOOD.replace("\"name\"", "\"colour\":\"red\",\"name\"");
    let (status, body) = env.post("/api/runs", unknown).await.unwrap();
    assert_eq!(status, 422, "{body}");
    assert!(body["details"].to_string().contains("colour"), "{body}");

    // A path-traversal name is refused with its field.
    let hostile = GOOD.replace("Ok_Name", "../etc");
    let (status, body) = env.post("/api/runs", hostile).await.unwrap();
    assert_eq!(status, 422, "{body}");
    let details = body["details"].as_array().unwrap();
    assert!(details.iter().any(|d| d["loc"][0] == "name"), "{body}");

    // An oversized body is a 413.
    let huge =
        format!(r#"{{"name":"Big","description":"{}","entry_rules":["close > 1"]}}"#, "x".repeat(2 << 20));
    let (status, body) = env.post("/api/runs", huge).await.unwrap();
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "BODY_TOO_LARGE");

    // Absurd numbers are named.
    let absurd = r#"{"name":"Absurd","indicators":{"fast":{"type":"sma","period":1000000000}},"entry_rules":["close > fast"],"exit_rules":["close < fast"]}"#;
    let (status, body) = env.post("/api/runs", absurd).await.unwrap();
    assert_eq!(status, 422, "{body}");
    assert!(body["details"].to_string().contains("period"), "{body}");

    assert_nothing_stored(&env).await;
    assert!(!env.repo_path().exists(), "no repository file may be written");

    // Control: the same shape, valid, is accepted.
    let (status, body) = env.post("/api/runs", GOOD).await.unwrap();
    assert_eq!(status, 202, "{body}");
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_api_key_gets_its_own_submission_budget() {
    // Arrange: 2 submissions a minute per key, no burst beyond 2.
    let mut env = TestEnv::new().await.unwrap();
    env.extra_env.push(("SUBMIT_RPM".into(), "2".into()));
    env.extra_env.push(("SUBMIT_BURST".into(), "2".into()));
    env.start_coordinator().await.unwrap();
    let client = reqwest::Client::new();
    let submit = |key: &'static str| {
        client
            .post(format!("{}/api/runs", env.api))
            .header("content-type", "application/json")
            .header("x-api-key", key)
            .body(GOOD)
            .send()
    };

    // Act + Assert: the third submission of key A is refused with Retry-After semantics,
    // and stores nothing; key B still has its own budget.
    assert_eq!(submit("key-a").await.unwrap().status(), 202);
    assert_eq!(submit("key-a").await.unwrap().status(), 202);
    let refused = submit("key-a").await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1, "Retry-After: {retry_after}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "RATE_LIMITED");
    assert!(body["details"]["retry_after_secs"].as_f64().unwrap() >= 1.0);
    assert_eq!(count(&env, "runs").await, 2);
    assert_eq!(submit("key-b").await.unwrap().status(), 202);
    env.shutdown().await.unwrap();
}
