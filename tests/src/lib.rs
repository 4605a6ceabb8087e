//! Test support: `TestEnv::start()` gives each test its own Postgres database, its own
//! RabbitMQ/Redis namespace and strategies repository, and spawns the real coordinator and
//! worker binaries against them. Processes are killed when the environment is dropped.
#![allow(clippy::unwrap_used)]

pub mod fake_llm;
pub mod fixtures;
pub mod prom;
pub mod seed;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secrecy::SecretString;
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Base URL of the test Postgres server (trust auth).
pub const PG_BASE: &str = "postgres://postgres@127.0.0.1:5432";
/// Test broker.
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// Test Redis.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379/";

/// Where cargo put the workspace binaries (next to this test executable's `deps/`).
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (cargo build --workspace --bins)",
        path.display()
    );
    path
}

/// One isolated AlgoAgent deployment for one test.
pub struct TestEnv {
    /// Namespace of queues and Redis keys (also the database name suffix).
    pub namespace: String,
    /// The test's own database.
    pub db_name: String,
    /// Pool on the test database.
    pub pool: PgPool,
    /// Temp dir holding the strategies repository, caches and logs.
    pub dir: tempfile::TempDir,
    /// Coordinator base URL, once started.
    pub api: String,
    coordinator: Option<Child>,
    workers: Vec<Child>,
    /// `GET /metrics` URL of each worker, by index.
    worker_metrics: Vec<String>,
    /// Extra environment for spawned processes.
    pub extra_env: Vec<(String, String)>,
    http: reqwest::Client,
}

