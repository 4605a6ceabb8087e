//! The outbox relay: publishes committed outbox rows with publisher confirms and marks them
//! sent. Every process runs one, but one relay per database is on duty: the one holding an
//! advisory lock, which alone LISTENs for the NOTIFY a trigger on `outbox` sends at each
//! commit, so a commit wakes one relay rather than every replica's. The others stand by:
//! every two seconds they flush (a safety net) and try the lock, so when the relay on duty
//! stops (its connection closes and Postgres frees the lock) another takes over within
//! seconds. The relay on duty checks its lock connection on the same two-second clock,
//! however often commits wake it, so one whose lock went stands down. Relays that run at
//! once never publish a row twice (`FOR UPDATE SKIP LOCKED`). A relay that dies after
//! publishing and before marking republishes on restart; consumers are idempotent, so that
//! is harmless.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt as _;
use lapin::Channel;
use lapin::options::ConfirmSelectOptions;
use secrecy::SecretString;
use sqlx::postgres::PgListener;
use sqlx::{Connection as _, PgConnection, PgPool};
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

/// The advisory lock of the relay on duty (one per database: Postgres scopes advisory locks
/// to the database they are taken in).
const DUTY_LOCK: i64 = 0x616c_676f_7265_6c61; // "algorela"

/// How often a relay flushes without being woken, and a standing-by relay tries the lock.
const POLL: Duration = Duration::from_secs(2);

/// Counters a process exposes about its relay.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Messages published and marked sent.
    pub published: AtomicU64,
    /// Whether the relay holds a live broker session (health reports degraded otherwise).
    pub connected: AtomicBool,
    /// Whether this relay is the one on duty (woken by every commit) or standing by.
    pub on_duty: AtomicBool,
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
        self.set_on_duty(false);
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
        // The duty lock lives on a connection of its own, outside the pool: closing it (at the
        // end of this session, however it ends) is what frees the lock.
        let mut duty = PgConnection::connect_with(&self.pool.connect_options())
            .await
            .map_err(crate::db::DbError::from)?;
        let on_duty = self.take_duty(&mut duty, &mut listener).await?;
        self.stats.connected.store(true, Ordering::Relaxed);
        connected.mark();
        tracing::info!(on_duty, "outbox relay connected");
        let result = self.serve(&conn, &channel, &mut listener, &mut duty, cancel).await;
        self.set_on_duty(false);
        let _ = duty.close().await;
        result
    }

    /// Flushes on every wake-up until cancelled: a NOTIFY (on duty) or the poll.
    async fn serve(
        &self,
        conn: &lapin::Connection,
        channel: &Channel,
        listener: &mut PgListener,
        duty: &mut PgConnection,
        cancel: &CancellationToken,
    ) -> Result<(), QueueError> {
        // One clock across wake-ups: commits arriving more often than the poll must not keep
        // postponing it, or a relay on duty would never notice that it lost its lock.
        let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + POLL, POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if !conn.status().connected() || !channel.status().connected() {
                return Err(QueueError::Amqp(lapin::Error::InvalidConnectionState(conn.status().state())));
            }
            while self.flush(channel).await? == BATCH as usize {}
            if cancel.is_cancelled() {
                let _ = conn.close(200, "shutdown").await;
                return Ok(());
            }
            tokio::select! {
                notified = listener.try_recv() => {
                    // `None`: the listener lost its connection and reconnected; a NOTIFY may
                    // have been missed, which the flush above the loop's next turn covers.
                    notified.map_err(crate::db::DbError::from)?;
                    // Every commit that wrote outbox rows signalled; those already received
                    // are served by the one flush that follows, not one flush each.
                    while let Some(more) = listener.try_recv().now_or_never() {
                        more.map_err(crate::db::DbError::from)?;
                    }
                }
                _ = poll.tick() => {
                    if self.stats.on_duty.load(Ordering::Relaxed) {
                        // Still holding the lock? A lost connection ends the session (and a
                        // new one competes for the lock again).
                        duty.ping().await.map_err(crate::db::DbError::from)?;
                    } else {
                        self.take_duty(duty, listener).await?;
                    }
                }
                () = cancel.cancelled() => {}
            }
        }
    }

    /// Takes the duty lock on `duty` if no other relay holds it, and then LISTENs; says
    /// whether it did.
    async fn take_duty(
        &self,
        duty: &mut PgConnection,
        listener: &mut PgListener,
    ) -> Result<bool, QueueError> {
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(DUTY_LOCK)
            .fetch_one(&mut *duty)
            .await
            .map_err(crate::db::DbError::from)?;
        if taken {
            listener.listen(OUTBOX_CHANNEL).await.map_err(crate::db::DbError::from)?;
            self.set_on_duty(true);
            tracing::info!("outbox relay on duty");
        }
        Ok(taken)
    }

    /// Records whether this relay is on duty, for its own loop, health and the gauge.
    fn set_on_duty(&self, on_duty: bool) {
        self.stats.on_duty.store(on_duty, Ordering::Relaxed);
        metrics::gauge!("algoagent_outbox_relay_on_duty").set(if on_duty { 1.0 } else { 0.0 });
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
