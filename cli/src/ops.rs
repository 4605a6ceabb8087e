//! Operator commands: dead letters, workers and cancellation.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::Subcommand;

use crate::client::{Client, describe};

/// `algoagent dlq ...`
#[derive(Debug, Subcommand)]
pub enum DlqCmd {
    /// List open dead letters.
    List {
        /// Only this job kind.
        #[arg(long)]
        kind: Option<String>,
        /// Only this reason (e.g. attempts_exhausted, undecodable).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Show one dead letter with its message and history.
    Show {
        /// Dead-letter id.
        id: i64,
    },
    /// Re-enqueue dead jobs with a fresh attempt budget (audited).
    Replay {
        /// Dead-letter id (or use --all / --kind).
        id: Option<i64>,
        /// Every open dead letter.
        #[arg(long, conflicts_with = "id")]
        all: bool,
        /// Every open dead letter of this kind.
        #[arg(long, conflicts_with = "id")]
        kind: Option<String>,
    },
    /// Discard dead letters (audited; asks for confirmation unless --yes).
    Purge {
        /// Dead-letter id (or use --all).
        id: Option<i64>,
        /// Every open dead letter.
        #[arg(long, conflicts_with = "id")]
        all: bool,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

/// Runs a `dlq` subcommand.
pub async fn dlq(client: &Client, cmd: DlqCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        DlqCmd::List { kind, reason } => {
            let mut path = "/api/dlq?limit=1000".to_owned();
            if let Some(k) = kind {
                path.push_str(&format!("&kind={k}"));
            }
            if let Some(r) = reason {
                path.push_str(&format!("&reason={r}"));
            }
            let body = client.get(&path).await?;
            println!("{:<6} {:<9} {:<20} {:<38} ERROR", "ID", "KIND", "REASON", "JOB");
            for d in body.get("dead_letters").and_then(|d| d.as_array()).into_iter().flatten() {
                let s = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or("-").to_owned();
                let id = d.get("id").and_then(|v| v.as_i64()).unwrap_or_default();
                let error: String = s("error").chars().take(80).collect();
                println!("{id:<6} {:<9} {:<20} {:<38} {error}", s("kind"), s("reason"), s("job_id"));
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCmd::Show { id } => {
            print_json(&client.get(&format!("/api/dlq/{id}")).await?);
            Ok(ExitCode::SUCCESS)
        }
        DlqCmd::Replay { id, all, kind } => {
            let result = match (id, all, kind) {
                (Some(id), _, _) => client.post_raw(&format!("/api/dlq/{id}/replay"), b"{}".to_vec()).await?,
                (None, true, _) => client.post_raw("/api/dlq/replay", br#"{"all":true}"#.to_vec()).await?,
                (None, false, Some(kind)) => {
                    client
                        .post_raw(
                            "/api/dlq/replay",
                            serde_json::to_vec(&serde_json::json!({ "kind": kind }))?,
                        )
                        .await?
                }
                (None, false, None) => {
                    anyhow::bail!("say which dead letters to replay: an id, --all or --kind K")
                }
            };
            finish(result)
        }
        DlqCmd::Purge { id, all, yes } => {
            let what = match (id, all) {
                (Some(id), _) => format!("dead letter {id}"),
                (None, true) => "every open dead letter".to_owned(),
                (None, false) => anyhow::bail!("say which dead letters to purge: an id or --all"),
            };
            if !yes && !confirm(&format!("purge {what}?"))? {
                eprintln!("not purged");
                return Ok(ExitCode::from(1));
            }
            let result = match id {
                Some(id) => client.post_raw(&format!("/api/dlq/{id}/purge"), b"{}".to_vec()).await?,
                None => client.post_raw("/api/dlq/purge", br#"{"all":true}"#.to_vec()).await?,
            };
            finish(result)
        }
    }
}

fn finish(result: Result<serde_json::Value, crate::client::Refused>) -> anyhow::Result<ExitCode> {
    match result {
        Ok(body) => {
            print_json(&body);
            Ok(ExitCode::SUCCESS)
        }
        Err(refusal) => {
            eprintln!("refused ({}): {}", refusal.status, describe(&refusal.body));
            Ok(ExitCode::from(1))
        }
    }
}

/// Asks a yes/no question on the terminal; no answer (closed stdin) is no.
fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// `algoagent workers`: live workers from heartbeats.
pub async fn workers(client: &Client) -> anyhow::Result<ExitCode> {
    let body = client.get("/api/workers").await?;
    println!("{:<32} {:<16} {:<8} {:<34} {:>9}  LAST SEEN", "WORKER", "HOST", "PID", "KINDS", "IN FLIGHT");
    for w in body.get("workers").and_then(|w| w.as_array()).into_iter().flatten() {
        let s = |k: &str| w.get(k).and_then(|v| v.as_str()).unwrap_or("-").to_owned();
        let kinds: Vec<&str> = w
            .get("kinds")
            .and_then(|k| k.as_array())
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str())
            .collect();
        let live = w.get("live").and_then(|l| l.as_bool()).unwrap_or(false);
        println!(
            "{:<32} {:<16} {:<8} {:<34} {:>9}  {}{}",
            s("id"),
            s("host"),
            w.get("pid").and_then(|p| p.as_i64()).unwrap_or_default(),
            kinds.join(","),
            w.get("jobs_in_flight").and_then(|p| p.as_i64()).unwrap_or_default(),
            s("last_seen"),
            if live { "" } else { " (gone)" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `algoagent cancel RUN_ID`.
pub async fn cancel(client: &Client, run_id: &str) -> anyhow::Result<ExitCode> {
    finish(client.post_raw(&format!("/api/runs/{run_id}/cancel"), b"{}".to_vec()).await?)
}

/// `algoagent memory search TEXT`: past failures like TEXT, best first, with their fixes.
pub async fn memory_search(client: &Client, text: &str, limit: u32) -> anyhow::Result<ExitCode> {
    let mut url = reqwest::Url::parse("http://x/api/memory/search")?;
    url.query_pairs_mut().append_pair("q", text).append_pair("limit", &limit.to_string());
    let path = format!("{}?{}", url.path(), url.query().unwrap_or_default());
    let body = client.get(&path).await?;
    for hit in body.get("results").and_then(|r| r.as_array()).into_iter().flatten() {
        let score = hit.get("score").and_then(|s| s.as_f64()).unwrap_or_default();
        let failure = hit.get("failure").and_then(|s| s.as_str()).unwrap_or_default();
        let fixed = hit.get("fix_code").is_some_and(|f| !f.is_null());
        println!(
            "[{score:.3}] {}{}",
            failure.lines().next().unwrap_or_default(),
            if fixed { "  (fixed)" } else { "" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `algoagent deploy STRATEGY_ID [--tag T | --no-tag] [--message M]`: a deploy commit on
/// main, tagged unless `--no-tag`.
pub async fn deploy(
    client: &Client,
    id: i64,
    tag: Option<String>,
    create_tag: bool,
    message: Option<String>,
) -> anyhow::Result<ExitCode> {
    let mut body = serde_json::json!({ "create_tag": create_tag, "commit_message": message });
    if let Some(tag) = tag {
        body["tag_version"] = serde_json::Value::String(tag);
    }
    finish(
        client
            .post_raw(&format!("/api/production/strategies/{id}/deploy/"), serde_json::to_vec(&body)?)
            .await?,
    )
}

/// `algoagent git cleanup --days N [--dry-run] [--json]`: delete the branches of strategies
/// that failed long ago and never merged, one line per branch considered.
pub async fn git_cleanup(client: &Client, days: u32, dry_run: bool, json: bool) -> anyhow::Result<ExitCode> {
    let body = serde_json::json!({ "days": days, "dry_run": dry_run });
    let body = match client.post_raw("/api/git/cleanup", serde_json::to_vec(&body)?).await? {
        Ok(body) => body,
        Err(refusal) => return finish(Err(refusal)),
    };
    if json {
        print_json(&body);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<40} {:<13} {:<26} TIP", "BRANCH", "OUTCOME", "LAST RUN FINISHED");
    for b in body.get("branches").and_then(|b| b.as_array()).into_iter().flatten() {
        let text = |key: &str| b.get(key).and_then(|v| v.as_str()).unwrap_or("-").to_owned();
        let tip = text("tip");
        println!(
            "{:<40} {:<13} {:<26} {}",
            text("branch"),
            text("outcome"),
            text("last_run_finished_at").get(..19).unwrap_or("-"),
            tip.get(..12).unwrap_or(&tip)
        );
    }
    let deleted = body.get("deleted").and_then(|d| d.as_u64()).unwrap_or(0);
    if dry_run {
        eprintln!("dry run: nothing deleted");
    } else {
        eprintln!("{deleted} branch(es) deleted");
    }
    Ok(ExitCode::SUCCESS)
}

/// `algoagent rollback STRATEGY_ID COMMIT [--reason R]`: restore an earlier version on main.
pub async fn rollback(
    client: &Client,
    id: i64,
    commit: &str,
    reason: Option<String>,
) -> anyhow::Result<ExitCode> {
    let body = serde_json::json!({ "commit_hash": commit, "reason": reason });
    finish(
        client
            .post_raw(&format!("/api/production/strategies/{id}/rollback/"), serde_json::to_vec(&body)?)
            .await?,
    )
}
