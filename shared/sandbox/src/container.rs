//! The sandbox handle: a Docker client, the settings and this process's warm pool.
//!
//! [`Sandbox::run`] serves one request in a container taken from the warm pool when one is
//! ready, or in one created for it (cold); either way the container is hardened the same
//! way, serves that one job and is removed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::error::{SandboxError, is_not_found};
use super::launch::launch;
use super::pool::WarmPool;
use super::protocol::HarnessRequest;
use super::run::SandboxRun;
use super::serve::{Origin, serve};
use super::settings::SandboxSettings;
use super::sweep::sweep;

/// Runs harness requests in Docker containers.
#[derive(Debug)]
pub struct Sandbox {
    docker: Docker,
    settings: SandboxSettings,
    /// API version negotiation happens once, on first use: `connect` is synchronous, and
    /// bollard's default version (1.47) is newer than some engines (Debian's 20.10: 1.41).
    /// bollard keeps the version in an `Arc` shared by clones, so negotiating a clone
    /// updates `docker` too.
    negotiated: OnceCell<()>,
    /// Warm containers of this process; empty until [`Sandbox::start_pool`]. Shared with
    /// the pool's refill task.
    pool: Arc<WarmPool>,
    /// Removals of finished runs' containers, which run after the run has returned;
    /// [`Sandbox::drain_pool`] waits for them.
    removals: TaskTracker,
}

impl Sandbox {
    /// Connects to the local engine (`DOCKER_HOST` or `/var/run/docker.sock`); no request is
    /// made until the first call.
    pub fn connect(settings: SandboxSettings) -> Result<Self, SandboxError> {
        settings.validate()?;
        let docker = Docker::connect_with_local_defaults().map_err(SandboxError::Connect)?;
        Ok(Self::with_docker(docker, settings))
    }

    /// Uses an existing bollard client (another socket, a TCP engine, test set-ups).
    pub fn with_docker(docker: Docker, settings: SandboxSettings) -> Self {
        let pool = Arc::new(WarmPool::new(settings.warm_pool, HashMap::new()));
        Self { docker, settings, negotiated: OnceCell::new(), pool, removals: TaskTracker::new() }
    }

    /// The settings this sandbox runs with.
    pub fn settings(&self) -> &SandboxSettings {
        &self.settings
    }

    async fn client(&self) -> Result<&Docker, SandboxError> {
        self.negotiated
            .get_or_try_init(|| async { self.docker.clone().negotiate_version().await.map(|_| ()) })
            .await
            .map_err(SandboxError::Connect)?;
        Ok(&self.docker)
    }

    /// Checks that the engine answers.
    pub async fn ping(&self) -> Result<(), SandboxError> {
        let docker = self.client().await?;
        docker.ping().await.map_err(SandboxError::Connect)?;
        Ok(())
    }

