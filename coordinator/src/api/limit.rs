//! Oversized bodies are refused with a 413 in the API's error shape. A declared length over
//! the limit is refused before the handler runs; the body is read and discarded first (up to
//! a cap) so the client receives the answer instead of a connection reset mid-upload.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::error::ApiError;
use crate::state::AppState;

/// Bodies up to this multiple of the limit are drained before answering.
const DRAIN_FACTOR: u64 = 16;

/// Middleware enforcing `API_MAX_BODY_BYTES` on the declared `Content-Length`.
pub async fn refuse_oversized(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = u64::try_from(state.settings.max_body_bytes).unwrap_or(u64::MAX);
    let declared =
        req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > limit => {
            if len <= limit.saturating_mul(DRAIN_FACTOR) {
                let mut body = req.into_body().into_data_stream();
                while let Some(Ok(_)) = body.next().await {}
            }
            ApiError::client(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BODY_TOO_LARGE",
                format!("request body of {len} bytes exceeds the limit of {limit} bytes"),
                serde_json::json!({ "limit_bytes": limit, "body_bytes": len }),
            )
            .into_response()
        }
        _ => next.run(req).await,
    }
}
