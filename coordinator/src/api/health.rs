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

/// Whether this coordinator can do its job.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(super) struct Health {
    /// `ok`, or `degraded` when Postgres or RabbitMQ is unavailable.
    #[schema(pattern = "^(ok|degraded)$")]
    status: &'static str,
    /// `postgres: {available, error?}`, and when Postgres answers `rabbitmq: {available}`
    /// and `outbox: {pending, published}`.
    #[schema(value_type = Object)]
    components: serde_json::Value,
    /// The namespace of this deployment's queues and keys.
    namespace: String,
}

/// Coordinator liveness
///
/// Postgres answers and the outbox relay is connected to RabbitMQ; public.
#[utoipa::path(
    get,
    path = "/health",
    tag = "meta",
    operation_id = "health",
    responses(
        (status = 200, description = "Postgres and RabbitMQ available", body = Health),
        (status = 503, description = "Postgres or RabbitMQ unavailable", body = Health),
    )
)]
pub(super) async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
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
            Json(Health {
                status: if broker { "ok" } else { "degraded" },
                components: serde_json::json!({
                    "postgres": { "available": true },
                    "rabbitmq": { "available": broker },
                    "outbox": { "pending": pending, "published": published },
                }),
                namespace: state.settings.common.namespace.as_str().to_owned(),
            }),
        ),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "degraded",
                components: serde_json::json!({
                    "postgres": { "available": false, "error": err.to_string() },
                }),
                namespace: state.settings.common.namespace.as_str().to_owned(),
            }),
        ),
    }
}