    /// Checks that the sandbox image is on the engine (worker start-up, health checks).
    pub async fn check_image(&self) -> Result<(), SandboxError> {
        let docker = self.client().await?;
        match docker.inspect_image(&self.settings.image).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => {
                Err(SandboxError::ImageMissing { image: self.settings.image.clone() })
            }
            Err(source) => Err(SandboxError::Docker { operation: "inspect image", source }),
        }
    }

    /// Runs one request and returns what happened, limits included.
    ///
    /// Takes a warm container when the pool has one ready, else creates one (cold). The
    /// wall-clock limit counts from the moment the request is handed over. `labels` go on
    /// a cold container (next to `algoagent.sandbox=1`), e.g. the job and run ids; a warm
    /// one was created before the job was known, so they are recorded in
    /// [`SandboxRun::labels`] instead. When `cancel` fires the container is killed and
    /// removed and [`SandboxError::Cancelled`] returned.
    pub async fn run(
        &self,
        request: &HarnessRequest,
        labels: &HashMap<String, String>,
        cancel: &CancellationToken,
    ) -> Result<SandboxRun, SandboxError> {
        self.run_with_limits(request, labels, cancel, None).await
    }

    /// Like [`Sandbox::run`], held to `limits` instead of the settings' memory, CPU and
    /// wall-clock limits when given (a request's own limits). Such a run always gets a cold
    /// container: warm ones were created with the settings' limits. The other hardening
    /// options stay as the settings say.
    pub async fn run_with_limits(
        &self,
        request: &HarnessRequest,
        labels: &HashMap<String, String>,
        cancel: &CancellationToken,
        limits: Option<&RunOverrides>,
    ) -> Result<SandboxRun, SandboxError> {
        let settings = match limits {
            Some(limits) => {
                let settings = limits.apply(&self.settings);
                settings.validate()?;
                Some(settings)
            }
            None => None,
        };
        let settings = settings.as_ref().unwrap_or(&self.settings);
        let pooled = limits.is_none();
        if cancel.is_cancelled() {
            return Err(SandboxError::Cancelled);
        }
        let payload = request.to_line()?;
        let docker = self.client().await?;
        let _active = Active::enter();
        // A run with its own limits must not use (and so must not take) a warm container.
        let warm_one = if pooled { self.pool.take() } else { None };
        let (launched, warm) = match warm_one {
            Some(launched) => {
                metrics::counter!("algoagent_sandbox_pool_hits_total").increment(1);
                (launched, true)
            }
            None => {
                metrics::counter!("algoagent_sandbox_pool_misses_total").increment(1);
                match launch(docker, settings, labels, cancel).await {
                    Ok(launched) => (launched, false),
                    Err(error) => {
                        count_run(error.exit_reason());
                        return Err(error);
                    }
                }
            }
        };
        let served = serve(
            docker,
            settings,
            launched,
            payload,
            cancel,
            Origin { labels, warm, removals: &self.removals },
        )
        .await;
        count_run(match &served {
            Ok(run) => run.exit_reason(),
            Err(error) => error.exit_reason(),
        });
        served
    }

    /// Starts keeping [`SandboxSettings::warm_pool`] containers ready, refilling in the
    /// background until `cancel` fires (or [`Sandbox::drain_pool`]). Returns at once; a
    /// second call while the pool runs does nothing. Nothing is pre-started until this is
    /// called: `connect` stays synchronous and one-shot users (the CLI) pay nothing.
    pub async fn start_pool(&self, cancel: CancellationToken) {
        if let Err(error) = self.client().await {
            // The refill task keeps trying to reach the engine.
            tracing::warn!(%error, "the Docker engine does not answer yet; the warm pool will retry");
        }
        self.pool.start(self.docker.clone(), self.settings.clone(), &cancel);
    }

    /// Stops refilling and removes every warm container (worker shutdown), and waits for
    /// the removals of finished runs' containers. Containers still serving a job finish it
    /// and are removed by their run.
    pub async fn drain_pool(&self) {
        self.pool.drain().await;
        self.removals.close();
        self.removals.wait().await;
        self.removals.reopen();
    }

    /// How many warm containers are ready now.
    pub fn pool_ready(&self) -> usize {
        self.pool.ready_count()
    }

    /// Waits until at least `n` warm containers are ready, up to `within`; says whether
    /// they are (tests, benchmarks, a readiness probe).
    pub async fn wait_pool_ready(&self, n: usize, within: Duration) -> bool {
        self.pool.wait_ready(n, within).await
    }

    /// This process's pool id: the value of the `algoagent.pool` label on its warm
    /// containers.
    pub fn pool_id(&self) -> &str {
        self.pool.id()
    }

    /// Adds `labels` to every warm container this sandbox will start (e.g. the deployment's
    /// namespace, so [`Sandbox::sweep_labelled`] can select them). Call before
    /// [`Sandbox::start_pool`]; it replaces the (still empty) pool.
    pub fn with_pool_labels(mut self, labels: HashMap<String, String>) -> Self {
        self.pool.stop();
        self.pool = Arc::new(WarmPool::new(self.settings.warm_pool, labels));
        self
    }

    /// Removes leftover sandbox containers (label `algoagent.sandbox=1`) of crashed
    /// workers; returns how many were removed.
    ///
    /// Call it at worker start with `older_than` = the sandbox timeout. This process's own
    /// warm containers are never removed; another process's are removed once they have
    /// exited (a dead worker's pool exits when its connections close) or are older than any
    /// live pool keeps them; a cold run's container once it has exited and is older than
    /// `older_than`, or is still running past `older_than` plus the start-up and drain
    /// margin (2 min).
    pub async fn sweep(&self, older_than: Duration) -> Result<usize, SandboxError> {
        self.sweep_labelled(older_than, &HashMap::new()).await
    }

    /// Like [`Sandbox::sweep`], limited to containers that also carry all of `labels` (e.g.
    /// the deployment's namespace, when several deployments share one engine).
    pub async fn sweep_labelled(
        &self,
        older_than: Duration,
        labels: &HashMap<String, String>,
    ) -> Result<usize, SandboxError> {
        let docker = self.client().await?;
        sweep(docker, older_than, labels, self.pool.id()).await
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // The refill task holds the pool; stopping it lets the pool drop and its
        // containers' guards remove them.
        self.pool.stop();
    }
}

/// A request's own limits, replacing the settings' for one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOverrides {
    /// Memory (and memory + swap) limit in bytes.
    pub memory_bytes: i64,
    /// CPU quota in billionths of a CPU.
    pub nano_cpus: i64,
    /// Wall-clock limit from the hand-off of the request.
    pub timeout: Duration,
}

impl RunOverrides {
    /// The settings with these limits in place of their own.
    fn apply(&self, settings: &SandboxSettings) -> SandboxSettings {
        SandboxSettings {
            memory_bytes: self.memory_bytes,
            nano_cpus: self.nano_cpus,
            timeout: self.timeout,
            ..settings.clone()
        }
    }
}

/// Counts one sandbox run by how it ended.
fn count_run(exit_reason: &'static str) {
    metrics::counter!("algoagent_sandbox_runs_total", "exit_reason" => exit_reason).increment(1);
}

/// Holds `algoagent_sandbox_active` one higher while a run is in progress, whichever way
/// it ends (a cancelled job drops the future).
struct Active;

impl Active {
    fn enter() -> Self {
        metrics::gauge!("algoagent_sandbox_active").increment(1.0);
        Self
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        metrics::gauge!("algoagent_sandbox_active").decrement(1.0);
    }
}
