//! The warm pool against a real Docker engine and the real sandbox image.
//!
//! Needs the engine (`scripts/ensure-docker.sh`) and the image
//! (`deploy/sandbox/build-image.sh`); without them every test fails and says so. The tests
//! run one at a time (the `sandbox-engine` group in `.config/nextest.toml`: two cores,
//! timing-sensitive starts). Each test labels its pool with its own id and checks that none
//! of its containers is left afterwards.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use algoagent_sandbox::{
    BacktestParams, HarnessRequest, HarnessResponse, POOL_LABEL, SANDBOX_LABEL, Sandbox, SandboxRun,
    SandboxSettings,
};
use bollard::Docker;
use bollard::container::{
    AttachContainerOptions, Config, CreateContainerOptions, ListContainersOptions, LogOutput,
};
use futures::StreamExt;
use tokio::sync::{Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

static DOCKER_LOCK: Mutex<()> = Mutex::const_new(());
const TEST_LABEL: &str = "algoagent.test";
const FILL: Duration = Duration::from_secs(60);

struct Harness {
    sandbox: Sandbox,
    docker: Docker,
    test_id: String,
    /// Stops the pool's refill task when the test ends.
    stop: CancellationToken,
    _lock: MutexGuard<'static, ()>,
}

async fn harness(warm_pool: usize) -> Harness {
    harness_with(warm_pool, Duration::from_secs(30)).await
}

async fn harness_with(warm_pool: usize, timeout: Duration) -> Harness {
    let lock = DOCKER_LOCK.lock().await;
    let test_id = uuid::Uuid::new_v4().to_string();
    let settings = SandboxSettings {
        image: std::env::var("SANDBOX_IMAGE").unwrap_or_else(|_| "algoagent-sandbox:latest".to_owned()),
        timeout,
        warm_pool,
        ..SandboxSettings::default()
    };
    let sandbox = Sandbox::connect(settings)
        .expect("sandbox settings are valid")
        .with_pool_labels(HashMap::from([(TEST_LABEL.to_owned(), test_id.clone())]));
    if let Err(e) = sandbox.check_image().await {
        panic!(
            "{e} ({:?}); start Docker (scripts/ensure-docker.sh) and run deploy/sandbox/build-image.sh",
            std::error::Error::source(&e)
        );
    }
    let docker = Docker::connect_with_local_defaults()
        .expect("docker client")
        .negotiate_version()
        .await
        .expect("docker API version");
    Harness { sandbox, docker, test_id, stop: CancellationToken::new(), _lock: lock }
}

impl Harness {
    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([(TEST_LABEL.to_owned(), self.test_id.clone())])
    }

    async fn start_and_fill(&self, n: usize) {
        self.sandbox.start_pool(self.stop.clone()).await;
        assert!(self.sandbox.wait_pool_ready(n, FILL).await, "the pool did not fill to {n} within {FILL:?}");
    }

    async fn run(&self, request: &HarnessRequest) -> SandboxRun {
        self.sandbox
            .run(request, &self.labels(), &CancellationToken::new())
            .await
            .expect("the sandbox run completes")
    }

    async fn containers(&self, label: &str, value: &str) -> Vec<String> {
        let filters = HashMap::from([("label".to_owned(), vec![format!("{label}={value}")])]);
        let options = ListContainersOptions::<String> { all: true, filters, ..Default::default() };
        let listed = self.docker.list_containers(Some(options)).await.expect("list containers");
        listed.into_iter().filter_map(|c| c.id).collect()
    }

    async fn pool_containers(&self) -> Vec<String> {
        self.containers(POOL_LABEL, self.sandbox.pool_id()).await
    }

    async fn is_gone(&self, id: &str) -> bool {
        for _ in 0..100 {
            if self.docker.inspect_container(id, None).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Drains the pool and checks that no container of this test is left.
    async fn finish(&self) {
        self.stop.cancel();
        self.sandbox.drain_pool().await;
        for _ in 0..100 {
            if self.containers(TEST_LABEL, &self.test_id).await.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("containers left behind: {:?}", self.containers(TEST_LABEL, &self.test_id).await);
    }
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
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()
"#;

fn sma_cross() -> HarnessRequest {
    HarnessRequest {
        code: SMA_CROSS.to_owned(),
        entrypoint: "SmaCross".to_owned(),
        dataset: "GOOG".to_owned(),
        config: BacktestParams { commission: 0.002, ..Default::default() },
    }
}

#[tokio::test]
async fn a_warm_run_returns_the_same_result_as_a_cold_run_and_reports_its_usage() {
    let h = harness(1).await;

    let cold = h.run(&sma_cross()).await;
    h.start_and_fill(1).await;
    let warm = h.run(&sma_cross()).await;

    assert!(!cold.warm && warm.warm);
    let (Some(HarnessResponse::Ok(cold_report)), Some(HarnessResponse::Ok(warm_report))) =
        (&cold.response, &warm.response)
    else {
        panic!("not ok: cold {cold:?} warm {warm:?}")
    };
    assert_eq!(warm_report.metrics, cold_report.metrics);
    assert_eq!(warm_report.equity_curve, cold_report.equity_curve);
    assert_eq!(warm_report.trades_summary, cold_report.trades_summary);
    assert_eq!((cold.exit_code, warm.exit_code), (Some(0), Some(0)));
    assert_eq!(warm.labels, h.labels());
    for run in [&cold, &warm] {
        let usage = run.resource_usage;
        assert!(usage.peak_memory_bytes.is_some_and(|b| b > 10 * 1024 * 1024), "{usage:?}");
        assert!(usage.cpu_time_ms.is_some_and(|ms| ms > 0), "{usage:?}");
        // The imports happened before the hand-off and are not the job's CPU time.
        assert!(usage.cpu_time_ms.is_some_and(|ms| ms < 5_000), "{usage:?}");
    }
    h.finish().await;
}

#[tokio::test]
async fn each_warm_container_serves_one_job_and_the_pool_refills() {
    let h = harness(2).await;
    h.start_and_fill(2).await;
    let pooled = h.pool_containers().await;

    let first = h.run(&sma_cross()).await;
    let refilled = h.sandbox.wait_pool_ready(2, FILL).await;
    let second = h.run(&sma_cross()).await;

    assert_eq!(pooled.len(), 2, "{pooled:?}");
    assert!(first.warm && second.warm);
    assert!(first.is_ok() && second.is_ok(), "{first:?} {second:?}");
    assert_ne!(first.container_id, second.container_id);
    assert!(pooled.contains(&first.container_id));
    assert!(h.is_gone(&first.container_id).await, "a used container is still there");
    assert!(h.is_gone(&second.container_id).await, "a used container is still there");
    assert!(refilled, "the pool did not refill");
    assert!(h.sandbox.wait_pool_ready(2, FILL).await);
    let now = h.pool_containers().await;
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(!now.contains(&first.container_id) && !now.contains(&second.container_id));
    h.finish().await;
}

#[tokio::test]
async fn draining_removes_every_pool_container_and_later_runs_are_cold() {
    let h = harness(2).await;
    h.start_and_fill(2).await;

    h.sandbox.drain_pool().await;
    let left = h.pool_containers().await;
    let after = h.run(&sma_cross()).await;

    assert!(left.is_empty(), "{left:?}");
    assert_eq!(h.sandbox.pool_ready(), 0);
    assert!(!after.warm && after.is_ok(), "{after:?}");
    h.finish().await;
}

/// Starts a pool container as another worker process would, then drops its connection as
/// that process would when it crashed.
async fn crashed_workers_pool_container(h: &Harness) -> String {
    let labels = HashMap::from([
        (SANDBOX_LABEL.to_owned(), "1".to_owned()),
        (POOL_LABEL.to_owned(), format!("dead-{}", h.test_id)),
        (TEST_LABEL.to_owned(), h.test_id.clone()),
    ]);
    let config = Config {
        image: Some(h.sandbox.settings().image.clone()),
        cmd: Some(vec!["--ready".to_owned()]),
        labels: Some(labels),
        user: Some("65534:65534".to_owned()),
        network_disabled: Some(true),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(true),
        ..Default::default()
    };
    let name = format!("algoagent-sbx-dead-{}", h.test_id);
    let options = CreateContainerOptions { name: name.as_str(), platform: None };
    let id = h.docker.create_container(Some(options), config).await.expect("create").id;
    let attach = AttachContainerOptions::<String> {
        stdin: Some(true),
        stdout: Some(true),
        stream: Some(true),
        ..Default::default()
    };
    let mut attached = h.docker.attach_container(&id, Some(attach)).await.expect("attach");
    h.docker.start_container::<String>(&id, None).await.expect("start");
    while let Some(item) = attached.output.next().await {
        if let Ok(LogOutput::StdOut { message }) = item
            && message.starts_with(b"{\"status\":\"ready\"}")
        {
            break;
        }
    }
    drop(attached); // the crash: its connection closes
    id
}

#[tokio::test]
async fn a_crashed_workers_pool_is_swept_and_a_live_pool_is_not() {
    let h = harness(1).await;
    h.start_and_fill(1).await;
    let live = h.pool_containers().await;
    let leftover = crashed_workers_pool_container(&h).await;

    let mut exited = false;
    for _ in 0..100 {
        let state = h.docker.inspect_container(&leftover, None).await.expect("inspect").state;
        if state.and_then(|s| s.running) == Some(false) {
            exited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kept_while_young =
        h.sandbox.sweep_labelled(Duration::from_secs(30), &h.labels()).await.expect("sweep");
    let swept = h.sandbox.sweep_labelled(Duration::ZERO, &h.labels()).await.expect("sweep");
    let warm = h.run(&sma_cross()).await;

    assert!(exited, "a pool container whose worker is gone should exit");
    assert_eq!(kept_while_young, 0);
    assert_eq!(swept, 1);
    assert!(h.is_gone(&leftover).await);
    assert_eq!(live.len(), 1);
    assert!(warm.warm && warm.container_id == live[0], "the live pool was swept: {warm:?}");
    h.finish().await;
}

#[tokio::test]
async fn a_warm_container_is_hardened_exactly_like_a_cold_one() {
    let h = Arc::new(harness(1).await);
    h.start_and_fill(1).await;
    let warm_id = h.pool_containers().await.pop().expect("a warm container");
    let warm = h.docker.inspect_container(&warm_id, None).await.expect("inspect warm");
    h.sandbox.drain_pool().await; // the next run is cold
    let cancel = CancellationToken::new();
    let sleeper = HarnessRequest {
        code: "from backtesting import Strategy\nimport time\n\nclass S(Strategy):\n    def init(self):\n        time.sleep(60)\n\n    def next(self):\n        pass\n".to_owned(),
        entrypoint: "S".to_owned(),
        ..sma_cross()
    };
    let running = {
        let (h, cancel) = (Arc::clone(&h), cancel.clone());
        tokio::spawn(async move { h.sandbox.run(&sleeper, &h.labels(), &cancel).await })
    };
    let cold_id = loop {
        let ours = h.containers(TEST_LABEL, &h.test_id).await;
        if let Some(id) = ours.into_iter().find(|id| *id != warm_id) {
            break id;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let cold = h.docker.inspect_container(&cold_id, None).await.expect("inspect cold");
    cancel.cancel();
    let outcome = running.await.expect("run task");

    let (warm_config, warm_host) = (warm.config.expect("config"), warm.host_config.expect("host config"));
    let (cold_config, cold_host) = (cold.config.expect("config"), cold.host_config.expect("host config"));
    assert_eq!(warm_host, cold_host);
    assert_eq!(cold_host.readonly_rootfs, Some(true));
    assert_eq!(warm_config.user, cold_config.user);
    assert_eq!(warm_config.env, cold_config.env);
    assert_eq!(warm_config.cmd, cold_config.cmd);
    assert_eq!(warm_config.network_disabled, cold_config.network_disabled);
    let warm_labels = warm_config.labels.unwrap_or_default();
    assert_eq!(warm_labels.get(POOL_LABEL).map(String::as_str), Some(h.sandbox.pool_id()));
    assert_eq!(warm_labels.get(SANDBOX_LABEL).map(String::as_str), Some("1"));
    assert!(outcome.is_err(), "the cold run was cancelled");
    h.finish().await;
}

#[tokio::test]
async fn a_warm_containers_timeout_counts_from_the_hand_off() {
    let h = harness_with(1, Duration::from_secs(3)).await;
    h.start_and_fill(1).await;
    tokio::time::sleep(Duration::from_secs(4)).await; // idle longer than the timeout
    let looping = HarnessRequest {
        code: "from backtesting import Strategy\n\nclass L(Strategy):\n    def init(self):\n        while True:\n            pass\n\n    def next(self):\n        pass\n".to_owned(),
        entrypoint: "L".to_owned(),
        ..sma_cross()
    };

    let after_idle = h.run(&sma_cross()).await;
    assert!(h.sandbox.wait_pool_ready(1, FILL).await);
    let stuck = h.run(&looping).await;

    assert!(after_idle.warm && after_idle.is_ok(), "{after_idle:?}");
    assert!(stuck.warm && stuck.timed_out, "{stuck:?}");
    assert!(stuck.duration >= Duration::from_secs(3), "{:?}", stuck.duration);
    assert!(stuck.duration < Duration::from_secs(10), "{:?}", stuck.duration);
    // The loop's CPU is counted (not the idle time before the hand-off): at least a sixth of
    // a core over the 3 s. A third was too much when four builds shared the 2 cores (927 ms).
    assert!(stuck.resource_usage.cpu_time_ms.is_some_and(|ms| ms >= 500), "{:?}", stuck.resource_usage);
    h.finish().await;
}
