//! Invariant 8 for specs, case by case: every malformed spec of issue 3 is refused over HTTP
//! with its field path (both by `POST /api/runs` and by the prototype's validate-schema
//! route), and nothing is stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use algoagent_tests::TestEnv;
use algoagent_tests::fixtures::malformed;
use serde_json::Value;

/// The dotted `loc` of every error in a list of `{loc, msg, type}`.
fn locs(errors: &Value) -> Vec<String> {
    errors
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| {
                    let parts: Vec<&str> =
                        e["loc"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                    parts.join(".")
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn count(env: &TestEnv, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&env.pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_spec_is_refused_with_its_field_path_and_nothing_is_stored() {
    // Arrange: a coordinator whose body limit admits the 2 MB description, so the spec
    // validator (not the 413 guard, tested in bad_input.rs) is what refuses it.
    let mut env = TestEnv::new().await.unwrap();
    env.extra_env.push(("API_MAX_BODY_BYTES".to_owned(), (8 << 20).to_string()));
    env.start_coordinator().await.unwrap();

    for case in malformed() {
        // Act
        let (status, body) = env.post("/api/runs", case.body.clone()).await.unwrap();

        // Assert: a client error naming the field.
        assert!(status == 400 || status == 422, "{}: status {status}: {body}", case.what);
        let code = if case.schema_valid { "NOT_COMPILABLE" } else { "INVALID_SPEC" };
        assert_eq!(body["code"], code, "{}: {body}", case.what);
        let found = locs(&body["details"]);
        assert!(found.iter().any(|l| l == case.loc), "{}: want {} in {found:?}", case.what, case.loc);
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{}", case.what);

        // The prototype's route refuses it the same way, in its own shape.
        // (A schema-valid spec the rule compiler cannot compile is valid there, and says so.)
        let (status, body) =
            env.post("/api/production/strategies/validate-schema/", case.body.clone()).await.unwrap();
        let (want_status, want, errors) =
            if case.schema_valid { (200, "valid", "compile_errors") } else { (400, "invalid", "errors") };
        assert_eq!(status, want_status, "{}: {body}", case.what);
        assert_eq!(body["status"], want, "{}", case.what);
        if case.schema_valid {
            assert_eq!(body["compilable"], false, "{}: {body}", case.what);
        }
        let found = locs(&body[errors]);
        assert!(found.iter().any(|l| l == case.loc), "{}: want {} in {found:?}", case.what, case.loc);
    }

    for table in ["strategies", "strategy_versions", "runs", "jobs", "outbox", "transitions"] {
        assert_eq!(count(&env, table).await, 0, "{table} must stay empty");
    }
    assert!(!env.repo_path().exists(), "no repository file may be written");
    env.shutdown().await.unwrap();
}
