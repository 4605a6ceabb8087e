//! The HTTP transport under async-openai. Its default transport retries 429 and 5xx itself,
//! sleeping for `Retry-After` inside the call and then dropping the header. A worker must not
//! sleep through a rate limit while holding a job, and the queue needs the delay, so this
//! transport makes one attempt and turns every non-2xx answer into [`HttpStatus`] (status,
//! `Retry-After`, message): retries are the job queue's business (invariant 4).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};

/// A non-2xx answer, with what the caller needs to classify it.
#[derive(Debug, thiserror::Error)]
#[error("HTTP {status}: {message}")]
pub struct HttpStatus {
    /// The status code.
    pub status: u16,
    /// The endpoint's `Retry-After` (seconds or an HTTP date).
    pub retry_after: Option<Duration>,
    /// A 429 whose body says the account's quota is spent (billing, not pace: permanent).
    pub quota_exhausted: bool,
    /// The endpoint's error message (`error.message` of an OpenAI error body, else the
    /// start of the body).
    pub message: String,
}

/// One attempt per request; a non-2xx answer becomes `OpenAIError::Boxed(HttpStatus)`.
#[derive(Clone, Debug, Default)]
pub struct SingleShot {
    inner: ReqwestService,
}

type ResponseFuture<R> = Pin<Box<dyn Future<Output = Result<R, OpenAIError>> + Send + 'static>>;

impl tower::Service<HttpRequestFactory> for SingleShot {
    type Response = <ReqwestService as tower::Service<HttpRequestFactory>>::Response;
    type Error = OpenAIError;
    type Future = ResponseFuture<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let sent = self.inner.call(request);
        Box::pin(async move {
            let response = sent.await?;
            let status = response.status().as_u16();
            if (200..300).contains(&status) {
                return Ok(response);
            }
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let body = response.bytes().await.unwrap_or_default();
            let json = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
            let quota_exhausted = status == 429
                && ["type", "code"].iter().any(|f| json["error"][f].as_str() == Some("insufficient_quota"));
            let message = match json["error"]["message"].as_str() {
                Some(m) => m.chars().take(500).collect(),
                None => String::from_utf8_lossy(&body).chars().take(300).collect(),
            };
            Err(OpenAIError::Boxed(Box::new(HttpStatus { status, retry_after, quota_exhausted, message })))
        })
    }
}

/// `Retry-After` as delta-seconds (fractions accepted) or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::parse_retry_after;
    use std::time::Duration;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
