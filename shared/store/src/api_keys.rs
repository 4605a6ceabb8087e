//! API keys with roles. A key is 32 random bytes shown once, at creation; Postgres keeps only
//! its SHA-256, so a leaked database does not leak usable keys.

use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use algoagent_jobs::db::DbError;

/// What a key may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read runs, strategies, workers, memory; use the validate-* checks.
    Viewer,
    /// Also submit and cancel runs.
    Submitter,
    /// Also deploy, roll back and handle dead letters.
    Operator,
}

impl Role {
    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Submitter => "submitter",
            Self::Operator => "operator",
        }
    }

    /// Parses `viewer`, `submitter` or `operator`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "submitter" => Some(Self::Submitter),
            "operator" => Some(Self::Operator),
            _ => None,
        }
    }
}

/// A key as listed (never with the key itself).
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct ApiKey {
    /// Unique name (who or what holds the key).
    pub name: String,
    /// `viewer`, `submitter` or `operator`.
    pub role: String,
    /// When it was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The SHA-256 (hex) a key is stored and looked up by.
pub fn fingerprint(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Creates a key named `name` with `role`; returns the key, which is not stored anywhere.
pub async fn create(pool: &PgPool, name: &str, role: Role) -> Result<String, DbError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key = format!("aa_{}", hex::encode(bytes));
    sqlx::query("INSERT INTO api_keys (name, key_sha256, role) VALUES ($1, $2, $3)")
        .bind(name)
        .bind(fingerprint(&key))
        .bind(role.as_str())
        .execute(pool)
        .await?;
    Ok(key)
}

/// Every key, newest first.
pub async fn list(pool: &PgPool) -> Result<Vec<ApiKey>, DbError> {
    Ok(sqlx::query_as("SELECT name, role, created_at, revoked_at FROM api_keys ORDER BY id DESC")
        .fetch_all(pool)
        .await?)
}

/// Revokes the key named `name`; false when there is no such active key.
pub async fn revoke(pool: &PgPool, name: &str) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL")
        .bind(name)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The name and role of an active key, if `key` is one.
pub async fn lookup(pool: &PgPool, key: &str) -> Result<Option<(String, Role)>, DbError> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT name, role FROM api_keys WHERE key_sha256 = $1 AND revoked_at IS NULL")
            .bind(fingerprint(key))
            .fetch_optional(pool)
            .await?;
    Ok(row.and_then(|(name, role)| Role::parse(&role).map(|r| (name, r))))
}

/// True when at least one key is active (the API is then closed to requests without one).
pub async fn any_active(pool: &PgPool) -> Result<bool, DbError> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL)")
        .fetch_one(pool)
        .await?)
}
