//! `GET /metrics`: the Prometheus text of this process's `metrics` recorder (HTTP, relay,
//! event handling: see `shared::metrics`) followed by the gauges computed from Postgres at
//! scrape time, so every coordinator replica reports the same durable numbers (runs and jobs
//! by state, open dead letters, outbox backlog and the age of its oldest row, live workers,
//! LLM requests, tokens and cost). The Postgres part has a deadline: a database that does not
//! answer costs `algoagent_postgres_scrape_success 0`, never a hanging scrape. Labels are
//! low-cardinality: kinds, states, providers, models.

use std::fmt::Write;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
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

fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', " ")
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
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
    let (dead, pending, live): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL AND purged_at IS NULL),
                (SELECT count(*) FROM outbox WHERE sent_at IS NULL),
                (SELECT count(*) FROM workers WHERE stopped_at IS NULL AND last_seen > now() - interval '60 seconds')",
    )
    .fetch_one(pool)
    .await?;
    let _ = writeln!(
        out,
        "# HELP algoagent_dead_letters Open dead letters.\n# TYPE algoagent_dead_letters gauge\nalgoagent_dead_letters {dead}"
    );
    let _ = writeln!(
        out,
        "# HELP algoagent_outbox_pending Outbox messages not yet published.\n# TYPE algoagent_outbox_pending gauge\nalgoagent_outbox_pending {pending}"
    );
    let _ = writeln!(
        out,
        "# HELP algoagent_workers_live Workers with a heartbeat in the last minute.\n# TYPE algoagent_workers_live gauge\nalgoagent_workers_live {live}"
    );
    let calls: Vec<(String, String, String, i64, i64, i64, f64)> = sqlx::query_as(
        "SELECT provider, coalesce(model, ''), outcome, count(*), coalesce(sum(prompt_tokens), 0)::bigint,
                coalesce(sum(completion_tokens), 0)::bigint, coalesce(sum(cost_usd), 0)::float8
           FROM llm_calls GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    )
    .fetch_all(pool)
    .await?;
    let _ = writeln!(
        out,
        "# HELP algoagent_llm_requests_total LLM requests by outcome.\n# TYPE algoagent_llm_requests_total counter"
    );
    for (provider, model, outcome, n, ..) in &calls {
        let _ = writeln!(
            out,
            "algoagent_llm_requests_total{{provider=\"{}\",model=\"{}\",outcome=\"{}\"}} {n}",
            label(provider),
            label(model),
            label(outcome)
        );
    }
    let _ = writeln!(
        out,
        "# HELP algoagent_llm_tokens_total LLM tokens.\n# TYPE algoagent_llm_tokens_total counter"
    );
    let _ = writeln!(
        out,
        "# HELP algoagent_llm_cost_usd_total LLM cost from the price table.\n# TYPE algoagent_llm_cost_usd_total counter"
    );
    let mut sums: std::collections::BTreeMap<(String, String), (i64, i64, f64)> = Default::default();
    for (provider, model, _, _, prompt, completion, cost) in calls {
        let e = sums.entry((provider, model)).or_default();
        e.0 += prompt;
        e.1 += completion;
        e.2 += cost;
    }
    for ((provider, model), (prompt, completion, cost)) in sums {
        let (p, m) = (label(&provider), label(&model));
        let _ = writeln!(
            out,
            "algoagent_llm_tokens_total{{provider=\"{p}\",model=\"{m}\",type=\"prompt\"}} {prompt}"
        );
        let _ = writeln!(
            out,
            "algoagent_llm_tokens_total{{provider=\"{p}\",model=\"{m}\",type=\"completion\"}} {completion}"
        );
        let _ = writeln!(out, "algoagent_llm_cost_usd_total{{provider=\"{p}\",model=\"{m}\"}} {cost}");
    }
    Ok(out)
}
