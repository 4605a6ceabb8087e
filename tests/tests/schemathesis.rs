//! Schemathesis (pinned in `scripts/ensure-python-deps.sh`) fuzzes the real coordinator
//! against the document it serves: every operation, valid and invalid inputs, first on an
//! open API (no key exists yet, `API_AUTH=auto`), then closed by an operator key, once with
//! that key and once without any. It must find no 5xx and no answer the document does not
//! describe (status, content type, headers, body schema).
//!
//! Checks left out or widened, narrowly, and why:
//! - `ignored_auth` and `missing_required_header` on the open API: `API_AUTH=auto` serves
//!   every route without a key until the first key exists, by design; the closed runs keep
//!   both checks.
//! - `not_a_server_error` takes the 503 of the three health routes: it is their documented
//!   answer when a component is down (here: no Docker engine, no worker), not a fault.
//! - `positive_data_acceptance` on the bulk dead-letter actions also takes their documented
//!   422 `EMPTY_SELECTION` (`{}` or `{"all": false}` selects nothing: a rule across fields),
//!   and on the two sandbox routes their documented 400: `cpu`/`memory` spellings and which
//!   datasets and dates exist are checked in code.
//! - The `coverage` phase is not run: schemathesis 4.32.5 fails inside it on this document
//!   (a `KeyError` in its own coverage module, on the deploy route); `examples` and
//!   `fuzzing` run.
//! - `positive_data_acceptance` on the three routes whose body is a strategy spec or a
//!   backtest config also accepts their documented 400 and 422: the JSON Schemas say what a
//!   document may contain, but rules that need the whole document (rules naming declared
//!   indicators, MACD fast < slow, dates in order, a spec the rule compiler can compile) are
//!   checked in code; a schema cannot express them.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use algoagent_tests::{TestEnv, seed};

/// Test cases per operation and phase; about 40 operations make each run a few hundred
/// requests.
const MAX_EXAMPLES: &str = "12";

/// Fixed, so a failure reproduces with the same inputs.
const SEED: &str = "20240615";

/// The schemathesis executable `scripts/ensure-python-deps.sh` installs.
fn schemathesis() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new(root.join("scripts/ensure-python-deps.sh"))
        .arg("--schemathesis")
        .output()
        .unwrap();
    let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert!(path.exists(), "{} is missing: run scripts/ensure-python-deps.sh", path.display());
    path
}

/// The per-operation exclusions above, as a schemathesis configuration file.
const CONFIG: &str = r#"
[[operations]]
include-operation-id-regex = "^(submitRun|validateSchema|validateConfig)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "429"]

[[operations]]
include-operation-id-regex = "^(replayDeadLetters|purgeDeadLetters)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

[[operations]]
include-operation-id-regex = "^(sandboxTest|runSandbox)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]

[[operations]]
include-operation-id-regex = "^(health|strategiesHealth|backtestsHealth)$"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]
"#;

/// Runs schemathesis against `env`; panics with its report unless it passed.
fn run(env: &TestEnv, label: &str, extra: &[&str]) -> Duration {
    let config = env.dir.path().join("schemathesis.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let started = Instant::now();
    let out = std::process::Command::new(schemathesis())
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{}/openapi.json", env.api)])
        .args(["--checks", "all", "--max-examples", MAX_EXAMPLES, "--seed", SEED, "--workers", "2"])
        .args(["--phases", "examples,fuzzing", "--request-timeout", "30"])
        .args(extra)
        .env("NO_COLOR", "1")
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = stdout.lines().rev().take(12).collect();
    eprintln!(
        "schemathesis ({label}) took {took:.0?}:\n{}",
        summary.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    assert!(
        out.status.success(),
        "schemathesis ({label}) failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// A run with a version (refused by the validator, so the sandbox routes answer at once
/// without a worker) and a backtest, so the read routes have something to show.
async fn seed_data(env: &TestEnv) {
    let (status, body) = env.post("/api/runs", seed::spec("fuzzed")).await.unwrap();
    assert_eq!(status, 202, "{body}");
    let run_id = body["run_id"].as_str().unwrap();
    let version = seed::version(&env.pool, run_id, 1, "class Strategy: pass\n").await.unwrap();
    sqlx::query("UPDATE strategy_versions SET accepted = false WHERE id = $1")
        .bind(version)
        .execute(&env.pool)
        .await
        .unwrap();
    seed::backtest(&env.pool, version, serde_json::json!({ "trades": 3, "sharpe": 0.5 }), 5).await.unwrap();
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_the_document_does_not_describe() {
    // Arrange
    let mut env = TestEnv::new().await.unwrap();
    // Ten seconds at most for a sandbox request that does reach a queue.
    env.extra_env.push(("SANDBOX_SYNC_GRACE_SECS".into(), "1".into()));
    env.start_coordinator().await.unwrap();
    seed_data(&env).await;

    // Act + Assert: open, then closed with and without a key.
    // A key that does not exist: the open API does not look at it.
    let open = run(
        &env,
        "open API",
        &[
            "--exclude-checks",
            "ignored_auth,missing_required_header",
            "--header",
            "X-API-Key: none-exists-yet",
        ],
    );
    let out =
        env.coordinator_command(&["keys", "create", "--name", "fuzz", "--role", "operator"]).await.unwrap();
    assert!(out.status.success(), "keys create: {}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let header = format!("X-API-Key: {key}");
    let with_key = run(&env, "closed API, operator key", &["--header", &header]);
    let without_key = run(&env, "closed API, no key", &[]);
    eprintln!("schemathesis runs: {open:.0?} + {with_key:.0?} + {without_key:.0?}");
    env.shutdown().await.unwrap();
}
