//! `algoagent sandbox run FILE`: an operator's debugging tool that runs a strategy file
//! straight in the hardened sandbox, without the validator, and prints the result as JSON.
//! Exit code 0 when the backtest ran, 1 when the code failed or was stopped by a limit, 2
//! on a usage or I/O error (unreadable file, no entrypoint, unknown dataset, no Docker).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde::Serialize;
use shared::sandbox::{BacktestParams, HarnessRequest, HarnessResponse, ResourceUsage, Sandbox, SandboxRun};
use tokio_util::sync::CancellationToken;

/// `algoagent sandbox ...` subcommands.
#[derive(Debug, Subcommand)]
pub enum SandboxCmd {
    /// Run a Python strategy file in the sandbox (no validation) and print the result JSON.
    Run {
        /// The strategy module (Python source).
        file: PathBuf,
        /// GOOG, EURUSD, BTCUSD or csv:<file> from DATASETS_DIR.
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
    let settings = shared::config::Settings::from_env().context("reading settings")?;
    let sandbox = Sandbox::connect(settings.sandbox).context("connecting to Docker")?;
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
    let outcome = sandbox.run(&request, &labels, &cancel).await.context("running the sandbox")?;

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

/// The name of the one top-level `class X(...Strategy):` in `code`, found by a line scan
/// (no parser: the operator runs the file as is).
fn single_strategy_class(code: &str) -> anyhow::Result<String> {
    let found: Vec<&str> = code.lines().filter_map(strategy_class).collect();
    match found.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => bail!("no top-level `class X(Strategy):` found; pass --entrypoint"),
        many => bail!("several Strategy subclasses ({}); pick one with --entrypoint", many.join(", ")),
    }
}

/// `Some(name)` when `line` opens a top-level class whose bases name a `...Strategy`.
fn strategy_class(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("class ")?;
    let (name, bases) = rest.split_once('(')?;
    let name = name.trim();
    let bases = bases.split_once(')')?.0;
    let is_strategy = bases.split(',').any(|base| {
        let base = base.trim();
        base == "Strategy" || base.ends_with(".Strategy")
    });
    (is_strategy && !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_single_strategy_subclass_is_the_entrypoint() {
        let code = "from backtesting import Strategy\nimport backtesting\n\nclass Helper:\n    pass\n\nclass SmaCross(Strategy):\n    class Inner(Strategy):\n        pass\n";

        assert_eq!(single_strategy_class(code).expect("found"), "SmaCross");
        assert_eq!(strategy_class("class B(backtesting.Strategy, Mixin):"), Some("B"));
        assert_eq!(strategy_class("class C(MyStrategy):"), None);
    }

    #[test]
    fn none_or_several_strategy_classes_ask_for_an_entrypoint() {
        let none = single_strategy_class("x = 1\n").expect_err("none");
        let many = single_strategy_class("class A(Strategy):\n    pass\nclass B(Strategy):\n    pass\n")
            .expect_err("many");

        assert!(none.to_string().contains("--entrypoint"), "{none}");
        assert!(many.to_string().contains("A, B"), "{many}");
    }
}
