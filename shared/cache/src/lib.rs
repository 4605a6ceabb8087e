//! Redis: dedupe leases for jobs and named locks, all under the namespace prefix. Redis is
//! an accelerator, not the source of truth: the job row's attempt number is the real fence.

mod lease;
mod ratelimit;

pub use lease::{CacheError, Leases, connect};
pub use ratelimit::{Decision, RateLimiter};
