//! The job engine: the engine's tables (jobs, outbox, transitions, dead letters, worker
//! heartbeats), the RabbitMQ side (topology, publisher confirms, the outbox relay, the
//! consumer, the ack mapping), the runner that takes a delivery through a worker's `Handler`,
//! and the one settle path every end of a job goes through. It
//! knows no Docker, git or LLM: the worker's handlers bring those.

pub mod batch;
pub mod db;
pub mod queue;
pub mod runner;
pub mod settle;
