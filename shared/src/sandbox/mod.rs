//! Docker sandbox for untrusted strategy code (DESIGN.md, invariant 6).
//!
//! A backtest runs in a throw-away container of the sandbox image (`deploy/sandbox/`): no
//! network, read-only root, a small noexec tmpfs, no capabilities, no-new-privileges, user
//! 65534, memory + swap, CPU, pids, ulimit, wall-clock and output-size limits, optionally the
//! gVisor runtime. The request goes in over stdin and one JSON line comes back over stdout
//! (the harness protocol, [`HarnessRequest`] / [`HarnessResponse`]); nothing from the
//! worker's environment reaches the container. Every container carries the label
//! `algoagent.sandbox=1` and is removed on every path; [`Sandbox::sweep`] removes what a
//! crashed worker left behind.

mod container;
mod error;
mod hardening;
mod lifecycle;
mod output;
mod protocol;
mod run;
mod settings;

pub use container::Sandbox;
pub use error::SandboxError;
pub use hardening::SANDBOX_LABEL;
pub use protocol::{
    BacktestParams, BacktestReport, CodeFailure, HarnessRequest, HarnessResponse, Metrics, TradesSummary,
    parse_harness_output,
};
pub use run::{RunLimits, SandboxRun};
pub use settings::SandboxSettings;
