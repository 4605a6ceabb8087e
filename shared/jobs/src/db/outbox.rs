//! The transactional outbox (invariant 2): messages are written in the transaction of the
//! state they follow from, and a relay publishes them afterwards and marks them sent.

use std::collections::BTreeMap;

use sqlx::PgConnection;

use super::DbError;

/// A message to publish once the surrounding transaction commits.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    /// Full exchange name (already namespaced).
    pub exchange: String,
    /// Routing key.
    pub routing_key: String,
    /// JSON body.
    pub payload: serde_json::Value,
    /// AMQP headers (reasons, trace context).
    pub headers: BTreeMap<String, String>,
}

/// A pending outbox row, as claimed by the relay.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    /// Row id, marked sent after the broker confirms.
    pub id: i64,
    /// Exchange.
    pub exchange: String,
    /// Routing key.
    pub routing_key: String,
    /// Body.
    pub payload: serde_json::Value,
    /// Headers as a JSON object of strings.
    pub headers: serde_json::Value,
    /// Seconds since the row was committed, when it was claimed (the relay's lag).
    pub age_seconds: f64,
}

/// Adds a message to the outbox inside the caller's transaction (a trigger NOTIFYs the relay).
pub async fn push(conn: &mut PgConnection, msg: &OutboxMessage) -> Result<(), DbError> {
    let headers = serde_json::to_value(&msg.headers).unwrap_or_default();
    sqlx::query("INSERT INTO outbox (exchange, routing_key, payload, headers) VALUES ($1, $2, $3, $4)")
        .bind(&msg.exchange)
        .bind(&msg.routing_key)
        .bind(&msg.payload)
        .bind(headers)
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes up to `limit` unsent rows, oldest first, skipping rows another relay holds, and
/// marks them sent in the caller's transaction: one round trip. The caller publishes them and
/// commits only once the broker confirmed every one; rolling back leaves them unsent.
pub async fn take(conn: &mut PgConnection, limit: i64) -> Result<Vec<OutboxRow>, DbError> {
    Ok(sqlx::query_as::<_, OutboxRow>(
        "UPDATE outbox o SET sent_at = now()
           FROM (SELECT id FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) batch
          WHERE o.id = batch.id
         RETURNING o.id, o.exchange, o.routing_key, o.payload, o.headers,
                   extract(epoch FROM clock_timestamp() - o.created_at)::float8 AS age_seconds",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Number of messages not yet published (for health and metrics).
pub async fn pending(conn: &mut PgConnection) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetch_one(conn).await?)
}
