//! Leases (`SET key owner NX PX ttl`) released and extended only by their owner (Lua
//! compare-and-act), so a worker whose lease expired cannot drop or extend another's.

use std::time::Duration;

use redis::aio::ConnectionManager;
use secrecy::{ExposeSecret, SecretString};

/// A Redis failure (always transient for callers: the connection manager reconnects).
#[derive(Debug, thiserror::Error)]
#[error("redis error")]
pub struct CacheError(#[from] redis::RedisError);

/// Opens a self-reconnecting Redis connection.
pub async fn connect(url: &SecretString) -> Result<ConnectionManager, CacheError> {
    let client = redis::Client::open(url.expose_secret())?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(5))
        .set_response_timeout(Duration::from_secs(5))
        .set_number_of_retries(3);
    Ok(ConnectionManager::new_with_config(client, config).await?)
}

const RELEASE: &str =
    r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
const EXTEND: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// Namespaced leases and locks.
#[derive(Clone)]
pub struct Leases {
    conn: ConnectionManager,
    prefix: String,
}

impl Leases {
    /// Leases under `<namespace>:`.
    pub fn new(conn: ConnectionManager, namespace: &str) -> Self {
        Self { conn, prefix: format!("{namespace}:") }
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Takes `name` for `owner` unless someone holds it; true when taken.
    pub async fn acquire(&self, name: &str, owner: &str, ttl: Duration) -> Result<bool, CacheError> {
        let mut conn = self.conn.clone();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(name))
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async(&mut conn)
            .await?;
        Ok(set.is_some())
    }

    /// Extends `name` if `owner` still holds it; false when it was lost.
    pub async fn extend(&self, name: &str, owner: &str, ttl: Duration) -> Result<bool, CacheError> {
        let mut conn = self.conn.clone();
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let n: i64 =
            redis::Script::new(EXTEND).key(self.key(name)).arg(owner).arg(ms).invoke_async(&mut conn).await?;
        Ok(n == 1)
    }

    /// Releases `name` if `owner` holds it.
    pub async fn release(&self, name: &str, owner: &str) -> Result<bool, CacheError> {
        let mut conn = self.conn.clone();
        let n: i64 =
            redis::Script::new(RELEASE).key(self.key(name)).arg(owner).invoke_async(&mut conn).await?;
        Ok(n == 1)
    }

    /// Takes `name`, waiting up to `wait` for the holder to release it.
    pub async fn lock(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<bool, CacheError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.acquire(name, owner, ttl).await? {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Answers PING (health checks).
    pub async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}
