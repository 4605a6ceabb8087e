//! Serving one job in a launched container, then destroying it.
//!
//! Write the request to stdin -> read stdout/stderr under caps, the wall-clock deadline
//! (from the hand-off) and the caller's cancellation -> the result line ends the run (the
//! harness flushes stderr before it and exits right after; waiting for Docker to report
//! that exit would add ~50 ms) -> remove in the background. A run without an answer
//! (killed, died) is waited for and inspected instead (exit code, OOM). Removal is owned
//! by the container's guard, so it happens on every path: success, error, cancellation,
//! and even when the caller drops the future.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::container::{LogOutput, WaitContainerOptions};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info_span, warn};

use super::error::SandboxError;
use super::launch::{InputSink, Launched, OutputStream, READY_TIMEOUT, Startup};
use super::lifecycle::{kill, short};
use super::output::{OutputCapture, Overflow};
use super::protocol::{HarnessResponse, parse_harness_output, parse_reported_usage};
use super::run::{RunLimits, SandboxRun, human_bytes};
use super::settings::SandboxSettings;
use super::usage::{self, UsageSample};

/// How long to keep draining output after a kill before giving up on the stream.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(10);
/// How long to wait for the exit status once output has ended.
const WAIT_FOR_EXIT: Duration = Duration::from_secs(10);
/// How long to keep reading after the result line, for stderr still in flight: the
/// engine copies stdout and stderr separately, so their order is not guaranteed.
const SETTLE_AFTER_ANSWER: Duration = Duration::from_millis(5);

/// Who asked for the run and how it was started; recorded in the [`SandboxRun`].
pub(crate) struct Origin<'a> {
    /// The caller's labels (set on a cold container; a warm one was created before the job).
    pub(crate) labels: &'a HashMap<String, String>,
    /// The container came from the warm pool.
    pub(crate) warm: bool,
    /// Where the container's removal runs after the run has returned.
    pub(crate) removals: &'a TaskTracker,
}

/// The parts of a [`Launched`] container the run loop consumes (its guard stays outside).
struct Parts {
    id: String,
    output: OutputStream,
    input: InputSink,
    capture: OutputCapture,
    startup: Startup,
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
    let Launched { id, guard, output, input, capture, startup, .. } = launched;
    let span = info_span!("sandbox_run", container_id = %short(&id), warm = origin.warm);
    let parts = Parts { id, output, input, capture, startup };
    let removals = origin.removals;
    let result = drive(docker, settings, parts, payload, cancel, origin).instrument(span).await;
    // The caller has its answer; the removal (~10 ms) need not hold it up.
    removals.spawn(guard.remove());
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
    let Parts { id, mut output, input, mut capture, startup } = parts;
    let id = id.as_str();
    let handoff = Instant::now();
    let ready = startup == Startup::Ready;
    let deadline = tokio::time::Instant::now() + settings.timeout;
    // Stdout up to here is the ready line; the next complete line is the answer.
    let mark = capture.stdout().len();
    let mut first_line_checked = !ready;
    // Stdout before this offset holds no newline after the ready line.
    let mut scanned = mark;
    let mut settle: Option<tokio::time::Instant> = None;
    let mut answered = false;
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
    // The harness reads one line, so the write completes as soon as it has read it; closing
    // stdin (StdinOnce) is belt and braces. Driven inside the read loop so a container that
    // floods output before reading cannot deadlock us.
    let write = async move {
        let mut input: InputSink = input;
        input.write_all(&payload).await?;
        input.flush().await?;
        input.shutdown().await
    };
    tokio::pin!(write);
    let mut write_done = false;

    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                // Dropping the stream frees the engine; the guard's forced removal kills.
                drop(output);
                return Err(SandboxError::Cancelled);
            }
            () = tokio::time::sleep_until(deadline), if !killed => {
                debug!(timeout_s = settings.timeout.as_secs_f64(), "sandbox timed out; killing");
                timed_out = true;
                killed = true;
                kills.push(spawn_kill(docker, id, true));
                drain_deadline = Some(tokio::time::Instant::now() + DRAIN_AFTER_KILL);
            }
            () = sleep_until_opt(settle), if !killed => {
                answered = true;
                break;
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
                    kills.push(spawn_kill(docker, id, false));
                    drain_deadline = Some(tokio::time::Instant::now() + DRAIN_AFTER_KILL);
                }
                // The first complete line is the answer when it reads as one (checked once:
                // a flood of lines must not be re-parsed line after line).
                let stdout = capture.stdout();
                let from = scanned;
                scanned = stdout.len();
                if !first_line_checked
                    && !killed
                    && let Some(at) = stdout.get(from..).and_then(|new| new.iter().position(|b| *b == b'\n'))
                {
                    first_line_checked = true;
                    // `mark..from + at` is the first line after the ready line.
                    if parse_harness_output(&stdout[mark..from + at]).is_ok() {
                        settle = Some(tokio::time::Instant::now() + SETTLE_AFTER_ANSWER);
                    }
                }
            }
        }
    }

    drop(output);
    let mut before_kill = None;
    for handle in kills {
        // A kill task only logs; a panic in it is not this run's business.
        if let Ok(Some(sample)) = handle.await {
            before_kill = Some(sample);
        }
    }
    let (exit_code, oom_killed, duration) = if answered {
        // The harness exits with the protocol's code right after its answer.
        let code = match parse_harness_output(capture.stdout()) {
            Ok(HarnessResponse::Ok(_)) => Some(0),
            Ok(HarnessResponse::Error(_)) => Some(1),
            Ok(HarnessResponse::InvalidRequest { .. }) => Some(2),
            Err(_) => None,
        };
        (code, false, handoff.elapsed())
    } else {
        let (code, oom) = exit_status(docker, id).await?;
        (code, oom, handoff.elapsed())
    };

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
    let reported = parse_reported_usage(capture.stdout());
    let resource_usage = usage::usage(reported, before_kill, oom_killed, settings.memory_bytes);
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

/// Waits (bounded) for the container to exit, then reads its exit code and OOM flag.
async fn exit_status(docker: &Docker, id: &str) -> Result<(Option<i64>, bool), SandboxError> {
    // Output has ended, so the process has (almost) exited.
    let waited = tokio::time::timeout(
        WAIT_FOR_EXIT,
        docker.wait_container(id, None::<WaitContainerOptions<String>>).next(),
    )
    .await;
    if waited.is_err() {
        warn!("sandbox container did not exit after its output ended; killing");
        kill(docker, id).await;
    }
    let state = docker
        .inspect_container(id, None)
        .await
        .map_err(|source| SandboxError::Docker { operation: "inspect container", source })?
        .state
        .unwrap_or_default();
    Ok((state.exit_code, state.oom_killed.unwrap_or(false)))
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
