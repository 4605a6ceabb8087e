//! A small client of the coordinator's HTTP API that turns error bodies into readable errors.

use anyhow::{Context, bail};
use reqwest::StatusCode;

/// The coordinator's API at one base URL.
pub struct Client {
    base: String,
    http: reqwest::Client,
}

/// A refusal by the API (4xx), kept apart from transport failures so the CLI can exit 1.
#[derive(Debug)]
pub struct Refused {
    /// HTTP status.
    pub status: StatusCode,
    /// The error body.
    pub body: serde_json::Value,
}

impl Client {
    /// A client of `base` (e.g. `http://127.0.0.1:8000`) sending `api_key`, if any, with
    /// every request.
    pub fn new(base: &str, api_key: Option<&str>) -> anyhow::Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = api_key {
            let mut value = reqwest::header::HeaderValue::from_str(key)
                .context("ALGOAGENT_API_KEY holds characters a header cannot carry")?;
            value.set_sensitive(true);
            headers.insert("x-api-key", value);
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .default_headers(headers)
            .build()?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), http })
    }

    /// GET a JSON document.
    pub async fn get(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}{path}", self.base);
        let resp = traced(self.http.get(&url))
            .send()
            .await
            .with_context(|| format!("GET {url} (is the coordinator running?)"))?;
        let status = resp.status();
        let body: serde_json::Value =
            resp.json().await.with_context(|| format!("GET {url}: reading the response"))?;
        if !status.is_success() {
            bail!("GET {url}: {status}: {}", describe(&body));
        }
        Ok(body)
    }

    /// GET a JSON document; a 4xx comes back as `Err(Refused)` inside `Ok`, so a caller can
    /// tell "no such strategy" (exit 1) from a coordinator it cannot reach (exit 2).
    pub async fn get_checked(&self, path: &str) -> anyhow::Result<Result<serde_json::Value, Refused>> {
        let url = format!("{}{path}", self.base);
        answer("GET", &url, traced(self.http.get(&url)).send().await).await
    }

    /// POST raw JSON bytes; a 4xx comes back as `Err(Refused)` inside `Ok`.
    pub async fn post_raw(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Result<serde_json::Value, Refused>> {
        let url = format!("{}{path}", self.base);
        let sent =
            traced(self.http.post(&url)).header("content-type", "application/json").body(body).send().await;
        answer("POST", &url, sent).await
    }
}

/// The request with the current span's trace context (`traceparent`), so the coordinator's
/// spans join the command's trace; unchanged when traces are off.
fn traced(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    algoagent_runtime::tracecontext::current_headers().into_iter().fold(request, |r, (k, v)| r.header(k, v))
}

/// A response as `get_checked` and `post_raw` return it: a 4xx as `Err(Refused)` inside
/// `Ok`, other failures as errors naming the request.
async fn answer(
    method: &str,
    url: &str,
    sent: reqwest::Result<reqwest::Response>,
) -> anyhow::Result<Result<serde_json::Value, Refused>> {
    let resp = sent.with_context(|| format!("{method} {url} (is the coordinator running?)"))?;
    let status = resp.status();
    let body: serde_json::Value =
        resp.json().await.with_context(|| format!("{method} {url}: reading the response"))?;
    if status.is_client_error() {
        return Ok(Err(Refused { status, body }));
    }
    if !status.is_success() {
        bail!("{method} {url}: {status}: {}", describe(&body));
    }
    Ok(Ok(body))
}

/// One line (or a few) from an API error body.
pub fn describe(body: &serde_json::Value) -> String {
    let mut out = body.get("error").and_then(|e| e.as_str()).unwrap_or("request refused").to_owned();
    if body.get("code").and_then(|c| c.as_str()) == Some("UNAUTHENTICATED") {
        out.push_str(" (set ALGOAGENT_API_KEY or pass --api-key)");
    }
    if let Some(list) = body.get("details").and_then(|d| d.as_array()) {
        for item in list {
            let loc = item.get("loc").and_then(|l| l.as_array()).map(|l| {
                l.iter().map(|s| s.as_str().unwrap_or("?").to_owned()).collect::<Vec<_>>().join(".")
            });
            let msg = item.get("msg").and_then(|m| m.as_str()).unwrap_or("");
            out.push_str(&format!("\n  {}: {msg}", loc.unwrap_or_default()));
        }
    }
    out
}
