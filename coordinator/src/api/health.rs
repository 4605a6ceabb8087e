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
        shared::db::outbox::pending(&mut conn).await.map_err(anyhow::Error::from)
    }
    .await;
    let published = state.relay_stats.published.load(std::sync::atomic::Ordering::Relaxed);
    match db {
        Ok(pending) => (
            StatusCode::OK,
            Json(serde_json::json!({
                "status": "ok",
                "components": {
                    "postgres": { "available": true },
                    "outbox": { "pending": pending, "published": published },
                },
                "namespace": state.settings.namespace.as_str(),
            })),
        ),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "status": "degraded",
                "components": { "postgres": { "available": false, "error": err.to_string() } },
                "namespace": state.settings.namespace.as_str(),
            })),
        ),
    }
}
