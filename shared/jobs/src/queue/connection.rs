//! Connecting to RabbitMQ and publishing with publisher confirms.

use std::collections::BTreeMap;

use lapin::options::BasicPublishOptions;
use lapin::publisher_confirm::{Confirmation, PublisherConfirm};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use secrecy::{ExposeSecret, SecretString};

/// A broker failure. Every variant is transient from the caller's point of view: reconnect
/// and try again.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The AMQP client failed (connection, channel, protocol).
    #[error("amqp error")]
    Amqp(#[from] lapin::Error),
    /// The broker refused or returned a published message.
    #[error("broker did not accept message for {exchange}/{routing_key}: {why}")]
    NotConfirmed {
        /// Target exchange.
        exchange: String,
        /// Routing key.
        routing_key: String,
        /// Nack, or returned as unroutable.
        why: &'static str,
    },
    /// The AMQP URL does not parse (its text is not quoted: it may hold a password).
    #[error("the AMQP URL is not a valid amqp:// or amqps:// URL")]
    BadUrl,
    /// The outbox could not be read or marked.
    #[error("outbox database error")]
    Db(#[from] crate::db::DbError),
}

/// Largest AMQP frame this client proposes (the broker's default is 128 KiB); a `frame_max`
/// in the URL's query wins. lapin keeps send and receive buffers of 32 frames per
/// connection: sized from a known frame size they are allocated once and stay untouched
/// (not resident) until used, but with none given lapin starts from 4 KiB and, once the
/// broker's 128 KiB is negotiated, grows them by writing zeros: 8 MiB resident per
/// connection, most of an idle worker's memory. Job and event messages are a few hundred
/// bytes; a larger body is split into frames.
pub const FRAME_MAX: u32 = 16 * 1024;

/// Opens a connection driven by the current tokio runtime.
pub async fn connect(url: &SecretString, name: &str) -> Result<Connection, QueueError> {
    let mut uri: lapin::uri::AMQPUri = url.expose_secret().parse().map_err(|_| QueueError::BadUrl)?;
    uri.query.frame_max = uri.query.frame_max.or(Some(FRAME_MAX));
    let mut props = ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio)
        .with_connection_name(name.into());
    props.client_properties.insert("product".into(), AMQPValue::LongString(LongString::from("algoagent")));
    Ok(Connection::connect_uri(uri, props).await?)
}

/// Publishes a persistent JSON message (mandatory, so an unroutable message is an error
/// rather than silently dropped) and returns the pending confirmation.
pub async fn publish(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    headers: &BTreeMap<String, String>,
) -> Result<PublisherConfirm, QueueError> {
    let mut table = FieldTable::default();
    for (k, v) in headers {
        table.insert(k.as_str().into(), AMQPValue::LongString(LongString::from(v.as_bytes().to_vec())));
    }
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_headers(table);
    Ok(channel
        .basic_publish(
            exchange,
            routing_key,
            BasicPublishOptions { mandatory: true, ..Default::default() },
            body,
            props,
        )
        .await?)
}

/// Waits for a confirmation and turns a nack or a return into an error.
pub async fn confirmed(
    confirm: PublisherConfirm,
    exchange: &str,
    routing_key: &str,
) -> Result<(), QueueError> {
    match confirm.await? {
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        Confirmation::Ack(Some(_)) => Err(QueueError::NotConfirmed {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            why: "returned as unroutable",
        }),
        Confirmation::Nack(_) => Err(QueueError::NotConfirmed {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            why: "nacked",
        }),
    }
}

/// Publishes one message and waits for the broker's confirmation.
pub async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    headers: &BTreeMap<String, String>,
) -> Result<(), QueueError> {
    let confirm = publish(channel, exchange, routing_key, body, headers).await?;
    confirmed(confirm, exchange, routing_key).await
}

/// Reads a text header of a delivery.
pub fn header_str(headers: Option<&FieldTable>, key: &str) -> Option<String> {
    let value = headers?.inner().get(key)?;
    match value {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}
