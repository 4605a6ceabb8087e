//! Request extractors whose rejections come out in the [`ApiError`] shape: a body too large
//! is a 413 naming the limit, malformed JSON a 400, a wrong shape a 422 naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The raw request body, with the size limit enforced.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(rejection) => {
                let status = rejection.status();
                let code =
                    if status == StatusCode::PAYLOAD_TOO_LARGE { "BODY_TOO_LARGE" } else { "BAD_BODY" };
                Err(ApiError::client(status, code, rejection.body_text(), serde_json::Value::Null))
            }
        }
    }
}

/// A JSON body decoded into `T` (which should deny unknown fields).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Body(bytes) = Body::from_request(req, state).await?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::client(
                StatusCode::BAD_REQUEST,
                "MALFORMED_JSON",
                format!("body is not valid JSON: {e}"),
                serde_json::Value::Null,
            )
        })?;
        serde_json::from_value(value).map(Self).map_err(|e| {
            ApiError::client(
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_REQUEST",
                format!("request does not match the expected shape: {e}"),
                serde_json::Value::String(e.to_string()),
            )
        })
    }
}
