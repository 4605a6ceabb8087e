//! `algoagent sandbox run FILE`: an operator's debugging tool that runs a strategy file
//! straight in the hardened sandbox, without the validator, and prints the result as JSON.
//! Exit code 0 when the backtest ran, 1 when the code failed or was stopped by a limit, 2
//! on a usage or I/O error (unreadable file, no entrypoint, unknown dataset, no Docker).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use algoagent_sandbox::{
    BacktestParams, HarnessRequest, HarnessResponse, ResourceUsage, Sandbox, SandboxRun, SandboxSettings,
};
use algoagent_validate::EntrypointError;
use anyhow::{Context, bail};
use clap::Subcommand;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// `algoagent sandbox ...` subcommands.
#[derive(Debug, Subcommand)]
pub enum SandboxCmd {
    /// Run a Python strategy file in the sandbox (no validation) and print the result JSON.
    Run {
        /// The strategy module (Python source).
        file: PathBuf,
        /// GOOG, EURUSD, BTCUSD, csv:<file> or parquet:<file> from DATASETS_DIR.
        #[arg(long, default_value = "GOOG")]
        dataset: String,
        /// The Strategy subclass to run (default: the only one the file defines).
        #[arg(long)]
        entrypoint: Option<String>,
    },
}

/// Runs a `sandbox` subcommand.
pub async fn run(cmd: SandboxCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        SandboxCmd::Run { file, dataset, entrypoint } => run_file(&file, dataset, entrypoint).await,
    }
}

async fn run_file(file: &Path, dataset: String, entrypoint: Option<String>) -> anyhow::Result<ExitCode> {
    let code = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let entrypoint = match entrypoint {
        Some(name) => name,
        None => single_strategy_class(&code).with_context(|| format!("in {}", file.display()))?,
    };
    let settings = SandboxSettings::from_env().context("reading the SANDBOX_* settings")?;
    let sandbox = Sandbox::connect(settings).context("connecting to Docker")?;
    sandbox.check_image().await.context("checking the sandbox image")?;
    let request = HarnessRequest { code, entrypoint, dataset, config: BacktestParams::default() };
    let labels = HashMap::from([("algoagent.cli".to_owned(), "sandbox-run".to_owned())]);

    // Ctrl-C kills and removes the container instead of leaving it to the sweep.
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    let outcome = sandbox.run(&request, &labels, &cancel).await;
    // The run hands its container's removal to a background task; this process is about to
    // exit, so wait for it on every path (answer, error, timeout, Ctrl-C).
    sandbox.drain_pool().await;
    let outcome = outcome.context("running the sandbox")?;

    println!("{}", serde_json::to_string_pretty(&report(&outcome))?);
    Ok(match &outcome.response {
        Some(HarnessResponse::Ok(_)) => ExitCode::SUCCESS,
        // The request itself was wrong (unknown dataset, bad CSV): the caller's mistake.
        Some(HarnessResponse::InvalidRequest { .. }) => ExitCode::from(2),
        _ => ExitCode::from(1),
    })
}

/// The JSON printed for one run: how it ended, then the harness's answer.
#[derive(Serialize)]
struct Report<'a> {
    status: &'static str,
    failure_reason: Option<String>,
    exit_code: Option<i64>,
    timed_out: bool,
    oom_killed: bool,
    output_truncated: bool,
    duration_ms: u64,
    resource_usage: ResourceUsage,
    container_id: &'a str,
    stderr_tail: &'a str,
    result: &'a Option<HarnessResponse>,
}

fn report(run: &SandboxRun) -> Report<'_> {
    let status = match (&run.response, run.timed_out, run.oom_killed) {
        (_, true, _) => "timeout",
        (_, _, true) => "oom",
        (Some(HarnessResponse::Ok(_)), ..) => "ok",
        (Some(HarnessResponse::Error(_)), ..) => "error",
        (Some(HarnessResponse::InvalidRequest { .. }), ..) => "invalid_request",
        (None, ..) => "no_result",
    };
    Report {
        status,
        failure_reason: run.failure_reason(),
        exit_code: run.exit_code,
        timed_out: run.timed_out,
        oom_killed: run.oom_killed,
        output_truncated: run.output_truncated,
        duration_ms: u64::try_from(run.duration.as_millis()).unwrap_or(u64::MAX),
        resource_usage: run.resource_usage,
        container_id: &run.container_id,
        stderr_tail: &run.stderr_tail,
        result: &run.response,
    }
}

/// The entry point of `code`: its one concrete strategy class, resolved through the class
/// hierarchy by the validator's parser (a subclass of `Strategy`, of backtesting.lib's
/// `SignalStrategy` or `TrailingStrategy`, or of another strategy class of the file).
fn single_strategy_class(code: &str) -> anyhow::Result<String> {
    match algoagent_validate::find_entrypoint(code) {
        Ok(name) => Ok(name),
        Err(e @ EntrypointError::Several(_)) => bail!("{e}; pick one with --entrypoint"),
        Err(e) => bail!("{e}; pass --entrypoint"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_single_strategy_subclass_is_the_entrypoint() {
        let code = "from backtesting import Strategy\nimport backtesting\n\nclass Helper:\n    pass\n\nclass SmaCross(Strategy):\n    class Inner(Strategy):\n        pass\n";

        assert_eq!(single_strategy_class(code).expect("found"), "SmaCross");
        let dotted =
            "import backtesting\nclass Mixin:\n    pass\nclass B(backtesting.Strategy, Mixin):\n    pass\n";
        assert_eq!(single_strategy_class(dotted).expect("found"), "B");
    }

    #[test]
    fn the_entrypoint_is_found_through_the_class_hierarchy() {
        let signal = "from backtesting.lib import SignalStrategy\n\nclass Sig(SignalStrategy):\n    def init(self):\n        super().init()\n";
        let trailing = "from backtesting import lib\n\nclass Trail(lib.TrailingStrategy):\n    pass\n";
        let own_base = "from backtesting import Strategy\n\nclass Base(Strategy):\n    pass\n\nclass Leaf(Base):\n    pass\n";

        assert_eq!(single_strategy_class(signal).expect("signal"), "Sig");
        assert_eq!(single_strategy_class(trailing).expect("trailing"), "Trail");
        assert_eq!(single_strategy_class(own_base).expect("own base"), "Leaf");
    }

    #[test]
    fn none_or_several_strategy_classes_ask_for_an_entrypoint() {
        let none = single_strategy_class("x = 1\n").expect_err("none");
        let many = single_strategy_class("class A(Strategy):\n    pass\nclass B(Strategy):\n    pass\n")
            .expect_err("many");

        assert!(none.to_string().contains("--entrypoint"), "{none}");
        assert!(many.to_string().contains("A, B") && many.to_string().contains("--entrypoint"), "{many}");
    }
}
