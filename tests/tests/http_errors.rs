//! One error body everywhere: the router's own 404 and 405, wrong-shaped bodies on the
//! prototype's `/api/production/` routes (400 naming the field, as its guide promises) and
//! bad query parameters (400 naming the parameter) all answer
//! `{"error", "details", "code", "timestamp"}`.
#![allow(clippy::unwrap_used)]

use algoagent_tests::TestEnv;
use serde_json::{Value, json};

fn assert_error_shape(body: &Value, code: &str) {
    for key in ["error", "details", "code", "timestamp"] {
        assert!(body.get(key).is_some(), "no `{key}` in {body}");
    }
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["timestamp"].as_str().is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_path_is_a_404_with_the_error_body_and_a_code_of_its_own() {
    // Arrange
    let env = TestEnv::start(0).await.unwrap();

    // Act
    let (get_status, get_body) = env.get("/api/nope").await.unwrap();
    let (post_status, post_body) = env.post("/api/runs/x/y/z", "{}").await.unwrap();
    let (root_status, root_body) = env.get("/").await.unwrap();

    // Assert
    assert_eq!(get_status, 404);
    assert_error_shape(&get_body, "NO_ROUTE");
    assert_eq!(get_body["details"]["path"], "/api/nope");
    assert_eq!(get_body["details"]["method"], "GET");
    assert_eq!(post_status, 404);
    assert_error_shape(&post_body, "NO_ROUTE");
    assert_eq!(root_status, 404);
    assert_error_shape(&root_body, "NO_ROUTE");
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_a_405_with_the_error_body_and_the_allow_header() {
    // Arrange
    let env = TestEnv::start(0).await.unwrap();
    let http = reqwest::Client::new();

    // Act
    let delete = http.delete(format!("{}/api/runs", env.api)).send().await.unwrap();
    let delete_status = delete.status().as_u16();
    let delete_allow = delete.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
    let delete_body: Value = delete.json().await.unwrap();
    let post = http.post(format!("{}/health", env.api)).body("{}").send().await.unwrap();
    let post_status = post.status().as_u16();
    let post_allow = post.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
    let post_body: Value = post.json().await.unwrap();
    let slashed = http.put(format!("{}/api/production/strategies/health/", env.api)).send().await.unwrap();
    let slashed_status = slashed.status().as_u16();
    let slashed_body: Value = slashed.json().await.unwrap();

    // Assert
    assert_eq!(delete_status, 405);
    assert_error_shape(&delete_body, "METHOD_NOT_ALLOWED");
    let allow = delete_allow.expect("a 405 keeps the Allow header");
    assert!(allow.contains("GET") && allow.contains("POST"), "Allow: {allow}");
    assert_eq!(post_status, 405);
    assert_error_shape(&post_body, "METHOD_NOT_ALLOWED");
    assert!(post_allow.expect("a 405 keeps the Allow header").contains("GET"));
    assert_eq!(slashed_status, 405);
    assert_error_shape(&slashed_body, "METHOD_NOT_ALLOWED");
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_shaped_bodies_on_the_production_routes_are_400_naming_the_field() {
    // Arrange: one strategy, so deploy and rollback reach their own checks.
    let env = TestEnv::start(0).await.unwrap();
    let id: i64 = sqlx::query_scalar("INSERT INTO strategies (name) VALUES ('shape_check') RETURNING id")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    let code = "/api/production/strategies/validate-code/";
    let deploy = format!("/api/production/strategies/{id}/deploy/");
    let rollback = format!("/api/production/strategies/{id}/rollback/");
    // (path, body, the field path expected in details[0].loc)
    let cases: Vec<(&str, &str, Value)> = vec![
        (code, r#"{"code": 5}"#, json!(["code"])),
        (code, r#"{"code": "x = 1", "colour": "red"}"#, json!(["colour"])),
        (code, r#"{"strict_mode": true}"#, json!(["code"])),
        (code, r#"{"code": "x = 1", "strict_mode": "yes"}"#, json!(["strict_mode"])),
        (code, "[1, 2]", json!([])),
        (&deploy, r#"{"create_tag": "yes"}"#, json!(["create_tag"])),
        (&deploy, r#"{"create_tag": false, "tag_version": "v1"}"#, json!(["tag_version"])),
        (&deploy, r#"{"tag_version": "v1", "force": true}"#, json!(["force"])),
        (&rollback, r#"{"commit_hash": 7}"#, json!(["commit_hash"])),
        (&rollback, r#"{"reason": "bug"}"#, json!(["commit_hash"])),
    ];

    for (path, body, loc) in cases {
        // Act
        let (status, resp) = env.post(path, body).await.unwrap();

        // Assert
        assert_eq!(status, 400, "POST {path} {body}: {resp}");
        assert_error_shape(&resp, "INVALID_REQUEST");
        assert_eq!(resp["details"][0]["loc"], loc, "POST {path} {body}: {resp}");
        assert!(resp["details"][0]["msg"].as_str().is_some_and(|m| !m.is_empty()), "{resp}");
    }
    // The prototype-shaped checks answer 400 to a body of the wrong type too.
    let (status, resp) = env.post("/api/production/strategies/validate-schema/", "[1, 2]").await.unwrap();
    assert_eq!(status, 400, "{resp}");
    assert_eq!(resp["status"], "invalid");
    let (status, resp) = env
        .post("/api/production/backtests/validate-config/", r#"{"initial_capital": "lots"}"#)
        .await
        .unwrap();
    assert_eq!(status, 400, "{resp}");
    assert_eq!(resp["status"], "invalid");
    assert!(resp["errors"].to_string().contains("initial_capital"), "{resp}");
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_stays_400_oversized_stays_413_and_an_invalid_spec_stays_422() {
    // Arrange
    let env = TestEnv::start(0).await.unwrap();
    let huge = format!(r#"{{"code": "{}"}}"#, "x".repeat(2 << 20));

    // Act
    let (malformed, malformed_body) =
        env.post("/api/production/strategies/validate-code/", r#"{"code": "#).await.unwrap();
    let (oversized, oversized_body) =
        env.post("/api/production/strategies/validate-code/", huge).await.unwrap();
    let (spec, spec_body) = env.post("/api/runs", r#"{"name": "no_rules", "colour": "red"}"#).await.unwrap();

    // Assert
    assert_eq!(malformed, 400, "{malformed_body}");
    assert_error_shape(&malformed_body, "MALFORMED_JSON");
    assert_eq!(oversized, 413, "{oversized_body}");
    assert_error_shape(&oversized_body, "BODY_TOO_LARGE");
    assert_eq!(spec, 422, "{spec_body}");
    assert_error_shape(&spec_body, "INVALID_SPEC");
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_parameters_are_400_naming_the_parameter() {
    // Arrange
    let env = TestEnv::start(0).await.unwrap();

    for (url, param) in [
        ("/api/runs?limit=many", "limit"),
        ("/api/runs/?colour=red", "colour"),
        ("/api/dlq?limit=-", "limit"),
        ("/api/memory/search", "q"),
    ] {
        // Act
        let (status, body) = env.get(url).await.unwrap();

        // Assert
        assert_eq!(status, 400, "GET {url}: {body}");
        assert_error_shape(&body, "BAD_QUERY");
        assert_eq!(body["details"][0]["loc"][0], param, "GET {url}: {body}");
        assert!(body["error"].as_str().unwrap().contains(param), "GET {url}: {body}");
    }
    env.shutdown().await.unwrap();
}
