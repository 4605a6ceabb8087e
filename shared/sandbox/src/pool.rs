//! The warm pool: containers started ahead of time whose harness has imported pandas and
//! backtesting and waits on stdin.
//!
//! Each container serves exactly one job and is then destroyed; nothing is reused between
//! jobs. A background task keeps `warm_pool` containers ready (one start at a time, so
//! refilling never takes both cores from running jobs), replaces containers idle longer
//! than [`MAX_IDLE`], sweeps dead workers' leftovers now and then, and stops on its token;
//! [`WarmPool::drain`] then removes what is left. Every container carries the pool label
//! with this process's pool id, so a sweep in any process can tell whose it is.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bollard::Docker;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::error::SandboxError;
use super::hardening::POOL_LABEL;
use super::launch::{Launched, Startup, launch};
use super::settings::SandboxSettings;
use super::sweep::{MAX_IDLE, sweep};
use algoagent_runtime::backoff::{Backoff, sleep_or_cancel};

/// How often the refill task looks for idle containers to rotate and leftovers to sweep
/// when no job wakes it.
const CHECK_EVERY: Duration = Duration::from_secs(30);
/// How often the refill task sweeps dead workers' leftovers.
const SWEEP_EVERY: Duration = Duration::from_secs(5 * 60);

/// The running refill task and the token that stops it.
struct Refill {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// Warm containers of one worker process.
pub(crate) struct WarmPool {
    /// This process's pool id: the value of [`POOL_LABEL`] on its containers.
    id: String,
    /// Labels of every warm container: the pool label plus the caller's extra labels.
    labels: HashMap<String, String>,
    /// How many containers to keep ready.
    target: usize,
    /// Ready containers, oldest first. A std mutex: only held to push or pop, never across
    /// an await.
    ready: Mutex<VecDeque<Launched>>,
    /// Wakes the refill task when a job took a container.
    taken: Notify,
    /// The number of ready containers, for whoever waits for the pool to fill.
    count: watch::Sender<usize>,
    /// The refill task, while it runs; taken out by `stop` and `drain`.
    refill: Mutex<Option<Refill>>,
}

impl std::fmt::Debug for WarmPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmPool")
            .field("id", &self.id)
            .field("target", &self.target)
            .field("ready", &self.ready_count())
            .finish_non_exhaustive()
    }
}

impl WarmPool {
    /// An empty pool of `target` containers with a fresh pool id.
    pub(crate) fn new(target: usize, extra_labels: HashMap<String, String>) -> Self {
        // Present from the start, so a hit ratio is 0 rather than missing.
        metrics::counter!("algoagent_sandbox_pool_hits_total").increment(0);
        metrics::counter!("algoagent_sandbox_pool_misses_total").increment(0);
        metrics::gauge!("algoagent_sandbox_pool_ready").set(0.0);
        metrics::gauge!("algoagent_sandbox_active").increment(0.0);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut labels = extra_labels;
        labels.insert(POOL_LABEL.to_owned(), id.clone());
        Self {
            id,
            labels,
            target,
            ready: Mutex::new(VecDeque::new()),
            taken: Notify::new(),
            count: watch::Sender::new(0),
            refill: Mutex::new(None),
        }
    }

    /// This process's pool id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// How many containers are ready now.
    pub(crate) fn ready_count(&self) -> usize {
        *self.count.borrow()
    }

    fn with_ready<T>(&self, f: impl FnOnce(&mut VecDeque<Launched>) -> T) -> T {
        // A panic while holding the lock leaves a consistent queue (push/pop only).
        let mut ready = self.ready.lock().unwrap_or_else(PoisonError::into_inner);
        let out = f(&mut ready);
        self.count.send_replace(ready.len());
        metrics::gauge!("algoagent_sandbox_pool_ready").set(ready.len() as f64);
        out
    }

    /// A ready container for one job, if there is one; wakes the refill task.
    pub(crate) fn take(&self) -> Option<Launched> {
        loop {
            let mut launched = self.with_ready(VecDeque::pop_front)?;
            self.taken.notify_one();
            if launched.still_waiting() {
                return Some(launched);
            }
            // Died while idle (engine restart, killed by hand): its guard removes it.
            warn!(container_id = %super::lifecycle::short(&launched.id), "a warm sandbox container died while idle; discarding it");
        }
    }