impl TestEnv {
    /// Creates the database and namespace; starts nothing yet.
    pub async fn new() -> anyhow::Result<Self> {
        let id = format!("t{:010x}", rand::random::<u64>() & 0xff_ffff_ffff);
        let db_name = format!("algoagent_{id}");
        let admin =
            PgPool::connect(&format!("{PG_BASE}/postgres")).await.context("connecting to Postgres")?;
        sqlx::query(&format!("CREATE DATABASE {db_name}")).execute(&admin).await?;
        admin.close().await;
        let pool = PgPool::connect(&format!("{PG_BASE}/{db_name}")).await?;
        algoagent_jobs::db::migrate(&pool).await?;
        Ok(Self {
            namespace: id,
            db_name,
            pool,
            dir: tempfile::tempdir()?,
            api: String::new(),
            coordinator: None,
            workers: Vec::new(),
            worker_metrics: Vec::new(),
            extra_env: Vec::new(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?,
        })
    }

    /// A new environment with a coordinator and `workers` workers serving every kind.
    pub async fn start(workers: usize) -> anyhow::Result<Self> {
        let mut env = Self::new().await?;
        env.start_coordinator().await?;
        for _ in 0..workers {
            env.start_worker(&[]).await?;
        }
        Ok(env)
    }

    /// Path of the strategies repository.
    pub fn repo_path(&self) -> PathBuf {
        self.dir.path().join("strategies.git")
    }

    fn command(&self, bin: &str) -> Command {
        let mut cmd = Command::new(bin_path(bin));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", format!("{PG_BASE}/{}", self.db_name))
            .env("AMQP_URL", AMQP_URL)
            .env("REDIS_URL", REDIS_URL)
            .env("ALGOAGENT_NAMESPACE", &self.namespace)
            .env("STRATEGY_REPO", self.repo_path())
            .env("ALGOAGENT_CACHE_DIR", self.dir.path().join("cache"))
            .env("API_ADDR", "127.0.0.1:0")
            .env("ALGOAGENT_LEASE_SECS", "10")
            .env("ALGOAGENT_DRAIN_SECS", "20")
            .env("SANDBOX_TIMEOUT_SECS", "60")
            .env("RUST_LOG", "info,lapin=warn,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Ok(image) = std::env::var("SANDBOX_IMAGE") {
            cmd.env("SANDBOX_IMAGE", image);
        }
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Copies a child's stderr to a log file in the temp dir (and to our stderr when
    /// `TEST_LOG` is set); returns a channel of its lines for start-up probing.
    fn capture(&self, child: &mut Child, name: &str) -> tokio::sync::mpsc::UnboundedReceiver<String> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let stderr = child.stderr.take().unwrap();
        let log_path = self.dir.path().join(format!("{name}.log"));
        let echo = std::env::var_os("TEST_LOG").is_some();
        let name = name.to_owned();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut file = tokio::fs::OpenOptions::new().create(true).append(true).open(&log_path).await.ok();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(f) = file.as_mut() {
                    use tokio::io::AsyncWriteExt;
                    let _ = f.write_all(format!("{line}\n").as_bytes()).await;
                }
                if echo {
                    eprintln!("[{name}] {line}");
                }
                let _ = tx.send(line);
            }
        });
        rx
    }

    /// Starts the coordinator and waits until it serves `/health`.
    pub async fn start_coordinator(&mut self) -> anyhow::Result<()> {
        let mut child = self.command("algoagent-coordinator").spawn().context("spawning the coordinator")?;
        let mut lines = self.capture(&mut child, "coordinator");
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            let line = tokio::time::timeout_at(deadline.into(), lines.recv())
                .await
                .context("coordinator did not report its address in time")?
                .context("coordinator exited during start-up (see coordinator.log)")?;
            if line.contains("coordinator listening") {
                let v: serde_json::Value = serde_json::from_str(&line)?;
                break v["addr"].as_str().context("addr field")?.to_owned();
            }
        };
        tokio::spawn(async move { while lines.recv().await.is_some() {} });
        self.api = format!("http://{addr}");
        self.coordinator = Some(child);
        self.wait_healthy().await
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(resp) = self.http.get(format!("{}/health", self.api)).send().await
                && resp.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("coordinator never became healthy");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts a worker serving `kinds` (all kinds when empty); returns its index.
    pub async fn start_worker(&mut self, kinds: &[&str]) -> anyhow::Result<usize> {
        self.start_worker_with(kinds, &[]).await
    }

    /// Starts a worker with extra environment variables; returns its index.
    pub async fn start_worker_with(&mut self, kinds: &[&str], env: &[(&str, &str)]) -> anyhow::Result<usize> {
        let index = self.workers.len();
        let (child, metrics) = self.spawn_worker(index, kinds, env).await?;
        self.workers.push(child);
        self.worker_metrics.push(metrics);
        Ok(index)
    }

    /// Replaces worker `index` (dead or alive) by a fresh process with the same id.
    pub async fn restart_worker(
        &mut self,
        index: usize,
        kinds: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        let _ = self.workers[index].start_kill();
        let _ = self.workers[index].wait().await;
        (self.workers[index], self.worker_metrics[index]) = self.spawn_worker(index, kinds, env).await?;
        Ok(())
    }

    /// The log of worker `index` so far (all its incarnations).
    pub fn worker_log(&self, index: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("worker{index}.log"))).unwrap_or_default()
    }

    /// The coordinator process.
    pub fn coordinator(&mut self) -> &mut Child {
        self.coordinator.as_mut().expect("coordinator started")
    }

    /// Number of workers started.
    pub fn worker_count(&self) -> usize {
        self.workers.len()
    }

    /// Runs the `algoagent` CLI against this environment's coordinator.
    pub async fn cli(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        self.cli_with_env(&[], args).await
    }

    /// Runs the `algoagent` CLI with extra environment (e.g. `ALGOAGENT_API_KEY`).
    pub async fn cli_with_env(
        &self,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> anyhow::Result<std::process::Output> {
        let mut cmd = Command::new(bin_path("algoagent"));
        cmd.args(args).env("ALGOAGENT_API_URL", &self.api).env_remove("ALGOAGENT_API_KEY");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Ok(cmd.stdin(Stdio::null()).output().await?)
    }

    /// Runs `algoagent-coordinator ARGS` (e.g. `keys create ...`) on this environment's
    /// database; returns its output.
    pub async fn coordinator_command(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        Ok(self.command("algoagent-coordinator").args(args).stdout(Stdio::piped()).output().await?)
    }

    /// Spawns a worker and waits until it consumes; returns it and its `/metrics` URL.
    async fn spawn_worker(
        &self,
        index: usize,
        kinds: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<(Child, String)> {
        let mut cmd = self.command("algoagent-worker");
        cmd.env("METRICS_ADDR", "127.0.0.1:0");
        if !kinds.is_empty() {
            cmd.arg("--kinds").arg(kinds.join(","));
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.arg("--id").arg(format!("{}-w{index}", self.namespace));
        let mut child = cmd.spawn().context("spawning a worker")?;
        let mut lines = self.capture(&mut child, &format!("worker{index}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut metrics = None;
        loop {
            let line = tokio::time::timeout_at(deadline.into(), lines.recv())
                .await
                .context("worker did not start consuming in time")?
                .with_context(|| format!("worker exited during start-up (see worker{index}.log)"))?;
            if line.contains("\"metrics listening\"") {
                let v: serde_json::Value = serde_json::from_str(&line)?;
                metrics = Some(format!("http://{}/metrics", v["addr"].as_str().context("addr field")?));
            }
            if line.contains("\"consuming\"") {
                break;
            }
        }
        tokio::spawn(async move { while lines.recv().await.is_some() {} });
        Ok((child, metrics.context("the worker did not report its metrics address")?))
    }

    /// The `GET /metrics` URL of worker `index` (each worker serves on a port of its own).
    pub fn worker_metrics_url(&self, index: usize) -> &str {
        &self.worker_metrics[index]
    }

    /// The worker process at `index`.
    pub fn worker(&mut self, index: usize) -> &mut Child {
        &mut self.workers[index]
    }

    /// POSTs raw bytes to `path`; returns status and JSON body.
    pub async fn post(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        let resp = self
            .http
            .post(format!("{}{path}", self.api))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or(serde_json::Value::Null)))
    }

    /// GETs `path`; returns status and JSON body.
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, serde_json::Value)> {
        let resp = self.http.get(format!("{}{path}", self.api)).send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or(serde_json::Value::Null)))
    }

    /// Submits a spec file from `examples/specs/`; returns the run id.
    pub async fn submit_example(&self, file: &str) -> anyhow::Result<String> {
        let body = std::fs::read(examples_dir().join(file))?;
        let (status, resp) = self.post("/api/runs", body).await?;
        if status != 202 {
            bail!("submission of {file} refused: {status} {resp}");
        }
        Ok(resp["run_id"].as_str().context("run_id")?.to_owned())
    }

    /// Polls a run until it is terminal or `timeout` passes; returns its last state.
    pub async fn wait_for_run(&self, run_id: &str, timeout: Duration) -> anyhow::Result<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let (_, run) = self.get(&format!("/api/runs/{run_id}")).await?;
            let status = run["status"].as_str().unwrap_or_default();
            if ["merged", "failed", "dead", "cancelled"].contains(&status) {
                return Ok(run);
            }
            if Instant::now() > deadline {
                bail!("run {run_id} still '{status}' after {timeout:?}: {}", run["error"]);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Opens an AMQP channel on the broker.
    pub async fn amqp_channel(&self) -> anyhow::Result<(lapin::Connection, lapin::Channel)> {
        let conn = algoagent_jobs::queue::connect(&SecretString::from(AMQP_URL), "algoagent-test").await?;
        let channel = conn.create_channel().await?;
        Ok((conn, channel))
    }

    /// An empty datasets directory (for `DATASETS_DIR`) that the sandbox user (nobody) can
    /// read, as can every directory above it inside this environment.
    pub fn datasets_dir(&self) -> anyhow::Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.dir.path().join("datasets");
        std::fs::create_dir_all(&dir)?;
        for readable in [self.dir.path(), dir.as_path()] {
            std::fs::set_permissions(readable, std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(dir)
    }

    /// Queue and exchange names of this environment.
    pub fn names(&self) -> algoagent_jobs::queue::Names {
        algoagent_jobs::queue::Names::new(&algoagent_core::Namespace::parse(&self.namespace).unwrap())
    }

    /// Sends SIGTERM to every process, waits for them, and removes the database, the
    /// broker objects and the Redis keys of the namespace.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let mut children: Vec<Child> = self.workers.drain(..).collect();
        children.extend(self.coordinator.take());
        for child in &mut children {
            terminate(child);
        }
        for child in &mut children {
            let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
            let _ = child.start_kill();
        }
        if let Ok((conn, channel)) = self.amqp_channel().await {
            let _ = algoagent_jobs::queue::topology::delete(&channel, &self.names()).await;
            let _ = conn.close(200, "bye").await;
        }
        if let Ok(client) = redis::Client::open(REDIS_URL)
            && let Ok(mut conn) = client.get_multiplexed_async_connection().await
        {
            {
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{}:*", self.namespace))
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_default();
                if !keys.is_empty() {
                    let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
                }
            }
        }
        self.pool.close().await;
        let admin = PgPool::connect(&format!("{PG_BASE}/postgres")).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db_name))
            .execute(&admin)
            .await?;
        Ok(())
    }
}

/// Polls `check` every 100 ms until it holds; fails the test, naming `what`, after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends SIGTERM (graceful shutdown) to a child process.
pub fn terminate(child: &Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    }
}

/// The repository's `examples/specs` directory.
pub fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/specs")
}
