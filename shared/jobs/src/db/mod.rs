//! The engine's Postgres tables: the pool and migrations, jobs (lease, claim, finish), the
//! outbox, the transition log, dead letters and worker heartbeats. Every state change goes
//! through here inside a transaction that also writes its transition row and its outbox
//! message (invariants 1 and 2).

pub mod dead_letters;
pub mod jobs;
pub mod outbox;
mod pool;
pub mod transitions;
pub mod workers;

pub use pool::{DbError, connect, migrate};
