//! Issue 7 end to end: the pipeline with `LLM_PROVIDER=openai` against a scripted local
//! OpenAI-compatible server: good, fenced, broken, unsafe, crashing, rate-limited and slow
//! answers, the fix loop and its budget, failure memory in fix prompts, shared rate limits
//! across workers, and an API key that never leaks.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use algoagent_tests::fake_llm::{FakeLlm, Reply, valid_strategy};
use algoagent_tests::{TestEnv, examples_dir};

const CLASS: &str = "SmaCross";

fn key() -> String {
    format!("sk-test-{:016x}", rand::random::<u64>())
}

/// A coordinator and `workers` workers using the fake endpoint with `extra` settings.
async fn llm_env(script: Vec<Reply>, workers: usize, extra: &[(&str, &str)]) -> (TestEnv, FakeLlm, String) {
    let fake = FakeLlm::start(script).await;
    let key = key();
    let mut env = TestEnv::new().await.unwrap();
    for (k, v) in [
        ("LLM_PROVIDER", "openai"),
        ("OPENAI_BASE_URL", fake.base_url.as_str()),
        ("OPENAI_API_KEY", key.as_str()),
        ("LLM_MODEL", "fake-model"),
        ("LLM_TIMEOUT_SECS", "2"),
        ("LLM_PRICES", "fake-model=1/2"),
    ] {
        env.extra_env.push((k.into(), v.into()));
    }
    for (k, v) in extra {
        env.extra_env.push(((*k).into(), (*v).into()));
    }
    env.start_coordinator().await.unwrap();
    for _ in 0..workers {
        env.start_worker(&[]).await.unwrap();
    }
    (env, fake, key)
}

fn spec_named(name: &str) -> Vec<u8> {
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(examples_dir().join("sma_crossover.json")).unwrap()).unwrap();
    spec["name"] = serde_json::Value::String(name.into());
    serde_json::to_vec(&spec).unwrap()
}

async fn run_to_end(env: &TestEnv, name: &str) -> serde_json::Value {
    let (status, resp) = env.post("/api/runs", spec_named(name)).await.unwrap();
    assert_eq!(status, 202, "{resp}");
    env.wait_for_run(resp["run_id"].as_str().unwrap(), Duration::from_secs(120)).await.unwrap()
}

