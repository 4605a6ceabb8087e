//! RabbitMQ: names and topology, connections, confirmed publishing, resilient consumers and
//! the outbox relay. Nothing publishes a state-following message directly: it goes through
//! the outbox.

mod ack;
mod connection;
mod consumer;
mod names;
mod relay;
pub mod topology;

pub use ack::settle_delivery;
pub use connection::{FRAME_MAX, QueueError, connect, header_str, publish_confirmed};
pub use consumer::{ConsumerConfig, consume};
pub use names::Names;
pub use relay::{OUTBOX_CHANNEL, Relay, RelayStats};
pub use topology::RETRY_TIER_HEADER;
