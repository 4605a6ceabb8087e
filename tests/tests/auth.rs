//! API keys with roles, against the real coordinator: the API is open until the first key
//! exists (`API_AUTH=auto`), then every non-public route needs a key of a high enough role
//! (viewer < submitter < operator); keys are stored only as hashes, revocation takes effect
//! at once, and refused requests store nothing. `API_AUTH=required` is closed from the start.
#![allow(clippy::unwrap_used)]

use algoagent_tests::{TestEnv, examples_dir};
use reqwest::StatusCode;

async fn create_key(env: &TestEnv, name: &str, role: &str) -> String {
    let out = env.coordinator_command(&["keys", "create", "--name", name, "--role", role]).await.unwrap();
    assert!(out.status.success(), "keys create: {}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("aa_") && key.len() == 67, "unexpected key format: {key}");
    key
}

/// Sends a request with an optional key; returns status and the error code, if any.
async fn call(
    env: &TestEnv,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &[u8],
) -> (StatusCode, String) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", env.api);
    let mut req = match method {
        "GET" => client.get(url),
        _ => client.post(url).header("content-type", "application/json").body(body.to_vec()),
    };
    if let Some(key) = key {
        req = req.header("x-api-key", key);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

async fn count_runs(env: &TestEnv) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM runs").fetch_one(&env.pool).await.unwrap()
}

#[tokio::test]
async fn once_a_key_exists_every_route_needs_a_key_with_a_high_enough_role() {
    // Arrange: a coordinator on a fresh database, where no key exists yet.
    let env = TestEnv::start(0).await.unwrap();
    let spec = std::fs::read(examples_dir().join("sma_crossover.json")).unwrap();
    assert_eq!(call(&env, "GET", "/api/runs", None, b"").await.0, StatusCode::OK, "open before any key");

    let viewer = create_key(&env, "dashboards", "viewer").await;
    let submitter = create_key(&env, "ci-bot", "submitter").await;
    let operator = create_key(&env, "on-call", "operator").await;

    // Keys are stored only as their SHA-256.
    let stored: Vec<String> = sqlx::query_scalar("SELECT name || role || key_sha256 FROM api_keys")
        .fetch_all(&env.pool)
        .await
        .unwrap();
    for key in [&viewer, &submitter, &operator] {
        assert!(stored.iter().all(|row| !row.contains(&key[3..])), "a key is stored in clear");
    }

    // Public routes stay public (a health route may say 503 degraded, never 401); everything
    // else needs a key.
    for path in ["/health", "/metrics", "/openapi.json", "/api/production/strategies/health/"] {
        let status = call(&env, "GET", path, None, b"").await.0;
        assert!(status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE, "{path}: {status}");
    }
    for (method, path) in
        [("GET", "/api/runs"), ("GET", "/api/workers"), ("POST", "/api/runs"), ("GET", "/api/dlq")]
    {
        assert_eq!(
            call(&env, method, path, None, &spec).await,
            (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED".into())
        );
    }
    let bogus = "aa_0000000000000000000000000000000000000000000000000000000000000000";
    assert_eq!(call(&env, "GET", "/api/runs", Some(bogus), b"").await.0, StatusCode::UNAUTHORIZED);

    // Viewer: reads and checks, but no submissions.
    assert_eq!(call(&env, "GET", "/api/runs", Some(&viewer), b"").await.0, StatusCode::OK);
    let code = br#"{"code": "x = 1"}"#;
    assert_eq!(
        call(&env, "POST", "/api/production/strategies/validate-code/", Some(&viewer), code).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&env, "POST", "/api/runs", Some(&viewer), &spec).await,
        (StatusCode::FORBIDDEN, "FORBIDDEN".into())
    );
    assert_eq!(count_runs(&env).await, 0, "a refused submission stored a run");

    // Submitter: submits (audited under its key's name), but no dead-letter operations,
    // deploys or rollbacks.
    assert_eq!(call(&env, "POST", "/api/runs", Some(&submitter), &spec).await.0, StatusCode::ACCEPTED);
    assert_eq!(count_runs(&env).await, 1);
    let actors: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT actor FROM transitions WHERE entity_type = 'run'")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    assert_eq!(actors, vec!["api:ci-bot".to_owned()]);
    assert_eq!(call(&env, "GET", "/api/dlq", Some(&submitter), b"").await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        call(&env, "POST", "/api/production/strategies/1/rollback/", Some(&submitter), b"{}").await.0,
        StatusCode::FORBIDDEN
    );

    // Operator: everything.
    assert_eq!(call(&env, "GET", "/api/dlq", Some(&operator), b"").await.0, StatusCode::OK);
    assert_eq!(call(&env, "POST", "/api/runs", Some(&operator), &spec).await.0, StatusCode::ACCEPTED);

    // The CLI sends ALGOAGENT_API_KEY, and says what to do without one.
    let out = env.cli(&["runs"]).await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ALGOAGENT_API_KEY"), "{out:?}");
    let out = env.cli_with_env(&[("ALGOAGENT_API_KEY", &viewer)], &["runs"]).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Revocation takes effect on the next request; listing never shows keys.
    let out = env.coordinator_command(&["keys", "revoke", "dashboards"]).await.unwrap();
    assert!(out.status.success());
    assert_eq!(call(&env, "GET", "/api/runs", Some(&viewer), b"").await.0, StatusCode::UNAUTHORIZED);
    let listed = env.coordinator_command(&["keys", "list"]).await.unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains("dashboards\tviewer") && listed.contains("revoked"), "{listed}");
    assert!(!listed.contains(&submitter[3..]), "keys list printed a key");

    // Bad input to the key commands is refused with the reason and stores nothing.
    for args in [
        &["keys", "create", "--name", "x", "--role", "admin"][..],
        &["keys", "create", "--name", "../etc", "--role", "viewer"][..],
        &["keys", "create", "--name", "ci-bot", "--role", "viewer"][..],
        &["keys", "revoke", "nobody"][..],
    ] {
        let out = env.coordinator_command(args).await.unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
    }
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys").fetch_one(&env.pool).await.unwrap();
    assert_eq!(keys, 3);
    env.shutdown().await.unwrap();
}

#[tokio::test]
async fn api_auth_required_refuses_requests_before_any_key_exists() {
    let mut env = TestEnv::new().await.unwrap();
    env.extra_env.push(("API_AUTH".into(), "required".into()));
    env.start_coordinator().await.unwrap();
    assert_eq!(call(&env, "GET", "/api/runs", None, b"").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&env, "GET", "/health", None, b"").await.0, StatusCode::OK);
    let operator = create_key(&env, "first", "operator").await;
    assert_eq!(call(&env, "GET", "/api/runs", Some(&operator), b"").await.0, StatusCode::OK);
    env.shutdown().await.unwrap();
}
