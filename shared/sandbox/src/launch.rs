//! Starting a hardened container up to the harness's ready line.
//!
//! Warm and cold runs start the same way: create (hardened config) -> attach -> start ->
//! read until the harness prints `{"status":"ready"}` (imports done, waiting on stdin). A
//! cold run then serves its job at once; the warm pool keeps
//! the [`Launched`] container until a job takes it.

use std::collections::HashMap;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::container::{AttachContainerOptions, AttachContainerResults, CreateContainerOptions, LogOutput};
use futures::{FutureExt, Stream, StreamExt};
use tokio::io::AsyncWrite;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::error::{SandboxError, is_not_found};
use super::hardening::container_config;
use super::lifecycle::ContainerGuard;
use super::output::{OutputCapture, Overflow};
use super::settings::SandboxSettings;

/// The line the harness prints once it is ready for a request.
const READY_LINE: &[u8] = br#"{"status":"ready"}"#;
/// How long the harness may take to import its libraries and say ready.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The container's output, as the engine's attach stream yields it.
pub(crate) type OutputStream = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;
/// The container's stdin.
pub(crate) type InputSink = Pin<Box<dyn AsyncWrite + Send>>;

/// How the harness's start-up ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Startup {
    /// It printed the ready line and waits for a request.
    Ready,
    /// It printed something else first (an error line) or its output ended (it died).
    Failed,
    /// It did not get ready within [`READY_TIMEOUT`]; it must be killed.
    TimedOut,
    /// It printed past an output cap while starting; it must be killed.
    Flooded,
}

/// A started container, attached, owned by its removal guard.
pub(crate) struct Launched {
    /// Docker id.
    pub(crate) id: String,
    /// Removes the container however the run ends.
    pub(crate) guard: ContainerGuard,
    /// Stdout and stderr; kept open from before the start, so no byte is missed.
    pub(crate) output: OutputStream,
    /// Stdin; the request goes in here, and closing it lets the harness exit.
    pub(crate) input: InputSink,
    /// Output read so far (the ready line, start-up warnings).
    pub(crate) capture: OutputCapture,
    /// How the start-up ended.
    pub(crate) startup: Startup,
    /// When the harness became ready (or gave up).
    pub(crate) ready_at: Instant,
}

impl std::fmt::Debug for Launched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launched")
            .field("id", &self.id)
            .field("startup", &self.startup)
            .field("ready_at", &self.ready_at)
            .finish_non_exhaustive()
    }
}

impl Launched {
    /// Whether an idle container is still waiting for its request: reads whatever it has
    /// printed meanwhile (without waiting) and says false once its output has ended.
    pub(crate) fn still_waiting(&mut self) -> bool {
        loop {
            match self.output.next().now_or_never() {
                None => return true,
                Some(None | Some(Err(_))) => return false,
                Some(Some(Ok(LogOutput::StdErr { message }))) => {
                    if self.capture.push_stderr(&message) != Overflow::None {
                        return false;
                    }
                }
                // Stdout before a request means the harness is not waiting any more.
                Some(Some(Ok(LogOutput::StdOut { .. } | LogOutput::Console { .. }))) => return false,
                Some(Some(Ok(LogOutput::StdIn { .. }))) => {}
            }
        }
    }
}

/// Creates and starts one hardened container with `labels` and waits for its harness to be
/// ready. A start-up that fails inside the container is not an error: it comes back as a
/// [`Launched`] whose `startup` says so. The container is removed on every error path.
pub(crate) async fn launch(
    docker: &Docker,
    settings: &SandboxSettings,
    labels: &HashMap<String, String>,
    cancel: &CancellationToken,
) -> Result<Launched, SandboxError> {
    if cancel.is_cancelled() {
        return Err(SandboxError::Cancelled);
    }
    let name = format!("algoagent-sbx-{}", uuid::Uuid::new_v4().simple());
    let started = Instant::now();
    let created = docker
        .create_container(
            Some(CreateContainerOptions { name: name.as_str(), platform: None }),
            container_config(settings, labels),
        )
        .await
        .map_err(|source| {
            if is_not_found(&source) {
                SandboxError::ImageMissing { image: settings.image.clone() }
            } else {
                SandboxError::Docker { operation: "create container", source }
            }
        })?;
    let guard = ContainerGuard::new(docker.clone(), created.id.clone());
    match start(docker, settings, &created.id, cancel).await {
        Ok((output, input, capture, startup)) => {
            metrics::histogram!("algoagent_sandbox_container_start_seconds")
                .record(started.elapsed().as_secs_f64());
            Ok(Launched { id: created.id, guard, output, input, capture, startup, ready_at: Instant::now() })
        }
        Err(error) => {
            guard.remove().await;
            Err(error)
        }
    }
}

/// Attach, start, read up to the ready line.
async fn start(
    docker: &Docker,
    settings: &SandboxSettings,
    id: &str,
    cancel: &CancellationToken,
) -> Result<(OutputStream, InputSink, OutputCapture, Startup), SandboxError> {
    let docker_err = |operation| move |source| SandboxError::Docker { operation, source };
    // Attach before start, so not a byte of output is missed.
    let AttachContainerResults { mut output, input } = docker
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
    docker.start_container::<String>(id, None).await.map_err(docker_err("start container"))?;
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let mut capture = OutputCapture::new(settings.max_output_bytes);
    let startup = loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(SandboxError::Cancelled),
            () = tokio::time::sleep_until(deadline) => break Startup::TimedOut,
            item = output.next() => {
                let overflow = match item {
                    None => break Startup::Failed,
                    Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                        capture.push_stdout(&message)
                    }
                    Some(Ok(LogOutput::StdErr { message })) => capture.push_stderr(&message),
                    Some(Ok(LogOutput::StdIn { .. })) => Overflow::None,
                    Some(Err(source)) => return Err(docker_err("read output")(source)),
                };
                if overflow != Overflow::None {
                    break Startup::Flooded;
                }
                if let Some(end) = capture.stdout().iter().position(|b| *b == b'\n') {
                    let first = capture.stdout()[..end].trim_ascii();
                    break if first == READY_LINE { Startup::Ready } else { Startup::Failed };
                }
            }
        }
    };
    debug!(container_id = %super::lifecycle::short(id), ?startup, startup_ms = started.elapsed().as_millis() as u64, "sandbox harness started");
    Ok((output, input, capture, startup))
}
