//! A scripted OpenAI-compatible server for tests: `POST /v1/chat/completions` (and
//! `/chat/completions`) answers each request with the next [`Reply`] of its script (the last
//! one repeats), reports token usage on every successful answer, and records every request
//! body, its `Authorization` header and its arrival time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A valid structured answer `{code, entrypoint, dependencies: [], notes}`.
    Json {
        /// The module.
        code: String,
        /// Its strategy class.
        entrypoint: String,
    },
    /// Prose with the code in a ```python fence.
    Fenced(String),
    /// This content verbatim (e.g. broken JSON).
    Raw(String),
    /// An error status with an OpenAI error body, and `Retry-After: <secs>` when given.
    Status(u16, Option<u64>),
    /// The inner reply after a delay.
    Slow(Duration, Box<Reply>),
}

impl Reply {
    /// A valid structured answer.
    pub fn json(code: impl Into<String>, entrypoint: impl Into<String>) -> Self {
        Self::Json { code: code.into(), entrypoint: entrypoint.into() }
    }
}

struct Shared {
    script: Vec<Reply>,
    requests: Arc<Mutex<Vec<Value>>>,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    auth: Arc<Mutex<Vec<Option<String>>>>,
}

/// A running fake endpoint; stops when dropped.
pub struct FakeLlm {
    /// Base URL to use as `OPENAI_BASE_URL` (ends in `/v1`).
    pub base_url: String,
    /// Every request body received, in order.
    pub requests: Arc<Mutex<Vec<Value>>>,
    /// When each request arrived, in order.
    pub arrivals: Arc<Mutex<Vec<Instant>>>,
    /// Each request's `Authorization` header, in order.
    pub auth: Arc<Mutex<Vec<Option<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeLlm {
    /// Starts a server on a free local port answering with `script`.
    pub async fn start(script: Vec<Reply>) -> FakeLlm {
        assert!(!script.is_empty(), "a fake LLM needs at least one reply");
        let shared = Arc::new(Shared {
            script,
            requests: Arc::default(),
            arrivals: Arc::default(),
            auth: Arc::default(),
        });
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/chat/completions", post(chat))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeLlm {
            base_url: format!("http://{addr}/v1"),
            requests: Arc::clone(&shared.requests),
            arrivals: Arc::clone(&shared.arrivals),
            auth: Arc::clone(&shared.auth),
            task,
        }
    }

    /// Requests received so far.
    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// Body of request `index`.
    pub fn request(&self, index: usize) -> Value {
        self.requests.lock().unwrap()[index].clone()
    }

    /// Every message content of request `index`, joined (what the model was told).
    pub fn prompt_text(&self, index: usize) -> String {
        let body = self.request(index);
        body["messages"]
            .as_array()
            .map(|msgs| msgs.iter().filter_map(|m| m["content"].as_str()).collect::<Vec<_>>().join("\n\n"))
            .unwrap_or_default()
    }

    /// The content of the last user message of request `index`.
    pub fn last_user_message(&self, index: usize) -> String {
        let body = self.request(index);
        body["messages"]
            .as_array()
            .and_then(|msgs| msgs.iter().rev().find(|m| m["role"] == "user"))
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_owned()
    }

    /// The most requests that arrived within any sliding `window`.
    pub fn max_in_window(&self, window: Duration) -> usize {
        let times = self.arrivals.lock().unwrap().clone();
        let mut best = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[end].duration_since(times[start]) >= window {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let index = {
        let mut requests = shared.requests.lock().unwrap();
        requests.push(body.clone());
        shared.arrivals.lock().unwrap().push(Instant::now());
        let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        shared.auth.lock().unwrap().push(auth);
        requests.len() - 1
    };
    let mut reply = shared.script.get(index).or(shared.script.last()).cloned().unwrap();
    while let Reply::Slow(delay, inner) = reply {
        tokio::time::sleep(delay).await;
        reply = *inner;
    }
    let content = match reply {
        Reply::Json { code, entrypoint } => {
            json!({"code": code, "entrypoint": entrypoint, "dependencies": [], "notes": "scripted answer"})
                .to_string()
        }
        Reply::Fenced(code) => format!("Here is the strategy you asked for:\n\n```python\n{code}\n```\n"),
        Reply::Raw(content) => content,
        Reply::Status(status, retry_after) => return error(status, retry_after),
        Reply::Slow(..) => unreachable!("unwrapped above"),
    };
    let prompt_tokens = body.to_string().len() / 4;
    let completion_tokens = content.len() / 4;
    axum::Json(json!({
        "id": format!("chatcmpl-{index}"),
        "object": "chat.completion",
        "created": 1_700_000_000u32,
        "model": body["model"].as_str().unwrap_or("fake"),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens
        }
    }))
    .into_response()
}

fn error(status: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let kind = if status == StatusCode::TOO_MANY_REQUESTS { "rate_limit_error" } else { "server_error" };
    let message = format!("scripted {status}");
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(secs) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    response
}

/// A small strategy that passes the validator, with the parameters of
/// `examples/specs/sma_crossover.json` (`fast_period`, `slow_period`) as class attributes.
pub fn valid_strategy(class: &str) -> String {
    format!(
        "from backtesting import Strategy\n\
         from backtesting.lib import crossover\n\
         from backtesting.test import SMA\n\
         \n\
         \n\
         class {class}(Strategy):\n    \
             fast_period = 10\n    \
             slow_period = 20\n\
         \n    \
             def init(self):\n        \
                 close = self.data.Close\n        \
                 self.sma1 = self.I(SMA, close, self.fast_period)\n        \
                 self.sma2 = self.I(SMA, close, self.slow_period)\n\
         \n    \
             def next(self):\n        \
                 if crossover(self.sma1, self.sma2):\n            \
                     self.buy()\n        \
                 elif crossover(self.sma2, self.sma1):\n            \
                     self.position.close()\n"
    )
}
