//! The prototype's lifecycle routes: lifecycle history, deploy (tag) and rollback (a new
//! commit restoring an earlier version), and a backtest's status.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use algoagent_tests::{TestEnv, examples_dir};

fn spec(fast: i64) -> Vec<u8> {
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(examples_dir().join("sma_crossover.json")).unwrap()).unwrap();
    spec["name"] = serde_json::Value::String("life".into());
    spec["parameters"]["fast_period"] = serde_json::json!(fast);
    serde_json::to_vec(&spec).unwrap()
}

async fn merged(env: &TestEnv, body: Vec<u8>) -> serde_json::Value {
    let (status, resp) = env.post("/api/runs", body).await.unwrap();
    assert_eq!(status, 202, "{resp}");
    let run = env.wait_for_run(resp["run_id"].as_str().unwrap(), Duration::from_secs(120)).await.unwrap();
    assert_eq!(run["status"], "merged", "{}", run["error"]);
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strategy_is_deployed_by_tag_and_rolled_back_to_its_first_version() {
    // Arrange: two merged versions of one strategy.
    let env = TestEnv::start(1).await.unwrap();
    let first = merged(&env, spec(10)).await;
    let second = merged(&env, spec(5)).await;
    let id = first["strategy"]["id"].as_i64().unwrap();
    let first_commit = first["versions"][0]["git_commit"].as_str().unwrap().to_owned();
    let first_code = first["versions"][0]["code"].as_str().unwrap().to_owned();
    assert_ne!(first_code, second["versions"][0]["code"].as_str().unwrap());

    // Lifecycle.
    let (status, life) = env.get(&format!("/api/production/strategies/{id}/lifecycle/")).await.unwrap();
    assert_eq!(status, 200, "{life}");
    assert_eq!(life["name"], "life");
    assert_eq!(life["current_status"], "passed", "the guide's word for tested code: {life}");
    assert_eq!(life["state"], "merged");
    assert_eq!(life["lifecycle_tracking"]["generation_attempts"], 2);
    let events = life["audit_log"].as_array().unwrap();
    assert!(events.len() >= 12, "{life}");
    assert_eq!(events[0]["event"], "created", "{life}");
    assert_eq!(events[0]["details"], "Strategy registered");
    assert_eq!(events[0]["entity"], "strategy");
    let generation = events.iter().find(|e| e["state"] == "generating").unwrap();
    assert_eq!(generation["event"], "generation");
    assert!(events.iter().any(|e| e["event"] == "test" && e["state"] == "testing"), "{life}");
    assert!(events.iter().all(|e| e["event"] != "generating" && e["event"] != "testing"), "{life}");

    // Deploy: the tag as asked, a deploy commit on main with the message, tagged.
    let repo = algoagent_gitflow::StrategyRepo::open_or_init(
        env.repo_path().to_str().unwrap(),
        &env.dir.path().join("c"),
    )
    .unwrap();
    let merged_head = repo.head_of_main().unwrap();
    let (status, body) = env
        .post(
            &format!("/api/production/strategies/{id}/deploy/"),
            r#"{"commit_message":"Deploy life","create_tag":true,"tag_version":"v1.0.0"}"#,
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "deployed");
    assert_eq!(body["tag"], "v1.0.0");
    assert_eq!(body["git_tag"], "life/v1.0.0");
    assert_eq!(body["deployed_commit"], merged_head.as_str());
    let deploy_commit = body["commit"].as_str().unwrap().to_owned();
    assert_eq!(repo.head_of_main().unwrap(), deploy_commit);
    let git = git2::Repository::open_bare(repo.git_dir()).unwrap();
    let commit = git.find_commit(deploy_commit.parse().unwrap()).unwrap();
    assert_eq!(commit.summary(), Some("Deploy life"));
    assert_eq!(commit.parent_id(0).unwrap().to_string(), merged_head);
    let tagged = git.find_reference("refs/tags/life/v1.0.0").unwrap().peel_to_commit().unwrap();
    assert_eq!(tagged.id().to_string(), deploy_commit);
    let (_, run) = env.get(&format!("/api/runs/{}", second["run_id"].as_str().unwrap())).await.unwrap();
    assert_eq!(run["status"], "deployed");
    let (_, life) = env.get(&format!("/api/production/strategies/{id}/lifecycle/")).await.unwrap();
    assert_eq!(life["current_status"], "deployed");
    let last = life["audit_log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["event"], "deployment", "{life}");

    // Deploy without a tag: accepted, one more commit on main, no tag.
    let (status, body) = env
        .post(
            &format!("/api/production/strategies/{id}/deploy/"),
            r#"{"commit_message":"Redeploy life, untagged","create_tag":false}"#,
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "deployed");
    assert!(body["tag"].is_null() && body["git_tag"].is_null(), "{body}");
    assert_eq!(body["deployed_commit"], merged_head.as_str());
    let untagged = body["commit"].as_str().unwrap().to_owned();
    assert_ne!(untagged, deploy_commit);
    assert_eq!(repo.head_of_main().unwrap(), untagged);
    let commit = git.find_commit(untagged.parse().unwrap()).unwrap();
    assert_eq!(commit.summary(), Some("Redeploy life, untagged"));
    assert_eq!(git.tag_names(None).unwrap().len(), 1);

    // Deploy with a tag that is no git ref name: 400 naming the field, nothing made.
    let (status, body) = env
        .post(&format!("/api/production/strategies/{id}/deploy/"), r#"{"tag_version":"v1 .. 2"}"#)
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "INVALID_REQUEST");
    assert_eq!(body["details"][0]["loc"], serde_json::json!(["tag_version"]));
    assert!(body["timestamp"].is_string() && body["error"].is_string(), "{body}");
    assert_eq!(repo.head_of_main().unwrap(), untagged);

    // Rollback to the first version, through the CLI: a new commit on main holding the
    // first code.
    let out = env
        .cli(&["rollback", &id.to_string(), &first_commit, "--reason", "Bug in production"])
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["status"], "rolled_back");
    assert_eq!(body["reverted_to"], first_commit.as_str());
    assert_eq!(repo.file_on_main("life", "strategy.py").unwrap().unwrap(), first_code);
    let (_, life) = env.get(&format!("/api/production/strategies/{id}/lifecycle/")).await.unwrap();
    assert_eq!(life["current_status"], "rolled_back");

    // Bad input: an invalid commit, an unknown strategy.
    let (status, body) = env
        .post(&format!("/api/production/strategies/{id}/rollback/"), r#"{"commit_hash":"not-a-commit"}"#)
        .await
        .unwrap();
    assert_eq!(status, 400, "the guide answers 400 to an invalid request: {body}");
    assert_eq!(body["code"], "INVALID_GIT_INPUT");
    let (status, _) = env.get("/api/production/strategies/999/lifecycle/").await.unwrap();
    assert_eq!(status, 404);
    let (status, body) = env.get("/api/production/strategies/abc/lifecycle/").await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "BAD_ID");
    assert!(body["error"].as_str().unwrap().starts_with("id:"), "{body}");
    assert!(body["timestamp"].is_string(), "{body}");

    // A backtest's status, in the prototype's shape.
    let backtest_id = first["backtests"][0]["id"].as_i64().unwrap();
    let (status, b) = env.get(&format!("/api/production/backtests/{backtest_id}/status/")).await.unwrap();
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["status"], "completed");
    assert!(b["results"]["total_trades"].as_u64().unwrap() >= 1, "{b}");
    env.shutdown().await.unwrap();
}
