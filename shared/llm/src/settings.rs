//! Settings of the OpenAI-compatible provider, read from the environment through a lookup
//! function (the caller decides where values come from), each refusal naming its variable.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;

use algoagent_runtime::settings::ConfigError;

/// Endpoint, credentials, model, budgets and prices of the `openai` provider.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// Base URL of an OpenAI-compatible API, e.g. `http://127.0.0.1:11434/v1` (Ollama).
    pub base_url: String,
    /// The API key; `None` for endpoints that need none (local servers).
    pub api_key: Option<SecretString>,
    /// Model name sent with every request.
    pub model: String,
    /// Ask for the JSON-schema response format (endpoints without it get instructions and
    /// tolerant extraction only).
    pub json_schema: bool,
    /// Deadline of each HTTP request.
    pub timeout: Duration,
    /// How many times an unusable answer is retried with its error quoted.
    pub output_retries: u32,
    /// Upper bound of completion tokens per request, if any.
    pub max_tokens: Option<u32>,
    /// Sampling temperature, if set (some models refuse the parameter).
    pub temperature: Option<f32>,
    /// USD per million tokens, by model.
    pub prices: PriceTable,
    /// Requests per minute shared by all workers for this model (0 = unlimited).
    pub requests_per_minute: u32,
    /// Requests that may go at once before the per-minute pace applies.
    pub request_burst: u32,
    /// Tokens per minute shared by all workers for this model (0 = unlimited).
    pub tokens_per_minute: u32,
    /// How long a call may wait in-process for the shared budget before giving up with
    /// [`super::LlmError::RateLimited`].
    pub rate_wait: Duration,
}

/// Prices per model: USD per million prompt and completion tokens.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable(BTreeMap<String, (f64, f64)>);

impl PriceTable {
    /// Parses `model=prompt/completion,...`, e.g. `gpt-4o-mini=0.15/0.60,llama3=0/0`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut table = BTreeMap::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (model, prices) =
                entry.rsplit_once('=').ok_or_else(|| format!("'{entry}' is not model=prompt/completion"))?;
            let (prompt, completion) =
                prices.split_once('/').ok_or_else(|| format!("'{entry}' is not model=prompt/completion"))?;
            let price = |s: &str| {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|p| p.is_finite() && *p >= 0.0)
                    .ok_or_else(|| format!("'{s}' in '{entry}' is not a price in USD per 1M tokens"))
            };
            table.insert(model.trim().to_owned(), (price(prompt)?, price(completion)?));
        }
        Ok(Self(table))
    }

    /// Cost of a request to `model`; 0 for models without a price.
    pub fn cost(&self, model: &str, prompt_tokens: u32, completion_tokens: u32) -> f64 {
        self.0.get(model).map_or(0.0, |(p, c)| {
            (f64::from(prompt_tokens) * p + f64::from(completion_tokens) * c) / 1_000_000.0
        })
    }
}

