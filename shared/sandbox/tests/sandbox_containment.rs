//! The sandbox against a real Docker engine and the real sandbox image.
//!
//! Needs the engine (`scripts/ensure-docker.sh`) and the image
//! (`deploy/sandbox/build-image.sh`); without them every test fails and says so, none is
//! skipped. The tests run one at a time (the `sandbox-engine` group in
//! `.config/nextest.toml`, and a lock for `cargo test`): their limits are timing-sensitive and
//! the machine has two cores. Each test labels its containers with its own id and checks
//! that none is left afterwards.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use algoagent_sandbox::{
    BacktestParams, HarnessRequest, HarnessResponse, Sandbox, SandboxError, SandboxRun, SandboxSettings,
};
use bollard::Docker;
use bollard::container::{Config, CreateContainerOptions, ListContainersOptions};
use tokio::sync::{Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

/// Serialises the tests of this file (see the module doc).
static DOCKER_LOCK: Mutex<()> = Mutex::const_new(());
const TEST_LABEL: &str = "algoagent.test";

struct Harness {
    sandbox: Sandbox,
    docker: Docker,
    test_id: String,
    _lock: MutexGuard<'static, ()>,
}

fn test_settings() -> SandboxSettings {
    SandboxSettings {
        image: std::env::var("SANDBOX_IMAGE").unwrap_or_else(|_| "algoagent-sandbox:latest".to_owned()),
        timeout: Duration::from_secs(30),
        ..SandboxSettings::default()
    }
}

/// Connects, checks the engine and the image, or fails the test with what to do.
async fn harness(settings: SandboxSettings) -> Harness {
    let lock = DOCKER_LOCK.lock().await;
    let image = settings.image.clone();
    let sandbox = Sandbox::connect(settings).expect("sandbox settings are valid");
    if let Err(e) = sandbox.ping().await {
        panic!(
            "the Docker engine is unreachable ({e}: {:?}); start it with scripts/ensure-docker.sh",
            std::error::Error::source(&e)
        );
    }
    if let Err(e) = sandbox.check_image().await {
        panic!("{e}; image {image}: run deploy/sandbox/build-image.sh");
    }
    let docker = Docker::connect_with_local_defaults()
        .expect("docker client")
        .negotiate_version()
        .await
        .expect("docker API version");
    Harness { sandbox, docker, test_id: uuid::Uuid::new_v4().to_string(), _lock: lock }
}

impl Harness {
    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([(TEST_LABEL.to_owned(), self.test_id.clone())])
    }

    async fn run(&self, request: &HarnessRequest) -> SandboxRun {
        self.sandbox
            .run(request, &self.labels(), &CancellationToken::new())
            .await
            .expect("the sandbox run completes")
    }

    async fn containers_of_this_test(&self) -> Vec<String> {
        let filters = HashMap::from([("label".to_owned(), vec![format!("{TEST_LABEL}={}", self.test_id)])]);
        self.docker
            .list_containers(Some(ListContainersOptions::<String> {
                all: true,
                filters,
                ..Default::default()
            }))
            .await
            .expect("list containers")
            .into_iter()
            .filter_map(|c| c.id)
            .collect()
    }

    /// `docker ps -a --filter label=algoagent.test=<id>` is empty (waiting up to 10 s for a
    /// removal spawned by a dropped run).
    async fn assert_nothing_left(&self) {
        for _ in 0..100 {
            if self.containers_of_this_test().await.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("sandbox containers left behind: {:?}", self.containers_of_this_test().await);
    }
}

fn request(code: &str, entrypoint: &str) -> HarnessRequest {
    HarnessRequest {
        code: code.to_owned(),
        entrypoint: entrypoint.to_owned(),
        dataset: "GOOG".to_owned(),
        config: BacktestParams { cash: 10_000.0, commission: 0.002, ..Default::default() },
    }
}

/// A strategy class whose `init` runs `body` (indented by the caller's four spaces).
fn strategy_running(body: &str) -> HarnessRequest {
    let code = format!(
        "from backtesting import Strategy\n\nclass Probe(Strategy):\n    def init(self):\n{body}\n\n    def next(self):\n        pass\n"
    );
    request(&code, "Probe")
}

const SMA_CROSS: &str = r#"from backtesting import Strategy
from backtesting.lib import crossover
import pandas as pd


def SMA(values, n):
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    n1 = 10
    n2 = 20

    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        print("a print must not corrupt the protocol")
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()
"#;

#[tokio::test]
async fn an_sma_cross_on_goog_returns_metrics_and_trades() {
    let h = harness(test_settings()).await;

    let run = h.run(&request(SMA_CROSS, "SmaCross")).await;

    assert_eq!(run.failure_reason(), None, "stderr: {}", run.stderr_tail);
    let Some(HarnessResponse::Ok(report)) = &run.response else { panic!("not ok: {run:?}") };
    assert!(report.metrics.trades > 0);
    assert_eq!(report.trades_summary.count, report.metrics.trades);
    assert!(report.metrics.equity_final.is_finite());
    assert!(report.metrics.start.starts_with("2004-08-19"));
    assert!(!report.equity_curve.is_empty() && report.equity_curve.len() <= 500);
    assert_eq!(run.exit_code, Some(0));
    assert!(!run.timed_out && !run.oom_killed && !run.output_truncated);
    assert!(run.stderr_tail.contains("a print must not corrupt the protocol"));
    h.assert_nothing_left().await;
}

#[tokio::test]
async fn a_zero_division_is_reported_with_a_strategy_py_traceback() {
    let h = harness(test_settings()).await;
    let code = "from backtesting import Strategy\n\nclass Boom(Strategy):\n    def init(self):\n        pass\n\n    def next(self):\n        zero = 0\n        self.ratio = 1 / zero\n";

    let run = h.run(&request(code, "Boom")).await;

    let Some(HarnessResponse::Error(failure)) = &run.response else { panic!("not an error: {run:?}") };
    assert_eq!(failure.error_type, "ZeroDivisionError");
    assert!(failure.traceback.contains("strategy.py"), "{}", failure.traceback);
    assert_eq!(failure.line, Some(9));
    assert_eq!(run.exit_code, Some(1));
    assert_eq!(run.failure_reason().as_deref(), Some("ZeroDivisionError: division by zero (line 9)"));
    h.assert_nothing_left().await;
}

#[tokio::test]
async fn an_unknown_dataset_is_an_invalid_request() {
    let h = harness(test_settings()).await;
    let mut bad = request(SMA_CROSS, "SmaCross");
    bad.dataset = "NOPE".to_owned();

    let run = h.run(&bad).await;

    let Some(HarnessResponse::InvalidRequest { error }) = &run.response else {
        panic!("not invalid_request: {run:?}")
    };
    assert!(error.contains("GOOG") && error.contains("EURUSD") && error.contains("BTCUSD"));
    assert_eq!(run.exit_code, Some(2));
    h.assert_nothing_left().await;
}

#[tokio::test]
async fn an_infinite_loop_is_killed_at_the_timeout() {
    let h = harness(SandboxSettings { timeout: Duration::from_secs(4), ..test_settings() }).await;

    let run = h.run(&strategy_running("        while True:\n            pass")).await;

    assert!(run.timed_out, "{run:?}");
    assert!(run.response.is_none());
    assert!(run.duration < Duration::from_secs(15), "took {:?}", run.duration);
    assert_eq!(run.failure_reason().as_deref(), Some("timed out after 4 s"));
    h.assert_nothing_left().await;
}

#[tokio::test]
async fn a_memory_bomb_is_stopped_by_the_memory_limit() {
    let h = harness(SandboxSettings { memory_bytes: 256 * 1024 * 1024, ..test_settings() }).await;
    // Touches every page (b"x" * n), so the memory is really used, not just reserved.
    let bomb = "        hoard = []\n        while True:\n            hoard.append(b'x' * (16 * 1024 * 1024))";

    let run = h.run(&strategy_running(bomb)).await;

    let memory_error = matches!(&run.response,
        Some(HarnessResponse::Error(f)) if f.error_type == "MemoryError");
    assert!(run.oom_killed || memory_error, "{run:?}");
    assert!(!run.timed_out);
    assert!(run.failure_reason().is_some());
    h.assert_nothing_left().await;
}

#[tokio::test]
async fn there_is_no_network_inside() {
    let h = harness(test_settings()).await;
    // A UDP connect only looks up a route and sends nothing; without a network there is none.
    // 192.0.2.1 is TEST-NET-1 (documentation range), never a real host.
    let probe = "        import socket\n        names = [name for _, name in socket.if_nameindex()]\n        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n        try:\n            udp.connect(('192.0.2.1', 9))\n        except OSError as exc:\n            raise ConnectionError(f'no route: {exc}; interfaces={names}')\n        raise AssertionError(f'a route exists; interfaces={names}')";

    let run = h.run(&strategy_running(probe)).await;

    let Some(HarnessResponse::Error(failure)) = &run.response else { panic!("not an error: {run:?}") };
    assert_eq!(failure.error_type, "ConnectionError", "{failure:?}");
    assert!(failure.error.contains("unreachable"), "{}", failure.error);
    assert!(failure.error.contains("interfaces=['lo']"), "{}", failure.error);
    h.assert_nothing_left().await;
}

#[tokio::test]
async fn printing_100_mb_is_cut_off() {
    let h = harness(SandboxSettings { max_output_bytes: 256 * 1024, ..test_settings() }).await;
    let flood = "        chunk = 'x' * (1024 * 1024)\n        for _ in range(100):\n            print(chunk)";

    let run = h.run(&strategy_running(flood)).await;

    assert!(run.output_truncated, "{run:?}");
    assert!(run.response.is_none());
    assert!(run.stderr_tail.len() <= 16 * 1024);
    let reason = run.failure_reason().unwrap_or_default();
    assert!(reason.starts_with("no result:") && reason.contains("exceeded"), "{reason}");
    h.assert_nothing_left().await;
}

#[tokio::test]
async fn flooding_the_result_stream_is_cut_off() {
    let h = harness(SandboxSettings { max_output_bytes: 256 * 1024, ..test_settings() }).await;
    // The harness keeps the real stdout on the first free descriptor (3); hostile code can
    // still find it, and must not make the worker buffer 100 MB.
    let flood = "        import os\n        chunk = b'x' * (1024 * 1024)\n        for _ in range(100):\n            os.write(3, chunk)";

    let run = h.run(&strategy_running(flood)).await;

    assert!(run.output_truncated, "{run:?}");
    assert!(run.response.is_none());
    assert_eq!(run.failure_reason().as_deref(), Some("no result: output exceeded 256 KiB"));
    h.assert_nothing_left().await;
}

#[tokio::test]
async fn the_container_is_hardened_while_it_runs_and_cancel_removes_it() {
    let settings = test_settings();
    let memory = settings.memory_bytes;
    let h = Arc::new(harness(settings).await);
    let cancel = CancellationToken::new();
    let running = {
        let (h, cancel) = (Arc::clone(&h), cancel.clone());
        tokio::spawn(async move {
            let request = strategy_running("        import time\n        time.sleep(60)");
            h.sandbox.run(&request, &h.labels(), &cancel).await
        })
    };

    // Inspect the container once it runs. A container listed and gone before the inspect
    // means the run ended early: fail with the run's own outcome, which says why.
    let inspected = loop {
        if running.is_finished() {
            panic!("the 60 s run ended before it was inspected: {:?}", running.await);
        }
        if let Some(id) = h.containers_of_this_test().await.into_iter().next()
            && let Ok(inspected) = h.docker.inspect_container(&id, None).await
            && inspected.state.as_ref().and_then(|s| s.running) == Some(true)
        {
            break inspected;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    cancel.cancel();
    let outcome = running.await.expect("run task");

    let host = inspected.host_config.expect("host config");
    let config = inspected.config.expect("config");
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    assert!(host.security_opt.unwrap_or_default().iter().any(|o| o.starts_with("no-new-privileges")),);
    assert_eq!(config.user.as_deref(), Some("65534:65534"));
    assert_eq!(host.memory, Some(memory));
    assert_eq!(host.memory_swap, host.memory);
    assert_eq!(host.pids_limit, Some(128));
    assert_eq!(host.nano_cpus, Some(1_000_000_000));
    let tmpfs = host.tmpfs.unwrap_or_default();
    let tmp = tmpfs.get("/tmp").expect("tmpfs at /tmp");
    assert!(tmp.contains("noexec") && tmp.contains("size=67108864"), "{tmp}");
    let ulimits: Vec<_> = host.ulimits.unwrap_or_default().into_iter().filter_map(|u| u.name).collect();
    assert!(["nofile", "nproc", "fsize", "cpu"].iter().all(|n| ulimits.iter().any(|u| u == n)));
    let env = config.env.unwrap_or_default();
    assert!(env.contains(&"HOME=/tmp".to_owned()), "{env:?}");
    assert!(!env.iter().any(|e| e.starts_with("CARGO") || e.starts_with("RUST")), "{env:?}");
    assert!(config.labels.unwrap_or_default().get("algoagent.sandbox").is_some_and(|v| v == "1"));
    assert!(matches!(outcome, Err(SandboxError::Cancelled)), "{outcome:?}");
    h.assert_nothing_left().await;
}

#[tokio::test]
async fn a_dropped_run_still_removes_its_container() {
    let h = harness(test_settings()).await;
    let request = strategy_running("        import time\n        time.sleep(60)");

    let dropped = tokio::time::timeout(
        Duration::from_secs(3),
        h.sandbox.run(&request, &h.labels(), &CancellationToken::new()),
    )
    .await;

    assert!(dropped.is_err(), "the run should still have been going");
    h.assert_nothing_left().await;
}

#[tokio::test]
async fn a_csv_dataset_is_read_from_the_mounted_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut csv = String::from("Date,Open,High,Low,Close,Volume\n");
    let mut price = 100.0_f64;
    let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
    for day in 0..400 {
        // A deterministic wave, so the SMA cross trades.
        let next = 100.0 + 20.0 * ((day as f64) / 15.0).sin();
        let date = start + chrono::Duration::days(day);
        let (high, low) = (price.max(next) + 1.0, price.min(next) - 1.0);
        csv.push_str(&format!("{date},{price:.2},{high:.2},{low:.2},{next:.2},1000\n"));
        price = next;
    }
    std::fs::write(dir.path().join("wave.csv"), csv).expect("write csv");
    // The container's user (65534) must be able to read it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let h =
        harness(SandboxSettings { datasets_dir: Some(dir.path().to_path_buf()), ..test_settings() }).await;
    let mut good = request(SMA_CROSS, "SmaCross");
    good.dataset = "csv:wave.csv".to_owned();
    let mut traversal = good.clone();
    traversal.dataset = "csv:../etc/passwd.csv".to_owned();

    let ok = h.run(&good).await;
    let refused = h.run(&traversal).await;

    let Some(HarnessResponse::Ok(report)) = &ok.response else { panic!("not ok: {ok:?}") };
    assert!(report.metrics.trades > 0);
    assert!(report.metrics.start.starts_with("2020-01-01"));
    assert!(matches!(refused.response, Some(HarnessResponse::InvalidRequest { .. })));
    h.assert_nothing_left().await;
}

#[tokio::test]
async fn a_parquet_dataset_is_read_from_the_mounted_directory() {
    // The committed fixture and its variants (tests/fixtures/datasets/make_synth_parquet.py):
    // the same 300 days as a pandas DatetimeIndex, a plain first column, a DATE index and a
    // UTC timestamp index (zstd, no statistics). The harness must read each to the same bars.
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/datasets");
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["SYNTH", "variants/COLUMN", "variants/DATE32", "variants/UTC_ZSTD"] {
        let target = dir.path().join(format!("{}.parquet", name.trim_start_matches("variants/")));
        std::fs::copy(fixtures.join(format!("{name}.parquet")), target).expect("copy fixture");
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let h =
        harness(SandboxSettings { datasets_dir: Some(dir.path().to_path_buf()), ..test_settings() }).await;
    let mut traversal = request(SMA_CROSS, "SmaCross");
    traversal.dataset = "parquet:../etc/passwd.parquet".to_owned();

    let mut reports = Vec::new();
    for file in ["SYNTH", "COLUMN", "DATE32", "UTC_ZSTD"] {
        let mut good = request(SMA_CROSS, "SmaCross");
        good.dataset = format!("parquet:{file}.parquet");
        let outcome = h.run(&good).await;
        let Some(HarnessResponse::Ok(report)) = outcome.response else {
            panic!("{file} not ok: {outcome:?}")
        };
        reports.push((file, report));
    }
    let refused = h.run(&traversal).await;

    for (file, report) in &reports {
        assert!(report.metrics.trades > 0, "{file}");
        assert!(report.metrics.start.starts_with("2021-01-04"), "{file}: {}", report.metrics.start);
        assert!(report.metrics.end.starts_with("2022-02-25"), "{file}: {}", report.metrics.end);
        assert_eq!(report.metrics.trades, reports[0].1.metrics.trades, "{file}");
    }
    assert!(matches!(refused.response, Some(HarnessResponse::InvalidRequest { .. })));
    h.assert_nothing_left().await;
}

#[tokio::test]
async fn a_missing_image_is_a_permanent_error() {
    let h = harness(test_settings()).await;
    let missing = Sandbox::connect(SandboxSettings {
        image: format!("algoagent-sandbox:missing-{}", h.test_id),
        ..test_settings()
    })
    .expect("settings");

    let outcome = missing.run(&request(SMA_CROSS, "SmaCross"), &h.labels(), &CancellationToken::new()).await;

    let Err(error) = outcome else { panic!("ran without an image") };
    assert!(matches!(error, SandboxError::ImageMissing { .. }), "{error:?}");
    assert!(!error.is_transient());
    h.assert_nothing_left().await;
}

#[tokio::test]
async fn the_sweep_removes_old_sandbox_containers() {
    let h = harness(test_settings()).await;
    let labels = HashMap::from([
        ("algoagent.sandbox".to_owned(), "1".to_owned()),
        (TEST_LABEL.to_owned(), h.test_id.clone()),
    ]);
    // A leftover as a crashed worker would leave it: created, never removed.
    h.docker
        .create_container(
            Some(CreateContainerOptions {
                name: format!("algoagent-sbx-leftover-{}", h.test_id),
                platform: None,
            }),
            Config {
                image: Some(h.sandbox.settings().image.clone()),
                labels: Some(labels),
                ..Default::default()
            },
        )
        .await
        .expect("create leftover");
    let only_ours = h.labels();

    let young = h.sandbox.sweep_labelled(Duration::from_secs(3600), &only_ours).await.expect("sweep");
    let all = h.sandbox.sweep_labelled(Duration::ZERO, &only_ours).await.expect("sweep");

    assert_eq!(young, 0);
    assert_eq!(all, 1);
    h.assert_nothing_left().await;
}
