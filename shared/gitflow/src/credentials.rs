//! Credentials for a network strategies repository, and keeping them out of logs and errors.
//!
//! An `https://` remote is authenticated with a token (a personal access token, a deploy
//! token, an app installation token) read from the file named by `STRATEGY_REPO_TOKEN_FILE`
//! (a Docker or Kubernetes secret), sent as HTTP Basic authentication with the URL's user name
//! or `x-access-token` (what GitHub, GitLab and Gitea all accept for a token). A password
//! written into the URL (`https://user:password@host/...`) is accepted too, but is taken out
//! of the URL and treated exactly like a token, so the URL the `git` program sees, and every
//! URL this crate logs or puts in an error, carries no secret.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::error::GitError;

/// The variable naming the token file.
pub(crate) const TOKEN_FILE_VAR: &str = "STRATEGY_REPO_TOKEN_FILE";

/// What the strategies repository's remote is authenticated with. `Debug` never shows it.
#[derive(Clone, Default)]
pub struct RemoteCredentials {
    /// The token (or password), when one is configured.
    token: Option<SecretString>,
}

impl fmt::Debug for RemoteCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteCredentials").field("token", &self.token.as_ref().map(|_| "***")).finish()
    }
}

impl RemoteCredentials {
    /// No credentials (a local path, a `file://` URL, or a public https remote).
    pub fn none() -> Self {
        Self::default()
    }

    /// Authenticates with `token` (as the Basic password).
    pub fn with_token(token: impl Into<String>) -> Self {
        Self { token: Some(SecretString::from(token.into())) }
    }

    /// Reads `STRATEGY_REPO_TOKEN_FILE` through `lookup` (the process environment, or a
    /// test's): the token is the file's content with surrounding whitespace trimmed. Unset
    /// means no credentials; an unreadable or empty file is an error naming the variable.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, GitError> {
        let Some(path) = lookup(TOKEN_FILE_VAR).filter(|p| !p.trim().is_empty()) else {
            return Ok(Self::none());
        };
        let token = std::fs::read_to_string(path.trim())
            .map_err(|e| GitError::input(TOKEN_FILE_VAR, format!("cannot read '{path}': {e}")))?;
        let token = token.trim();
        if token.is_empty() {
            return Err(GitError::input(TOKEN_FILE_VAR, format!("'{path}' is empty")));
        }
        Ok(Self::with_token(token))
    }

    /// [`Self::from_lookup`] on the process environment.
    pub fn from_env() -> Result<Self, GitError> {
        Self::from_lookup(&|var| std::env::var(var).ok())
    }

    /// Whether a token is configured.
    pub(crate) fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The token, for the one place that hands it to `git`.
    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_ref().map(ExposeSecret::expose_secret)
    }
}

/// Replaces every occurrence of each non-empty secret in `text` with `***`.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret, "***");
    }
    out
}

/// Standard base64 with padding (RFC 4648), for the Basic `Authorization` header.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let shown = format!("{:?}", RemoteCredentials::with_token("hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn the_token_file_is_read_and_trimmed() {
        let dir = std::env::temp_dir().join(format!("gitflow-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok();
        let file = dir.join("token");
        std::fs::write(&file, "  abc123\n").ok();
        let path = file.to_string_lossy().into_owned();
        let creds = RemoteCredentials::from_lookup(&|v| (v == TOKEN_FILE_VAR).then(|| path.clone()));
        assert_eq!(creds.ok().and_then(|c| c.token().map(str::to_owned)).as_deref(), Some("abc123"));
        let missing = RemoteCredentials::from_lookup(&|_| Some("/nonexistent/token".to_owned()));
        assert!(matches!(missing, Err(GitError::InvalidInput { field: TOKEN_FILE_VAR, .. })));
        std::fs::remove_dir_all(&dir).ok();
    }
}
