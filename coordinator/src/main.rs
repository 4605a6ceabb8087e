//! `algoagent-coordinator`: HTTP API, run state machine, outbox relay and reaper.

use anyhow::Context;
use clap::Parser;

/// mimalloc: the validator (and JSON handling) allocates many small objects; see
/// docs/BENCHMARKS.md for what it buys.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = algoagent_coordinator::Args::parse();
    let _telemetry = algoagent_runtime::telemetry::init(
        "algoagent-coordinator",
        "info,lapin=warn,sqlx=warn,tower_http=info",
    );
    let settings = algoagent_coordinator::settings::Settings::from_env().context("reading settings")?;
    match args.command.unwrap_or_default() {
        algoagent_coordinator::Command::Migrate => algoagent_coordinator::migrate(&settings).await,
        algoagent_coordinator::Command::Keys(command) => {
            algoagent_coordinator::keys(&settings, command).await
        }
        algoagent_coordinator::Command::Serve => {
            let listener = tokio::net::TcpListener::bind(settings.api_addr)
                .await
                .with_context(|| format!("binding API_ADDR {}", settings.api_addr))?;
            let cancel = algoagent_runtime::shutdown::on_signals();
            algoagent_coordinator::run(settings, listener, cancel).await
        }
    }
}
