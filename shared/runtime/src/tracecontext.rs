//! W3C trace context across process boundaries, so one run is one trace: the HTTP request
//! (or `algoagent submit`), the coordinator, every job on every worker. The context travels
//! as `traceparent` / `tracestate` in HTTP headers, in the outbox row's headers and in the
//! AMQP message headers the relay publishes from them.
//!
//! With trace export off nothing is injected and an incoming context is still adopted, so a
//! process that does not export keeps the trace of the ones that do.

use std::collections::BTreeMap;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Registry;
use tracing_subscriber::registry::LookupSpan;

/// The header that carries the trace and parent span ids.
pub const TRACEPARENT: &str = "traceparent";

/// A span's trace id, kept in its extensions so JSON log lines of the span and of every span
/// under it carry `trace_id`.
#[derive(Debug, Clone)]
pub(crate) struct TraceIdTag(pub(crate) String);

/// The trace context of `span` as headers (`traceparent`, `tracestate`); empty when traces
/// are off or the span is disabled.
pub fn headers_of(span: &Span) -> BTreeMap<String, String> {
    let mut headers = Carrier(BTreeMap::new());
    let cx = span.context();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut headers);
    }
    headers.0
}

/// The current span's trace context as headers (see [`headers_of`]).
pub fn current_headers() -> BTreeMap<String, String> {
    headers_of(&Span::current())
}

/// Makes `span` a child of the trace context that `get` finds (`traceparent`,
/// `tracestate`), or the root of a new trace when there is none, and tags its log lines with
/// the trace id. Call it before the span is first entered.
pub fn continue_from(span: &Span, get: impl Fn(&str) -> Option<String>) {
    let incoming: BTreeMap<String, String> =
        ["traceparent", "tracestate"].into_iter().filter_map(|k| Some((k.to_owned(), get(k)?))).collect();
    continue_from_map(span, &incoming);
}

/// [`continue_from`] with string headers (outbox rows, AMQP headers already decoded).
pub fn continue_from_map(span: &Span, headers: &BTreeMap<String, String>) {
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    if parent.span().span_context().is_valid() {
        // Fails only when the span was already started; it then stays where it is.
        let _ = span.set_parent(parent);
    }
    tag(span);
}

/// Stores `span`'s trace id where the JSON log formatter finds it.
fn tag(span: &Span) {
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id == opentelemetry::trace::TraceId::INVALID {
        return;
    }
    span.with_subscriber(|(id, dispatch)| {
        if let Some(registry) = dispatch.downcast_ref::<Registry>()
            && let Some(data) = registry.span(id)
        {
            data.extensions_mut().replace(TraceIdTag(trace_id.to_string()));
        }
    });
}

/// Headers being written.
struct Carrier(BTreeMap<String, String>);

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

/// Headers being read.
struct Headers<'a>(&'a BTreeMap<String, String>);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}
