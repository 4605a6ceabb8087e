//! The walking skeleton end to end: real coordinator, two real workers, real Postgres,
//! RabbitMQ, Redis, Docker and git.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use algoagent_tests::TestEnv;

const EXAMPLES: [&str; 3] = ["sma_crossover.json", "rsi_reversal.json", "bollinger_mean_reversion.json"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_spec_travels_the_whole_pipeline_and_lands_on_main() {
    // Arrange
    let env = TestEnv::start(2).await.unwrap();

    // Act
    let mut run_ids = Vec::new();
    for file in EXAMPLES {
        run_ids.push(env.submit_example(file).await.unwrap());
    }

    // Assert
    let repo = algoagent_gitflow::StrategyRepo::open_or_init(
        env.repo_path().to_str().unwrap(),
        &env.dir.path().join("c"),
    )
    .unwrap();
    for run_id in &run_ids {
        let run = env.wait_for_run(run_id, Duration::from_secs(240)).await.unwrap();
        assert_eq!(run["status"], "merged", "run {run_id} ended {}: {}", run["status"], run["error"]);

        // Every run transition is recorded, in pipeline order, and the chain verifies.
        let run_states: Vec<&str> = run["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["entity_type"] == "run")
            .map(|t| t["to_state"].as_str().unwrap())
            .collect();
        assert_eq!(run_states, ["submitted", "generating", "validating", "testing", "merging", "merged"]);
        assert_eq!(run["audit"]["chain_ok"], true);
        for job in run["jobs"].as_array().unwrap() {
            assert_eq!(job["status"], "succeeded", "{job}");
            let broken =
                algoagent_jobs::db::transitions::broken_links(&env.pool, "job", job["id"].as_str().unwrap())
                    .await
                    .unwrap();
            assert!(broken.is_empty(), "job chain broken at {broken:?}");
        }

        // The backtest traded.
        let backtest = &run["backtests"][0];
        assert_eq!(backtest["passed"], true, "{backtest}");
        assert!(backtest["metrics"]["trades"].as_u64().unwrap() >= 1, "{backtest}");
        assert!(backtest["resource_usage"]["peak_memory_bytes"].as_u64().unwrap() > 0, "{backtest}");

        // main holds exactly the code that was validated.
        let version = &run["versions"][0];
        assert_eq!(version["accepted"], true);
        let name = run["strategy"]["name"].as_str().unwrap();
        let on_main = repo.file_on_main(name, "strategy.py").unwrap().expect("strategy.py on main");
        assert_eq!(on_main, version["code"].as_str().unwrap());
        assert_eq!(repo.count_version_commits(name, version["id"].as_i64().unwrap()).unwrap(), 1);
    }
    env.shutdown().await.unwrap();
}
