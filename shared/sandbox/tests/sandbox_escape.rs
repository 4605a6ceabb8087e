//! More containment checks: code sent straight to the sandbox (no validator) tries to
//! resolve a host, read secrets, write outside /tmp, escape through a subprocess, fork
//! without bound and sleep past its time. Each is contained, ends with a clear status and
//! leaves no container behind. (Sockets, memory and output floods and infinite loops are
//! in `sandbox_containment.rs`.)
//!
//! Needs the engine and the image, like the other sandbox tests; runs one test at a time.

use std::collections::HashMap;
use std::time::Duration;

use algoagent_sandbox::{
    BacktestParams, CodeFailure, HarnessRequest, HarnessResponse, Sandbox, SandboxRun, SandboxSettings,
};
use bollard::Docker;
use bollard::container::ListContainersOptions;
use tokio::sync::{Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

static DOCKER_LOCK: Mutex<()> = Mutex::const_new(());
const TEST_LABEL: &str = "algoagent.test";

struct Harness {
    sandbox: Sandbox,
    docker: Docker,
    test_id: String,
    _lock: MutexGuard<'static, ()>,
}

async fn harness(timeout: Duration) -> Harness {
    let lock = DOCKER_LOCK.lock().await;
    let settings = SandboxSettings {
        image: std::env::var("SANDBOX_IMAGE").unwrap_or_else(|_| "algoagent-sandbox:latest".to_owned()),
        timeout,
        warm_pool: 0,
        ..SandboxSettings::default()
    };
    let sandbox = Sandbox::connect(settings).expect("sandbox settings are valid");
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
    Harness { sandbox, docker, test_id: uuid::Uuid::new_v4().to_string(), _lock: lock }
}

impl Harness {
    /// Runs a strategy whose `init` runs `body` (indented by the caller's eight spaces).
    async fn run_init(&self, body: &str) -> SandboxRun {
        let code = format!(
            "from backtesting import Strategy\n\nclass Probe(Strategy):\n    def init(self):\n{body}\n\n    def next(self):\n        pass\n"
        );
        let request = HarnessRequest {
            code,
            entrypoint: "Probe".to_owned(),
            dataset: "GOOG".to_owned(),
            config: BacktestParams::default(),
        };
        let labels = HashMap::from([(TEST_LABEL.to_owned(), self.test_id.clone())]);
        let run =
            self.sandbox.run(&request, &labels, &CancellationToken::new()).await.expect("the run completes");
        self.assert_nothing_left().await;
        run
    }

    async fn assert_nothing_left(&self) {
        let filters = HashMap::from([("label".to_owned(), vec![format!("{TEST_LABEL}={}", self.test_id)])]);
        for _ in 0..100 {
            let options =
                ListContainersOptions::<String> { all: true, filters: filters.clone(), ..Default::default() };
            if self.docker.list_containers(Some(options)).await.expect("list").is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("sandbox containers left behind by test {}", self.test_id);
    }
}

/// The failure the harness reported, or a panic describing the run.
fn failure(run: &SandboxRun) -> &CodeFailure {
    match &run.response {
        Some(HarnessResponse::Error(failure)) => failure,
        _ => panic!("expected the code to fail: {run:?}"),
    }
}

/// The probe's findings travel back as the message of the exception it raises.
const REPORT: &str = "        raise RuntimeError(repr(found))";

#[tokio::test]
async fn resolving_a_host_fails() {
    let h = harness(Duration::from_secs(30)).await;

    let run = h.run_init("        import socket\n        socket.getaddrinfo('example.com', 443)").await;

    let failure = failure(&run);
    assert_eq!(failure.error_type, "gaierror", "{failure:?}");
}

#[tokio::test]
async fn secrets_and_host_files_are_out_of_reach() {
    let h = harness(Duration::from_secs(30)).await;
    let probe = format!(
        "        import os\n        found = {{}}\n        for path in ('/etc/shadow', '/var/run/docker.sock', '/root/.docker/config.json'):\n            try:\n                open(path, 'rb').read()\n                found[path] = 'read'\n            except OSError as exc:\n                found[path] = type(exc).__name__\n        found['env'] = sorted(os.environ)\n        found['uid'] = os.getuid()\n{REPORT}"
    );

    let run = h.run_init(&probe).await;

    let message = &failure(&run).error;
    assert!(!message.contains("'read'"), "{message}");
    assert!(
        message.contains("'/etc/shadow': 'PermissionError'")
            || message.contains("'/etc/shadow': 'FileNotFoundError'"),
        "{message}"
    );
    assert!(message.contains("'uid': 65534"), "{message}");
    // Only what the image and the harness set; nothing from the worker's environment.
    let allowed = [
        "HOME",
        "PATH",
        "HOSTNAME",
        "LANG",
        "LC_CTYPE",
        "MPLCONFIGDIR",
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONUNBUFFERED",
        "PYTHONPATH",
        "PYTHONNOUSERSITE",
    ];
    let env = message.split("'env': [").nth(1).and_then(|rest| rest.split(']').next()).expect("env list");
    for name in env.split(", ").map(|n| n.trim_matches('\'')).filter(|n| !n.is_empty()) {
        assert!(allowed.contains(&name), "unexpected environment variable {name} in {env}");
    }
}

#[tokio::test]
async fn writing_outside_tmp_fails_and_tmp_is_not_executable() {
    let h = harness(Duration::from_secs(30)).await;
    let probe = format!(
        "        import os, subprocess\n        found = {{}}\n        for path in ('/opt/algoagent/harness.py', '/etc/evil', '/home/evil'):\n            try:\n                open(path, 'w').write('x')\n                found[path] = 'written'\n            except OSError as exc:\n                found[path] = exc.strerror\n        with open('/tmp/run.sh', 'w') as script:\n            script.write('#!/bin/sh\\necho escaped\\n')\n        os.chmod('/tmp/run.sh', 0o755)\n        try:\n            subprocess.run(['/tmp/run.sh'], check=True)\n            found['exec'] = 'ran'\n        except OSError as exc:\n            found['exec'] = type(exc).__name__\n{REPORT}"
    );

    let run = h.run_init(&probe).await;

    let message = &failure(&run).error;
    assert!(!message.contains("'written'") && !message.contains("'ran'"), "{message}");
    assert!(message.contains("Read-only file system"), "{message}");
    assert!(message.contains("'exec': 'PermissionError'"), "{message}");
}

#[tokio::test]
async fn a_subprocess_has_no_network_no_privileges_and_no_capabilities() {
    let h = harness(Duration::from_secs(30)).await;
    // The child reports what it can do; it inherits the container's limits, not more.
    let child = "import os, socket\\nstatus = open('/proc/self/status').read()\\nline = lambda key: [l for l in status.splitlines() if l.startswith(key)][0]\\ntry:\\n    socket.create_connection(('192.0.2.1', 80), timeout=2)\\n    net = 'connected'\\nexcept OSError as exc:\\n    net = type(exc).__name__\\nprint(os.getuid(), line('NoNewPrivs'), line('CapEff'), line('CapBnd'), 'net=' + net)";
    let probe = format!(
        "        import subprocess, sys\n        found = subprocess.run([sys.executable, '-c', \"\"\"{child}\"\"\"], capture_output=True, text=True, timeout=20).stdout\n{REPORT}"
    );

    let run = h.run_init(&probe).await;

    let message = &failure(&run).error;
    assert!(message.contains("65534"), "{message}");
    assert!(message.contains("NoNewPrivs:\\t1"), "{message}");
    assert!(message.contains("CapEff:\\t0000000000000000"), "{message}");
    assert!(message.contains("CapBnd:\\t0000000000000000"), "{message}");
    assert!(message.contains("net=OSError"), "{message}");
}

#[tokio::test]
async fn a_fork_bomb_is_stopped_by_the_pids_limit() {
    let h = harness(Duration::from_secs(60)).await;
    // Forks until the kernel refuses; every child sleeps, holding its pid.
    let bomb = "        import os, time\n        children = 0\n        try:\n            while True:\n                if os.fork() == 0:\n                    time.sleep(120)\n                    os._exit(0)\n                children += 1\n        except OSError as exc:\n            raise RuntimeError(f'fork refused after {children} children: {exc.strerror}')";

    let run = h.run_init(bomb).await;

    let message = &failure(&run).error;
    let children: u32 = message
        .split("after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{message}"));
    assert!(children < 128, "{message}");
    assert!(message.contains("Resource temporarily unavailable"), "{message}");
    assert!(!run.timed_out, "the harness must answer, its children die with the container");
}

#[tokio::test]
async fn sleeping_past_the_timeout_is_killed() {
    let h = harness(Duration::from_secs(3)).await;

    let run = h.run_init("        import time\n        time.sleep(60)").await;

    assert!(run.timed_out, "{run:?}");
    assert!(run.duration < Duration::from_secs(15), "{:?}", run.duration);
    assert_eq!(run.failure_reason().as_deref(), Some("timed out after 3 s"));
    assert!(run.resource_usage.peak_memory_bytes.is_some(), "{:?}", run.resource_usage);
}
