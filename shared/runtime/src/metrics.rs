//! The process-wide `metrics` recorder. Every process (coordinator, worker) records through
//! the `metrics` facade at the place where a thing happens, and serves the recorder's
//! Prometheus text at `/metrics`; this module installs the recorder once, describes every
//! `algoagent_*` metric (so each process exports the same HELP lines) and chooses the
//! histogram buckets.

use std::sync::Mutex;
use std::time::Duration;

/// Renders this process's metrics for `/metrics` (re-exported so the binaries need not name
/// the exporter crate).
pub use metrics_exporter_prometheus::PrometheusHandle;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};
use tokio_util::sync::CancellationToken;

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The builder refused its configuration, or another recorder is already global.
    #[error("installing the Prometheus recorder: {0}")]
    Install(#[from] BuildError),
}

/// Bucket bounds (seconds) of every `*_seconds` histogram: from a millisecond (a queue hop,
/// a validator pass) to ten minutes (a long LLM fix or backtest).
const SECONDS_BUCKETS: [f64; 16] =
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0, 600.0];

/// How often histograms are compacted even when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Installs the global recorder (once per process; later calls return the same handle) and
/// describes the metrics. The handle renders the text exposition for `/metrics`.
pub fn install() -> Result<PrometheusHandle, MetricsError> {
    let mut slot = HANDLE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(handle) = slot.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)?
        .install_recorder()?;
    describe();
    *slot = Some(handle.clone());
    Ok(handle)
}

/// Compacts the recorder's histograms every few seconds until `cancel` fires, so memory
/// stays bounded between scrapes.
pub async fn upkeep(handle: PrometheusHandle, cancel: CancellationToken) {
    while !crate::backoff::sleep_or_cancel(UPKEEP_EVERY, &cancel).await {
        handle.run_upkeep();
    }
}

/// HELP text of every metric recorded through the facade.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    // Jobs (workers) and runs (coordinator).
    describe_counter!("algoagent_jobs_started_total", "Jobs a worker claimed and started, by kind.");
    describe_counter!(
        "algoagent_jobs_finished_total",
        "Jobs whose handler ended, by kind and outcome (succeeded, failed, transient, poison)."
    );
    describe_histogram!("algoagent_job_duration_seconds", "Time a job's handler ran, by kind.");
    describe_histogram!(
        "algoagent_job_queue_wait_seconds",
        "Time from a job's (re-)enqueueing to its claim by a worker, by kind (retry delays included)."
    );
    describe_counter!(
        "algoagent_job_retries_total",
        "Transient job failures sent through a retry tier, by kind."
    );
    describe_counter!("algoagent_dead_letters_total", "Messages dead-lettered, by job kind and reason.");
    describe_counter!(
        "algoagent_lease_losses_total",
        "Running jobs a worker stopped because another attempt had taken their lease."
    );
    describe_counter!(
        "algoagent_leases_expired_total",
        "Running jobs the coordinator's reaper re-enqueued because their lease had expired."
    );
    describe_counter!(
        "algoagent_run_transitions_total",
        "Run state changes the coordinator made, by new state."
    );
    // Outbox and broker.
    describe_counter!("algoagent_outbox_published_total", "Outbox messages this process's relay published.");
    describe_histogram!(
        "algoagent_outbox_relay_lag_seconds",
        "Time from an outbox row's commit to its confirmed publication by this process's relay."
    );
    describe_counter!(
        "algoagent_amqp_reconnects_total",
        "Broker sessions lost and opened again, by role (consumer, control, relay)."
    );
    // Sandbox.
    describe_counter!("algoagent_sandbox_runs_total", "Sandbox runs, by how they ended (exit_reason).");
    describe_gauge!("algoagent_sandbox_active", "Sandbox runs in progress in this worker.");
    describe_gauge!("algoagent_sandbox_pool_ready", "Warm sandbox containers ready in this worker's pool.");
    describe_counter!("algoagent_sandbox_pool_hits_total", "Sandbox runs that took a warm container.");
    describe_counter!(
        "algoagent_sandbox_pool_misses_total",
        "Sandbox runs that had to start a cold container."
    );
    describe_histogram!(
        "algoagent_sandbox_container_start_seconds",
        "Time to create and start a sandbox container until its harness is ready (warm and cold)."
    );
    // Validator.
    describe_histogram!("algoagent_validator_duration_seconds", "Time the validator took on one version.");
    describe_counter!(
        "algoagent_validator_refusals_total",
        "Versions the validator refused, by rule (a version refused by two rules counts once for each)."
    );
    // LLM and rate limits.
    describe_counter!("algoagent_llm_requests_total", "LLM requests, by provider, model and outcome.");
    describe_counter!(
        "algoagent_llm_tokens_total",
        "LLM tokens as reported by the endpoint, by provider, model, outcome and type (prompt, completion)."
    );
    describe_gauge!(
        "algoagent_llm_cost_usd_total",
        "LLM cost from the LLM_PRICES table, by provider, model and outcome (only ever increases)."
    );
    describe_histogram!(
        "algoagent_llm_request_duration_seconds",
        "LLM request latency, by provider and model."
    );
    describe_counter!(
        "algoagent_ratelimit_waits_total",
        "Times a request waited for a shared Redis budget, by budget (llm_requests, llm_tokens)."
    );
    describe_histogram!(
        "algoagent_ratelimit_wait_seconds",
        "Time waited for a shared Redis budget, by budget."
    );
    describe_counter!(
        "algoagent_ratelimit_exhausted_total",
        "Requests refused because a budget was spent, by budget (llm_requests, llm_tokens, submissions)."
    );
    // Git.
    describe_histogram!(
        "algoagent_git_merge_duration_seconds",
        "Time a merge into the strategies repository took, by outcome."
    );
    describe_counter!(
        "algoagent_git_merge_conflicts_total",
        "Conflicts met while merging, by type (ref_race, ref_locked, push_rejected: retried; content)."
    );
    // HTTP API (coordinator).
    describe_counter!("algoagent_http_requests_total", "HTTP requests, by method, matched route and status.");
    describe_histogram!(
        "algoagent_http_request_duration_seconds",
        "HTTP request latency, by method and matched route."
    );
}
