//! A global rate limiter (invariant 7): GCRA (the generic cell rate algorithm) in one Lua
//! script, so every worker sharing a Redis shares one budget and the check-and-update is
//! atomic. The script reads Redis `TIME`, never a client clock, so skewed workers agree.
//!
//! GCRA keeps one number per key, the "theoretical arrival time" (TAT) of the next unit.
//! A request of `cost` units is allowed when, after adding `cost` emission intervals, the
//! TAT is at most `burst` intervals ahead of now. Over any elapsed time `t` at most
//! `burst + rate * t` units pass. `cost` lets token budgets (tokens per minute) use the same
//! limiter as request budgets (cost 1).

use std::time::Duration;

use redis::aio::ConnectionManager;

use super::CacheError;

/// KEYS[1] = the key; ARGV = emission interval (µs per unit), burst (units), cost (units).
/// Returns {allowed (0|1), retry_after (µs), remaining (units)}.
///
/// Writing after `TIME` is safe: Redis 5+ replicates script effects, not the script.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  tat = math.max(tonumber(stored), now)
end
local tolerance = burst * interval
local new_tat = tat + cost * interval
local allow_at = new_tat - tolerance
if now < allow_at then
  local remaining = math.floor((now - (tat - tolerance)) / interval)
  if remaining < 0 then remaining = 0 end
  return {0, math.ceil(allow_at - now), remaining}
end
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
return {1, 0, math.floor((now - allow_at) / interval)}
";

/// The verdict of one [`RateLimiter::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// True when the request may go ahead (its cost has been charged).
    pub allowed: bool,
    /// When refused, how long until the same request would be allowed; zero when allowed.
    pub retry_after: Duration,
    /// Units that could still pass right now (after this request, when allowed).
    pub remaining: u32,
}

/// A GCRA limiter on keys `<namespace>:rl:<key>`, shared by every process using the same
/// Redis and namespace.
#[derive(Clone)]
pub struct RateLimiter {
    conn: ConnectionManager,
    prefix: String,
    /// The loaded script (EVALSHA with a fallback to EVAL after a Redis restart).
    script: redis::Script,
}

impl RateLimiter {
    /// A limiter whose keys live under `<namespace>:rl:`.
    pub fn new(conn: ConnectionManager, namespace: &str) -> Self {
        Self { conn, prefix: format!("{namespace}:rl:"), script: redis::Script::new(GCRA) }
    }

    /// Charges `cost` units against `key`, allowing `rate_per_minute` units per minute with
    /// up to `burst` units at once. A `rate_per_minute` of 0 means unlimited. A `burst` of 0
    /// counts as 1, and a `cost` above `burst` is charged as `burst` (an oversized request
    /// waits for a full bucket instead of never passing).
    pub async fn check(
        &self,
        key: &str,
        rate_per_minute: u32,
        burst: u32,
        cost: u32,
    ) -> Result<Decision, CacheError> {
        if rate_per_minute == 0 {
            return Ok(Decision { allowed: true, retry_after: Duration::ZERO, remaining: u32::MAX });
        }
        let burst = burst.max(1);
        let cost = cost.clamp(1, burst);
        // Microseconds per unit; integral so the script's arithmetic stays exact in doubles.
        let interval_us = (60_000_000 / u64::from(rate_per_minute)).max(1);
        let mut conn = self.conn.clone();
        let (allowed, retry_us, remaining): (i64, i64, i64) = self
            .script
            .key(format!("{}{key}", self.prefix))
            .arg(interval_us)
            .arg(burst)
            .arg(cost)
            .invoke_async(&mut conn)
            .await?;
        Ok(Decision {
            allowed: allowed == 1,
            retry_after: Duration::from_micros(u64::try_from(retry_us).unwrap_or(0)),
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
        })
    }
}