impl LlmSettings {
    /// Reads `OPENAI_BASE_URL` (default `https://api.openai.com/v1`), `OPENAI_API_KEY` or
    /// `OPENAI_API_KEY_FILE` (not both; optional), `LLM_MODEL` (`gpt-4o-mini`),
    /// `LLM_JSON_SCHEMA` (`true`), `LLM_TIMEOUT_SECS` (60), `LLM_OUTPUT_RETRIES` (2),
    /// `LLM_MAX_TOKENS`, `LLM_TEMPERATURE`, `LLM_PRICES` (empty), `LLM_RPM` (0 = unlimited),
    /// `LLM_RPM_BURST` (1), `LLM_TPM` (0 = unlimited) and `LLM_RATE_WAIT_SECS` (5).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| lookup(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let err = |var: &'static str, reason: String| ConfigError { var, reason };
        let number = |var: &'static str, default: u32| -> Result<u32, ConfigError> {
            get(var).map_or(Ok(default), |v| {
                v.parse().map_err(|_| err(var, format!("'{v}' is not a whole number")))
            })
        };

        let base_url = get("OPENAI_BASE_URL").unwrap_or_else(|| "https://api.openai.com/v1".to_owned());
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(err("OPENAI_BASE_URL", format!("'{base_url}' is not an http(s) URL")));
        }
        let key_var =
            if get("OPENAI_API_KEY_FILE").is_some() { "OPENAI_API_KEY_FILE" } else { "OPENAI_API_KEY" };
        let api_key = match (get("OPENAI_API_KEY"), get("OPENAI_API_KEY_FILE")) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "OPENAI_API_KEY_FILE",
                    "set either OPENAI_API_KEY or OPENAI_API_KEY_FILE".into(),
                ));
            }
            (Some(key), None) => Some(key),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| err("OPENAI_API_KEY_FILE", format!("cannot read '{path}': {e}")))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        }
        .filter(|k| !k.is_empty());
        // The key goes into an Authorization header; refuse what a header cannot carry
        // (without echoing the key).
        if api_key.as_ref().is_some_and(|k| !k.bytes().all(|b| b.is_ascii_graphic())) {
            return Err(err(
                key_var,
                "the key contains spaces or characters not allowed in an HTTP header".into(),
            ));
        }
        let api_key = api_key.map(SecretString::from);

        let json_schema = match get("LLM_JSON_SCHEMA").as_deref() {
            None | Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(other) => return Err(err("LLM_JSON_SCHEMA", format!("'{other}' is not true or false"))),
        };
        let timeout = number("LLM_TIMEOUT_SECS", 60)?;
        if timeout == 0 {
            return Err(err("LLM_TIMEOUT_SECS", "must be at least 1".into()));
        }
        let max_tokens = match get("LLM_MAX_TOKENS") {
            None => None,
            Some(_) => Some(number("LLM_MAX_TOKENS", 0)?).filter(|n| *n > 0),
        };
        let temperature = match get("LLM_TEMPERATURE") {
            None => None,
            Some(v) => Some(
                v.parse::<f32>()
                    .ok()
                    .filter(|t| (0.0..=2.0).contains(t))
                    .ok_or_else(|| err("LLM_TEMPERATURE", format!("'{v}' is not a number from 0 to 2")))?,
            ),
        };
        let prices = PriceTable::parse(&get("LLM_PRICES").unwrap_or_default())
            .map_err(|reason| err("LLM_PRICES", reason))?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            model: get("LLM_MODEL").unwrap_or_else(|| "gpt-4o-mini".to_owned()),
            json_schema,
            timeout: Duration::from_secs(timeout.into()),
            output_retries: number("LLM_OUTPUT_RETRIES", 2)?.min(10),
            max_tokens,
            temperature,
            prices,
            requests_per_minute: number("LLM_RPM", 0)?,
            request_burst: number("LLM_RPM_BURST", 1)?.max(1),
            tokens_per_minute: number("LLM_TPM", 0)?,
            rate_wait: Duration::from_secs(number("LLM_RATE_WAIT_SECS", 5)?.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<LlmSettings, ConfigError> {
        let vars: BTreeMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        LlmSettings::from_lookup(|k| vars.get(k).cloned())
    }

    #[test]
    fn defaults_work_without_any_variable() {
        let s = read(&[]).unwrap();
        assert_eq!(s.base_url, "https://api.openai.com/v1");
        assert!(s.api_key.is_none() && s.json_schema);
        assert_eq!((s.timeout, s.output_retries, s.requests_per_minute), (Duration::from_secs(60), 2, 0));
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert_eq!(read(&[("LLM_PRICES", "gpt=1")]).unwrap_err().var, "LLM_PRICES");
        assert_eq!(read(&[("LLM_TIMEOUT_SECS", "soon")]).unwrap_err().var, "LLM_TIMEOUT_SECS");
        assert_eq!(read(&[("OPENAI_BASE_URL", "ftp://x")]).unwrap_err().var, "OPENAI_BASE_URL");
        assert_eq!(read(&[("LLM_JSON_SCHEMA", "maybe")]).unwrap_err().var, "LLM_JSON_SCHEMA");
        let both = read(&[("OPENAI_API_KEY", "k"), ("OPENAI_API_KEY_FILE", "/nonexistent")]);
        assert_eq!(both.unwrap_err().var, "OPENAI_API_KEY_FILE");
    }

    #[test]
    fn the_key_comes_from_a_file_and_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "sk-file-secret-123\n").unwrap();
        let s = read(&[("OPENAI_API_KEY_FILE", path.to_str().unwrap())]).unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(s.api_key.as_ref().unwrap().expose_secret(), "sk-file-secret-123");
        assert!(!format!("{s:?}").contains("sk-file-secret"));
    }

    #[test]
    fn prices_give_costs_per_million_tokens() {
        let t = PriceTable::parse("gpt-4o-mini=0.15/0.60, llama3=0/0").unwrap();
        assert!((t.cost("gpt-4o-mini", 1_000_000, 500_000) - 0.45).abs() < 1e-9);
        assert_eq!(t.cost("unknown", 10, 10), 0.0);
        assert!(PriceTable::parse("m=-1/0").is_err());
    }
}
