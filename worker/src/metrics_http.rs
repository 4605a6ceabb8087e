//! `GET /metrics` of a worker: the Prometheus text of this process's recorder, on its own
//! listener (`--metrics-addr` / `METRICS_ADDR`), since a worker serves no other HTTP.

use algoagent_core::JobKind;
use algoagent_runtime::metrics::PrometheusHandle;
use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Serves `/metrics` on `listener` until `cancel` fires.
pub async fn serve(listener: TcpListener, handle: PrometheusHandle, cancel: CancellationToken) {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move { ([(CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()) }
        }),
    );
    if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(cancel.cancelled_owned()).await {
        tracing::warn!(error = %err, "the metrics listener stopped");
    }
}

/// Puts the counters an operator alerts on at 0 for the kinds this worker serves, so a rate
/// over them reads 0 (not "no data") until the first job, retry, lost lease or conflict.
pub fn baseline(kinds: &[JobKind]) {
    for kind in kinds.iter().map(|k| k.as_str()) {
        metrics::counter!("algoagent_jobs_started_total", "kind" => kind).increment(0);
        metrics::counter!("algoagent_job_retries_total", "kind" => kind).increment(0);
    }
    metrics::counter!("algoagent_lease_losses_total").increment(0);
    if kinds.contains(&JobKind::Merge) {
        for kind in ["ref_race", "ref_locked", "push_rejected", "content"] {
            metrics::counter!("algoagent_git_merge_conflicts_total", "type" => kind).increment(0);
        }
    }
}
