//! A consumer loop that survives broker restarts: connect, declare, consume every queue on
//! its own channel of the one connection, each with a prefetch equal to the concurrency
//! bound, hand each delivery to a task holding a semaphore permit, and reconnect with backoff
//! when the connection or any of its channels drops. One connection for all the queues, not
//! one each: every connection costs the process an I/O thread and the broker a process, so
//! a worker serving every kind holds three (this, its relay's and its control listener's)
//! instead of eight. On cancellation it stops taking deliveries, lets in-flight ones finish
//! up to the drain timeout, and closes the channels, so the broker requeues whatever was not
//! acked (invariant 9).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::{self, BoxStream};
use lapin::message::Delivery;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use secrecy::SecretString;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection::{QueueError, connect};
use super::names::Names;
use super::topology;
use algoagent_runtime::backoff::{Backoff, Connected, reconnect};

/// What a consumer needs to know.
#[derive(Clone)]
pub struct ConsumerConfig {
    /// Broker URL.
    pub amqp_url: SecretString,
    /// Namespace names (the topology is declared on every connect).
    pub names: Names,
    /// Queues to consume, each on its own channel of one connection.
    pub queues: Vec<String>,
    /// The connection's name and its consumer tags' prefix (`<tag>-<queue>`), for the
    /// broker's management view.
    pub tag: String,
    /// Deliveries in flight at once (prefetch), per queue.
    pub prefetch: u16,
    /// How long shutdown waits for in-flight deliveries.
    pub drain_timeout: Duration,
}

/// Consumes `config.queues` until `cancel` fires, running `handle` on each delivery.
///
/// `permits` bounds concurrency across every consumer sharing it; `tracker` lets the caller
/// wait for in-flight handlers.
pub async fn consume<F, Fut>(
    config: ConsumerConfig,
    permits: Arc<Semaphore>,
    tracker: TaskTracker,
    cancel: CancellationToken,
    handle: F,
) where
    F: Fn(Delivery) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    metrics::counter!("algoagent_amqp_reconnects_total", "role" => "consumer").increment(0);
    let what = format!("consumer of {}", config.queues.join(", "));
    reconnect(&what, Backoff::default(), &cancel, |connected| async {
        let result = session(&config, &permits, &tracker, &cancel, &handle, connected).await;
        if result.is_err() {
            metrics::counter!("algoagent_amqp_reconnects_total", "role" => "consumer").increment(1);
        }
        result
    })
    .await;
}

async fn session<F, Fut>(
    config: &ConsumerConfig,
    permits: &Arc<Semaphore>,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
    handle: &F,
    connected: Connected,
) -> Result<(), QueueError>
where
    F: Fn(Delivery) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let conn = connect(&config.amqp_url, &config.tag).await?;
    let mut channels = Vec::with_capacity(config.queues.len());
    let mut streams: Vec<BoxStream<'static, Option<Result<Delivery, lapin::Error>>>> = Vec::new();
    for queue in &config.queues {
        let channel = conn.create_channel().await?;
        if channels.is_empty() {
            topology::declare(&channel, &config.names).await?;
        }
        channel.basic_qos(config.prefetch, BasicQosOptions::default()).await?;
        let tag = format!("{}-{queue}", config.tag);
        let consumer =
            channel.basic_consume(queue, &tag, BasicConsumeOptions::default(), FieldTable::default()).await?;
        // A channel whose deliveries end says so with `None`, so that the session ends too.
        streams.push(consumer.map(Some).chain(stream::once(async { None })).boxed());
        channels.push((channel, tag));
    }
    let mut deliveries = stream::select_all(streams);
    connected.mark();
    tracing::info!(queues = ?config.queues, prefetch = config.prefetch, "consuming");
    loop {
        let next = tokio::select! {
            next = deliveries.next() => next,
            () = cancel.cancelled() => break,
        };
        let delivery = match next {
            Some(Some(Ok(delivery))) => delivery,
            Some(Some(Err(err))) => return Err(err.into()),
            Some(None) | None => {
                return Err(QueueError::Amqp(lapin::Error::InvalidChannelState(lapin::ChannelState::Closed)));
            }
        };
        let permit = tokio::select! {
            permit = Arc::clone(permits).acquire_owned() => permit,
            () = cancel.cancelled() => break,
        };
        let Ok(permit) = permit else { break };
        let handle = handle.clone();
        tracker.spawn(async move {
            handle(delivery).await;
            drop(permit);
        });
    }
    // Stop new deliveries, let in-flight work finish, then close: the broker requeues
    // every delivery that was not acked.
    for (channel, tag) in &channels {
        let _ = channel.basic_cancel(tag, BasicCancelOptions::default()).await;
    }
    tracker.close();
    if tokio::time::timeout(config.drain_timeout, tracker.wait()).await.is_err() {
        tracing::warn!(queues = ?config.queues, "drain timeout reached; unacked deliveries go back to the queue");
    }
    for (channel, _) in &channels {
        let _ = channel.close(200, "shutdown").await;
    }
    let _ = conn.close(200, "shutdown").await;
    Ok(())
}
