//! `algoagent`: the command line of AlgoAgent.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the validator (and JSON handling) allocates many small objects; see
/// docs/BENCHMARKS.md for what it buys.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = algoagent_cli::Cli::parse();
    // Warnings only on the terminal; with an OTLP endpoint set, the command is a trace's root.
    let _telemetry = algoagent_runtime::telemetry::init("algoagent-cli", "warn");
    match algoagent_cli::run(cli).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
