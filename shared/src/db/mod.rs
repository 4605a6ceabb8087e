//! Postgres access: the pool, migrations, and one module of queries per table group
//! (`db::jobs::claim`, `db::runs::submit`, ...). Every state change goes through here inside
//! a transaction that also writes its transition row and its outbox message (invariants 1
//! and 2).

pub mod api_keys;
pub mod backtests;
pub mod dead_letters;
pub mod jobs;
pub mod outbox;
mod pool;
pub mod runs;
pub mod transitions;
pub mod versions;
pub mod workers;

pub use pool::{DbError, connect, migrate};
