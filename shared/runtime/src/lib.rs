//! What every AlgoAgent process runs on: logging and traces, shutdown on signals, the one backoff, and
//! the settings shared by the coordinator and the workers.

pub mod backoff;
pub mod metrics;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod tracecontext;