fn run_states(run: &serde_json::Value) -> Vec<String> {
    run["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["entity_type"] == "run")
        .map(|t| t["to_state"].as_str().unwrap().to_owned())
        .collect()
}

fn unsafe_strategy() -> String {
    valid_strategy(CLASS)
        .replace("from backtesting import Strategy\n", "import os\nfrom backtesting import Strategy\n")
}

fn crashing_strategy() -> String {
    valid_strategy(CLASS).replace(
        "        close = self.data.Close\n",
        "        close = self.data.Close\n        self.ratio = 1 / 0\n",
    )
}

/// The key must appear nowhere: logs of every process, any row of any table.
async fn assert_key_never_leaked(env: &TestEnv, key: &str) {
    for i in 0..env.worker_count() {
        assert!(!env.worker_log(i).contains(key), "worker {i} logged the key");
    }
    let coordinator_log = std::fs::read_to_string(env.dir.path().join("coordinator.log")).unwrap();
    assert!(!coordinator_log.contains(key), "the coordinator logged the key");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&env.pool)
            .await
            .unwrap();
    for table in tables {
        let hits: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM {table} t WHERE row_to_json(t)::text LIKE $1"))
                .bind(format!("%{key}%"))
                .fetch_one(&env.pool)
                .await
                .unwrap();
        assert_eq!(hits, 0, "table {table} holds the key");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_structured_code_is_merged_accounted_and_the_key_stays_secret() {
    let (env, fake, key) = llm_env(vec![Reply::json(valid_strategy(CLASS), CLASS)], 1, &[]).await;
    let run = run_to_end(&env, "llm_valid").await;
    assert_eq!(run["status"], "merged", "{}", run["error"]);
    assert_eq!(run["versions"][0]["provider"], "openai");
    assert_eq!(run["versions"][0]["model"], "fake-model");
    assert_eq!(run["llm"]["calls"], 1);
    assert!(run["llm"]["cost_usd"].as_f64().unwrap() > 0.0, "{}", run["llm"]);
    assert_eq!(fake.request_count(), 1);
    // The worker that made the request counts it; the coordinator counts runs from Postgres.
    let worker = reqwest::get(env.worker_metrics_url(0)).await.unwrap().text().await.unwrap();
    assert!(
        worker
            .contains(r#"algoagent_llm_requests_total{provider="openai",model="fake-model",outcome="ok"} 1"#),
        "{worker}"
    );
    let metrics = reqwest::get(format!("{}/metrics", env.api)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"algoagent_runs{status="merged"} 1"#), "{metrics}");
    assert_eq!(fake.auth.lock().unwrap()[0].as_deref(), Some(format!("Bearer {key}").as_str()));
    // The sandbox containers this worker keeps warm carry no secret either.
    let ids = tokio::process::Command::new("docker")
        .args(["ps", "-q", "--filter", "label=algoagent.sandbox=1"])
        .output()
        .await
        .unwrap();
    for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
        let env_out = tokio::process::Command::new("docker")
            .args(["inspect", "--format", "{{json .Config.Env}}", id])
            .output()
            .await
            .unwrap();
        assert!(!String::from_utf8_lossy(&env_out.stdout).contains(&key), "container {id} got the key");
    }
    assert_key_never_leaked(&env, &key).await;
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_in_a_markdown_fence_is_extracted_formatted_and_merged() {
    // The fake wraps this code in prose and a ```python fence; laid out carelessly, as a
    // model may write it.
    let careless = valid_strategy(CLASS)
        .replace("\n\n\nclass", "\nclass")
        .replace("fast_period = 10", "fast_period=10")
        .replace("self.I(SMA, close, self.slow_period)", "self.I( SMA,close,self.slow_period )");
    let (env, _fake, _) = llm_env(vec![Reply::Fenced(careless)], 1, &[("LLM_JSON_SCHEMA", "false")]).await;
    let run = run_to_end(&env, "llm_fenced").await;
    assert_eq!(run["status"], "merged", "{}", run["error"]);
    // What is stored (and committed) is the code formatted as Black would.
    assert_eq!(run["versions"][0]["code"], valid_strategy(CLASS), "{}", run["versions"][0]);
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_json_is_retried_with_the_parse_error_quoted() {
    let script = vec![Reply::Raw("{\"code\": \"class".into()), Reply::json(valid_strategy(CLASS), CLASS)];
    let (env, fake, _) = llm_env(script, 1, &[]).await;
    let run = run_to_end(&env, "llm_broken_json").await;
    assert_eq!(run["status"], "merged", "{}", run["error"]);
    assert_eq!(fake.request_count(), 2);
    let second = fake.prompt_text(1);
    assert!(second.to_lowercase().contains("json"), "the retry must quote the parse error: {second}");
    assert_eq!(run["llm"]["failed_calls"], 1);
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_then_crashing_code_is_fixed_twice_and_the_second_run_learns_from_memory() {
    // Run 1: unsafe code (validator refuses), then a fix that crashes in the backtest, then
    // a fix that works. Run 2: unsafe again; its fix prompt must quote run 1's failure and fix.
    let good = valid_strategy(CLASS);
    let script = vec![
        Reply::json(unsafe_strategy(), CLASS),
        Reply::json(crashing_strategy(), CLASS),
        Reply::json(good.clone(), CLASS),
        Reply::json(unsafe_strategy(), CLASS),
        Reply::json(good.clone(), CLASS),
    ];
    let (env, fake, _) = llm_env(script, 1, &[]).await;
    let run = run_to_end(&env, "llm_fix_one").await;
    assert_eq!(run["status"], "merged", "{}", run["error"]);
    assert_eq!(
        run_states(&run),
        [
            "submitted",
            "generating",
            "validating",
            "fixing",
            "validating",
            "testing",
            "fixing",
            "validating",
            "testing",
            "merging",
            "merged"
        ]
    );
    let versions = run["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 3);
    assert_eq!(versions[1]["origin"], "fixed");
    assert_eq!(versions[1]["parent_id"], versions[0]["id"]);
    assert!(
        fake.prompt_text(1).contains("import-not-allowed") || fake.prompt_text(1).contains("'os'"),
        "{}",
        fake.prompt_text(1)
    );
    assert!(fake.prompt_text(2).contains("ZeroDivisionError"), "{}", fake.prompt_text(2));
    assert_eq!(run["fix_attempts"], 2);

    let run2 = run_to_end(&env, "llm_fix_two").await;
    assert_eq!(run2["status"], "merged", "{}", run2["error"]);
    let fix_prompt = fake.prompt_text(4);
    assert!(
        fix_prompt.contains("self.sma1 = self.I(SMA, close, self.fast_period)"),
        "memory's fix missing: {fix_prompt}"
    );
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_broken_code_fails_the_run_after_the_fix_budget_with_every_reason_audited() {
    let (env, fake, _) =
        llm_env(vec![Reply::json(unsafe_strategy(), CLASS)], 1, &[("MAX_FIX_ATTEMPTS", "2")]).await;
    let run = run_to_end(&env, "llm_hopeless").await;
    assert_eq!(run["status"], "failed");
    assert!(run["error"].as_str().unwrap().contains("budget of 2 spent"), "{}", run["error"]);
    assert_eq!(fake.request_count(), 3, "one generation and two fixes");
    let reasons: Vec<String> = run["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["entity_type"] == "run" && (t["to_state"] == "fixing" || t["to_state"] == "failed"))
        .map(|t| t["details"]["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons.iter().all(|r| r.contains("validation rejected")), "{reasons:?}");
    // The CLI's status shows every reason.
    let out = env.cli(&["status", run["run_id"].as_str().unwrap()]).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for reason in ["fix 1 of 2", "fix 2 of 2", "budget of 2 spent"] {
        assert!(text.contains(reason), "status must show '{reason}': {text}");
    }
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_becomes_a_retry_not_a_failure() {
    let script = vec![Reply::Status(429, Some(1)), Reply::json(valid_strategy(CLASS), CLASS)];
    let (env, fake, _) = llm_env(script, 1, &[]).await;
    let run = run_to_end(&env, "llm_429").await;
    assert_eq!(run["status"], "merged", "{}", run["error"]);
    assert_eq!(fake.request_count(), 2);
    let generate = run["jobs"].as_array().unwrap().iter().find(|j| j["kind"] == "generate").unwrap().clone();
    assert_eq!(generate["attempt"], 2, "{generate}");
    let outcomes: Vec<String> =
        sqlx::query_scalar("SELECT outcome FROM llm_calls ORDER BY id").fetch_all(&env.pool).await.unwrap();
    assert_eq!(outcomes, ["http_429", "ok"]);
    // The worker counted the retry and the transient end of the first attempt.
    let worker = reqwest::get(env.worker_metrics_url(0)).await.unwrap().text().await.unwrap();
    assert!(worker.contains(r#"algoagent_job_retries_total{kind="generate"} 1"#), "{worker}");
    assert!(
        worker.contains(r#"algoagent_jobs_finished_total{kind="generate",outcome="transient"} 1"#),
        "{worker}"
    );
    assert!(worker.contains(r#"algoagent_jobs_started_total{kind="generate"} 2"#), "{worker}");
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_past_the_timeout_is_retried() {
    let script = vec![
        Reply::Slow(Duration::from_secs(5), Box::new(Reply::json(valid_strategy(CLASS), CLASS))),
        Reply::json(valid_strategy(CLASS), CLASS),
    ];
    let (env, fake, _) = llm_env(script, 1, &[("LLM_TIMEOUT_SECS", "1")]).await;
    let run = run_to_end(&env, "llm_slow").await;
    assert_eq!(run["status"], "merged", "{}", run["error"]);
    assert!(fake.request_count() >= 2);
    let outcomes: Vec<String> =
        sqlx::query_scalar("SELECT outcome FROM llm_calls ORDER BY id").fetch_all(&env.pool).await.unwrap();
    assert_eq!(outcomes.first().map(String::as_str), Some("timeout"));
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_one_request_budget() {
    // 20 requests a minute, no burst: one request per 3 s across all workers.
    let (env, fake, _) = llm_env(
        vec![Reply::json(valid_strategy(CLASS), CLASS)],
        3,
        &[("LLM_RPM", "20"), ("LLM_RPM_BURST", "1")],
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (status, resp) = env.post("/api/runs", spec_named(&format!("llm_budget_{i}"))).await.unwrap();
        assert_eq!(status, 202);
        ids.push(resp["run_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let run = env.wait_for_run(id, Duration::from_secs(120)).await.unwrap();
        assert_eq!(run["status"], "merged", "{}", run["error"]);
    }
    assert_eq!(fake.request_count(), 5);
    // Spacing of at least the emission interval (3 s) between any two requests, with a
    // little slack for scheduling: never two in any 2.5 s window.
    assert_eq!(fake.max_in_window(Duration::from_millis(2500)), 1);
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_text_rule_goes_to_the_model_while_the_rule_compiler_refuses_it_by_name() {
    let free_text = "buy when the fast average turns up after three down days";
    let mut spec: serde_json::Value = serde_json::from_slice(&spec_named("llm_free_text")).unwrap();
    spec["entry_rules"] = serde_json::json!([free_text]);
    let body = serde_json::to_vec(&spec).unwrap();

    // With a model: accepted, and the model is shown the rule.
    let (env, fake, _) = llm_env(vec![Reply::json(valid_strategy(CLASS), CLASS)], 1, &[]).await;
    let (status, resp) = env.post("/api/runs", body.clone()).await.unwrap();
    assert_eq!(status, 202, "{resp}");
    // The answer says why the run goes to the model, naming the field.
    assert_eq!(resp["provider"], "openai", "{resp}");
    assert_eq!(resp["rule_compiler"]["compilable"], false, "{resp}");
    assert_eq!(resp["rule_compiler"]["errors"][0]["loc"], serde_json::json!(["entry_rules", "0"]), "{resp}");
    assert!(
        resp["rule_compiler"]["note"].as_str().is_some_and(|n| n.contains("openai provider generates it")),
        "{resp}"
    );
    let run = env.wait_for_run(resp["run_id"].as_str().unwrap(), Duration::from_secs(120)).await.unwrap();
    assert_eq!(run["status"], "merged", "{}", run["error"]);
    assert!(fake.prompt_text(0).contains(free_text));
    env.shutdown().await.unwrap();

    // With the rule compiler: refused, naming the rule, and nothing stored.
    let mut env = TestEnv::new().await.unwrap();
    env.start_coordinator().await.unwrap();
    let (status, resp) = env.post("/api/runs", body).await.unwrap();
    assert_eq!(status, 422, "{resp}");
    assert_eq!(resp["code"], "NOT_COMPILABLE", "{resp}");
    assert_eq!(resp["details"][0]["loc"], serde_json::json!(["entry_rules", "0"]), "{resp}");
    assert!(
        resp["error"].as_str().is_some_and(|e| e.contains("not compilable by the rule compiler")),
        "{resp}"
    );
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM runs").fetch_one(&env.pool).await.unwrap();
    assert_eq!(runs, 0);
    env.shutdown().await.unwrap();
}
