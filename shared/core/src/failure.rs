//! How a job failure is classified (invariant 4) and when a transient failure is retried.
//! Handlers return a [`JobError`]; the consumer maps the class to retry, fail or dead-letter
//! in one place.

use std::time::Duration;

use rand::Rng;

/// A job failure, carrying the decision the consumer must take.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A dependency blinked (LLM 5xx, Docker daemon, lost connection): retry with backoff.
    #[error("transient: {0:#}")]
    Transient(#[source] anyhow::Error),
    /// The dependency told us when to come back (HTTP 429 with Retry-After).
    #[error("retry after {after:?}: {source:#}")]
    RetryAfter {
        /// How long to wait.
        after: Duration,
        /// What said so.
        #[source]
        source: anyhow::Error,
    },
    /// The input cannot succeed as it is (invalid spec, unsafe code): move the run.
    #[error("permanent: {0}")]
    Permanent(String),
    /// The message itself is broken (unknown version, missing rows): dead-letter it.
    #[error("poison: {0}")]
    Poison(String),
}

impl JobError {
    /// Wraps any error as transient.
    pub fn transient(err: impl Into<anyhow::Error>) -> Self {
        Self::Transient(err.into())
    }
}

/// Delay tiers of the retry queues (`<ns>.retry.<tier>`). Fixed tiers avoid per-message TTL
/// head-of-line blocking in RabbitMQ.
pub const RETRY_TIERS: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
];

/// The name of a retry tier in queue names and headers, e.g. `5s`.
pub fn tier_name(tier: Duration) -> String {
    format!("{}s", tier.as_secs())
}

/// Picks the retry tier for the attempt that just failed: exponential by attempt, with
/// jitter that sometimes takes the next tier up, so a burst of failures does not come back
/// as one burst. `at_least` (from Retry-After) raises the choice.
pub fn retry_tier(failed_attempt: i32, at_least: Option<Duration>) -> Duration {
    let base = usize::try_from(failed_attempt.saturating_sub(1)).unwrap_or(0).min(RETRY_TIERS.len() - 1);
    let jittered =
        if base + 1 < RETRY_TIERS.len() && rand::thread_rng().gen_bool(0.25) { base + 1 } else { base };
    let floor = at_least.unwrap_or_default();
    RETRY_TIERS[jittered..]
        .iter()
        .copied()
        .find(|t| *t >= floor)
        .unwrap_or(RETRY_TIERS[RETRY_TIERS.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_grow_with_attempts_and_respect_retry_after() {
        for _ in 0..50 {
            let first = retry_tier(1, None);
            assert!(first <= Duration::from_secs(5));
            assert!(retry_tier(3, None) >= Duration::from_secs(30));
            assert_eq!(retry_tier(1, Some(Duration::from_secs(90))), Duration::from_secs(120));
            assert_eq!(retry_tier(99, None), Duration::from_secs(600));
        }
    }
}
