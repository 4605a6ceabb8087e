//! The prototype's on-demand sandbox routes end to end: `sandbox-test` and `run-sandbox`
//! through the real coordinator, the `sandbox` queue, a real worker and Docker; stored
//! backtest configs; the dataset catalog (bundled and operator CSVs); the 202 path; cancel;
//! bad input that stores and queues nothing.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use algoagent_tests::TestEnv;
use algoagent_tests::seed::{self, SMA_CODE};

const LOOP_CODE: &str = r#"import backtesting


class Strategy(backtesting.Strategy):
    def init(self):
        while True:
            pass

    def next(self):
        pass
"#;

/// A run with a seeded version 1 (`SMA_CODE`) and 2 (`LOOP_CODE`); returns the strategy id.
async fn seeded_strategy(env: &TestEnv, name: &str) -> i64 {
    let (status, body) = env.post("/api/runs", seed::spec(name)).await.unwrap();
    assert_eq!(status, 202, "{body}");
    let run_id = body["run_id"].as_str().unwrap().to_owned();
    seed::version(&env.pool, &run_id, 1, SMA_CODE).await.unwrap();
    seed::version(&env.pool, &run_id, 2, LOOP_CODE).await.unwrap();
    body["strategy_id"].as_i64().unwrap()
}

async fn count(env: &TestEnv, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&env.pool).await.unwrap()
}

