//! Issue 3's acceptance for the builtin generator: every spec in `examples/specs/` generates,
//! passes the strict code validator, and backtests in the real sandbox (Docker, the sandbox
//! image, the spec's own cash, costs and dataset) without error and with at least one trade.
//!
//! Needs the engine (`scripts/ensure-docker.sh`) and the image
//! (`deploy/sandbox/build-image.sh`); without them the test fails and says so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use algoagent_sandbox::{BacktestParams, HarnessRequest, HarnessResponse, Sandbox, SandboxSettings};
use algoagent_spec::StrategySpec;
use algoagent_spec::codegen::generate;
use algoagent_tests::examples_dir;
use algoagent_validate::{ValidateOptions, validate};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

/// Backtests at a time: two cores, and each container is CPU-bound.
const CONCURRENCY: usize = 2;

fn examples() -> Vec<(String, StrategySpec)> {
    let mut out: Vec<(String, StrategySpec)> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let spec = StrategySpec::parse_json(&std::fs::read(&p).unwrap())
                .unwrap_or_else(|e| panic!("{} is invalid:\n{e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), spec)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Generates and strictly validates one example; returns the sandbox request for it.
fn request_for(file: &str, spec: &StrategySpec) -> Result<HarnessRequest, String> {
    let generated = generate(spec).map_err(|e| format!("{file}: generate: {e}"))?;
    let opts = ValidateOptions {
        entrypoint: Some(generated.entrypoint.clone()),
        required_params: spec.parameters.keys().cloned().collect(),
        strict: true,
    };
    let report = validate(&generated.code, &opts);
    if !report.accepted() {
        let findings: Vec<String> =
            report.errors().map(|f| format!("{}:{} [{}] {}", f.line, f.col, f.rule, f.message)).collect();
        return Err(format!("{file}: validator refused the generated code: {findings:?}"));
    }
    let bt = &spec.backtest;
    Ok(HarnessRequest {
        code: generated.code,
        entrypoint: generated.entrypoint,
        dataset: bt.dataset.clone(),
        config: BacktestParams {
            cash: bt.initial_capital,
            commission: bt.commission,
            spread: bt.slippage,
            start: bt.start_date.map(|d| d.to_string()),
            end: bt.end_date.map(|d| d.to_string()),
            ..BacktestParams::default()
        },
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_generates_validates_and_trades_in_the_sandbox() {
    // Arrange: the real sandbox, checked up front so a missing engine or image says so.
    // A generous wall clock: this checks that the code runs and trades, not how fast; the
    // limits themselves are tested in shared/sandbox/tests/sandbox_containment.rs, and on a loaded
    // two-core machine a cold backtest can pass the production default.
    let settings = SandboxSettings {
        image: std::env::var("SANDBOX_IMAGE").unwrap_or_else(|_| SandboxSettings::default().image),
        timeout: Duration::from_secs(300),
        ..SandboxSettings::default()
    };
    let image = settings.image.clone();
    let sandbox = Sandbox::connect(settings).expect("sandbox settings are valid");
    if let Err(e) = sandbox.ping().await {
        panic!("the Docker engine is unreachable ({e}); start it with scripts/ensure-docker.sh");
    }
    if let Err(e) = sandbox.check_image().await {
        panic!("{e}; image {image}: run deploy/sandbox/build-image.sh");
    }
    let examples = examples();
    assert!(examples.len() >= 20, "expected at least 20 examples, found {}", examples.len());
    let mut failures = Vec::new();
    let mut requests = Vec::new();
    for (file, spec) in &examples {
        match request_for(file, spec) {
            Ok(request) => requests.push((file.clone(), request)),
            Err(why) => failures.push(why),
        }
    }
    let labels = HashMap::from([("algoagent.test".to_owned(), uuid::Uuid::new_v4().to_string())]);

    // Act: backtest them, CONCURRENCY at a time.
    let runs: Vec<_> = futures::stream::iter(requests)
        .map(|(file, request)| {
            let (sandbox, labels) = (&sandbox, &labels);
            async move {
                let run = sandbox.run(&request, labels, &CancellationToken::new()).await;
                (file, run)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;

    // Assert: each ran to the end and traded.
    let mut trades = Vec::new();
    for (file, run) in runs {
        match run {
            Ok(run) => match &run.response {
                Some(HarnessResponse::Ok(report)) if report.metrics.trades >= 1 => {
                    trades.push(format!("{file}: {}", report.metrics.trades));
                }
                Some(HarnessResponse::Ok(_)) => failures.push(format!("{file}: ran but made no trade")),
                _ => failures.push(format!(
                    "{file}: {}\n{}",
                    run.failure_reason().unwrap_or_default(),
                    run.stderr_tail
                )),
            },
            Err(e) => failures.push(format!("{file}: sandbox error: {e}")),
        }
    }
    assert!(failures.is_empty(), "{} examples failed:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(trades.len(), examples.len());
    eprintln!("trades per example: {trades:?}");
}
