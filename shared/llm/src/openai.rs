//! The `openai` provider: any OpenAI-compatible chat-completions endpoint (OpenAI, Gemini's
//! compatible endpoint, Ollama, vLLM, llama.cpp server) through async-openai.
//!
//! One generation or fix is a short conversation: the system prompt, the task, and, for
//! each unusable answer, the answer and a follow-up quoting why it was refused, up to
//! `output_retries` times. Every HTTP request waits for the shared Redis budget (requests
//! and tokens per minute), has a deadline, and is accounted in an [`LlmCall`].

use std::time::{Duration, Instant};

use anyhow::anyhow;
use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestUserMessage, CreateChatCompletionRequest,
    ResponseFormat, ResponseFormatJsonSchema,
};
use secrecy::ExposeSecret;
use tracing::Instrument;

use super::extract::{answer_schema, parse_answer};
use super::transport::{HttpStatus, SingleShot};
use algoagent_core::LlmCall;

use super::{FixRequest, GenerateRequest, LlmError, LlmFailure, LlmOutput, LlmSettings, prompts};
use algoagent_cache::RateLimiter;

/// Name of this provider in accounting rows and versions.
pub const OPENAI: &str = "openai";

/// Completion tokens assumed for the token budget when `LLM_MAX_TOKENS` is not set.
const ASSUMED_COMPLETION_TOKENS: u32 = 1_024;

/// A client of one OpenAI-compatible endpoint and model.
pub struct OpenAiProvider {
    client: Client<OpenAIConfig>,
    settings: LlmSettings,
    /// The budget shared by every worker (`None`: no shared limits).
    limiter: Option<RateLimiter>,
}

enum Reply {
    Text(String),
    Refused(String),
}

impl OpenAiProvider {
    /// A provider for `settings`. Builds no connection until the first request.
    pub fn new(settings: LlmSettings) -> Self {
        let key = settings.api_key.as_ref().map(|k| k.expose_secret().to_owned()).unwrap_or_default();
        // Everything set explicitly: async-openai's defaults read the environment itself.
        let config = OpenAIConfig::new()
            .with_api_base(settings.base_url.clone())
            .with_api_key(key)
            .with_org_id("")
            .with_project_id("");
        let client = Client::with_config(config).with_http_service(SingleShot::default());
        Self { client, settings, limiter: None }
    }

    /// Makes every request wait for the shared per-model budget of `LLM_RPM` requests and
    /// `LLM_TPM` tokens per minute.
    pub fn with_rate_limiter(mut self, limiter: RateLimiter) -> Self {
        for budget in ["llm_requests", "llm_tokens"] {
            metrics::counter!("algoagent_ratelimit_waits_total", "budget" => budget).increment(0);
            metrics::counter!("algoagent_ratelimit_exhausted_total", "budget" => budget).increment(0);
        }
        self.limiter = Some(limiter);
        self
    }

    /// The model asked.
    pub fn model(&self) -> &str {
        &self.settings.model
    }

    /// The settings in use.
    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// Asks the model for a first version of `req.spec`.
    pub async fn generate(&self, req: &GenerateRequest) -> Result<LlmOutput, LlmFailure> {
        let model = &self.settings.model;
        let span = tracing::info_span!("llm.generate", provider = OPENAI, %model, run_id = %req.run_id);
        self.converse(prompts::generate_prompt(req)).instrument(span).await
    }

    /// Asks the model to repair `req.code` given why it failed and similar past failures.
    pub async fn fix(&self, req: &FixRequest) -> Result<LlmOutput, LlmFailure> {
        let model = &self.settings.model;
        let span = tracing::info_span!("llm.fix", provider = OPENAI, %model, attempt = req.attempt);
        self.converse(prompts::fix_prompt(req)).instrument(span).await
    }

