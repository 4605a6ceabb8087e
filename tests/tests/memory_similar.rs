//! Failure memory in Postgres: signatures, similarity search (full text + pg_trgm), fixes,
//! the fix prompt built from it, and LLM call accounting.
#![allow(clippy::unwrap_used)]

use algoagent_core::{JobId, LlmCall, RunId};
use algoagent_jobs::db::DbError;
use algoagent_llm::{FixRequest, prompts};
use algoagent_spec::StrategySpec;
use algoagent_store::memory;
use algoagent_tests::{TestEnv, examples_dir};

const NAME_ERROR: &str = "Traceback (most recent call last):\n  \
    File \"/sandbox/strategy.py\", line 14, in next\n    \
    if self.sma_fast[-1] > self.sma_slow[-1]:\nNameError: name 'sma_fast' is not defined";
const INDEX_ERROR: &str = "Traceback (most recent call last):\n  \
    File \"/sandbox/strategy.py\", line 9, in init\n    \
    self.band = self.data.Close[200]\nIndexError: index 200 is out of bounds for axis 0 with size 150";
const IMPORT_FINDING: &str = "line 1, col 1: [import-not-allowed] import of 'os' is not allowed";

fn call(outcome: &str, prompt: u32, completion: u32, cost: f64) -> LlmCall {
    LlmCall {
        provider: "openai".into(),
        model: "fake-model".into(),
        prompt_tokens: prompt,
        completion_tokens: completion,
        cost_usd: cost,
        latency_ms: 120,
        outcome: outcome.into(),
    }
}

#[tokio::test]
async fn the_fix_prompt_shows_the_most_similar_earlier_failure_first() {
    // Arrange: three earlier failures of different kinds; two were fixed (so the fix bonus
    // cannot decide the ranking).
    let env = TestEnv::new().await.unwrap();
    let mut conn = env.pool.acquire().await.unwrap();
    let run = RunId::new();
    let name_id = memory::record_failure(&mut conn, run, 1, NAME_ERROR, "code with sma_fast").await.unwrap();
    let index_id =
        memory::record_failure(&mut conn, run, 2, INDEX_ERROR, "code with Close[200]").await.unwrap();
    memory::record_failure(&mut conn, run, 3, IMPORT_FINDING, "import os").await.unwrap();
    memory::record_fix(&mut conn, name_id, "FIXED: self.sma_fast = self.I(SMA, close, 10)").await.unwrap();
    memory::record_fix(&mut conn, index_id, "FIXED: self.band = self.data.Close[-1]").await.unwrap();

    // Act: a new NameError, other name, other line.
    let new_error = "Traceback (most recent call last):\n  \
        File \"/sandbox/strategy.py\", line 31, in next\n    \
        if self.rsi[-1] < 30:\nNameError: name 'rsi' is not defined";
    let similar = memory::similar(&env.pool, new_error, 3).await.unwrap();
    let spec =
        StrategySpec::parse_json(&std::fs::read(examples_dir().join("sma_crossover.json")).unwrap()).unwrap();
    let prompt = prompts::fix_prompt(&FixRequest {
        spec,
        code: "class SmaCrossoverStrategy(Strategy): ...".into(),
        entrypoint: "SmaCrossoverStrategy".into(),
        failure: new_error.into(),
        similar: similar.clone(),
        attempt: 1,
    });

    // Assert
    assert!(!similar.is_empty());
    assert_eq!(similar[0].id, name_id, "ranked: {similar:#?}");
    assert_eq!(similar[0].signature, "in next ; NameError: name <str> is not defined");
    assert!(similar[0].fix_code.as_deref().unwrap().starts_with("FIXED"));
    assert!(similar.windows(2).all(|w| w[0].score >= w[1].score), "best first");
    assert!(similar.iter().skip(1).all(|s| s.score < similar[0].score - 0.1), "clearly best: {similar:#?}");
    let first = prompt.find("### Past failure 1").unwrap();
    let section =
        &prompt[first..prompt[first + 1..].find("### Past failure").map_or(prompt.len(), |i| first + 1 + i)];
    assert!(section.contains("NameError: name 'sma_fast' is not defined"), "{section}");
    assert!(section.contains("FIXED: self.sma_fast"), "the passing fix is shown: {section}");
    assert!(prompt.contains("NameError: name 'rsi' is not defined"), "the new failure is quoted");
    env.shutdown().await.unwrap();
}

#[tokio::test]
async fn failures_and_fixes_are_idempotent_and_a_missing_failure_is_not_found() {
    let env = TestEnv::new().await.unwrap();
    let mut conn = env.pool.acquire().await.unwrap();
    let run = RunId::new();

    let first = memory::record_failure(&mut conn, run, 7, INDEX_ERROR, "v7").await.unwrap();
    let again = memory::record_failure(&mut conn, run, 7, INDEX_ERROR, "v7").await.unwrap();
    memory::record_fix(&mut conn, first, "fix 1").await.unwrap();
    memory::record_fix(&mut conn, first, "fix 2").await.unwrap();
    let missing = memory::record_fix(&mut conn, 999_999, "x").await;

    assert_eq!(first, again, "one failure row per version");
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT kind, fix_code FROM memories ORDER BY id").fetch_all(&env.pool).await.unwrap();
    assert_eq!(rows, [("failure".into(), Some("fix 2".into())), ("fix".into(), Some("fix 2".into()))]);
    assert!(matches!(missing, Err(DbError::NotFound(_))));
    let nothing = memory::similar(&env.pool, "completely unrelated words", 3).await.unwrap();
    assert!(nothing.is_empty(), "{nothing:?}");
    env.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_llm_call_is_recorded_and_summed_per_run() {
    let env = TestEnv::new().await.unwrap();
    let mut conn = env.pool.acquire().await.unwrap();
    let (run, other) = (RunId::new(), RunId::new());

    memory::record_llm_calls(
        &mut conn,
        run,
        JobId::new(),
        &[call("invalid_output", 100, 50, 0.25), call("ok", 200, 80, 0.5)],
    )
    .await
    .unwrap();
    memory::record_llm_call(&mut conn, run, JobId::new(), &call("http_429", 0, 0, 0.0)).await.unwrap();
    memory::record_llm_call(&mut conn, other, JobId::new(), &call("ok", 1, 1, 9.0)).await.unwrap();
    let usage = memory::llm_usage(&env.pool, run).await.unwrap();
    let none = memory::llm_usage(&env.pool, RunId::new()).await.unwrap();

    assert_eq!((usage.calls, usage.failed_calls), (3, 2));
    assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.latency_ms), (300, 130, 360));
    assert!((usage.cost_usd - 0.75).abs() < 1e-9);
    assert_eq!(none, memory::LlmUsage::default());
    env.shutdown().await.unwrap();
}