    /// Waits until at least `n` containers are ready, up to `within`; says whether they are.
    pub(crate) async fn wait_ready(&self, n: usize, within: Duration) -> bool {
        let mut count = self.count.subscribe();
        tokio::time::timeout(within, count.wait_for(|ready| *ready >= n)).await.is_ok_and(|r| r.is_ok())
    }

    /// Starts the refill task (once; later calls while it runs do nothing).
    pub(crate) fn start(
        self: &Arc<Self>,
        docker: Docker,
        settings: SandboxSettings,
        cancel: &CancellationToken,
    ) {
        if self.target == 0 {
            return;
        }
        let mut refill = self.refill.lock().unwrap_or_else(PoisonError::into_inner);
        if refill.as_ref().is_some_and(|r| !r.task.is_finished()) {
            return;
        }
        let stop = cancel.child_token();
        let task = tokio::spawn(run_refill(Arc::clone(self), docker, settings, stop.clone()));
        *refill = Some(Refill { stop, task });
        info!(pool_id = %self.id, target = self.target, "sandbox warm pool started");
    }

    /// Tells the refill task to stop, without waiting.
    pub(crate) fn stop(&self) {
        if let Some(refill) = self.refill.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            refill.stop.cancel();
        }
    }

    /// Stops the refill task, waits for it, and removes every ready container.
    pub(crate) async fn drain(&self) {
        let refill = self.refill.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(Refill { stop, task }) = refill {
            stop.cancel();
            if let Err(error) = task.await {
                warn!(%error, "the sandbox pool's refill task failed");
            }
        }
        let drained: Vec<Launched> = self.with_ready(|ready| ready.drain(..).collect());
        let n = drained.len();
        futures::future::join_all(drained.into_iter().map(|l| l.guard.remove())).await;
        if n > 0 {
            info!(removed = n, "sandbox warm pool drained");
        }
    }
}

/// Keeps the pool full until `stop` fires.
async fn run_refill(pool: Arc<WarmPool>, docker: Docker, settings: SandboxSettings, stop: CancellationToken) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    // The engine's API version is shared by every clone of the client; negotiate it here
    // too, in case the pool starts before anything else has talked to the engine.
    while let Err(error) = docker.clone().negotiate_version().await {
        warn!(%error, "the sandbox pool cannot reach the Docker engine; retrying");
        if sleep_or_cancel(backoff.next_delay(), &stop).await {
            return;
        }
    }
    backoff.reset();
    let mut next_sweep = Instant::now();
    loop {
        if stop.is_cancelled() {
            return;
        }
        let idle: Vec<Launched> = pool.with_ready(|ready| {
            let keep = ready.iter().take_while(|l| l.ready_at.elapsed() < MAX_IDLE).count();
            ready.drain(keep..).collect()
        });
        for stale in idle {
            debug!(container_id = %super::lifecycle::short(&stale.id), "rotating an idle warm sandbox container");
            stale.guard.remove().await;
        }
        if Instant::now() >= next_sweep {
            next_sweep = Instant::now() + SWEEP_EVERY;
            if let Err(error) = sweep(&docker, settings.timeout, &HashMap::new(), &pool.id).await {
                warn!(%error, "sweeping leftover sandbox containers failed");
            }
        }
        if pool.ready_count() < pool.target {
            let delay = match launch(&docker, &settings, &pool.labels, &stop).await {
                Ok(launched) if launched.startup == Startup::Ready => {
                    pool.with_ready(|ready| ready.push_back(launched));
                    backoff.reset();
                    continue;
                }
                Ok(launched) => {
                    warn!(
                        startup = ?launched.startup,
                        stderr = %launched.capture.stderr_tail().lines().last().unwrap_or(""),
                        "a warm sandbox container did not get ready"
                    );
                    launched.guard.remove().await;
                    backoff.next_delay()
                }
                Err(SandboxError::Cancelled) => return,
                Err(error) => {
                    warn!(%error, source = ?std::error::Error::source(&error), "could not start a warm sandbox container");
                    backoff.next_delay()
                }
            };
            if sleep_or_cancel(delay, &stop).await {
                return;
            }
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = pool.taken.notified() => {}
            () = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}
