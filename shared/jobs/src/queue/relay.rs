//! The outbox relay: publishes committed outbox rows with publisher confirms and marks them
//! sent. Woken by LISTEN/NOTIFY (a trigger on `outbox`) instead of polling; a slow poll is
//! kept only as a safety net. Several relays may run at once (`FOR UPDATE SKIP LOCKED`).
//! A relay that dies after publishing and before marking republishes on restart; consumers
//! are idempotent, so that is harmless.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt as _;
use lapin::Channel;
use lapin::options::ConfirmSelectOptions;
use secrecy::SecretString;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::connection::{QueueError, confirmed, connect, publish};
use super::names::Names;
use super::topology;
use crate::db::outbox;
use algoagent_runtime::backoff::{Backoff, Connected, reconnect};

/// Rows published per transaction: large enough to amortise the commit, small enough to
/// keep lock times short.
const BATCH: i64 = 256;

/// The NOTIFY channel the outbox trigger signals.
pub const OUTBOX_CHANNEL: &str = "algoagent_outbox";

/// Counters a process exposes about its relay.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Messages published and marked sent.
    pub published: AtomicU64,
    /// Whether the relay holds a live broker session (health reports degraded otherwise).
    pub connected: AtomicBool,
}

/// Publishes the outbox of one database.
#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    amqp_url: SecretString,
    names: Names,
    /// Shared with health and metrics endpoints.
    pub stats: Arc<RelayStats>,
}

impl Relay {
    /// A relay for `pool`'s outbox, publishing to the broker at `amqp_url`.
    pub fn new(pool: PgPool, amqp_url: SecretString, names: Names) -> Self {
        Self { pool, amqp_url, names, stats: Arc::default() }
    }

    /// Runs until `cancel` fires, reconnecting with backoff; flushes once more on the way out.
    pub async fn run(self, cancel: CancellationToken) {
        // Present from the start, so a rate over it is 0 rather than missing.
        metrics::counter!("algoagent_amqp_reconnects_total", "role" => "relay").increment(0);
        reconnect("outbox relay", Backoff::default(), &cancel, |connected| async {
            let result = self.session(&cancel, connected).await;
            self.stats.connected.store(false, Ordering::Relaxed);
            if result.is_err() {
                metrics::counter!("algoagent_amqp_reconnects_total", "role" => "relay").increment(1);
            }
            result
        })
        .await;
    }

    /// One connected session: returns Ok on cancellation, Err on a lost dependency.
    async fn session(&self, cancel: &CancellationToken, connected: Connected) -> Result<(), QueueError> {
        let conn = connect(&self.amqp_url, "algoagent-relay").await?;
        let channel = conn.create_channel().await?;
        topology::declare(&channel, &self.names).await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        let mut listener = PgListener::connect_with(&self.pool).await.map_err(crate::db::DbError::from)?;
        listener.listen(OUTBOX_CHANNEL).await.map_err(crate::db::DbError::from)?;
        self.stats.connected.store(true, Ordering::Relaxed);
        connected.mark();
        tracing::info!("outbox relay connected");
        loop {
            if !conn.status().connected() || !channel.status().connected() {
                return Err(QueueError::Amqp(lapin::Error::InvalidConnectionState(conn.status().state())));
            }
            while self.flush(&channel).await? == BATCH as usize {}
            if cancel.is_cancelled() {
                let _ = conn.close(200, "shutdown").await;
                return Ok(());
            }
            tokio::select! {
                notified = listener.try_recv() => {
                    notified.map_err(crate::db::DbError::from)?;
                    // Every commit that wrote outbox rows signalled; those already received
                    // are served by the one flush that follows, not one flush each.
                    while let Some(more) = listener.try_recv().now_or_never() {
                        more.map_err(crate::db::DbError::from)?;
                    }
                }
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
                () = cancel.cancelled() => {}
            }
        }
    }

    /// Publishes one batch, marked sent in the transaction that commits after its confirms;
    /// returns how many rows it published.
    pub async fn flush(&self, channel: &Channel) -> Result<usize, QueueError> {
        let mut tx = self.pool.begin().await.map_err(crate::db::DbError::from)?;
        let mut rows = outbox::take(&mut tx, BATCH).await?;
        // RETURNING gives no order; publish in commit order.
        rows.sort_unstable_by_key(|r| r.id);
        let claimed = std::time::Instant::now();
        if rows.is_empty() {
            return Ok(0);
        }
        // Pipeline the publishes, then wait for all confirmations.
        let mut pending = Vec::with_capacity(rows.len());
        for row in &rows {
            let headers: BTreeMap<String, String> =
                serde_json::from_value(row.headers.clone()).unwrap_or_default();
            let body = serde_json::to_vec(&row.payload).unwrap_or_default();
            pending.push(publish(channel, &row.exchange, &row.routing_key, &body, &headers).await?);
        }
        for (confirm, row) in pending.into_iter().zip(&rows) {
            confirmed(confirm, &row.exchange, &row.routing_key).await?;
        }
        tx.commit().await.map_err(crate::db::DbError::from)?;
        self.stats.published.fetch_add(rows.len() as u64, Ordering::Relaxed);
        metrics::counter!("algoagent_outbox_published_total").increment(rows.len() as u64);
        let publishing = claimed.elapsed().as_secs_f64();
        for row in &rows {
            metrics::histogram!("algoagent_outbox_relay_lag_seconds").record(row.age_seconds + publishing);
        }
        Ok(rows.len())
    }
}