    async fn converse(&self, task: String) -> Result<LlmOutput, LlmFailure> {
        let mut prompt_chars = prompts::SYSTEM.len() + task.len();
        let mut messages = vec![system(prompts::SYSTEM), user(task)];
        let mut calls = Vec::new();
        let mut last = (String::new(), String::new());
        for attempt in 0..=self.settings.output_retries {
            if let Err(error) = self.throttle(prompt_chars).await {
                return Err(LlmFailure { error, calls });
            }
            let (mut call, reply) = self.send(&messages).await;
            let (raw, parsed) = match reply {
                Err(error) => {
                    let (outcome, latency_ms) = (&call.outcome, call.latency_ms);
                    tracing::warn!(%outcome, latency_ms, %error, "LLM request failed.");
                    observe(&call);
                    calls.push(call);
                    return Err(LlmFailure { error, calls });
                }
                Ok(Reply::Text(raw)) => {
                    let parsed = parse_answer(&raw);
                    (raw, parsed)
                }
                Ok(Reply::Refused(why)) => (String::new(), Err(format!("you refused the task ({why})"))),
            };
            match parsed {
                Ok(answer) => {
                    tracing::info!(
                        attempt,
                        latency_ms = call.latency_ms,
                        prompt_tokens = call.prompt_tokens,
                        completion_tokens = call.completion_tokens,
                        "Model answered with code."
                    );
                    observe(&call);
                    calls.push(call);
                    return Ok(LlmOutput {
                        code: answer.code,
                        entrypoint: answer.entrypoint,
                        dependencies: answer.dependencies,
                        notes: answer.notes,
                        calls,
                    });
                }
                Err(why) => {
                    tracing::warn!(attempt, error = %why, answer_chars = raw.len(), "Model answer unusable.");
                    call.outcome = "invalid_output".into();
                    observe(&call);
                    calls.push(call);
                    let follow_up = prompts::retry_prompt(&why);
                    prompt_chars += raw.len() + follow_up.len();
                    messages.push(assistant(raw.clone()));
                    messages.push(user(follow_up));
                    last = (raw, why);
                }
            }
        }
        let (last_raw, error) = last;
        Err(LlmFailure { error: LlmError::InvalidOutput { last_raw, error }, calls })
    }

    /// Waits (up to `rate_wait`) for the shared request and token budgets.
    async fn throttle(&self, prompt_chars: usize) -> Result<(), LlmError> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        let s = &self.settings;
        let prompt_tokens = u32::try_from(prompt_chars / 4).unwrap_or(u32::MAX);
        let tokens = prompt_tokens.saturating_add(s.max_tokens.unwrap_or(ASSUMED_COMPLETION_TOKENS));
        let deadline = Instant::now() + s.rate_wait;
        let budgets = [
            (
                "llm_requests",
                format!("llm:{OPENAI}:{}:requests", s.model),
                s.requests_per_minute,
                s.request_burst,
                1,
            ),
            (
                "llm_tokens",
                format!("llm:{OPENAI}:{}:tokens", s.model),
                s.tokens_per_minute,
                s.tokens_per_minute,
                tokens,
            ),
        ];
        for (budget, key, rate, burst, cost) in budgets {
            loop {
                let decision = limiter.check(&key, rate, burst, cost).await.map_err(|e| {
                    LlmError::Transient(anyhow::Error::new(e).context("checking the shared LLM budget"))
                })?;
                if decision.allowed {
                    break;
                }
                if Instant::now() + decision.retry_after > deadline {
                    let retry_after_ms = decision.retry_after.as_millis();
                    tracing::info!(budget = %key, retry_after_ms, "Shared LLM budget spent.");
                    metrics::counter!("algoagent_ratelimit_exhausted_total", "budget" => budget).increment(1);
                    return Err(LlmError::RateLimited { retry_after: Some(decision.retry_after) });
                }
                metrics::counter!("algoagent_ratelimit_waits_total", "budget" => budget).increment(1);
                metrics::histogram!("algoagent_ratelimit_wait_seconds", "budget" => budget)
                    .record(decision.retry_after.as_secs_f64());
                tokio::time::sleep(decision.retry_after).await;
            }
        }
        Ok(())
    }

    /// One HTTP request with a deadline; the call's accounting and the model's reply.
    async fn send(&self, messages: &[ChatCompletionRequestMessage]) -> (LlmCall, Result<Reply, LlmError>) {
        let s = &self.settings;
        let request = CreateChatCompletionRequest {
            messages: messages.to_vec(),
            model: s.model.clone(),
            response_format: s.json_schema.then(|| ResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    name: "strategy_module".into(),
                    description: Some("A backtesting.py strategy module and its entrypoint class.".into()),
                    schema: answer_schema(),
                    strict: Some(true),
                },
            }),
            max_completion_tokens: s.max_tokens,
            temperature: s.temperature,
            ..Default::default()
        };
        let started = Instant::now();
        let result = tokio::time::timeout(s.timeout, self.client.chat().create(request)).await;
        let mut call = LlmCall {
            provider: OPENAI.into(),
            model: s.model.clone(),
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: 0.0,
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            outcome: "ok".into(),
        };
        let response = match result {
            Err(_) => {
                call.outcome = "timeout".into();
                return (
                    call,
                    Err(LlmError::Transient(anyhow!("no answer within {:?} (timed out)", s.timeout))),
                );
            }
            Ok(Err(e)) => {
                let (outcome, error) = self.classify(e);
                call.outcome = outcome.into();
                return (call, Err(error));
            }
            Ok(Ok(response)) => response,
        };
        if let Some(usage) = &response.usage {
            call.prompt_tokens = usage.prompt_tokens;
            call.completion_tokens = usage.completion_tokens;
            let model = if s.prices.cost(&s.model, 1, 1) > 0.0 { &s.model } else { &response.model };
            call.cost_usd = s.prices.cost(model, usage.prompt_tokens, usage.completion_tokens);
        }
        let Some(message) = response.choices.into_iter().next().map(|c| c.message) else {
            call.outcome = "error".into();
            return (call, Err(LlmError::Transient(anyhow!("the endpoint answered without a choice"))));
        };
        let reply = match (message.content, message.refusal) {
            (Some(text), _) if !text.trim().is_empty() => Reply::Text(text),
            (_, Some(refusal)) => {
                call.outcome = "refused".into();
                Reply::Refused(refusal)
            }
            (text, None) => Reply::Text(text.unwrap_or_default()),
        };
        (call, Ok(reply))
    }

    /// Outcome label and decision for a failed request. Texts from the endpoint are scrubbed
    /// of the key (an endpoint may echo it in an error message).
    fn classify(&self, error: OpenAIError) -> (&'static str, LlmError) {
        let scrub = |text: String| match self.settings.api_key.as_ref().map(|k| k.expose_secret()) {
            Some(key) if !key.is_empty() => text.replace(key, "[REDACTED]"),
            _ => text,
        };
        match error {
            OpenAIError::Boxed(boxed) => match boxed.downcast::<HttpStatus>() {
                Ok(http) => {
                    let message = scrub(http.message.clone());
                    let detail = anyhow!("HTTP {}: {message}", http.status);
                    match http.status {
                        429 if http.quota_exhausted => ("http_429", LlmError::Permanent(detail)),
                        429 => ("http_429", LlmError::RateLimited { retry_after: http.retry_after }),
                        408 | 409 => ("http_4xx", LlmError::Transient(detail)),
                        500.. => ("http_5xx", LlmError::Transient(detail)),
                        _ => ("http_4xx", LlmError::Permanent(detail)),
                    }
                }
                Err(other) => ("error", LlmError::Transient(anyhow!("{}", scrub(other.to_string())))),
            },
            OpenAIError::Reqwest(e) if e.is_timeout() => {
                ("timeout", LlmError::Transient(anyhow!("{}", scrub(e.to_string()))))
            }
            OpenAIError::Reqwest(e) => {
                ("connection", LlmError::Transient(anyhow!("{}", scrub(e.to_string()))))
            }
            OpenAIError::JSONDeserialize(e, _) => {
                ("error", LlmError::Transient(anyhow!("the endpoint's answer is not a chat completion: {e}")))
            }
            OpenAIError::InvalidArgument(m) => ("error", LlmError::Permanent(anyhow!("{}", scrub(m)))),
            other => ("error", LlmError::Transient(anyhow!("{}", scrub(other.to_string())))),
        }
    }
}

