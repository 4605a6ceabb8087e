//! Sandbox latency: cold container (create + start) vs warm pool vs `docker run`, for the
//! SMA crossover spec on GOOG, next to the backtest's own compute time.
//!
//! ```sh
//! cargo run --release -p algoagent-sandbox --example sandbox_bench [-- RUNS [CLI_RUNS]]
//! ```
//!
//! Latency is `Sandbox::run` from call to result, which is the test job's dequeue-to-result
//! time minus its few database round trips. Compute is the harness's `elapsed_ms` (loading
//! the code and running the backtest). Warm runs wait for the pool to be full first, so a
//! refill never competes with the measured job (the steady state of a worker whose jobs
//! arrive slower than one per container start). Needs Docker and the sandbox image.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use algoagent_sandbox::{BacktestParams, HarnessRequest, HarnessResponse, Sandbox, SandboxSettings};
use algoagent_spec::StrategySpec;
use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

/// One series of measurements, in milliseconds.
#[derive(Default)]
struct Series {
    latency: Vec<f64>,
    compute: Vec<f64>,
    cpu: Vec<f64>,
    peak_mib: Vec<f64>,
}

impl Series {
    fn overhead(&self) -> Vec<f64> {
        self.latency.iter().zip(&self.compute).map(|(l, c)| l - c).collect()
    }
}

/// Nearest-rank percentile.
fn pct(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn request() -> anyhow::Result<HarnessRequest> {
    let spec = StrategySpec::parse_json(include_bytes!("../../../examples/specs/sma_crossover.json"))
        .map_err(|e| anyhow::anyhow!("spec: {e:?}"))?;
    let generated = algoagent_spec::codegen::generate(&spec).context("generating the SMA crossover")?;
    Ok(HarnessRequest {
        code: generated.code,
        entrypoint: generated.entrypoint,
        dataset: spec.backtest.dataset.clone(),
        config: BacktestParams {
            cash: spec.backtest.initial_capital,
            commission: spec.backtest.commission,
            spread: spec.backtest.slippage,
            ..BacktestParams::default()
        },
    })
}

async fn measure(
    sandbox: &Sandbox,
    request: &HarnessRequest,
    runs: usize,
    warm: bool,
) -> anyhow::Result<Series> {
    let mut series = Series::default();
    let labels = HashMap::new();
    let cancel = CancellationToken::new();
    for i in 0..runs + 2 {
        if warm && !sandbox.wait_pool_ready(sandbox.settings().warm_pool, Duration::from_secs(60)).await {
            bail!("the warm pool did not fill");
        }
        let started = Instant::now();
        let run = sandbox.run(request, &labels, &cancel).await?;
        let latency = started.elapsed().as_secs_f64() * 1000.0;
        let Some(HarnessResponse::Ok(report)) = &run.response else {
            bail!("the backtest failed: {:?}", run.failure_reason());
        };
        if run.warm != warm {
            bail!("run {i} was warm={} (expected {warm})", run.warm);
        }
        if i < 2 {
            continue; // warm-up: page cache, first connections
        }
        series.latency.push(latency);
        series.compute.push(report.elapsed_ms);
        series.cpu.push(run.resource_usage.cpu_time_ms.unwrap_or(0) as f64);
        series.peak_mib.push(run.resource_usage.peak_memory_bytes.unwrap_or(0) as f64 / 1048576.0);
    }
    Ok(series)
}

/// `docker run -i --rm` with the same hardening, as an operator would by hand.
fn docker_cli(image: &str, request: &HarnessRequest, runs: usize) -> anyhow::Result<Vec<f64>> {
    let line = request.to_line()?;
    let mut latencies = Vec::new();
    for i in 0..runs + 1 {
        let started = Instant::now();
        let mut child = Command::new("docker")
            .args(["run", "-i", "--rm", "--network", "none", "--read-only"])
            .args(["--tmpfs", "/tmp:size=64m,noexec,nosuid,nodev", "--cap-drop", "ALL"])
            .args(["--security-opt", "no-new-privileges", "--user", "65534:65534"])
            .args(["--memory", "512m", "--memory-swap", "512m", "--pids-limit", "128", "--cpus", "1"])
            .arg(image)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("running the docker CLI")?;
        if let Some(mut stdin) = child.stdin.take() {
            std::io::Write::write_all(&mut stdin, &line)?;
        }
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!("docker run failed: {}", String::from_utf8_lossy(&output.stdout));
        }
        if i > 0 {
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    Ok(latencies)
}

fn row(name: &str, s: &Series) -> String {
    let overhead = s.overhead();
    format!(
        "| {name} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
        s.latency.len(),
        pct(&s.latency, 50.0),
        pct(&s.latency, 95.0),
        pct(&s.compute, 50.0),
        pct(&overhead, 50.0),
        pct(&overhead, 95.0),
        pct(&s.cpu, 50.0),
        pct(&s.peak_mib, 50.0),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(50);
    let cli_runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);
    let request = request()?;
    let settings = SandboxSettings {
        image: std::env::var("SANDBOX_IMAGE").unwrap_or_else(|_| "algoagent-sandbox:latest".to_owned()),
        warm_pool: 2,
        ..SandboxSettings::default()
    };
    let image = settings.image.clone();

    let cold_sandbox = Sandbox::connect(SandboxSettings { warm_pool: 0, ..settings.clone() })?;
    cold_sandbox.check_image().await?;
    eprintln!("cold: {runs} runs");
    let cold = measure(&cold_sandbox, &request, runs, false).await?;

    let warm_sandbox = Sandbox::connect(settings)?;
    let stop = CancellationToken::new();
    warm_sandbox.start_pool(stop.clone()).await;
    eprintln!("warm: {runs} runs");
    let warm = measure(&warm_sandbox, &request, runs, true).await;
    stop.cancel();
    warm_sandbox.drain_pool().await;
    let warm = warm?;

    eprintln!("docker run: {cli_runs} runs");
    let cli = docker_cli(&image, &request, cli_runs)?;

    println!(
        "| path | runs | latency p50 ms | latency p95 ms | compute p50 ms | added p50 ms | added p95 ms | job CPU p50 ms | peak MiB p50 |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    println!("{}", row("cold (create + start)", &cold));
    println!("{}", row("warm pool", &warm));
    println!(
        "| `docker run -i --rm` | {} | {:.0} | {:.0} | | | | | |",
        cli.len(),
        pct(&cli, 50.0),
        pct(&cli, 95.0)
    );
    let speedup = pct(&cold.latency, 50.0) / pct(&warm.latency, 50.0);
    let cli_speedup = pct(&cli, 50.0) / pct(&warm.latency, 50.0);
    println!();
    println!(
        "warm pool adds {:.0} ms (p50; p95 {:.0} ms) over the backtest's own compute time; p50 speed-up {speedup:.1}x over a cold container, {cli_speedup:.1}x over `docker run`",
        pct(&warm.overhead(), 50.0),
        pct(&warm.overhead(), 95.0),
    );
    Ok(())
}
