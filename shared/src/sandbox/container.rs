//! Running the harness in a hardened, throw-away container with bollard.
//!
//! One run = create (hardened config) -> attach -> start -> write the request to stdin ->
//! read stdout/stderr under caps, a wall-clock deadline and the caller's cancellation ->
//! wait -> inspect (exit code, OOM) -> remove. Removal is owned by a guard, so it happens on
//! every path: success, error, cancellation, and even when the caller drops the future.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::container::{
    AttachContainerOptions, AttachContainerResults, CreateContainerOptions, ListContainersOptions, LogOutput,
    StartContainerOptions, WaitContainerOptions,
};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span, warn};

use super::error::{SandboxError, is_conflict, is_not_found};
use super::hardening::{SANDBOX_LABEL, container_config};
use super::lifecycle::{ContainerGuard, force_remove, kill, short, spawn_kill};
use super::output::{OutputCapture, Overflow};
use super::protocol::{HarnessRequest, parse_harness_output};
use super::run::{RunLimits, SandboxRun, human_bytes};
use super::settings::SandboxSettings;

/// How long to keep draining output after a kill before giving up on the stream.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(10);
/// How long to wait for the exit status once output has ended.
const WAIT_FOR_EXIT: Duration = Duration::from_secs(10);

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
        Self { docker, settings, negotiated: OnceCell::new() }
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

    /// Runs one request in a fresh container and returns what happened, limits included.
    ///
    /// `labels` are added to the container (next to `algoagent.sandbox=1`), e.g. the job and
    /// run ids, so an operator can tell whose container it is. When `cancel` fires the
    /// container is killed and removed and [`SandboxError::Cancelled`] returned.
    pub async fn run(
        &self,
        request: &HarnessRequest,
        labels: &HashMap<String, String>,
        cancel: &CancellationToken,
    ) -> Result<SandboxRun, SandboxError> {
        if cancel.is_cancelled() {
            return Err(SandboxError::Cancelled);
        }
        let payload = request.to_line()?;
        let docker = self.client().await?;
        let name = format!("algoagent-sbx-{}", uuid::Uuid::new_v4().simple());
        let created = docker
            .create_container(
                Some(CreateContainerOptions { name: name.as_str(), platform: None }),
                container_config(&self.settings, labels),
            )
            .await
            .map_err(|source| {
                if is_not_found(&source) {
                    SandboxError::ImageMissing { image: self.settings.image.clone() }
                } else {
                    SandboxError::Docker { operation: "create container", source }
                }
            })?;
        let guard = ContainerGuard::new(docker.clone(), created.id.clone());
        let span = info_span!("sandbox_run", container_id = %short(&created.id), name = %name);
        let result = self.drive(docker, &created.id, payload, cancel).instrument(span).await;
        guard.remove().await;
        result
    }

    /// Everything between create and remove.
    async fn drive(
        &self,
        docker: &Docker,
        id: &str,
        payload: Vec<u8>,
        cancel: &CancellationToken,
    ) -> Result<SandboxRun, SandboxError> {
        let docker_err = |operation| move |source| SandboxError::Docker { operation, source };
        // Attach before start, so not a byte of output is missed.
        let AttachContainerResults { mut output, mut input } = docker
            .attach_container(
                id,
                Some(AttachContainerOptions::<String> {
                    stdin: Some(true),
                    stdout: Some(true),
                    stderr: Some(true),
                    stream: Some(true),
                    logs: Some(false),
                    detach_keys: None,
                }),
            )
            .await
            .map_err(docker_err("attach"))?;
        docker
            .start_container(id, None::<StartContainerOptions<String>>)
            .await
            .map_err(docker_err("start container"))?;
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + self.settings.timeout;
        debug!("sandbox container started");

        // The harness reads one line, so the write completes as soon as it has read it;
        // closing stdin (StdinOnce) is belt and braces. Driven inside the read loop so a
        // container that floods output before reading cannot deadlock us.
        let write = async move {
            input.write_all(&payload).await?;
            input.flush().await?;
            input.shutdown().await
        };
        tokio::pin!(write);
        let mut write_done = false;

        let mut capture = OutputCapture::new(self.settings.max_output_bytes);
        let mut timed_out = false;
        let mut killed = false;
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        // Kills run as their own tasks: the engine finishes a kill only once the container's
        // output is copied out, so the output must keep being read meanwhile.
        let mut kills = Vec::new();
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    // Dropping the stream frees the engine; the guard's forced removal kills.
                    drop(output);
                    return Err(SandboxError::Cancelled);
                }
                () = tokio::time::sleep_until(deadline), if !killed => {
                    debug!(timeout_s = self.settings.timeout.as_secs_f64(), "sandbox timed out; killing");
                    timed_out = true;
                    killed = true;
                    kills.push(spawn_kill(docker, id));
                    drain_deadline = Some(tokio::time::Instant::now() + DRAIN_AFTER_KILL);
                }
                () = sleep_until_opt(drain_deadline) => {
                    warn!("sandbox output did not end after the kill; giving up on it");
                    break;
                }
                written = &mut write, if !write_done => {
                    write_done = true;
                    if let Err(error) = written {
                        // The harness may exit (or be killed) before reading: not our failure.
                        debug!(%error, "writing the request to the sandbox failed");
                    }
                }
                item = output.next() => {
                    let overflow = match item {
                        None => break,
                        Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                            capture.push_stdout(&message)
                        }
                        Some(Ok(LogOutput::StdErr { message })) => capture.push_stderr(&message),
                        Some(Ok(LogOutput::StdIn { .. })) => Overflow::None,
                        Some(Err(source)) => {
                            return Err(SandboxError::Docker { operation: "read output", source });
                        }
                    };
                    if overflow != Overflow::None && !killed {
                        debug!(?overflow, "sandbox output over its cap; killing");
                        killed = true;
                        kills.push(spawn_kill(docker, id));
                        drain_deadline = Some(tokio::time::Instant::now() + DRAIN_AFTER_KILL);
                    }
                }
            }
        }

        drop(output);
        for handle in kills {
            // A kill task only logs; a panic in it is not this run's business.
            let _ = handle.await;
        }
        // Output has ended, so the process has (almost) exited; collect its status.
        let waited = tokio::time::timeout(
            WAIT_FOR_EXIT,
            docker.wait_container(id, None::<WaitContainerOptions<String>>).next(),
        )
        .await;
        if waited.is_err() {
            warn!("sandbox container did not exit after its output ended; killing");
            kill(docker, id).await;
        }
        let duration = started.elapsed();
        let state = docker
            .inspect_container(id, None)
            .await
            .map_err(docker_err("inspect container"))?
            .state
            .unwrap_or_default();
        let exit_code = state.exit_code;
        let oom_killed = state.oom_killed.unwrap_or(false);

        let output_truncated = capture.truncated();
        let (response, protocol_error) = match capture.overflow() {
            // A cut-off stdout cannot hold a trustworthy result line.
            Overflow::Stdout => (
                None,
                Some(format!("output exceeded {}", human_bytes(self.settings.max_output_bytes as u64))),
            ),
            overflow => match parse_harness_output(capture.stdout()) {
                Ok(response) => (Some(response), None),
                Err(_) if overflow == Overflow::Stderr => {
                    (None, Some(format!("stderr exceeded {}", human_bytes(capture.stderr_ceiling() as u64))))
                }
                Err(error) => (None, Some(error)),
            },
        };
        let (stdout_bytes, stderr_bytes) = capture.totals();
        debug!(
            ?exit_code,
            oom_killed,
            timed_out,
            output_truncated,
            stdout_bytes,
            stderr_bytes,
            elapsed_ms = duration.as_millis() as u64,
            "sandbox run finished"
        );
        Ok(SandboxRun {
            response,
            exit_code,
            timed_out,
            oom_killed,
            output_truncated,
            protocol_error,
            stderr_tail: capture.stderr_tail(),
            duration,
            container_id: id.to_owned(),
            limits: RunLimits {
                timeout: self.settings.timeout,
                max_output_bytes: self.settings.max_output_bytes,
                memory_bytes: self.settings.memory_bytes,
            },
        })
    }

    /// Removes sandbox containers (label `algoagent.sandbox=1`) created more than
    /// `older_than` ago, running or not; returns how many were removed.
    ///
    /// Call it at worker start with `older_than` above the sandbox timeout, so containers of
    /// other live workers on the same engine are left alone.
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
        let mut filters = vec![format!("{SANDBOX_LABEL}=1")];
        filters.extend(labels.iter().map(|(k, v)| format!("{k}={v}")));
        let containers = docker
            .list_containers(Some(ListContainersOptions::<String> {
                all: true,
                filters: HashMap::from([("label".to_owned(), filters)]),
                ..Default::default()
            }))
            .await
            .map_err(|source| SandboxError::Docker { operation: "list containers", source })?;
        let now = chrono::Utc::now().timestamp();
        let cutoff = now.saturating_sub(i64::try_from(older_than.as_secs()).unwrap_or(i64::MAX));
        let mut removed = 0;
        for container in containers {
            let (Some(id), Some(created)) = (container.id, container.created) else {
                continue;
            };
            if created > cutoff {
                continue;
            }
            match docker.remove_container(&id, Some(force_remove())).await {
                Ok(()) => removed += 1,
                Err(e) if is_not_found(&e) || is_conflict(&e) => {} // gone or being removed
                Err(source) => {
                    return Err(SandboxError::Docker { operation: "remove container", source });
                }
            }
        }
        if removed > 0 {
            warn!(removed, "swept leftover sandbox containers");
        }
        Ok(removed)
    }
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
