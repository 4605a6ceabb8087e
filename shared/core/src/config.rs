//! The two deployment words every process agrees on: the namespace that prefixes queues and
//! keys, and which generator turns specs into code.

/// The namespace prefixing every queue, exchange and Redis key, so several deployments
/// (and parallel tests) can share one broker and one Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace(String);

impl Namespace {
    /// Accepts `[a-z][a-z0-9_-]{0,39}`: safe in AMQP names and Redis keys alike.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut chars = raw.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if first_ok && rest_ok && raw.len() <= 40 {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!("'{raw}' must match [a-z][a-z0-9_-]{{0,39}}"))
        }
    }

    /// The namespace itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which generator turns specs into code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmProvider {
    /// The deterministic rule compiler: no API key needed.
    Builtin,
    /// Any OpenAI-compatible endpoint.
    OpenAi,
}

impl LlmProvider {
    /// The name stored with each version and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Builtin => "builtin",
            Self::OpenAi => "openai",
        }
    }
}
