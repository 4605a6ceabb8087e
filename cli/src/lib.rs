//! The `algoagent` command line: submit specs and follow runs through the coordinator's API.
//! Exit codes: 0 success, 1 when the system refused or a run did not succeed, 2 on a usage,
//! I/O or connection error.

mod client;
pub mod diff;
mod ops;
mod runs;
mod sandbox;
pub mod spec;
mod state;
mod validate_code;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing::Instrument;

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
    /// API key sent as `X-API-Key` (created with `algoagent-coordinator keys create`).
    #[arg(long, env = "ALGOAGENT_API_KEY", global = true, hide_env_values = true)]
    pub api_key: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect and replay dead-lettered jobs.
    Dlq {
        /// What to do.
        #[command(subcommand)]
        action: ops::DlqCmd,
    },
    /// Live workers from their heartbeats.
    Workers,
    /// Deploy a merged strategy: a deploy commit on main, tagged `<name>/<tag>`.
    Deploy {
        /// Strategy id.
        strategy_id: i64,
        /// Tag version (default `v<number of merged versions>`).
        #[arg(long, conflicts_with = "no_tag")]
        tag: Option<String>,
        /// Make no tag (the deploy commit only).
        #[arg(long)]
        no_tag: bool,
        /// The deploy commit's (and tag's) message.
        #[arg(long)]
        message: Option<String>,
    },
    /// Roll a strategy back: a new commit on main restoring its files as of COMMIT.
    Rollback {
        /// Strategy id.
        strategy_id: i64,
        /// A commit on main (4 to 40 hex digits).
        commit: String,
        /// Why (audited).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Maintain the strategies repository through the coordinator (operator key).
    Git {
        /// What to do.
        #[command(subcommand)]
        action: GitCmd,
    },
    /// Search the failure memory the fix loop consults.
    Memory {
        /// What to do.
        #[command(subcommand)]
        action: MemoryCmd,
    },
    /// Check Python strategy files with the validator (offline; no coordinator needed).
    ValidateCode {
        /// Python files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Machine-readable findings.
        #[arg(long)]
        json: bool,
        /// Structure findings become warnings (safety findings stay errors).
        #[arg(long)]
        lenient: bool,
        /// Require this Strategy subclass.
        #[arg(long)]
        entrypoint: Option<String>,
    },
    /// Cancel a run; its running jobs are stopped and their results discarded.
    Cancel {
        /// Run id.
        run_id: String,
    },
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
    /// Show a run (state, versions, backtests, audited transitions), or a strategy: its runs,
    /// newest first, and its latest run.
    Status {
        /// A run id (UUID) or a strategy name.
        #[arg(value_name = "RUN_ID|STRATEGY")]
        target: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Strategies and their latest runs.
    Strategies {
        /// What to do.
        #[command(subcommand)]
        action: StrategiesCmd,
    },
    /// A strategy's audited history (its runs' and jobs' too), oldest first, and whether
    /// its hash chains hold (exit 1 when one does not).
    Audit {
        /// Strategy name or id.
        strategy: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Jobs, newest first.
    Jobs {
        /// Only jobs in this state (queued, running, succeeded, failed, dead, cancelled).
        #[arg(long)]
        status: Option<String>,
        /// Only jobs of this kind (generate, validate, test, fix, merge).
        #[arg(long)]
        kind: Option<String>,
        /// How many (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// A unified diff of two versions' code (numbers as `algoagent status STRATEGY` lists
    /// them: 1 is the strategy's first version).
    Diff {
        /// Strategy name or id.
        strategy: String,
        /// The older version (`1` or `v1`).
        from: String,
        /// The newer version.
        to: String,
        /// Print the two versions and the diff as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List recent runs.
    Runs {
        /// Only runs in this state.
        #[arg(long)]
        status: Option<String>,
        /// How many (1 to 500).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Export or print the JSON Schemas of specs, backtest configs and job envelopes.
    Schema {
        /// export DIR | show NAME.
        #[command(subcommand)]
        action: spec::SchemaAction,
    },
    /// Check spec files offline (no coordinator needed).
    Spec {
        /// validate FILE...
        #[command(subcommand)]
        action: spec::SpecAction,
    },
    /// Print the code the builtin generator makes for a spec file (offline).
    Generate {
        /// Spec file (JSON).
        spec: PathBuf,
    },
    /// Operator tools for the Docker sandbox (no coordinator needed).
    #[command(subcommand)]
    Sandbox(sandbox::SandboxCmd),
}

/// `algoagent strategies ...`
#[derive(Debug, Subcommand)]
pub enum StrategiesCmd {
    /// Every strategy: name, id, latest run status, versions, last update.
    List {
        /// How many (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `algoagent memory ...`
#[derive(Debug, Subcommand)]
pub enum MemoryCmd {
    /// Past failures most similar to TEXT, with whether a fix passed.
    Search {
        /// An error message or traceback.
        text: String,
        /// How many.
        #[arg(long, default_value_t = 5)]
        limit: u32,
    },
}

/// `algoagent git ...`
#[derive(Debug, Subcommand)]
pub enum GitCmd {
    /// Delete the `strategy/<name>` branches of strategies whose runs failed more than DAYS
    /// days ago and never merged (audited).
    Cleanup {
        /// Only branches whose strategy's last run finished more than this many days ago.
        #[arg(long)]
        days: u32,
        /// Say what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// The API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let span =
        tracing::info_span!("algoagent", otel.name = format!("algoagent {}", command_word(&cli.command)));
    algoagent_runtime::tracecontext::continue_from(&span, |_| None);
    run_command(cli).instrument(span).await
}

/// The subcommand's name as typed (`submit`, `status`, ...), for the command's span.
fn command_word(command: &Command) -> String {
    let debug = format!("{command:?}");
    debug.split(|c: char| !c.is_alphanumeric()).next().unwrap_or_default().to_lowercase()
}

/// Runs one subcommand.
async fn run_command(cli: Cli) -> anyhow::Result<ExitCode> {
    let client = client::Client::new(&cli.api_url, cli.api_key.as_deref())?;
    match cli.command {
        Command::Dlq { action } => ops::dlq(&client, action).await,
        Command::Workers => ops::workers(&client).await,
        Command::Deploy { strategy_id, tag, no_tag, message } => {
            ops::deploy(&client, strategy_id, tag, !no_tag, message).await
        }
        Command::Rollback { strategy_id, commit, reason } => {
            ops::rollback(&client, strategy_id, &commit, reason).await
        }
        Command::Git { action: GitCmd::Cleanup { days, dry_run, json } } => {
            ops::git_cleanup(&client, days, dry_run, json).await
        }
        Command::Memory { action: MemoryCmd::Search { text, limit } } => {
            ops::memory_search(&client, &text, limit).await
        }
        Command::ValidateCode { files, json, lenient, entrypoint } => {
            validate_code::run(&files, json, lenient, entrypoint)
        }
        Command::Cancel { run_id } => ops::cancel(&client, &run_id).await,
        Command::Submit { specs, wait, timeout } => runs::submit(&client, &specs, wait, timeout).await,
        // A run id is a UUID; a strategy name never is (names are identifiers).
        Command::Status { target, json } if uuid::Uuid::parse_str(&target).is_ok() => {
            runs::status(&client, &target, json).await
        }
        Command::Status { target, json } => state::strategy_status(&client, &target, json).await,
        Command::Strategies { action: StrategiesCmd::List { limit, json } } => {
            state::strategies_list(&client, limit, json).await
        }
        Command::Audit { strategy, json } => state::audit(&client, &strategy, json).await,
        Command::Jobs { status, kind, limit, json } => state::jobs(&client, status, kind, limit, json).await,
        Command::Diff { strategy, from, to, json } => state::diff(&client, &strategy, &from, &to, json).await,
        Command::Runs { status, limit } => runs::list(&client, status.as_deref(), limit).await,
        Command::Schema { action } => spec::schema(action),
        Command::Spec { action } => spec::spec(action),
        Command::Generate { spec: file } => spec::generate(&file),
        Command::Sandbox(cmd) => sandbox::run(cmd).await,
    }
}
