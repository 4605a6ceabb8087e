//! The `openai` provider against a scripted OpenAI-compatible server: structured answers,
//! fenced code, retries of unusable answers with the error quoted, 429 with Retry-After,
//! 5xx, timeouts, and a key that never shows in errors.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use algoagent_core::LlmProvider;
use algoagent_core::{JobError, RunId};
use algoagent_llm::{
    CodeProvider, FixRequest, GenerateRequest, LlmError, LlmFailure, LlmSettings, OpenAiProvider, Provider,
};
use algoagent_spec::StrategySpec;
use algoagent_tests::examples_dir;
use algoagent_tests::fake_llm::{FakeLlm, Reply, valid_strategy};

const KEY: &str = "sk-test-9f8e7d6c5b4a-never-print-me";
const CLASS: &str = "SmaCrossoverStrategy";

fn spec() -> StrategySpec {
    StrategySpec::parse_json(&std::fs::read(examples_dir().join("sma_crossover.json")).unwrap()).unwrap()
}

fn settings(fake: &FakeLlm, extra: &[(&str, &str)]) -> LlmSettings {
    let mut vars: HashMap<String, String> = [
        ("OPENAI_BASE_URL", fake.base_url.as_str()),
        ("OPENAI_API_KEY", KEY),
        ("LLM_MODEL", "fake-model"),
        ("LLM_TIMEOUT_SECS", "5"),
        ("LLM_PRICES", "fake-model=1.0/2.0"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    LlmSettings::from_lookup(|k| vars.get(k).cloned()).unwrap()
}

async fn generate(fake: &FakeLlm, extra: &[(&str, &str)]) -> Result<algoagent_llm::LlmOutput, LlmFailure> {
    let provider = OpenAiProvider::new(settings(fake, extra));
    provider.generate(&GenerateRequest { spec: spec(), run_id: RunId::new() }).await
}

#[tokio::test]
async fn a_structured_answer_becomes_code_with_its_accounting() {
    // Arrange
    let fake = FakeLlm::start(vec![Reply::json(valid_strategy(CLASS), CLASS)]).await;

    // Act
    let out = generate(&fake, &[]).await.unwrap();

    // Assert
    assert_eq!((out.entrypoint.as_str(), out.code.as_str()), (CLASS, valid_strategy(CLASS).as_str()));
    assert_eq!(out.calls.len(), 1);
    let call = &out.calls[0];
    assert_eq!(
        (call.provider.as_str(), call.model.as_str(), call.outcome.as_str()),
        ("openai", "fake-model", "ok")
    );
    assert!(call.prompt_tokens > 0 && call.completion_tokens > 0);
    let expected = (f64::from(call.prompt_tokens) + 2.0 * f64::from(call.completion_tokens)) / 1e6;
    assert!((call.cost_usd - expected).abs() < 1e-12, "cost from the price table");
    let body = fake.request(0);
    assert_eq!(body["model"], "fake-model");
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert!(fake.prompt_text(0).contains("sma_crossover") && fake.prompt_text(0).contains(CLASS));
    assert_eq!(fake.auth.lock().unwrap()[0].as_deref(), Some(format!("Bearer {KEY}").as_str()));
}

#[tokio::test]
async fn code_in_a_markdown_fence_is_extracted_without_the_schema_format() {
    let fake = FakeLlm::start(vec![Reply::Fenced(valid_strategy(CLASS))]).await;

    let out = generate(&fake, &[("LLM_JSON_SCHEMA", "false")]).await.unwrap();

    assert_eq!(out.entrypoint, CLASS);
    assert!(out.code.contains("def next(self):"));
    assert!(fake.request(0).get("response_format").is_none());
}

#[tokio::test]
async fn broken_json_is_retried_with_the_parse_error_quoted() {
    let broken = "{\"code\": \"class SmaCrossoverStrategy(Strategy):\\n  pass\", \"entrypoint\": ";
    let fake =
        FakeLlm::start(vec![Reply::Raw(broken.into()), Reply::json(valid_strategy(CLASS), CLASS)]).await;

    let out = generate(&fake, &[]).await.unwrap();

    assert_eq!(out.entrypoint, CLASS);
    let outcomes: Vec<_> = out.calls.iter().map(|c| c.outcome.as_str()).collect();
    assert_eq!(outcomes, ["invalid_output", "ok"]);
    assert_eq!(fake.request_count(), 2);
    let follow_up = fake.last_user_message(1);
    assert!(follow_up.contains("could not be used") && follow_up.contains("not valid JSON"), "{follow_up}");
    let messages = fake.request(1)["messages"].as_array().unwrap().clone();
    assert!(
        messages.iter().any(|m| m["role"] == "assistant" && m["content"] == broken),
        "the bad answer is shown"
    );
}

#[tokio::test]
async fn always_broken_output_fails_permanently_with_the_last_answer() {
    let fake = FakeLlm::start(vec![Reply::Raw("Sorry, here is {not json".into())]).await;

    let failure = generate(&fake, &[("LLM_OUTPUT_RETRIES", "2")]).await.unwrap_err();

    assert_eq!(fake.request_count(), 3, "one request and two retries");
    assert_eq!(failure.calls.len(), 3);
    assert!(failure.calls.iter().all(|c| c.outcome == "invalid_output"));
    match &failure.error {
        LlmError::InvalidOutput { last_raw, error } => {
            assert_eq!(last_raw, "Sorry, here is {not json");
            assert!(!error.is_empty());
        }
        other => panic!("expected InvalidOutput, got {other:?}"),
    }
    assert!(matches!(failure.into_job_error(), JobError::Permanent(_)));
}

#[tokio::test]
async fn a_429_with_retry_after_is_a_rate_limit_with_its_delay_and_no_hidden_retry() {
    let fake =
        FakeLlm::start(vec![Reply::Status(429, Some(7)), Reply::json(valid_strategy(CLASS), CLASS)]).await;

    let failure = generate(&fake, &[]).await.unwrap_err();

    assert!(
        matches!(failure.error, LlmError::RateLimited { retry_after: Some(d) } if d.as_secs() == 7),
        "{:?}",
        failure.error
    );
    assert_eq!(fake.request_count(), 1, "the client must not sleep and retry by itself");
    assert_eq!(failure.calls[0].outcome, "http_429");
    match failure.into_job_error() {
        JobError::RetryAfter { after, .. } => assert_eq!(after, Duration::from_secs(7)),
        other => panic!("expected RetryAfter, got {other:?}"),
    }
}

#[tokio::test]
async fn a_server_error_is_transient_and_a_client_error_permanent() {
    let fake = FakeLlm::start(vec![Reply::Status(503, None)]).await;
    let failure = generate(&fake, &[]).await.unwrap_err();
    assert!(matches!(failure.error, LlmError::Transient(_)), "{:?}", failure.error);
    assert_eq!((fake.request_count(), failure.calls[0].outcome.as_str()), (1, "http_5xx"));
    assert!(matches!(failure.into_job_error(), JobError::Transient(_)));

    let fake = FakeLlm::start(vec![Reply::Status(401, None)]).await;
    let failure = generate(&fake, &[]).await.unwrap_err();
    assert!(matches!(failure.error, LlmError::Permanent(_)), "{:?}", failure.error);
    assert_eq!(failure.calls[0].outcome, "http_4xx");
}

#[tokio::test]
async fn a_slow_answer_past_the_timeout_is_a_transient_timeout() {
    let slow = Reply::Slow(Duration::from_secs(4), Box::new(Reply::json(valid_strategy(CLASS), CLASS)));
    let fake = FakeLlm::start(vec![slow]).await;
    let started = Instant::now();

    let failure = generate(&fake, &[("LLM_TIMEOUT_SECS", "1")]).await.unwrap_err();

    assert!(started.elapsed() < Duration::from_secs(3), "gave up at the deadline");
    assert!(matches!(failure.error, LlmError::Transient(_)), "{:?}", failure.error);
    assert!(failure.error.to_string().contains("timed out"), "{}", failure.error);
    assert_eq!(failure.calls[0].outcome, "timeout");
    assert!(matches!(failure.into_job_error(), JobError::Transient(_)));
}

#[tokio::test]
async fn the_api_key_never_appears_in_errors_or_settings() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("openai.key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let scripts = [
        vec![Reply::Status(429, Some(1))],
        vec![Reply::Status(500, None)],
        vec![Reply::Status(401, None)],
        vec![Reply::Raw("nope".into())],
        vec![Reply::Slow(Duration::from_secs(3), Box::new(Reply::Raw("late".into())))],
    ];
    for script in scripts {
        let fake = FakeLlm::start(script).await;
        let mut s = settings(&fake, &[("LLM_TIMEOUT_SECS", "1"), ("LLM_OUTPUT_RETRIES", "0")]);
        s.api_key = LlmSettings::from_lookup(|k| {
            (k == "OPENAI_API_KEY_FILE").then(|| key_file.display().to_string())
        })
        .unwrap()
        .api_key;
        let provider = OpenAiProvider::new(s.clone());
        let failure =
            provider.generate(&GenerateRequest { spec: spec(), run_id: RunId::new() }).await.unwrap_err();
        assert_eq!(fake.auth.lock().unwrap()[0].as_deref(), Some(format!("Bearer {KEY}").as_str()));
        let calls = format!("{:?}", failure.calls);
        let texts = [
            format!("{failure}"),
            format!("{failure:?}"),
            format!("{:?}", failure.error),
            calls,
            format!("{s:?}"),
            format!("{:?}", failure.into_job_error()),
        ];
        for text in texts {
            assert!(!text.contains(KEY), "key leaked: {text}");
        }
    }
    // A refused connection (nothing listens on the port any more).
    let fake = FakeLlm::start(vec![Reply::Raw("x".into())]).await;
    let s = settings(&fake, &[]);
    drop(fake);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let failure =
        OpenAiProvider::new(s).generate(&GenerateRequest { spec: spec(), run_id: RunId::new() }).await;
    let failure = failure.unwrap_err();
    assert!(matches!(failure.error, LlmError::Transient(_)), "{:?}", failure.error);
    assert!(!format!("{failure:?} {failure}").contains(KEY));
}

#[tokio::test]
async fn the_provider_enum_dispatches_and_builtin_cannot_fix() {
    let fake = FakeLlm::start(vec![Reply::json(valid_strategy(CLASS), CLASS)]).await;
    let openai = Provider::new(LlmProvider::OpenAi, &settings(&fake, &[]));
    let builtin = Provider::new(LlmProvider::Builtin, &settings(&fake, &[]));
    let req = GenerateRequest { spec: spec(), run_id: RunId::new() };

    let from_model = openai.generate(&req).await.unwrap();
    let compiled = builtin.generate(&req).await.unwrap();
    let fix = FixRequest {
        spec: spec(),
        code: compiled.code.clone(),
        entrypoint: compiled.entrypoint.clone(),
        failure: "NameError: name 'x' is not defined".into(),
        similar: vec![],
        attempt: 1,
    };
    let fixed = openai.fix(&fix).await.unwrap();
    let unsupported = builtin.fix(&fix).await.unwrap_err();

    assert_eq!((openai.name(), openai.model()), ("openai", Some("fake-model")));
    assert_eq!((builtin.name(), builtin.model()), ("builtin", None));
    assert_eq!(from_model.entrypoint, CLASS);
    let opts = algoagent_validate::ValidateOptions {
        entrypoint: Some(CLASS.into()),
        required_params: vec!["fast_period".into(), "slow_period".into()],
        strict: true,
    };
    let report = algoagent_validate::validate(&from_model.code, &opts);
    assert!(report.accepted(), "the fake's strategy passes the validator: {:?}", report.issues());
    assert_eq!(compiled.entrypoint, CLASS, "the builtin compiler names the class the same way");
    assert!(compiled.calls.is_empty());
    assert_eq!(fixed.entrypoint, CLASS);
    let fix_prompt = fake.last_user_message(1);
    assert!(
        fix_prompt.contains("NameError: name 'x' is not defined") && fix_prompt.contains("fix attempt 1")
    );
    assert!(matches!(unsupported.error, LlmError::Unsupported));
    assert!(matches!(unsupported.into_job_error(), JobError::Permanent(_)));
}
