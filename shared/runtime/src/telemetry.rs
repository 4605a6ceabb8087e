//! One tracing setup for every process: `RUST_LOG`-style filtering, JSON lines when the
//! output is not a terminal (production, containers), human-readable text otherwise, and
//! OpenTelemetry traces over OTLP (HTTP/protobuf) when an `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (the standard `OTEL_*` variables apply:
//! `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_TRACES_SAMPLER`, `OTEL_SDK_DISABLED`). An empty
//! endpoint counts as unset.
//!
//! Spans are exported by a batch processor on its own thread: a slow or unreachable collector
//! never blocks a job, and costs one warning until it answers again (see [`WarnOnce`]).
//! JSON log lines inside a traced span carry `trace_id` (see `tracecontext`).

use std::fmt;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::tracecontext::TraceIdTag;

/// Which spans are exported, whatever `RUST_LOG` says of the log lines: ours and the
/// libraries' at info, without the chatty client libraries.
const TRACE_FILTER: &str = "info,lapin=warn,sqlx=warn,hyper=warn,h2=warn,reqwest=warn,bollard=warn";

/// How long shutdown waits for the last spans to reach the collector.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Keeps the trace pipeline alive; dropping it flushes the spans not yet exported (bounded by
/// a few seconds, so a dead collector cannot hold up a shutdown).
#[must_use = "dropping the guard at once stops trace export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported (an OTLP endpoint was configured and the exporter built).
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown_with_timeout(FLUSH_TIMEOUT)
        {
            tracing::warn!(error = %err, "flushing traces on shutdown failed");
        }
    }
}

/// Installs the global subscriber; call once at the top of `main` and keep the guard.
///
/// `service` names the process in traces unless `OTEL_SERVICE_NAME` says otherwise;
/// `default_filter` applies when `RUST_LOG` is unset. A second call installs nothing (tests
/// that initialise telemetry in several places do not panic).
pub fn init(service: &str, default_filter: &str) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let (provider, exporter_error) = match otlp_enabled(|key| std::env::var(key).ok()) {
        true => match build_provider(service) {
            Ok(provider) => (Some(provider), None),
            Err(err) => (None, Some(err)),
        },
        false => (None, None),
    };
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("algoagent"))
            .with_tracked_inactivity(false)
            .with_filter(EnvFilter::new(TRACE_FILTER))
    });
    let fmt = if std::io::stderr().is_terminal() {
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .boxed()
    };
    // `RUST_LOG` chooses the log lines only: a CLI that logs warnings still exports its
    // command's span.
    let installed =
        tracing_subscriber::registry().with(fmt.with_filter(filter)).with(otel).try_init().is_ok();
    if let Some(err) = exporter_error {
        tracing::warn!(error = %err, "OTLP trace exporter could not be built; traces are off");
    }
    if !installed {
        // Already initialised (a test harness): keep the first subscriber, export nothing.
        return Telemetry { provider: None };
    }
    if provider.is_some() {
        tracing::info!(service, "exporting traces over OTLP");
    }
    Telemetry { provider }
}

/// True when an OTLP traces endpoint is configured and the SDK is not disabled.
fn otlp_enabled(var: impl Fn(&str) -> Option<String>) -> bool {
    let set = |key: &str| var(key).is_some_and(|v| !v.trim().is_empty());
    let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    !disabled && (set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") || set("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

/// The tracer provider: OTLP HTTP/protobuf through a batch processor on its own thread.
fn build_provider(service: &str) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()?;
    let mut resource = Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").map_or(true, |v| v.trim().is_empty()) {
        resource = resource.with_service_name(service.to_owned());
    }
    Ok(SdkTracerProvider::builder()
        .with_resource(resource.build())
        .with_batch_exporter(WarnOnce::new(exporter))
        .build())
}

/// An exporter that reports a failing collector once (and its recovery once), instead of
/// an error per batch; spans of failed batches are dropped, never retried into memory.
#[derive(Debug)]
pub struct WarnOnce<E> {
    inner: E,
    failing: AtomicBool,
}

impl<E> WarnOnce<E> {
    /// Wraps `inner`.
    pub fn new(inner: E) -> Self {
        Self { inner, failing: AtomicBool::new(false) }
    }
}

impl<E: SpanExporter> SpanExporter for WarnOnce<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        match &result {
            Err(err) if !self.failing.swap(true, Ordering::Relaxed) => {
                tracing::warn!(error = %err, spans, "trace export failed; spans are dropped until the collector answers (said once)");
            }
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!("trace export works again");
            }
            _ => {}
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// JSON lines: `timestamp`, `level`, `target`, the event's fields flattened, the current span
/// (`span`: its name and fields) and, inside a traced span, `trace_id`.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Keys in a fixed order (timestamp, level, the event's fields as recorded, target,
        // span, trace_id), as the log readers and the tests expect.
        let mut line: Vec<(&str, serde_json::Value)> = Vec::with_capacity(8);
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        line.push(("timestamp", timestamp.into()));
        line.push(("level", event.metadata().level().as_str().into()));
        let mut fields = JsonVisitor(Vec::new());
        event.record(&mut fields);
        line.push(("target", event.metadata().target().into()));
        if let Some(span) = ctx.lookup_current() {
            let extensions = span.extensions();
            let mut current = extensions
                .get::<FormattedFields<N>>()
                .and_then(|f| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(f).ok())
                .unwrap_or_default();
            current.insert("name".into(), span.name().into());
            line.push(("span", current.into()));
        }
        if let Some(scope) = ctx.event_scope() {
            let trace_id = scope.into_iter().find_map(|span| span.extensions().get::<TraceIdTag>().cloned());
            if let Some(TraceIdTag(id)) = trace_id {
                line.push(("trace_id", id.into()));
            }
        }
        let head = line.iter().take(2);
        let tail = line.iter().skip(2);
        let event_fields = fields.0.iter().map(|(k, v)| (*k, v));
        let mut text = String::with_capacity(256);
        text.push('{');
        for (i, (key, value)) in
            head.map(|(k, v)| (*k, v)).chain(event_fields).chain(tail.map(|(k, v)| (*k, v))).enumerate()
        {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&serde_json::to_string(key).map_err(|_| fmt::Error)?);
            text.push(':');
            text.push_str(&serde_json::to_string(value).map_err(|_| fmt::Error)?);
        }
        text.push('}');
        writeln!(writer, "{text}")
    }
}

/// Collects an event's fields as JSON values, in the order they were recorded.
struct JsonVisitor(Vec<(&'static str, serde_json::Value)>);

impl Visit for JsonVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.push((field.name(), value.into()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), value.into()));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name(), value.into()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name(), value.into()));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), value.into()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.push((field.name(), value.to_string().into()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name(), format!("{value:?}").into()));
    }
}

#[cfg(test)]
mod tests {
    use super::otlp_enabled;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    #[test]
    fn an_endpoint_turns_export_on_and_an_empty_one_does_not() {
        assert!(!otlp_enabled(vars(&[])));
        assert!(!otlp_enabled(vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "  ")])));
        assert!(otlp_enabled(vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")])));
        assert!(otlp_enabled(vars(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/v1/traces")])));
        assert!(!otlp_enabled(vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_SDK_DISABLED", "true")
        ])));
    }
}
