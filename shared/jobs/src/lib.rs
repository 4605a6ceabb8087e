//! The job engine: the engine's tables (jobs, outbox, transitions, dead letters, worker
//! heartbeats) and the RabbitMQ side (topology, publisher confirms, the outbox relay, the
//! consumer). It knows no Docker, git or LLM: the worker's handlers bring those.

pub mod db;
pub mod queue;
