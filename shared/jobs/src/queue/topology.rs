//! Declares the RabbitMQ topology of `docs/ARCHITECTURE.md` idempotently: every process declares it at
//! start, so no deploy order matters.

use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};

use super::QueueError;
use super::names::Names;
use algoagent_core::{JobKind, RETRY_TIERS, tier_name};

/// Header naming the retry tier a message goes to.
/// (Not `x-` prefixed: RabbitMQ's headers exchange ignores `x-` keys when matching, so such
/// a binding would match every message and send each retry to every tier.)
pub const RETRY_TIER_HEADER: &str = "algoagent-retry-tier";

/// Redelivery limit of the quorum job queues: a backstop against a message that crashes
/// every worker before it can be acked (the attempt limit normally triggers long before).
const DELIVERY_LIMIT: i32 = 20;

fn table(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert((*k).into(), v.clone());
    }
    t
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

/// Declares exchanges, queues and bindings (safe to call any number of times).
pub async fn declare(channel: &Channel, names: &Names) -> Result<(), QueueError> {
    let durable_ex = ExchangeDeclareOptions { durable: true, ..Default::default() };
    let durable_q = QueueDeclareOptions { durable: true, ..Default::default() };
    channel
        .exchange_declare(&names.jobs_exchange(), ExchangeKind::Direct, durable_ex, FieldTable::default())
        .await?;
    channel
        .exchange_declare(&names.retry_exchange(), ExchangeKind::Headers, durable_ex, FieldTable::default())
        .await?;
    channel.exchange_declare(&names.dlx(), ExchangeKind::Fanout, durable_ex, FieldTable::default()).await?;
    channel
        .exchange_declare(&names.events_exchange(), ExchangeKind::Topic, durable_ex, FieldTable::default())
        .await?;
    channel
        .exchange_declare(&names.control_exchange(), ExchangeKind::Fanout, durable_ex, FieldTable::default())
        .await?;

    for kind in JobKind::ALL {
        let queue = names.job_queue(kind);
        let args = table(&[
            ("x-queue-type", text("quorum")),
            ("x-dead-letter-exchange", text(&names.dlx())),
            ("x-delivery-limit", AMQPValue::LongInt(DELIVERY_LIMIT)),
        ]);
        channel.queue_declare(&queue, durable_q, args).await?;
        channel
            .queue_bind(
                &queue,
                &names.jobs_exchange(),
                kind.as_str(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    for tier in RETRY_TIERS {
        let queue = names.retry_queue(tier);
        // Classic queues with a fixed TTL: every message in a tier waits the same time, so
        // there is no head-of-line blocking; expired messages return to the jobs exchange
        // with their original routing key (the kind).
        let ttl_ms = i64::try_from(tier.as_millis()).unwrap_or(i64::MAX);
        let args = table(&[
            ("x-message-ttl", AMQPValue::LongLongInt(ttl_ms)),
            ("x-dead-letter-exchange", text(&names.jobs_exchange())),
        ]);
        channel.queue_declare(&queue, durable_q, args).await?;
        let binding = table(&[("x-match", text("all")), (RETRY_TIER_HEADER, text(&tier_name(tier)))]);
        channel.queue_bind(&queue, &names.retry_exchange(), "", QueueBindOptions::default(), binding).await?;
    }
    let dead = names.dead_queue();
    channel.queue_declare(&dead, durable_q, table(&[("x-queue-type", text("quorum"))])).await?;
    channel.queue_bind(&dead, &names.dlx(), "", QueueBindOptions::default(), FieldTable::default()).await?;

    let events = names.coordinator_events_queue();
    channel.queue_declare(&events, durable_q, table(&[("x-queue-type", text("quorum"))])).await?;
    channel
        .queue_bind(
            &events,
            &names.events_exchange(),
            "job.#",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Deletes every object of the namespace (tests and `algoagent` teardown only).
pub async fn delete(channel: &Channel, names: &Names) -> Result<(), QueueError> {
    let mut queues: Vec<String> = JobKind::ALL.iter().map(|k| names.job_queue(*k)).collect();
    queues.extend(RETRY_TIERS.iter().map(|t| names.retry_queue(*t)));
    queues.push(names.dead_queue());
    queues.push(names.coordinator_events_queue());
    for q in queues {
        channel.queue_delete(&q, QueueDeleteOptions::default()).await?;
    }
    for ex in [
        names.jobs_exchange(),
        names.retry_exchange(),
        names.dlx(),
        names.events_exchange(),
        names.control_exchange(),
    ] {
        channel.exchange_delete(&ex, ExchangeDeleteOptions::default()).await?;
    }
    Ok(())
}

/// Messages ready in a queue (passive declare; errors if the queue does not exist).
pub async fn depth(channel: &Channel, queue: &str) -> Result<u32, QueueError> {
    let q = channel
        .queue_declare(
            queue,
            QueueDeclareOptions { passive: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    Ok(q.message_count())
}
