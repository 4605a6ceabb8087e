//! Serving one job in a launched container, then destroying it.
//!
//! Write the request to stdin -> read stdout/stderr under caps, the wall-clock deadline
//! (from the hand-off) and the caller's cancellation -> on the result line, read the cgroup
//! and close stdin so the harness exits -> wait -> inspect (exit code, OOM) -> remove.
//! Removal is owned by the container's guard, so it happens on every path: success, error,
//! cancellation, and even when the caller drops the future.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::container::{LogOutput, WaitContainerOptions};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span, warn};

use super::error::SandboxError;
use super::launch::{InputSink, Launched, OutputStream, READY_TIMEOUT, Startup};
use super::lifecycle::{kill, short};
use super::output::{OutputCapture, Overflow};
use super::protocol::parse_harness_output;
use super::run::{RunLimits, SandboxRun, human_bytes};
use super::settings::SandboxSettings;
use super::usage::{self, UsageSample};

/// How long to keep draining output after a kill before giving up on the stream.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(10);
/// How long to wait for the exit status once output has ended.
const WAIT_FOR_EXIT: Duration = Duration::from_secs(10);
/// How long the harness may take to exit once it has answered and stdin is closed.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// Who asked for the run and how it was started; recorded in the [`SandboxRun`].
pub(crate) struct Origin<'a> {
    /// The caller's labels (set on a cold container; a warm one was created before the job).
    pub(crate) labels: &'a HashMap<String, String>,
    /// The container came from the warm pool.
    pub(crate) warm: bool,
}

/// The parts of a [`Launched`] container the run loop consumes (its guard stays outside).
struct Parts {
    id: String,
    output: OutputStream,
    input: InputSink,
    capture: OutputCapture,
    startup: Startup,
    baseline: Option<UsageSample>,
}

/// Serves `payload` in `launched` and removes the container, whatever happens.
pub(crate) async fn serve(
    docker: &Docker,
    settings: &SandboxSettings,
    launched: Launched,
    payload: Vec<u8>,
    cancel: &CancellationToken,
    origin: Origin<'_>,
) -> Result<SandboxRun, SandboxError> {
    let Launched { id, guard, output, input, capture, startup, baseline, .. } = launched;
    let span = info_span!("sandbox_run", container_id = %short(&id), warm = origin.warm);
    let parts = Parts { id, output, input, capture, startup, baseline };
    let result = drive(docker, settings, parts, payload, cancel, origin).instrument(span).await;
    let t = Instant::now();
    guard.remove().await;
    debug!(t = t.elapsed().as_millis() as u64, "TMP removed");
    result
}

