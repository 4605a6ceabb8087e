//! `algoagent git cleanup --days N` through `POST /api/git/cleanup`: only the branch of a
//! strategy whose runs failed more than N days ago and of which nothing reached `main` is
//! deleted (audited); a dry run deletes nothing; a recent failure, a merged strategy and a
//! branch already on `main` are kept; bad input gets the guide's error body naming the field.
#![allow(clippy::unwrap_used)]

use algoagent_gitflow::{StrategyRepo, VersionFiles};
use algoagent_tests::{TestEnv, seed};
use git2::Repository;
use serde_json::{Value, json};

/// Submits a run of `name` and sets it to `status`, finished `days_ago` days ago.
async fn run(env: &TestEnv, name: &str, status: &str, days_ago: i32) -> i64 {
    let (code, body) = env.post("/api/runs", seed::spec(name)).await.unwrap();
    assert_eq!(code, 202, "{body}");
    sqlx::query(
        "UPDATE runs SET status = $2, finished_at = now() - make_interval(days => $3) WHERE id = $1::uuid",
    )
    .bind(body["run_id"].as_str().unwrap())
    .bind(status)
    .bind(days_ago)
    .execute(&env.pool)
    .await
    .unwrap();
    body["strategy_id"].as_i64().unwrap()
}

/// Puts `strategy/<name>` on a commit that is not on main (a version that never merged).
fn unmerged_branch(git: &Repository, name: &str) {
    let main = git.find_reference("refs/heads/main").unwrap().peel_to_commit().unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    let tree = main.tree().unwrap();
    let commit = git.commit(None, &sig, &sig, &format!("{name}: unmerged version"), &tree, &[&main]).unwrap();
    git.reference(&format!("refs/heads/strategy/{name}"), commit, false, "test").unwrap();
}

fn branch_exists(git: &Repository, name: &str) -> bool {
    git.find_reference(&format!("refs/heads/strategy/{name}")).is_ok()
}

fn outcomes(body: &Value) -> Vec<(String, String)> {
    body["branches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["name"].as_str().unwrap().to_owned(), b["outcome"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_branches_of_old_failures_never_merged_are_deleted_and_audited() {
    // Arrange: four strategies with a `strategy/<name>` branch each.
    let env = TestEnv::start(0).await.unwrap();
    let old_fail = run(&env, "OldFail", "failed", 10).await;
    run(&env, "NewFail", "failed", 1).await;
    run(&env, "WasMerged", "merged", 10).await;
    run(&env, "OnMain", "dead", 10).await;
    let repo =
        StrategyRepo::open_or_init(env.repo_path().to_str().unwrap(), &env.dir.path().join("c")).unwrap();
    let files =
        VersionFiles { strategy_py: "x = 1\n".into(), spec_json: "{}\n".into(), results_json: "{}\n".into() };
    repo.merge_version("OnMain", "5d6a1b9e-0c1f-4e7a-a2b3-c4d5e6f70812", 1, 1, "generated", "x", &files)
        .unwrap();
    let git = Repository::open_bare(env.repo_path()).unwrap();
    for name in ["OldFail", "NewFail", "WasMerged"] {
        unmerged_branch(&git, name);
    }

    // Act: a dry run, then the real one.
    let dry = env.cli(&["git", "cleanup", "--days", "7", "--dry-run", "--json"]).await.unwrap();
    let dry_body: Value = serde_json::from_slice(&dry.stdout).unwrap();
    let all_kept = ["OldFail", "NewFail", "WasMerged", "OnMain"].iter().all(|n| branch_exists(&git, n));
    let real = env.cli(&["git", "cleanup", "--days", "7"]).await.unwrap();

    // Assert
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    assert_eq!(dry_body["dry_run"], true);
    assert_eq!(dry_body["deleted"], 0);
    assert_eq!(
        outcomes(&dry_body),
        vec![("OldFail".into(), "would_delete".into()), ("OnMain".into(), "kept_merged".into())]
    );
    assert!(all_kept, "a dry run deletes nothing");
    assert!(real.status.success(), "{}", String::from_utf8_lossy(&real.stderr));
    let table = String::from_utf8_lossy(&real.stdout);
    let line =
        table.lines().find(|l| l.starts_with("strategy/OldFail ")).unwrap_or_else(|| panic!("{table}"));
    assert_eq!(line.split_whitespace().nth(1), Some("deleted"), "{table}");
    assert!(!branch_exists(&git, "OldFail"));
    for kept in ["NewFail", "WasMerged", "OnMain"] {
        assert!(branch_exists(&git, kept), "{kept} was deleted");
    }
    let audited: Vec<(String, String, Value)> = sqlx::query_as(
        "SELECT to_state, actor, details FROM transitions WHERE entity_type = 'branch' AND entity_id = 'strategy/OldFail'",
    )
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0].0, "deleted");
    assert!(audited[0].1.starts_with("operator"), "{audited:?}");
    assert_eq!(audited[0].2["strategy_id"], old_fail);
    assert_eq!(audited[0].2["days"], 7);

    // Run again: nothing left to delete.
    let again = env.cli(&["git", "cleanup", "--days", "7", "--json"]).await.unwrap();
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["deleted"], 0, "{again}");
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_error_body_naming_the_field_and_deletes_nothing() {
    // Arrange: one branch the cleanup would delete.
    let env = TestEnv::start(0).await.unwrap();
    run(&env, "Doomed", "failed", 30).await;
    StrategyRepo::open_or_init(env.repo_path().to_str().unwrap(), &env.dir.path().join("c")).unwrap();
    let git = Repository::open_bare(env.repo_path()).unwrap();
    unmerged_branch(&git, "Doomed");
    let cases = [
        (r#"{"days": -3}"#, json!(["days"])),
        (r#"{"days": 40000}"#, json!(["days"])),
        (r#"{"days": "7"}"#, json!(["days"])),
        (r#"{"dry_run": true}"#, json!(["days"])),
        (r#"{"days": 7, "force": true}"#, json!(["force"])),
    ];

    for (body, loc) in cases {
        // Act
        let (status, resp) = env.post("/api/git/cleanup", body).await.unwrap();

        // Assert
        assert_eq!(status, 400, "{body}: {resp}");
        assert_eq!(resp["code"], "INVALID_REQUEST", "{resp}");
        assert_eq!(resp["details"][0]["loc"], loc, "{body}: {resp}");
        for key in ["error", "details", "code", "timestamp"] {
            assert!(resp.get(key).is_some(), "no {key} in {resp}");
        }
    }
    let missing = env.cli(&["git", "cleanup"]).await.unwrap();
    assert_eq!(missing.status.code(), Some(2), "--days is required");
    assert!(branch_exists(&git, "Doomed"));
    env.shutdown().await.unwrap();
}
