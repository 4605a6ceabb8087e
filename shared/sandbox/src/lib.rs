//! Docker sandbox for untrusted strategy code (docs/ARCHITECTURE.md, invariant 6).
//!
//! A backtest runs in a throw-away container of the sandbox image (`deploy/sandbox/`): no
//! network, read-only root, a small noexec tmpfs, no capabilities, no-new-privileges, user
//! 65534, memory + swap, CPU, pids, ulimit, wall-clock and output-size limits, optionally the
//! gVisor runtime. The request goes in over stdin and one JSON line comes back over stdout
//! (the harness protocol, [`HarnessRequest`] / [`HarnessResponse`]); nothing from the
//! worker's environment reaches the container. Every container carries the label
//! `algoagent.sandbox=1` and is removed on every path; [`Sandbox::sweep`] removes what a
//! crashed worker left behind.
//!
//! Every container starts the harness with `--ready` (imports first, then it waits on
//! stdin). A warm pool ([`Sandbox::start_pool`], [`Sandbox::drain_pool`]) keeps
//! `warm_pool` such containers ready per worker process, so a job skips the ~0.65 s start;
//! each container still serves exactly one job. Peak memory and CPU time of every run come
//! from the container's cgroup ([`ResourceUsage`]).

mod catalog;
mod container;
mod error;
mod hardening;
mod launch;
mod lifecycle;
mod output;
mod parquet_dates;
mod pool;
mod protocol;
mod run;
mod serve;
mod settings;
mod sweep;
mod usage;

pub use catalog::{BUNDLED, CatalogError, DatasetCatalog, DatasetInfo, file_symbol};
pub use container::{RunOverrides, Sandbox};
pub use error::SandboxError;
pub use hardening::{POOL_LABEL, SANDBOX_LABEL};
pub use parquet_dates::{ParquetDateError, parquet_range};
pub use protocol::{
    BacktestParams, BacktestReport, CodeFailure, HarnessRequest, HarnessResponse, Metrics, TradesSummary,
    parse_harness_output,
};
pub use run::{RunLimits, SandboxRun};
pub use settings::SandboxSettings;
pub use usage::ResourceUsage;
