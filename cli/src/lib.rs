//! The `algoagent` command line: submit specs and follow runs through the coordinator's API.
//! Exit codes: 0 success, 1 when the system refused or a run did not succeed, 2 on a usage,
//! I/O or connection error.

mod client;
mod runs;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "algoagent",
    version,
    about = "Turn strategy specs into tested, version-controlled backtesting.py strategies"
)]
pub struct Cli {
    /// Coordinator base URL.
    #[arg(long, env = "ALGOAGENT_API_URL", default_value = "http://127.0.0.1:8000", global = true)]
    pub api_url: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit one or more spec files; with --wait, follow them to the end and print a table.
    Submit {
        /// Spec files (JSON).
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// Wait for every run to finish, showing progress.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 900)]
        timeout: u64,
    },
    /// Show a run: state, versions, backtests and its audited transitions.
    Status {
        /// Run id.
        run_id: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// List recent runs.
    Runs {
        /// Only runs in this state.
        #[arg(long)]
        status: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let client = client::Client::new(&cli.api_url)?;
    match cli.command {
        Command::Submit { specs, wait, timeout } => runs::submit(&client, &specs, wait, timeout).await,
        Command::Status { run_id, json } => runs::status(&client, &run_id, json).await,
        Command::Runs { status, limit } => runs::list(&client, status.as_deref(), limit).await,
    }
}
