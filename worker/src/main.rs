//! `algoagent-worker`: consumes jobs of the kinds it serves until SIGTERM.

use anyhow::Context;
use clap::Parser;

/// mimalloc: the validator (and JSON handling) allocates many small objects; see
/// docs/BENCHMARKS.md for what it buys.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = algoagent_worker::Args::parse();
    let _telemetry = algoagent_runtime::telemetry::init("algoagent-worker", "info,lapin=warn,sqlx=warn");
    let settings = algoagent_worker::settings::Settings::from_env().context("reading settings")?;
    let cancel = algoagent_runtime::shutdown::on_signals();
    algoagent_worker::run(settings, args, cancel).await
}
