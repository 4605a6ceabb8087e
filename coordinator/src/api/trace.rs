//! One server span per HTTP request, continuing the caller's trace (`traceparent`), named by
//! method and route template so traces group by endpoint, not by id.

use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use tracing::Span;

/// The span of one request: `http.request`, exported as `<METHOD> <route>`.
pub fn request_span(req: &Request) -> Span {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
    let method = req.method().as_str();
    let span = tracing::info_span!(
        "http.request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
    );
    let headers = req.headers();
    algoagent_runtime::tracecontext::continue_from(&span, |key| {
        headers.get(key).and_then(|v| v.to_str().ok()).map(str::to_owned)
    });
    span
}

/// Records the status on the request's span when the response leaves.
pub fn record_status(res: &Response, _latency: Duration, span: &Span) {
    span.record("http.response.status_code", res.status().as_u16());
}