/// A year of synthetic daily prices for 2023 as an operator would drop it in.
fn write_csv(dir: &std::path::Path, symbol: &str, phase: f64) {
    let mut text = String::from("Date,Open,High,Low,Close,Volume\n");
    let mut day = chrono::NaiveDate::from_ymd_opt(2023, 1, 2).unwrap();
    let mut i = 0.0_f64;
    while day.to_string().as_str() < "2023-12-30" {
        use chrono::Datelike;
        if day.weekday().number_from_monday() <= 5 {
            let close = 100.0 + 10.0 * ((i + phase) / 8.0).sin() + i * 0.05;
            text.push_str(&format!(
                "{day},{:.2},{:.2},{:.2},{close:.2},{}\n",
                close - 0.5,
                close + 1.0,
                close - 1.0,
                1000 + i as u64
            ));
            i += 1.0;
        }
        day = day.succ_opt().unwrap();
    }
    let path = dir.join(format!("{symbol}.csv"));
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_test_and_run_sandbox_answer_synchronously_with_results_and_limits() {
    // Arrange
    let mut env = TestEnv::new().await.unwrap();
    let data = env.datasets_dir().unwrap();
    env.extra_env.push(("DATASETS_DIR".into(), data.to_string_lossy().into_owned()));
    env.start_coordinator().await.unwrap();
    env.start_worker(&["sandbox"]).await.unwrap();
    let strategy = seeded_strategy(&env, "sandbox_api_sync").await;

    // Act: sandbox-test as the guide writes it.
    let started = Instant::now();
    let body = format!(
        r#"{{"strategy_id":{strategy},"version":1,"timeout":60,"resource_limits":{{"cpu":"0.5","memory":"512m"}}}}"#
    );
    let (status, test) = env.post("/api/production/strategies/sandbox-test/", body).await.unwrap();
    let latency = started.elapsed();

    // Assert
    assert_eq!(status, 200, "{test}");
    assert_eq!(test["status"], "completed", "{test}");
    assert_eq!(test["success"], true, "{test}");
    assert_eq!(test["exit_code"], 0, "{test}");
    assert_eq!(test["timed_out"], false, "{test}");
    assert_eq!(test["errors"], "", "{test}");
    assert!(test["output"].as_str().unwrap().contains("hello from the strategy"), "{test}");
    assert!(test["output"].as_str().unwrap().contains("Strategy executed successfully"), "{test}");
    assert!(test["resource_usage"]["max_memory_mb"].as_u64().unwrap() > 0, "{test}");
    assert!(test["resource_usage"]["cpu_percent"].as_f64().is_some(), "{test}");
    assert!(test["execution_time"].as_f64().unwrap() > 0.0, "{test}");
    eprintln!(
        "sandbox-test latency: {} ms (execution_time {} s)",
        latency.as_millis(),
        test["execution_time"]
    );

    // The job is a first-class job: listed by kind, audited, on the version's run.
    let (_, listed) = env.get("/api/jobs?kind=sandbox").await.unwrap();
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["jobs"][0]["status"], "succeeded", "{listed}");
    let out = env.cli(&["jobs", "--kind", "sandbox"]).await.unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("sandbox"), "{out:?}");
    let job_id = test["job_id"].as_str().unwrap();
    let job_states: Vec<String> = sqlx::query_scalar(
        "SELECT to_state FROM transitions WHERE entity_type = 'job' AND entity_id = $1 ORDER BY id",
    )
    .bind(job_id)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(job_states, ["queued", "running", "succeeded"]);

    // Act + Assert: a timeout.
    let body = format!(r#"{{"strategy_id":{strategy},"version":2,"timeout":2}}"#);
    let (status, slow) = env.post("/api/production/strategies/sandbox-test/", body).await.unwrap();
    assert_eq!(status, 200, "{slow}");
    assert_eq!(slow["status"], "completed", "{slow}");
    assert_eq!(slow["timed_out"], true, "{slow}");
    assert_eq!(slow["success"], false, "{slow}");
    assert!(slow["errors"].as_str().unwrap().contains("timed out"), "{slow}");

    // Act + Assert: a stored config, then run-sandbox with it.
    let (status, config) = env
        .post(
            "/api/production/backtests/validate-config/",
            r#"{"initial_capital":100000,"commission":0.001,"slippage":0.0005,"position_size":0.1,"max_positions":5}"#,
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{config}");
    let config_id = config["config_id"].as_i64().unwrap();
    let body = format!(
        r#"{{"strategy_id":{strategy},"version":1,"config_id":{config_id},"start_date":"2008-01-01","end_date":"2012-12-31","symbols":["GOOG"],"resource_limits":{{"cpu":"1.0","memory":"1g","timeout":120}}}}"#
    );
    let (status, run) = env.post("/api/production/backtests/run-sandbox/", body).await.unwrap();
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "completed", "{run}");
    assert!(run["results"]["total_trades"].as_u64().unwrap() >= 1, "{run}");
    assert!(run["resource_usage"]["max_memory_mb"].as_u64().unwrap() > 0, "{run}");
    let backtest_id = run["backtest_id"].as_i64().unwrap();
    let (_, stored) = env.get(&format!("/api/backtests/{backtest_id}/")).await.unwrap();
    assert_eq!(stored["dataset"], "GOOG", "{stored}");
    assert_eq!(stored["metrics"]["start"].as_str().unwrap().get(..4), Some("2008"), "{stored}");

    // Act + Assert: the guide's symbols are not bundled: the error names what exists.
    let aapl = format!(
        r#"{{"strategy_id":{strategy},"version":1,"config_id":{config_id},"start_date":"2023-01-01","end_date":"2023-12-31","symbols":["AAPL","GOOGL"],"resource_limits":{{"cpu":"1.0","memory":"1g","timeout":120}}}}"#
    );
    let jobs_before = count(&env, "SELECT count(*) FROM jobs WHERE kind = 'sandbox'").await;
    let (status, missing) = env.post("/api/production/backtests/run-sandbox/", aapl.clone()).await.unwrap();
    assert_eq!(status, 400, "{missing}");
    assert_eq!(missing["code"], "UNKNOWN_SYMBOL", "{missing}");
    assert_eq!(missing["details"][0]["loc"], serde_json::json!(["symbols", 0]), "{missing}");
    let msg = missing["details"][0]["msg"].as_str().unwrap();
    assert!(msg.contains("AAPL") && msg.contains("GOOG (2004-08-19 to 2013-03-01)"), "{msg}");
    assert!(missing["timestamp"].is_string());
    assert_eq!(count(&env, "SELECT count(*) FROM jobs WHERE kind = 'sandbox'").await, jobs_before);
    let (status, range) = env
        .post(
            "/api/production/backtests/run-sandbox/",
            format!(r#"{{"strategy_id":{strategy},"start_date":"2023-01-01","end_date":"2023-12-31","symbols":["GOOG"]}}"#),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{range}");
    assert_eq!(range["code"], "DATE_RANGE_NOT_COVERED", "{range}");

    // Act + Assert: an operator adds CSVs; the same request now runs, no restart.
    write_csv(&data, "AAPL", 0.0);
    write_csv(&data, "GOOGL", 3.0);
    let (status, both) = env.post("/api/production/backtests/run-sandbox/", aapl).await.unwrap();
    assert_eq!(status, 200, "{both}");
    assert_eq!(both["status"], "completed", "{both}");
    assert_eq!(both["success"], true, "{both}");
    assert_eq!(both["per_symbol"].as_array().unwrap().len(), 2, "{both}");
    assert!(both["results"]["total_trades"].as_u64().unwrap() >= 1, "{both}");
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_longer_than_the_request_gets_202_a_status_url_and_can_be_cancelled() {
    // Arrange: no worker serves `sandbox` yet, and no grace past the timeout.
    let mut env = TestEnv::new().await.unwrap();
    env.extra_env.push(("SANDBOX_SYNC_GRACE_SECS".into(), "0".into()));
    env.start_coordinator().await.unwrap();
    let strategy = seeded_strategy(&env, "sandbox_api_async").await;
    let body = format!(r#"{{"strategy_id":{strategy},"version":1,"timeout":1}}"#);

    // Act
    let (status, queued) = env.post("/api/production/strategies/sandbox-test/", body.clone()).await.unwrap();
    let (_, doomed) = env.post("/api/production/strategies/sandbox-test/", body).await.unwrap();
    let doomed_url = doomed["status_url"].as_str().unwrap().to_owned();
    let (cancel_status, cancelled) = env.post(&format!("{doomed_url}cancel/"), "").await.unwrap();
    env.start_worker(&["sandbox"]).await.unwrap();

    // Assert
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["status"], "queued", "{queued}");
    let url = queued["status_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("/api/production/strategies/sandbox-test/"), "{url}");
    assert_eq!(cancel_status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let deadline = Instant::now() + Duration::from_secs(90);
    let done = loop {
        let (code, body) = env.get(&url).await.unwrap();
        if code == 200 {
            break body;
        }
        assert_eq!(code, 202, "{body}");
        assert!(Instant::now() < deadline, "never finished: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["resource_usage"].is_object(), "{done}");
    let (_, still) = env.get(&doomed_url).await.unwrap();
    assert_eq!(still["status"], "cancelled", "{still}");
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sandbox_requests_get_the_guides_400_and_store_nothing() {
    // Arrange
    let mut env = TestEnv::new().await.unwrap();
    env.start_coordinator().await.unwrap();
    let strategy = seeded_strategy(&env, "sandbox_api_bad").await;
    let test = "/api/production/strategies/sandbox-test/";
    let run = "/api/production/backtests/run-sandbox/";
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (test, "{not json".into(), 400, ""),
        (test, format!(r#"{{"strategy_id":{strategy},"bogus":1}}"#), 400, "bogus"),
        (test, format!(r#"{{"strategy_id":{strategy},"timeout":100000}}"#), 400, "timeout"),
        (test, format!(r#"{{"strategy_id":{strategy},"timeout":-1}}"#), 400, "timeout"),
        (
            test,
            format!(r#"{{"strategy_id":{strategy},"resource_limits":{{"memory":"999g"}}}}"#),
            400,
            "memory",
        ),
        (test, format!(r#"{{"strategy_id":{strategy},"resource_limits":{{"cpu":"64"}}}}"#), 400, "cpu"),
        (test, r#"{"strategy_id":"1; DROP TABLE jobs"}"#.into(), 400, "strategy_id"),
        (run, format!(r#"{{"strategy_id":{strategy},"symbols":["../../etc/passwd"]}}"#), 400, "symbols"),
        (run, format!(r#"{{"strategy_id":{strategy},"start_date":"2023-13-01"}}"#), 400, "start_date"),
        (run, format!(r#"{{"strategy_id":{strategy},"config_id":999999}}"#), 400, "config_id"),
        (
            run,
            format!(r#"{{"strategy_id":{strategy},"start_date":"2012-01-01","end_date":"2011-01-01"}}"#),
            400,
            "end_date",
        ),
        (test, r#"{"strategy_id":987654}"#.into(), 404, ""),
    ];

    // Act + Assert
    for (path, body, expected, field) in cases {
        let (status, answer) = env.post(path, body.clone()).await.unwrap();
        assert_eq!(status, expected, "{body}: {answer}");
        for key in ["error", "details", "code", "timestamp"] {
            assert!(answer.get(key).is_some(), "{body}: no {key} in {answer}");
        }
        assert!(answer.to_string().contains(field), "{body}: {field} not named in {answer}");
    }
    let huge = format!(r#"{{"strategy_id":{strategy},"symbols":["{}"]}}"#, "A".repeat(2 << 20));
    let (status, answer) = env.post(run, huge).await.unwrap();
    assert_eq!(status, 413, "{answer}");
    let (status, _) =
        env.post("/api/production/backtests/validate-config/", r#"{"commission":5}"#).await.unwrap();
    assert!(status == 400 || status == 422);
    assert_eq!(count(&env, "SELECT count(*) FROM jobs WHERE kind = 'sandbox'").await, 0);
    assert_eq!(count(&env, "SELECT count(*) FROM backtest_configs").await, 0);
    env.shutdown().await.unwrap();
}
