//! One error shape for every endpoint (`error`, `details`, `code`, `timestamp`, as in the
//! prototype's API guide). Client faults say what and where; server faults are opaque to the
//! client and logged once, here.

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An HTTP error with a stable machine code.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine code (`INVALID_SPEC`, `NOT_FOUND`, ...).
    pub code: &'static str,
    /// Brief description.
    pub error: String,
    /// Detail: a string, or a list of field errors.
    pub details: serde_json::Value,
}

impl ApiError {
    /// A client error.
    pub fn client(
        status: StatusCode,
        code: &'static str,
        error: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        Self { status, code, error: error.into(), details }
    }

    /// 400 in the guide's error body for one field of the request body: `details` is
    /// `[{loc: [field], msg, type}]`, as for a body of the wrong shape.
    pub fn invalid_field(field: &str, msg: &str) -> Self {
        Self::client(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            format!("{field}: {msg}"),
            serde_json::json!([{ "loc": [field], "msg": msg, "type": "value_error" }]),
        )
    }

    /// 404 for a missing entity.
    pub fn not_found(what: impl Into<String>) -> Self {
        let what = what.into();
        Self::client(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{what} not found"),
            serde_json::Value::String(what),
        )
    }

    /// A spec (or backtest config) that failed validation: 400 when the body is not JSON,
    /// 422 when it is JSON but invalid; every field error is listed.
    pub fn invalid_spec(errors: &algoagent_spec::SpecErrors) -> Self {
        let malformed = errors.errors().iter().any(|e| e.kind == "json_invalid");
        let (status, code) = if malformed {
            (StatusCode::BAD_REQUEST, "MALFORMED_JSON")
        } else {
            (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_SPEC")
        };
        let first = errors.errors().first().map(ToString::to_string).unwrap_or_default();
        Self::client(
            status,
            code,
            format!("invalid request: {first}"),
            serde_json::to_value(errors).unwrap_or_default(),
        )
    }
}

impl<E> From<E> for ApiError
where
    E: Into<anyhow::Error>,
{
    fn from(err: E) -> Self {
        let err: anyhow::Error = err.into();
        tracing::error!(error = format!("{err:#}"), "request failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "INTERNAL",
            error: "internal error".into(),
            details: serde_json::Value::String(
                "the server could not complete the request; it has been logged".into(),
            ),
        }
    }
}

/// The body of every 4xx and 5xx answer, the guide's error shape; the OpenAPI document's
/// `ErrorBody` is generated from it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Brief description.
    pub error: String,
    /// Detail: a string, a list of field errors (`[{loc, msg, type}]`), an object, or null.
    #[schema(value_type = Value)]
    pub details: serde_json::Value,
    /// Stable machine code (`NOT_FOUND`, `BAD_ID`, `INVALID_REQUEST`, `INTERNAL`, ...).
    #[schema(examples(
        "NOT_FOUND",
        "NO_ROUTE",
        "METHOD_NOT_ALLOWED",
        "BAD_ID",
        "BAD_QUERY",
        "INVALID_REQUEST"
    ))]
    pub code: &'static str,
    /// When the error was answered (RFC 3339, UTC, milliseconds).
    #[schema(format = DateTime)]
    pub timestamp: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.details.get("retry_after_secs").and_then(serde_json::Value::as_f64);
        let body = ErrorBody {
            error: self.error,
            details: self.details,
            code: self.code,
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        let mut response = (self.status, Json(body)).into_response();
        // A 429 carries its wait in `details.retry_after_secs`; HTTP clients and proxies read
        // the standard header.
        if self.status == StatusCode::TOO_MANY_REQUESTS
            && let Some(secs) = retry_after
        {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs.ceil().max(1.0) as u64));
        }
        response
    }
}
