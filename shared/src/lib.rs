//! AlgoAgent's domain library: everything the coordinator, the workers and the CLI share.
//!
//! Each module is one concern of the architecture in `docs/ARCHITECTURE.md`; the binaries stay thin and
//! call into these modules.

pub mod backoff;
pub mod cache;
pub mod codegen;
pub mod config;
pub mod db;
pub mod gitflow;
pub mod job;
pub mod llm;
pub mod memory;
pub mod metrics;
pub mod queue;
pub mod sandbox;
pub mod shutdown;
pub mod spec;
pub mod telemetry;
pub mod validate;
