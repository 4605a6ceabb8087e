//! An operator's Parquet dataset end to end: `tests/fixtures/datasets/SYNTH.parquet` (300
//! business days, 2021-01-04 to 2022-02-25, written by pandas' `to_parquet`; the script that
//! wrote it lies beside it) dropped into `DATASETS_DIR` becomes the symbol `SYNTH`, whose
//! range the coordinator reads from the file's footer; `run-sandbox` runs a real backtest on
//! it through the `sandbox` queue, a real worker and the harness's `pd.read_parquet` in
//! Docker; a request outside its dates is refused naming them; a broken Parquet file is
//! named as unusable, with why.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;

use algoagent_tests::TestEnv;
use algoagent_tests::seed::{self, SMA_CODE};

/// A datasets directory the sandbox user (nobody) can read, holding the fixture and a file
/// that only looks like Parquet.
fn datasets_dir(env: &TestEnv) -> std::path::PathBuf {
    let dir = env.datasets_dir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/datasets/SYNTH.parquet");
    for (name, bytes) in
        [("SYNTH.parquet", std::fs::read(fixture).unwrap()), ("BROKEN.parquet", b"PAR1 no".to_vec())]
    {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parquet_dataset_backtests_and_its_range_is_enforced() {
    // Arrange
    let mut env = TestEnv::new().await.unwrap();
    let data = datasets_dir(&env);
    env.extra_env.push(("DATASETS_DIR".into(), data.to_string_lossy().into_owned()));
    env.start_coordinator().await.unwrap();
    env.start_worker(&["sandbox"]).await.unwrap();
    let (status, body) = env.post("/api/runs", seed::spec("datasets_parquet")).await.unwrap();
    assert_eq!(status, 202, "{body}");
    let run_id = body["run_id"].as_str().unwrap().to_owned();
    seed::version(&env.pool, &run_id, 1, SMA_CODE).await.unwrap();
    let strategy = body["strategy_id"].as_i64().unwrap();
    let request = |symbol: &str, start: &str, end: &str| {
        format!(
            r#"{{"strategy_id":{strategy},"version":1,"start_date":"{start}","end_date":"{end}","symbols":["{symbol}"],"resource_limits":{{"cpu":"1.0","memory":"512m","timeout":120}}}}"#
        )
    };

    // Act: a backtest on the Parquet symbol, inside its range.
    let (status, run) = env
        .post("/api/production/backtests/run-sandbox/", request("SYNTH", "2021-02-01", "2022-02-25"))
        .await
        .unwrap();

    // Assert: it ran on the file's data, read by the harness.
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["success"], true, "{run}");
    assert!(run["results"]["total_trades"].as_u64().unwrap() >= 1, "{run}");
    let backtest_id = run["backtest_id"].as_i64().unwrap();
    let (_, stored) = env.get(&format!("/api/backtests/{backtest_id}/")).await.unwrap();
    assert_eq!(stored["dataset"], "parquet:SYNTH.parquet", "{stored}");
    assert_eq!(stored["metrics"]["start"].as_str().unwrap().get(..10), Some("2021-02-01"), "{stored}");
    assert_eq!(stored["metrics"]["end"].as_str().unwrap().get(..10), Some("2022-02-25"), "{stored}");
    eprintln!("parquet backtest resource usage: {}", run["resource_usage"]);

    // Act + Assert: the dataset's own name works as the symbol too.
    let (status, named) = env
        .post(
            "/api/production/backtests/run-sandbox/",
            request("parquet:SYNTH.parquet", "2021-06-01", "2021-12-31"),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{named}");
    assert_eq!(named["success"], true, "{named}");

    // Act + Assert: outside the file's dates: refused before any job, naming its range.
    let jobs = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM jobs WHERE kind = 'sandbox'")
            .fetch_one(&env.pool)
            .await
            .unwrap()
    };
    let before = jobs().await;
    let (status, range) = env
        .post("/api/production/backtests/run-sandbox/", request("SYNTH", "2023-01-01", "2023-12-31"))
        .await
        .unwrap();
    assert_eq!(status, 400, "{range}");
    assert_eq!(range["code"], "DATE_RANGE_NOT_COVERED", "{range}");
    let msg = range["details"][0]["msg"].as_str().unwrap();
    assert!(msg.contains("SYNTH has data from 2021-01-04 to 2022-02-25 only"), "{msg}");
    assert_eq!(jobs().await, before);

    // Act + Assert: an unknown symbol lists the Parquet dataset and the broken file's reason.
    let (status, missing) = env
        .post("/api/production/backtests/run-sandbox/", request("NOPE", "2021-02-01", "2021-12-31"))
        .await
        .unwrap();
    assert_eq!(status, 400, "{missing}");
    assert_eq!(missing["code"], "UNKNOWN_SYMBOL", "{missing}");
    let msg = missing["details"][0]["msg"].as_str().unwrap();
    assert!(msg.contains("SYNTH (2021-01-04 to 2022-02-25)"), "{msg}");
    assert!(msg.contains("BROKEN.parquet (not a readable Parquet file"), "{msg}");
    env.shutdown().await.unwrap();
}
