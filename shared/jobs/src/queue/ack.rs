//! The one mapping from a delivery's outcome to the broker: ack only after the effect is
//! committed (invariant 3); requeue, after a short pause, when it could not be committed.

use std::time::Duration;

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};

/// How long a delivery whose effect could not be committed waits before it is requeued, so a
/// dependency that is down is not hammered by the redelivery.
const REQUEUE_PAUSE: Duration = Duration::from_millis(500);

/// Acks `delivery` when `committed` is `Ok`, else logs the error and requeues it. A failed
/// ack after a commit is harmless: the redelivery finds the effect done and is acked then.
pub async fn settle_delivery<E: std::fmt::Display>(
    delivery: &Delivery,
    what: &str,
    committed: Result<(), E>,
) {
    match committed {
        Ok(()) => {
            if let Err(err) = delivery.ack(BasicAckOptions::default()).await {
                tracing::warn!(what, error = %err, "ack failed after commit; the redelivery will be a no-op");
            }
        }
        Err(err) => {
            tracing::warn!(what, error = format!("{err:#}"), "not committed; requeueing");
            tokio::time::sleep(REQUEUE_PAUSE).await;
            if let Err(err) = delivery.nack(BasicNackOptions { requeue: true, ..Default::default() }).await {
                tracing::warn!(what, error = %err, "nack failed; the broker requeues on channel close");
            }
        }
    }
}