fn system(text: &str) -> ChatCompletionRequestMessage {
    ChatCompletionRequestSystemMessage {
        content: ChatCompletionRequestSystemMessageContent::Text(text.to_owned()),
        name: None,
    }
    .into()
}

fn user(text: String) -> ChatCompletionRequestMessage {
    ChatCompletionRequestUserMessage::from(text).into()
}

fn assistant(text: String) -> ChatCompletionRequestMessage {
    ChatCompletionRequestAssistantMessage {
        content: Some(ChatCompletionRequestAssistantMessageContent::Text(text)),
        ..Default::default()
    }
    .into()
}

/// The longest one generation or fix can take (every request waiting for the budget and
/// running into its deadline), for callers sizing job leases.
pub fn worst_case_duration(settings: &LlmSettings) -> Duration {
    (settings.timeout + settings.rate_wait).saturating_mul(settings.output_retries.saturating_add(1))
}

/// Records one model request in the process's metrics: requests, tokens and cost by provider,
/// model and outcome, and its latency.
fn observe(call: &LlmCall) {
    let (provider, model, outcome) = (call.provider.clone(), call.model.clone(), call.outcome.clone());
    metrics::counter!("algoagent_llm_requests_total", "provider" => provider.clone(), "model" => model.clone(), "outcome" => outcome.clone())
        .increment(1);
    for (kind, tokens) in [("prompt", call.prompt_tokens), ("completion", call.completion_tokens)] {
        metrics::counter!("algoagent_llm_tokens_total", "provider" => provider.clone(), "model" => model.clone(), "outcome" => outcome.clone(), "type" => kind)
            .increment(u64::from(tokens));
    }
    // A gauge only increased: the facade's counters count integers, and cost is in dollars.
    metrics::gauge!("algoagent_llm_cost_usd_total", "provider" => provider.clone(), "model" => model.clone(), "outcome" => outcome)
        .increment(call.cost_usd);
    metrics::histogram!("algoagent_llm_request_duration_seconds", "provider" => provider, "model" => model)
        .record(call.latency_ms as f64 / 1000.0);
}
