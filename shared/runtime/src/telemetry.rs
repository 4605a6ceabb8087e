//! One tracing setup for every process: `RUST_LOG`-style filtering, JSON lines when the
//! output is not a terminal (production, containers), human-readable text otherwise.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; call once at the top of `main`.
///
/// `default_filter` applies when `RUST_LOG` is unset. A second call is a no-op, so tests that
/// initialise telemetry in several places do not panic.
pub fn init(default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if std::io::stderr().is_terminal() {
        builder.try_init()
    } else {
        builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init()
    };
    // Already initialised (e.g. by a test harness): keep the first subscriber.
    drop(result);
}
