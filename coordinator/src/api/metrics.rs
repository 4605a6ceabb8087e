//! `GET /metrics`: the Prometheus text of this process's `metrics` recorder (HTTP requests,
//! relay, run transitions, reaper: see `algoagent_runtime::metrics`) followed by the gauges computed from
//! Postgres at scrape time, so every coordinator replica reports the same durable numbers
//! (runs and jobs by state, open dead letters, outbox backlog and the age of its oldest row,
//! live workers). Also the middleware that counts and times every HTTP request by its
//! matched route. The Postgres part has a deadline: a database that does not
//! answer costs `algoagent_postgres_scrape_success 0`, never a hanging scrape. Labels are
//! low-cardinality: kinds, states, providers, models.

use std::fmt::Write;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use sqlx::PgPool;

use crate::state::AppState;

/// How long the Postgres gauges may take before the scrape answers without them (well under
/// Prometheus' default 10 s scrape timeout).
const POSTGRES_DEADLINE: Duration = Duration::from_secs(3);

/// Why the Postgres gauges are missing from a scrape.
#[derive(Debug, thiserror::Error)]
enum CollectError {
    /// A query failed.
    #[error("querying Postgres: {0}")]
    Query(#[from] sqlx::Error),
    /// The queries did not finish within [`POSTGRES_DEADLINE`].
    #[error("Postgres did not answer within {0:?}")]
    Deadline(Duration),
}

/// Metrics routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Middleware counting and timing every request by method, matched route (the pattern, such
/// as `/api/runs/{id}`, never the raw URL, so ids do not explode the series) and status;
/// a request no route matched is `route="unmatched"`.
pub async fn observe(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let method = req.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("algoagent_http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("algoagent_http_requests_total", "method" => method, "route" => route, "status" => status)
        .increment(1);
    response
}

fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', " ")
}

/// Prometheus metrics
///
/// This process's counters and histograms, then the gauges computed from Postgres at scrape
/// time (`algoagent_postgres_scrape_success` says whether they are there); public.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    operation_id = "metrics",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain; version=0.0.4"))
)]
pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = state.recorder.render();
    let collected = match tokio::time::timeout(POSTGRES_DEADLINE, collect(&state.pool)).await {
        Ok(result) => result.map_err(CollectError::from),
        Err(_) => Err(CollectError::Deadline(POSTGRES_DEADLINE)),
    };
    let success = match collected {
        Ok(text) => {
            out.push_str(&text);
            1
        }
        Err(err) => {
            tracing::warn!(error = %err, "metrics scrape without the Postgres gauges");
            0
        }
    };
    let _ = writeln!(
        out,
        "# HELP algoagent_postgres_scrape_success Whether this scrape's Postgres gauges were collected (1) or Postgres failed or timed out (0).\n# TYPE algoagent_postgres_scrape_success gauge\nalgoagent_postgres_scrape_success {success}"
    );
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// The gauges computed from Postgres, as exposition text.
async fn collect(pool: &PgPool) -> Result<String, sqlx::Error> {
    let mut out = String::new();
    let runs: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM runs GROUP BY 1 ORDER BY 1").fetch_all(pool).await?;
    let _ = writeln!(out, "# HELP algoagent_runs Runs by state.\n# TYPE algoagent_runs gauge");
    for (status, n) in runs {
        let _ = writeln!(out, "algoagent_runs{{status=\"{}\"}} {n}", label(&status));
    }
    let jobs: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT kind, status, count(*) FROM jobs GROUP BY 1, 2 ORDER BY 1, 2")
            .fetch_all(pool)
            .await?;
    let _ = writeln!(out, "# HELP algoagent_jobs Jobs by kind and state.\n# TYPE algoagent_jobs gauge");
    for (kind, status, n) in jobs {
        let _ =
            writeln!(out, "algoagent_jobs{{kind=\"{}\",status=\"{}\"}} {n}", label(&kind), label(&status));
    }
    let (dead, pending, oldest, live): (i64, i64, f64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL AND purged_at IS NULL),
                (SELECT count(*) FROM outbox WHERE sent_at IS NULL),
                (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM outbox WHERE sent_at IS NULL),
                (SELECT count(*) FROM workers WHERE stopped_at IS NULL AND last_seen > now() - interval '60 seconds')",
    )
    .fetch_one(pool)
    .await?;
    let _ = writeln!(
        out,
        "# HELP algoagent_dead_letters_open Open dead letters (not replayed, not purged).\n# TYPE algoagent_dead_letters_open gauge\nalgoagent_dead_letters_open {dead}"
    );
    let _ = writeln!(
        out,
        "# HELP algoagent_outbox_pending Outbox messages not yet published.\n# TYPE algoagent_outbox_pending gauge\nalgoagent_outbox_pending {pending}"
    );
    let _ = writeln!(
        out,
        "# HELP algoagent_outbox_oldest_pending_seconds Age of the oldest unpublished outbox message (0 when none).\n# TYPE algoagent_outbox_oldest_pending_seconds gauge\nalgoagent_outbox_oldest_pending_seconds {oldest}"
    );
    let _ = writeln!(
        out,
        "# HELP algoagent_workers_live Workers with a heartbeat in the last minute.\n# TYPE algoagent_workers_live gauge\nalgoagent_workers_live {live}"
    );
    Ok(out)
}
