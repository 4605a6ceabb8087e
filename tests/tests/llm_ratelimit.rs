//! Invariant 7: LLM budgets are global. Several workers, each with its own Redis
//! connection, share one GCRA budget; the provider waits for it before every request.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use algoagent_cache::{RateLimiter, connect};
use algoagent_core::RunId;
use algoagent_llm::{GenerateRequest, LlmError, LlmSettings, OpenAiProvider};
use algoagent_spec::StrategySpec;
use algoagent_tests::fake_llm::{FakeLlm, Reply, valid_strategy};
use algoagent_tests::{REDIS_URL, examples_dir};
use secrecy::SecretString;

fn namespace() -> String {
    format!("rl{:08x}", rand::random::<u32>())
}

async fn limiter(ns: &str) -> RateLimiter {
    RateLimiter::new(connect(&SecretString::from(REDIS_URL)).await.unwrap(), ns)
}

async fn cleanup(ns: &str) {
    let mut conn = connect(&SecretString::from(REDIS_URL)).await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{ns}:*")).query_async(&mut conn).await.unwrap();
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL").arg(keys).query_async(&mut conn).await.unwrap();
    }
}

/// Three tasks, each with its own connection, call `check` until `run_for` passes; returns
/// the allowed count and the elapsed time.
async fn hammer(ns: &str, rate: u32, burst: u32, run_for: Duration) -> (u32, Duration) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let limiter = limiter(ns).await;
        tasks.push(tokio::spawn(async move {
            let mut allowed = 0;
            while started.elapsed() < run_for {
                let d = limiter.check("llm:test", rate, burst, 1).await.unwrap();
                if d.allowed {
                    allowed += 1;
                    assert_eq!(d.retry_after, Duration::ZERO);
                } else {
                    assert!(d.retry_after > Duration::ZERO, "a refusal says when to come back");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            allowed
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    (total, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_one_budget_of_30_per_minute() {
    let ns = namespace();

    let (allowed, elapsed) = hammer(&ns, 30, 1, Duration::from_secs(2)).await;

    let bound = 1.0 + 30.0 * elapsed.as_secs_f64() / 60.0;
    assert!(allowed >= 1 && f64::from(allowed) <= bound, "{allowed} allowed in {elapsed:?}, bound {bound}");
    cleanup(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_budget_lets_the_full_rate_through_and_no_more() {
    let ns = namespace();

    let (allowed, elapsed) = hammer(&ns, 600, 5, Duration::from_secs(2)).await;

    let bound = 5.0 + 10.0 * elapsed.as_secs_f64();
    assert!(f64::from(allowed) <= bound, "{allowed} allowed in {elapsed:?}, bound {bound}");
    assert!(f64::from(allowed) >= bound - 4.0, "the budget is used, not starved: {allowed} of {bound}");
    cleanup(&ns).await;
}

#[tokio::test]
async fn a_cost_charges_token_budgets_and_says_when_the_next_fits() {
    let ns = namespace();
    let limiter = limiter(&ns).await;

    let first = limiter.check("llm:tokens", 6_000, 6_000, 1_000).await.unwrap();
    for _ in 0..5 {
        assert!(limiter.check("llm:tokens", 6_000, 6_000, 1_000).await.unwrap().allowed);
    }
    let seventh = limiter.check("llm:tokens", 6_000, 6_000, 1_000).await.unwrap();
    let unlimited = limiter.check("llm:other", 0, 1, 1_000_000).await.unwrap();

    assert!(first.allowed);
    assert_eq!(first.remaining, 5_000);
    assert!(!seventh.allowed);
    assert!(
        seventh.retry_after > Duration::from_secs(9) && seventh.retry_after <= Duration::from_secs(10),
        "1,000 tokens at 100 per second: {:?}",
        seventh.retry_after
    );
    assert!(unlimited.allowed, "a rate of 0 means unlimited");
    cleanup(&ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_providers_never_send_more_than_the_shared_budget() {
    // Arrange: 60 requests per minute, 2 at once, refusals returned at once.
    let ns = namespace();
    let fake =
        FakeLlm::start(vec![Reply::json(valid_strategy("SmaCrossoverStrategy"), "SmaCrossoverStrategy")])
            .await;
    let vars: HashMap<&str, String> = HashMap::from([
        ("OPENAI_BASE_URL", fake.base_url.clone()),
        ("LLM_MODEL", format!("model-{ns}")),
        ("LLM_RPM", "60".into()),
        ("LLM_RPM_BURST", "2".into()),
        ("LLM_RATE_WAIT_SECS", "0".into()),
    ]);
    let settings = LlmSettings::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let spec =
        StrategySpec::parse_json(&std::fs::read(examples_dir().join("sma_crossover.json")).unwrap()).unwrap();
    let started = Instant::now();

    // Act
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let provider = OpenAiProvider::new(settings.clone()).with_rate_limiter(limiter(&ns).await);
        let req = GenerateRequest { spec: spec.clone(), run_id: RunId::new() };
        tasks.push(tokio::spawn(async move {
            let mut limited = 0;
            while started.elapsed() < Duration::from_secs(2) {
                match provider.generate(&req).await {
                    Ok(_) => {}
                    Err(f) => {
                        let waits =
                            matches!(f.error, LlmError::RateLimited { retry_after: Some(d) } if !d.is_zero());
                        assert!(waits, "{:?}", f.error);
                        assert!(f.calls.is_empty(), "a locally refused request never reaches the endpoint");
                        limited += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            limited
        }));
    }
    let mut limited = 0;
    for task in tasks {
        limited += task.await.unwrap();
    }
    let elapsed = started.elapsed();

    // Assert
    let bound = 2.0 + elapsed.as_secs_f64();
    let sent = fake.request_count();
    assert!(sent >= 2 && (sent as f64) <= bound, "{sent} requests in {elapsed:?}, bound {bound}");
    assert!(fake.max_in_window(Duration::from_secs(60)) <= 2 + elapsed.as_secs() as usize + 1);
    assert!(limited > 0, "the budget refused some requests");
    cleanup(&ns).await;
}
