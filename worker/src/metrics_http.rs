//! The worker's own HTTP listener (`--metrics-addr` / `METRICS_ADDR`), since a worker serves
//! no other HTTP: `GET /metrics` (the Prometheus text of this process's recorder) and the
//! probes an orchestrator needs, `GET /health/live` and `GET /health/ready`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use algoagent_core::JobKind;
use algoagent_runtime::metrics::PrometheusHandle;
use axum::Router;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What the heartbeat loop last did, read by the probes: a loop that stopped ticking means a
/// wedged process (restart it); one whose writes fail means Postgres is out of reach (the
/// worker retries by itself, so that is "not ready", never a reason to restart).
#[derive(Debug)]
pub struct Health {
    born: Instant,
    every: Duration,
    /// Milliseconds after `born` of the last heartbeat attempt; 0 before the first.
    last_tick: AtomicU64,
    /// Milliseconds after `born` of the last heartbeat Postgres accepted; 0 before the first.
    last_ok: AtomicU64,
}

impl Health {
    /// Probe state for a heartbeat loop that runs every `every`.
    pub fn new(every: Duration) -> Arc<Self> {
        Arc::new(Self {
            born: Instant::now(),
            every,
            last_tick: AtomicU64::new(0),
            last_ok: AtomicU64::new(0),
        })
    }

    /// Records one heartbeat attempt and whether Postgres accepted it.
    pub fn beat(&self, ok: bool) {
        let now = self.since_born().max(1);
        self.last_tick.store(now, Ordering::Relaxed);
        if ok {
            self.last_ok.store(now, Ordering::Relaxed);
        }
    }

    fn since_born(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// How long a probe tolerates silence: three missed beats, plus a slow database's second.
    fn grace_ms(&self) -> u64 {
        u64::try_from((self.every * 3 + Duration::from_secs(1)).as_millis()).unwrap_or(u64::MAX)
    }

    /// Age in ms of a recorded instant, `None` before the first.
    fn age(&self, at: &AtomicU64) -> Option<u64> {
        match at.load(Ordering::Relaxed) {
            0 => None,
            t => Some(self.since_born().saturating_sub(t)),
        }
    }

    /// Live unless the heartbeat loop has started and then stopped ticking.
    fn live(&self) -> (StatusCode, serde_json::Value) {
        let age = self.age(&self.last_tick);
        let (code, status) = match age {
            None => (StatusCode::OK, "starting"),
            Some(a) if a <= self.grace_ms() => (StatusCode::OK, "ok"),
            Some(_) => (StatusCode::SERVICE_UNAVAILABLE, "stalled"),
        };
        (code, json!({ "status": status, "heartbeat_age_ms": age }))
    }

    /// Ready when Postgres accepted a heartbeat within the grace period.
    fn ready(&self) -> (StatusCode, serde_json::Value) {
        let age = self.age(&self.last_ok);
        let (code, status) = match age {
            Some(a) if a <= self.grace_ms() => (StatusCode::OK, "ok"),
            Some(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable"),
            None => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
        };
        (code, json!({ "status": status, "last_ok_heartbeat_age_ms": age }))
    }
}

/// Serves `/metrics` and the probes on `listener` until `cancel` fires.
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    health: Arc<Health>,
    cancel: CancellationToken,
) {
    let live = Arc::clone(&health);
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                async move { ([(CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()) }
            }),
        )
        .route(
            "/health/live",
            get(move || {
                let (code, body) = live.live();
                async move { (code, axum::Json(body)) }
            }),
        )
        .route(
            "/health/ready",
            get(move || {
                let (code, body) = health.ready();
                async move { (code, axum::Json(body)) }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_follow_the_heartbeat() {
        let h = Health::new(Duration::from_millis(10));
        assert_eq!(h.live().0, StatusCode::OK, "starting is live");
        assert_eq!(h.ready().0, StatusCode::SERVICE_UNAVAILABLE, "starting is not ready");
        h.beat(false);
        assert_eq!(h.live().0, StatusCode::OK);
        assert_eq!(h.ready().1["status"], "starting", "no write accepted yet");
        h.beat(true);
        assert_eq!(h.ready().0, StatusCode::OK);
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(h.live().0, StatusCode::SERVICE_UNAVAILABLE, "the loop stopped ticking");
        assert_eq!(h.ready().1["status"], "database unreachable");
    }
}
