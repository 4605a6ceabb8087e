//! The state manager's verbs, as the prototype's state-manager CLI offered them, over the
//! coordinator's API: `strategies list`, `status <strategy>`, `audit`, `jobs` and `diff`.
//! Each prints a table, or the API's JSON with `--json`. A strategy named that does not
//! exist is a refusal (exit 1), like any 4xx.

use std::process::ExitCode;

use serde_json::Value;

use crate::client::{Client, describe};

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => other.to_string(),
    }
}

/// A timestamp to the second, `2026-01-02 10:00:00`.
fn when(v: &Value, key: &str) -> String {
    let raw = s(v, key);
    raw.get(..19).map_or(raw.clone(), |t| t.replace('T', " "))
}

fn print_json(value: &Value) -> anyhow::Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(ExitCode::SUCCESS)
}

fn refused(refusal: &crate::client::Refused) -> ExitCode {
    eprintln!("refused ({}): {}", refusal.status, describe(&refusal.body));
    ExitCode::from(1)
}

fn query(path: &str, pairs: &[(&str, Option<String>)]) -> anyhow::Result<String> {
    let mut url = reqwest::Url::parse("http://x")?.join(path)?;
    for (k, v) in pairs {
        if let Some(v) = v {
            url.query_pairs_mut().append_pair(k, v);
        }
    }
    Ok(match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    })
}

/// The strategy a user named, by id (digits) or by name; `None` (after saying so) when
/// there is none.
async fn resolve(client: &Client, arg: &str) -> anyhow::Result<Option<Value>> {
    if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_digit()) {
        return match client.get_checked(&format!("/api/strategies/{arg}")).await? {
            Ok(body) => Ok(body.get("strategy").cloned()),
            Err(refusal) if refusal.status == reqwest::StatusCode::NOT_FOUND => {
                eprintln!("error: no strategy with id {arg} (algoagent strategies list shows them)");
                Ok(None)
            }
            Err(refusal) => anyhow::bail!("{}", describe(&refusal.body)),
        };
    }
    let body = client.get(&query("/api/strategies", &[("name", Some(arg.to_owned()))])?).await?;
    let found = body.get("strategies").and_then(Value::as_array).and_then(|list| list.first()).cloned();
    if found.is_none() {
        eprintln!("error: no strategy named '{arg}' (algoagent strategies list shows them)");
    }
    Ok(found)
}

fn id_of(strategy: &Value) -> i64 {
    strategy.get("id").and_then(Value::as_i64).unwrap_or_default()
}

