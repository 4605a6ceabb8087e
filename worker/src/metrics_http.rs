//! `GET /metrics` of a worker: the Prometheus text of this process's recorder, on its own
//! listener (`--metrics-addr` / `METRICS_ADDR`), since a worker serves no other HTTP.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use shared::metrics::PrometheusHandle;
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
