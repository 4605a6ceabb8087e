//! Capped exponential backoff with jitter, a cancellation-aware sleep, and the one reconnect
//! loop every long-lived session runs in: a process never crash-loops because a dependency
//! blinked (invariant 9).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::Rng;
use tokio_util::sync::CancellationToken;

/// Delay generator: min, 2*min, 4*min ... up to max, each with +-25 % jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    /// A backoff starting at `min` and never exceeding `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self { min, max, current: min }
    }

    /// The next delay to wait.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current;
        self.current = (self.current * 2).min(self.max);
        let jitter = rand::thread_rng().gen_range(0.75..=1.25);
        base.mul_f64(jitter).min(self.max)
    }

    /// Back to the shortest delay, after a success.
    pub fn reset(&mut self) {
        self.current = self.min;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(200), Duration::from_secs(10))
    }
}

/// Sleeps for `d` unless `cancel` fires first; returns true when cancelled.
pub async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => false,
        () = cancel.cancelled() => true,
    }
}

/// Handed to each session of [`reconnect`]: the session marks it once its connections are
/// up, so the next failure is retried from the shortest delay instead of the last one.
#[derive(Debug, Clone, Default)]
pub struct Connected(Arc<AtomicBool>);

impl Connected {
    /// Says the session is connected.
    pub fn mark(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the session got connected, clearing the mark for the next session.
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

/// Runs `session` until it returns `Ok` (it stopped cleanly, on cancellation) or `cancel`
/// fires, waiting `backoff` between failures. A session that marked [`Connected`] before it
/// failed resets the backoff: a broker restart after hours of uptime is retried at once.
pub async fn reconnect<E, F, Fut>(
    what: &str,
    mut backoff: Backoff,
    cancel: &CancellationToken,
    mut session: F,
) where
    E: std::error::Error,
    F: FnMut(Connected) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let connected = Connected::default();
    loop {
        let Err(err) = session(connected.clone()).await else { return };
        if connected.take() {
            backoff.reset();
        }
        tracing::warn!(what, error = %err, source = ?err.source(), "lost a dependency; reconnecting");
        if sleep_or_cancel(backoff.next_delay(), cancel).await {
            return;
        }
    }
}

/// Tries `attempt` until it succeeds, waiting `backoff` between failures; `None` when
/// `cancel` fires first. For start-up, where a process waits for its dependencies.
pub async fn wait_for<T, E, F, Fut>(
    what: &str,
    mut backoff: Backoff,
    cancel: &CancellationToken,
    mut attempt: F,
) -> Option<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    loop {
        match attempt().await {
            Ok(value) => return Some(value),
            Err(err) => tracing::warn!(what, error = %err, "waiting for a dependency"),
        }
        if sleep_or_cancel(backoff.next_delay(), cancel).await {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn delays_grow_and_stay_capped() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let first = b.next_delay();
        assert!(first <= Duration::from_millis(125));
        for _ in 0..20 {
            assert!(b.next_delay() <= Duration::from_secs(1));
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(125));
    }

    #[derive(Debug, thiserror::Error)]
    #[error("lost")]
    struct Lost;

    #[tokio::test(start_paused = true)]
    async fn a_session_that_connected_is_retried_from_the_shortest_delay() {
        let cancel = CancellationToken::new();
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        // Three failures before connecting, then one after connecting, then a clean stop.
        reconnect(
            "test",
            Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
            &cancel,
            |connected| {
                let n = calls.fetch_add(1, Ordering::Relaxed);
                async move {
                    match n {
                        0..=2 => Err(Lost),
                        3 => {
                            connected.mark();
                            Err(Lost)
                        }
                        _ => Ok(()),
                    }
                }
            },
        )
        .await;
        assert_eq!(calls.load(Ordering::Relaxed), 5);
        // Waits: ~1 s, ~2 s, ~4 s, then reset: ~1 s (each +-25 %), so at most 10 s, where
        // without the reset the fourth wait alone would be ~8 s.
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(6) && waited <= Duration::from_secs(10), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_stops_when_cancelled() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let got: Option<()> =
            wait_for("test", Backoff::default(), &cancel, || async { Err::<(), _>("down") }).await;
        assert!(got.is_none());
    }
}