/// `algoagent strategies list`: name, id, latest run status, versions, last update.
pub async fn strategies_list(client: &Client, limit: u32, json: bool) -> anyhow::Result<ExitCode> {
    let body = match client.get_checked(&format!("/api/strategies?limit={limit}")).await? {
        Ok(body) => body,
        Err(refusal) => return Ok(refused(&refusal)),
    };
    if json {
        return print_json(&body);
    }
    println!("{:<28} {:>6}  {:<12} {:>8}  LAST UPDATE", "NAME", "ID", "LATEST RUN", "VERSIONS");
    for st in body.get("strategies").and_then(Value::as_array).into_iter().flatten() {
        println!(
            "{:<28} {:>6}  {:<12} {:>8}  {}",
            s(st, "name"),
            s(st, "id"),
            s(st, "latest_run_status"),
            s(st, "versions"),
            when(st, "updated_at")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `algoagent status <strategy name>`: the strategy's runs, newest first, then its latest
/// run in full.
pub async fn strategy_status(client: &Client, name: &str, json: bool) -> anyhow::Result<ExitCode> {
    let Some(strategy) = resolve(client, name).await? else { return Ok(ExitCode::from(1)) };
    let id = id_of(&strategy);
    let runs = client.get(&format!("/api/runs?strategy={id}&limit=500")).await?;
    let list: Vec<Value> = runs.get("runs").and_then(Value::as_array).cloned().unwrap_or_default();
    let latest = match list.first().and_then(|r| r.get("run_id")).and_then(Value::as_str) {
        Some(run_id) => Some(client.get(&format!("/api/runs/{run_id}")).await?),
        None => None,
    };
    if json {
        return print_json(&serde_json::json!({ "strategy": strategy, "runs": list, "latest_run": latest }));
    }
    println!("strategy  {} (id {id})", s(&strategy, "name"));
    println!("status    {}", s(&strategy, "status"));
    println!("runs      {}", list.len());
    println!();
    println!("{:<38} {:<12} {:<20} {:<20} ERROR", "RUN", "STATUS", "CREATED", "FINISHED");
    for r in &list {
        let error: String = s(r, "error").chars().take(60).collect();
        println!(
            "{:<38} {:<12} {:<20} {:<20} {error}",
            s(r, "run_id"),
            s(r, "status"),
            when(r, "created_at"),
            when(r, "finished_at")
        );
    }
    if let Some(run) = latest {
        println!();
        println!("latest run:");
        crate::runs::print_run(&s(&run, "run_id"), &run);
    }
    Ok(ExitCode::SUCCESS)
}

/// `algoagent audit <strategy>`: every transition of the strategy, its runs and their jobs,
/// oldest first, and whether the hash chains hold (exit 1 when one does not).
pub async fn audit(client: &Client, arg: &str, json: bool) -> anyhow::Result<ExitCode> {
    let Some(strategy) = resolve(client, arg).await? else { return Ok(ExitCode::from(1)) };
    let body = match client.get_checked(&format!("/api/strategies/{}/audit", id_of(&strategy))).await? {
        Ok(body) => body,
        Err(refusal) => return Ok(refused(&refusal)),
    };
    let chain_ok = body.pointer("/audit/chain_ok").and_then(Value::as_bool).unwrap_or(false);
    let code = if chain_ok { ExitCode::SUCCESS } else { ExitCode::from(1) };
    if json {
        print_json(&body)?;
        return Ok(code);
    }
    let transitions: Vec<Value> =
        body.get("transitions").and_then(Value::as_array).cloned().unwrap_or_default();
    println!("{:<20} {:<9} {:<38} {:<12} {:<12} ACTOR", "AT", "ENTITY", "ID", "FROM", "TO");
    for t in &transitions {
        println!(
            "{:<20} {:<9} {:<38} {:<12} {:<12} {}",
            when(t, "at"),
            s(t, "entity_type"),
            s(t, "entity_id"),
            s(t, "from_state"),
            s(t, "to_state"),
            s(t, "actor")
        );
        if let Some(reason) = t.pointer("/details/reason").and_then(Value::as_str) {
            println!("{:<20} reason: {reason}", "");
        }
    }
    println!();
    if chain_ok {
        println!("hash chain: verified ({} transitions of {})", transitions.len(), s(&strategy, "name"));
    } else {
        println!(
            "hash chain: BROKEN at rows {}",
            body.pointer("/audit/broken_links").cloned().unwrap_or_default()
        );
    }
    Ok(code)
}

/// `algoagent jobs [--status S] [--kind K]`: jobs, newest first.
pub async fn jobs(
    client: &Client,
    status: Option<String>,
    kind: Option<String>,
    limit: u32,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let path = query("/api/jobs", &[("status", status), ("kind", kind), ("limit", Some(limit.to_string()))])?;
    let body = match client.get_checked(&path).await? {
        Ok(body) => body,
        Err(refusal) => return Ok(refused(&refusal)),
    };
    if json {
        return print_json(&body);
    }
    println!(
        "{:<38} {:<9} {:<10} {:>7}  {:<38} {:<20} ERROR",
        "JOB", "KIND", "STATUS", "ATTEMPT", "RUN", "CREATED"
    );
    for j in body.get("jobs").and_then(Value::as_array).into_iter().flatten() {
        let error: String = s(j, "error").chars().take(60).collect();
        println!(
            "{:<38} {:<9} {:<10} {:>7}  {:<38} {:<20} {error}",
            s(j, "id"),
            s(j, "kind"),
            s(j, "status"),
            format!("{}/{}", s(j, "attempt"), s(j, "max_attempts")),
            s(j, "run_id"),
            when(j, "created_at")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `3` or `v3`.
fn version_number(raw: &str) -> Option<i64> {
    raw.strip_prefix('v').unwrap_or(raw).parse().ok().filter(|n| *n >= 1)
}

/// `algoagent diff <strategy> <v1> <v2>`: a unified diff of two versions' code.
pub async fn diff(client: &Client, arg: &str, v1: &str, v2: &str, json: bool) -> anyhow::Result<ExitCode> {
    let (Some(n1), Some(n2)) = (version_number(v1), version_number(v2)) else {
        eprintln!("error: versions are numbers from 1 (`3` or `v3`), as `algoagent status {arg}` lists them");
        return Ok(ExitCode::from(2));
    };
    let Some(strategy) = resolve(client, arg).await? else { return Ok(ExitCode::from(1)) };
    let id = id_of(&strategy);
    let mut versions = Vec::new();
    for n in [n1, n2] {
        match client.get_checked(&format!("/api/strategies/{id}/versions/{n}")).await? {
            Ok(v) => versions.push(v),
            Err(refusal) if refusal.status == reqwest::StatusCode::NOT_FOUND => {
                eprintln!("error: strategy '{}' has no version {n}", s(&strategy, "name"));
                return Ok(ExitCode::from(1));
            }
            Err(refusal) => return Ok(refused(&refusal)),
        }
    }
    let label = |v: &Value| {
        let sha: String = s(v, "sha256").chars().take(12).collect();
        format!("{} v{} ({sha})", s(&strategy, "name"), s(v, "number"))
    };
    let code = |v: &Value| v.get("code").and_then(Value::as_str).unwrap_or_default().to_owned();
    let text = crate::diff::unified(
        &code(&versions[0]),
        &code(&versions[1]),
        &label(&versions[0]),
        &label(&versions[1]),
    );
    if json {
        return print_json(&serde_json::json!({ "from": versions[0], "to": versions[1], "diff": text }));
    }
    if text.is_empty() {
        println!("{} and {} have the same code", label(&versions[0]), label(&versions[1]));
    } else {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}
