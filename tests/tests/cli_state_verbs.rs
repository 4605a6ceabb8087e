//! The state manager's verbs of the `algoagent` CLI against a real coordinator:
//! `strategies list`, `status <strategy>` (and `status <RUN_ID>` still), `audit`, `jobs` and
//! `diff`, each as a table and as `--json`, and an unknown strategy refused with exit 1.
//! No worker runs: submitted runs wait in `generating` with a queued `generate` job, and
//! versions are inserted as workers would have written them.
#![allow(clippy::unwrap_used)]

use std::process::Output;

use algoagent_tests::{TestEnv, seed};
use serde_json::Value;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "exit {:?}: {}", out.status.code(), stderr(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

/// Two strategies: `Alpha` with two runs (the second with two versions), `Beta` with one.
async fn arrange() -> (TestEnv, Value, Value) {
    let env = TestEnv::start(0).await.unwrap();
    let (_, alpha_first) = env.post("/api/runs", seed::spec("Alpha")).await.unwrap();
    let (status, alpha) = env.post("/api/runs", seed::spec("Alpha")).await.unwrap();
    assert_eq!(status, 202, "{alpha}");
    let (_, _beta) = env.post("/api/runs", seed::spec("Beta")).await.unwrap();
    let run_id = alpha["run_id"].as_str().unwrap();
    seed::version(&env.pool, run_id, 1, "class A:\n    n = 10\n    def next(self):\n        pass\n")
        .await
        .unwrap();
    seed::version(&env.pool, run_id, 2, "class A:\n    n = 20\n    def next(self):\n        pass\n")
        .await
        .unwrap();
    (env, alpha_first, alpha)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategies_list_shows_each_strategy_with_its_latest_run_and_versions() {
    // Arrange
    let (env, _, alpha) = arrange().await;

    // Act
    let table = env.cli(&["strategies", "list"]).await.unwrap();
    let raw = json(&env.cli(&["strategies", "list", "--json"]).await.unwrap());

    // Assert
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(text.starts_with("NAME"), "{text}");
    let alpha_line = text.lines().find(|l| l.starts_with("Alpha ")).unwrap_or_else(|| panic!("{text}"));
    let cells: Vec<&str> = alpha_line.split_whitespace().collect();
    assert_eq!(cells[1], alpha["strategy_id"].to_string(), "{alpha_line}");
    assert_eq!(cells[2], "generating", "{alpha_line}");
    assert_eq!(cells[3], "2", "{alpha_line}");
    assert!(text.lines().any(|l| l.starts_with("Beta ")), "{text}");
    let listed = raw["strategies"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["name"], "Beta", "newest first");
    assert_eq!(listed[1]["latest_run_id"], alpha["run_id"]);
    assert_eq!(listed[1]["versions"], 2);
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_a_strategy_name_shows_its_runs_newest_first_and_a_run_id_still_shows_the_run() {
    // Arrange
    let (env, alpha_first, alpha) = arrange().await;
    let latest = alpha["run_id"].as_str().unwrap();
    let first = alpha_first["run_id"].as_str().unwrap();

    // Act
    let table = env.cli(&["status", "Alpha"]).await.unwrap();
    let raw = json(&env.cli(&["status", "Alpha", "--json"]).await.unwrap());
    let by_run = json(&env.cli(&["status", first, "--json"]).await.unwrap());

    // Assert
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(text.contains("strategy  Alpha"), "{text}");
    let at_latest = text.find(latest).unwrap();
    let at_first = text.find(first).unwrap();
    assert!(at_latest < at_first, "newest run first:\n{text}");
    assert!(text.contains("latest run:"), "{text}");
    assert!(text.contains("hash chain verified"), "{text}");
    let runs = raw["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["run_id"], latest);
    assert_eq!(runs[1]["run_id"], first);
    assert_eq!(raw["latest_run"]["run_id"], latest);
    assert_eq!(raw["latest_run"]["versions"].as_array().unwrap().len(), 2);
    assert_eq!(by_run["run_id"], first, "a UUID is still a run id");
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lists_a_strategys_transitions_oldest_first_with_the_hash_chain_check() {
    // Arrange
    let (env, alpha_first, alpha) = arrange().await;
    let id = alpha["strategy_id"].to_string();

    // Act
    let table = env.cli(&["audit", "Alpha"]).await.unwrap();
    let by_name = json(&env.cli(&["audit", "Alpha", "--json"]).await.unwrap());
    let by_id = json(&env.cli(&["audit", &id, "--json"]).await.unwrap());

    // Assert
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(text.contains("hash chain: verified"), "{text}");
    assert_eq!(by_name, by_id, "a name and an id are the same strategy");
    assert_eq!(by_name["audit"]["chain_ok"], true);
    let transitions = by_name["transitions"].as_array().unwrap();
    let ids: Vec<i64> = transitions.iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
    let entities: Vec<&str> = transitions.iter().map(|t| t["entity_type"].as_str().unwrap()).collect();
    for kind in ["strategy", "run", "job"] {
        assert!(entities.contains(&kind), "{kind} transitions in {entities:?}");
    }
    let runs_seen: Vec<&str> = transitions
        .iter()
        .filter(|t| t["entity_type"] == "run")
        .map(|t| t["entity_id"].as_str().unwrap())
        .collect();
    assert!(runs_seen.contains(&alpha_first["run_id"].as_str().unwrap()));
    assert!(runs_seen.contains(&alpha["run_id"].as_str().unwrap()));
    assert!(!text.contains("Beta"), "only Alpha's story");
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_listed_newest_first_and_filtered_by_status_and_kind() {
    // Arrange
    let (env, _, _) = arrange().await;

    // Act
    let all = json(&env.cli(&["jobs", "--json"]).await.unwrap());
    let queued =
        json(&env.cli(&["jobs", "--status", "queued", "--kind", "generate", "--json"]).await.unwrap());
    let none = json(&env.cli(&["jobs", "--kind", "merge", "--json"]).await.unwrap());
    let table = env.cli(&["jobs", "--status", "queued"]).await.unwrap();
    let bad = env.cli(&["jobs", "--status", "sleeping"]).await.unwrap();

    // Assert
    let jobs = all["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3, "one generate job per run: {all}");
    let created: Vec<&str> = jobs.iter().map(|j| j["created_at"].as_str().unwrap()).collect();
    let parsed: Vec<chrono::DateTime<chrono::FixedOffset>> =
        created.iter().map(|c| chrono::DateTime::parse_from_rfc3339(c).unwrap()).collect();
    assert!(parsed.windows(2).all(|w| w[0] >= w[1]), "newest first: {created:?}");
    assert_eq!(queued["jobs"].as_array().unwrap().len(), 3);
    assert!(
        queued["jobs"].as_array().unwrap().iter().all(|j| j["status"] == "queued" && j["kind"] == "generate")
    );
    assert_eq!(none["jobs"].as_array().unwrap().len(), 0);
    assert!(table.status.success(), "{}", stderr(&table));
    assert_eq!(stdout(&table).lines().filter(|l| l.contains(" generate ")).count(), 3, "{}", stdout(&table));
    assert_eq!(bad.status.code(), Some(1), "a refused filter exits 1");
    assert!(stderr(&bad).contains("status"), "{}", stderr(&bad));
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_prints_a_unified_diff_of_two_versions_code() {
    // Arrange
    let (env, _, _) = arrange().await;

    // Act
    let out = env.cli(&["diff", "Alpha", "1", "v2"]).await.unwrap();
    let raw = json(&env.cli(&["diff", "Alpha", "1", "2", "--json"]).await.unwrap());
    let missing = env.cli(&["diff", "Alpha", "1", "3"]).await.unwrap();

    // Assert
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("--- Alpha v1 ("), "{text}");
    assert!(text.contains("\n+++ Alpha v2 ("), "{text}");
    assert!(
        text.contains("@@ -1,4 +1,4 @@\n class A:\n-    n = 10\n+    n = 20\n     def next(self):\n"),
        "{text}"
    );
    assert_eq!(raw["diff"].as_str().unwrap(), text);
    assert_eq!(raw["from"]["number"], 1);
    assert_eq!(raw["to"]["number"], 2);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no version 3"), "{}", stderr(&missing));
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_strategy_exits_1_with_a_clear_message_for_every_verb() {
    // Arrange
    let (env, _, _) = arrange().await;

    for args in [
        vec!["status", "Nobody"],
        vec!["audit", "Nobody"],
        vec!["audit", "999999"],
        vec!["diff", "Nobody", "1", "2"],
        vec!["status", "Nobody", "--json"],
    ] {
        // Act
        let out = env.cli(&args).await.unwrap();

        // Assert
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("no strategy"), "{args:?}: {err}");
        assert!(stdout(&out).is_empty(), "{args:?}: nothing on stdout: {}", stdout(&out));
    }
    env.shutdown().await.unwrap();
}
