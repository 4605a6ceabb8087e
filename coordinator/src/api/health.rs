//! `/health`: is this coordinator able to do its job (Postgres answers, outbox draining)?

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use crate::state::AppState;

/// Health routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let db = async {
        let mut conn = state.pool.acquire().await?;
        algoagent_jobs::db::outbox::pending(&mut conn).await.map_err(anyhow::Error::from)
    }
    .await;
    let published = state.relay_stats.published.load(std::sync::atomic::Ordering::Relaxed);
    let broker = state.relay_stats.connected.load(std::sync::atomic::Ordering::Relaxed);
    match db {
        Ok(pending) => (
            if broker { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE },
            Json(serde_json::json!({
                "status": if broker { "ok" } else { "degraded" },
                "components": {
                    "postgres": { "available": true },
                    "rabbitmq": { "available": broker },
                    "outbox": { "pending": pending, "published": published },
                },
                "namespace": state.settings.common.namespace.as_str(),
            })),
        ),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "status": "degraded",
                "components": { "postgres": { "available": false, "error": err.to_string() } },
                "namespace": state.settings.common.namespace.as_str(),
            })),
        ),
    }
}