async fn drive(
    docker: &Docker,
    settings: &SandboxSettings,
    parts: Parts,
    payload: Vec<u8>,
    cancel: &CancellationToken,
    origin: Origin<'_>,
) -> Result<SandboxRun, SandboxError> {
    let Parts { id, mut output, input, mut capture, startup, baseline } = parts;
    let id = id.as_str();
    let handoff = Instant::now();
    let ready = startup == Startup::Ready;
    // Stdout up to here is the ready line; a newline after it ends the result line.
    let mark = capture.stdout().len();
    let mut deadline = tokio::time::Instant::now() + settings.timeout;
    // True once `deadline` is the exit grace after the answer, not the job's limit.
    let mut grace = false;
    let mut timed_out = false;
    let mut killed = false;
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    // Kills run as their own tasks: the engine finishes a kill only once the container's
    // output is copied out, so the output must keep being read meanwhile.
    let mut kills = Vec::new();
    if matches!(startup, Startup::TimedOut | Startup::Flooded) {
        killed = true;
        kills.push(spawn_kill(docker, id, false));
        drain_deadline = Some(tokio::time::Instant::now() + DRAIN_AFTER_KILL);
    }
    // A harness that is not waiting for a request gets none.
    let payload = if ready { payload } else { Vec::new() };
    // The harness reads one line, so the write completes as soon as it has read it. Driven
    // inside the read loop so a container that floods output first cannot deadlock us.
    let write = async move {
        let mut input = input;
        input.write_all(&payload).await?;
        input.flush().await?;
        Ok::<_, std::io::Error>(input)
    };
    tokio::pin!(write);
    let mut write_done = false;
    let mut stdin: Option<InputSink> = None;
    let mut answered = startup == Startup::Failed;
    let mut last_sample: Option<UsageSample> = None;

    loop {
        if answered && let Some(mut sink) = stdin.take() {
            // The harness lingers until stdin closes: read its cgroup while it still exists.
            debug!(t = handoff.elapsed().as_millis() as u64, "TMP answered");
            last_sample = usage::sample(docker, id).await;
            debug!(t = handoff.elapsed().as_millis() as u64, "TMP sampled");
            if let Err(error) = sink.shutdown().await {
                debug!(%error, "closing the sandbox's stdin failed");
            }
            drop(sink);
            if !killed {
                deadline = tokio::time::Instant::now() + EXIT_GRACE;
                grace = true;
            }
        }
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                // Dropping the stream frees the engine; the guard's forced removal kills.
                drop(output);
                return Err(SandboxError::Cancelled);
            }
            () = tokio::time::sleep_until(deadline), if !killed => {
                if grace {
                    debug!("sandbox harness did not exit after answering; killing");
                } else {
                    debug!(timeout_s = settings.timeout.as_secs_f64(), "sandbox timed out; killing");
                    timed_out = true;
                }
                killed = true;
                kills.push(spawn_kill(docker, id, true));
                drain_deadline = Some(tokio::time::Instant::now() + DRAIN_AFTER_KILL);
            }
            () = sleep_until_opt(drain_deadline) => {
                warn!("sandbox output did not end after the kill; giving up on it");
                break;
            }
            written = &mut write, if !write_done => {
                write_done = true;
                match written {
                    Ok(sink) => stdin = Some(sink),
                    // The harness may exit (or be killed) before reading: not our failure.
                    Err(error) => debug!(%error, "writing the request to the sandbox failed"),
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
                    kills.push(spawn_kill(docker, id, false));
                    drain_deadline = Some(tokio::time::Instant::now() + DRAIN_AFTER_KILL);
                }
                answered = answered || capture.stdout().get(mark..).is_some_and(|s| s.contains(&b'\n'));
            }
        }
    }

    debug!(t = handoff.elapsed().as_millis() as u64, "TMP output ended");
    drop(output);
    drop(stdin);
    for handle in kills {
        // A kill task only logs; a panic in it is not this run's business.
        if let Ok(Some(sample)) = handle.await {
            last_sample = last_sample.or(Some(sample));
        }
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
    let duration = handoff.elapsed();
    debug!(t = handoff.elapsed().as_millis() as u64, "TMP waited");
    let state = docker
        .inspect_container(id, None)
        .await
        .map_err(|source| SandboxError::Docker { operation: "inspect container", source })?
        .state
        .unwrap_or_default();
    let exit_code = state.exit_code;
    debug!(t = handoff.elapsed().as_millis() as u64, "TMP inspected");
    let oom_killed = state.oom_killed.unwrap_or(false);

    let output_truncated = capture.truncated();
    let (response, protocol_error) = match capture.overflow() {
        // A cut-off stdout cannot hold a trustworthy result line.
        Overflow::Stdout => {
            (None, Some(format!("output exceeded {}", human_bytes(settings.max_output_bytes as u64))))
        }
        overflow => match parse_harness_output(capture.stdout()) {
            Ok(response) => (Some(response), None),
            Err(_) if overflow == Overflow::Stderr => {
                (None, Some(format!("stderr exceeded {}", human_bytes(capture.stderr_ceiling() as u64))))
            }
            Err(_) if startup == Startup::TimedOut => {
                (None, Some(format!("the harness was not ready within {} s", READY_TIMEOUT.as_secs())))
            }
            Err(error) => (None, Some(error)),
        },
    };
    let resource_usage = usage::usage(baseline, last_sample, oom_killed, settings.memory_bytes);
    let (stdout_bytes, stderr_bytes) = capture.totals();
    debug!(
        ?exit_code,
        oom_killed,
        timed_out,
        output_truncated,
        stdout_bytes,
        stderr_bytes,
        elapsed_ms = duration.as_millis() as u64,
        peak_memory_bytes = resource_usage.peak_memory_bytes,
        cpu_time_ms = resource_usage.cpu_time_ms,
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
            timeout: settings.timeout,
            max_output_bytes: settings.max_output_bytes,
            memory_bytes: settings.memory_bytes,
        },
        resource_usage,
        warm: origin.warm,
        labels: origin.labels.clone(),
    })
}

/// Kills the container; with `sample_first`, reads its cgroup first (the last chance: a
/// killed container has none). An output flood is killed at once instead: every
/// millisecond lets it push more through the engine.
fn spawn_kill(docker: &Docker, id: &str, sample_first: bool) -> tokio::task::JoinHandle<Option<UsageSample>> {
    let (docker, id) = (docker.clone(), id.to_owned());
    tokio::spawn(async move {
        let sample = if sample_first { usage::sample(&docker, &id).await } else { None };
        kill(&docker, &id).await;
        sample
    })
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
