//! `submit`, `status <RUN_ID>` and `runs`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::client::{Client, describe};

const TERMINAL: [&str; 6] = ["merged", "deployed", "rolled_back", "failed", "cancelled", "dead"];

/// Submits specs; with `wait`, follows every run to its end and prints a summary table.
pub async fn submit(
    client: &Client,
    specs: &[PathBuf],
    wait: bool,
    timeout: u64,
) -> anyhow::Result<ExitCode> {
    let mut submitted: Vec<(String, String)> = Vec::new();
    let mut refused = 0;
    for path in specs {
        let body = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        match client.post_raw("/api/runs", body).await? {
            Ok(resp) => {
                let run_id = resp.get("run_id").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
                let name = resp.get("name").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
                println!("submitted {} as run {run_id} ({name})", path.display());
                submitted.push((run_id, name));
            }
            Err(refusal) => {
                refused += 1;
                eprintln!("refused {} ({}): {}", path.display(), refusal.status, describe(&refusal.body));
            }
        }
    }
    if !wait {
        return Ok(if refused == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    let finals = follow(client, &submitted, Duration::from_secs(timeout)).await?;
    print_table(&finals);
    let all_merged = finals.iter().all(|r| matches!(status_of(r), "merged" | "deployed"));
    Ok(if refused == 0 && all_merged { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn status_of(run: &serde_json::Value) -> &str {
    run.get("status").and_then(|s| s.as_str()).unwrap_or("unknown")
}

/// Polls every run until all are terminal, printing each transition as it happens.
async fn follow(
    client: &Client,
    runs: &[(String, String)],
    timeout: Duration,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let started = Instant::now();
    let mut last: BTreeMap<&str, String> = BTreeMap::new();
    let mut finals: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
    while finals.len() < runs.len() {
        for (run_id, name) in runs {
            if finals.contains_key(run_id.as_str()) {
                continue;
            }
            let run = client.get(&format!("/api/runs/{run_id}")).await?;
            let status = status_of(&run).to_owned();
            if last.get(run_id.as_str()) != Some(&status) {
                let secs = started.elapsed().as_secs_f64();
                println!("[{secs:6.1}s] {name:<28} {status}");
                let _ = std::io::stdout().flush();
                last.insert(run_id, status.clone());
            }
            if TERMINAL.contains(&status.as_str()) {
                finals.insert(run_id, run);
            }
        }
        if finals.len() < runs.len() {
            if started.elapsed() > timeout {
                anyhow::bail!(
                    "gave up waiting after {}s; {} run(s) still in progress",
                    timeout.as_secs(),
                    runs.len() - finals.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    Ok(runs.iter().filter_map(|(id, _)| finals.remove(id.as_str())).collect())
}

fn metric(run: &serde_json::Value, key: &str) -> Option<f64> {
    let backtests = run.get("backtests")?.as_array()?;
    backtests.last()?.get("metrics")?.get(key)?.as_f64()
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.digits$}"))
}

/// Prints one row per run: status, trades, return, Sharpe, drawdown, commit.
fn print_table(runs: &[serde_json::Value]) {
    println!();
    println!(
        "{:<28} {:<10} {:>7} {:>10} {:>8} {:>9}  {:<12}",
        "STRATEGY", "STATUS", "TRADES", "RETURN %", "SHARPE", "MAX DD %", "COMMIT"
    );
    for run in runs {
        let name = run.pointer("/strategy/name").and_then(|n| n.as_str()).unwrap_or("?");
        let commit = run
            .get("versions")
            .and_then(|v| v.as_array())
            .and_then(|v| v.iter().rev().find_map(|x| x.get("git_commit").and_then(|c| c.as_str())))
            .map_or("-".to_owned(), |c| c.chars().take(12).collect());
        println!(
            "{:<28} {:<10} {:>7} {:>10} {:>8} {:>9}  {:<12}",
            name,
            status_of(run),
            fmt_opt(metric(run, "trades"), 0),
            fmt_opt(metric(run, "return_pct"), 2),
            fmt_opt(metric(run, "sharpe"), 2),
            fmt_opt(metric(run, "max_drawdown_pct"), 2),
            commit
        );
        if let Some(err) = run.get("error").and_then(|e| e.as_str()) {
            println!("    reason: {err}");
        }
    }
}

/// Shows one run and its transitions.
pub async fn status(client: &Client, run_id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let run = client.get(&format!("/api/runs/{run_id}")).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&run)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_run(run_id, &run);
    Ok(ExitCode::SUCCESS)
}

/// Prints one run: state, LLM use, fixes, audit verdict, backtest table and transitions.
pub fn print_run(run_id: &str, run: &serde_json::Value) {
    let name = run.pointer("/strategy/name").and_then(|n| n.as_str()).unwrap_or("?");
    println!("run       {run_id}");
    println!("strategy  {name}");
    println!("status    {}", status_of(run));
    if let Some(err) = run.get("error").and_then(|e| e.as_str()) {
        println!("error     {err}");
    }
    if let Some(llm) = run.get("llm").filter(|l| l.get("calls").and_then(|c| c.as_i64()).unwrap_or(0) > 0) {
        let n = |k: &str| llm.get(k).and_then(|v| v.as_f64()).unwrap_or_default();
        println!(
            "llm       {} calls ({} failed), {} prompt + {} completion tokens, ${:.4}, {:.1} s waiting",
            n("calls"),
            n("failed_calls"),
            n("prompt_tokens"),
            n("completion_tokens"),
            n("cost_usd"),
            n("latency_ms") / 1000.0
        );
    }
    if let Some(fixes) = run.get("fix_attempts").and_then(|f| f.as_i64()).filter(|f| *f > 0) {
        println!(
            "fixes     {fixes} of {}",
            run.get("max_fix_attempts").and_then(|m| m.as_i64()).unwrap_or_default()
        );
    }
    let chain_ok = run.pointer("/audit/chain_ok").and_then(|c| c.as_bool()).unwrap_or(false);
    println!("audit     hash chain {}", if chain_ok { "verified" } else { "BROKEN" });
    print_table(std::slice::from_ref(run));
    println!();
    println!("{:<26} {:<8} {:<38} {:<11} {:<11} ACTOR", "AT", "ENTITY", "ID", "FROM", "TO");
    for t in run.get("transitions").and_then(|t| t.as_array()).into_iter().flatten() {
        let s = |k: &str| t.get(k).and_then(|v| v.as_str()).unwrap_or("-").to_owned();
        println!(
            "{:<26} {:<8} {:<38} {:<11} {:<11} {}",
            s("at"),
            s("entity_type"),
            s("entity_id"),
            s("from_state"),
            s("to_state"),
            s("actor")
        );
        if let Some(reason) = t.pointer("/details/reason").and_then(|r| r.as_str()) {
            println!("{:<26} reason: {reason}", "");
        }
    }
}

/// Lists recent runs.
pub async fn list(client: &Client, status: Option<&str>, limit: u32) -> anyhow::Result<ExitCode> {
    let mut path = format!("/api/runs?limit={limit}");
    if let Some(s) = status {
        path.push_str(&format!("&status={s}"));
    }
    let body = client.get(&path).await?;
    println!("{:<38} {:<28} {:<10} CREATED", "RUN", "STRATEGY", "STATUS");
    for r in body.get("runs").and_then(|r| r.as_array()).into_iter().flatten() {
        let s = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or("-").to_owned();
        println!("{:<38} {:<28} {:<10} {}", s("run_id"), s("name"), s("status"), s("created_at"));
    }
    Ok(ExitCode::SUCCESS)
}
