//! The process-wide `metrics` recorder. Every process (coordinator, worker) records through
//! the `metrics` facade at the place where a thing happens, and serves the recorder's
//! Prometheus text at `/metrics`; this module installs the recorder once, describes every
//! `algoagent_*` metric (so each process exports the same HELP lines) and chooses the
//! histogram buckets.

use std::sync::Mutex;
use std::time::Duration;

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
    use metrics::describe_counter;
    describe_counter!("algoagent_outbox_published_total", "Outbox messages this process's relay published.");
}
