//! Names that end up in file paths, git branches and generated Python.
//!
//! A strategy name becomes `strategy/<name>` branches and `<name>.py` files, and parameter
//! and indicator names become Python attributes, so both are parsed (not merely checked)
//! against small safe alphabets: no dots, no slashes, no leading underscores, no keywords.

use super::errors::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest strategy name accepted; keeps branch names and file names short.
pub const MAX_NAME_LEN: usize = 64;

/// A validated strategy name matching `^[A-Za-z][A-Za-z0-9_-]{0,63}$`.
///
/// Safe to use as a file stem and a git ref component: no dots, no slashes, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StrategyName(String);

impl StrategyName {
    /// Parses a strategy name; the error has an empty `loc` (callers prefix the field).
    pub fn parse(s: &str) -> Result<Self, FieldError> {
        if s.is_empty() {
            return Err(FieldError::new(vec![], "too_short", "must not be empty"));
        }
        if s.chars().count() > MAX_NAME_LEN {
            return Err(FieldError::new(
                vec![],
                "too_long",
                format!("must be at most {MAX_NAME_LEN} characters"),
            ));
        }
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !first_ok || !rest_ok {
            return Err(FieldError::new(
                vec![],
                "pattern",
                "must match ^[A-Za-z][A-Za-z0-9_-]{0,63}$ (a letter, then letters, digits, '_' or '-')",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StrategyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for StrategyName {
    type Error = FieldError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<StrategyName> for String {
    fn from(n: StrategyName) -> Self {
        n.0
    }
}

/// Words a parameter or indicator name may not take: rule-language keywords and columns,
/// Python keywords and soft keywords, attributes of `backtesting.Strategy`, and builtins the
/// code validator forbids (so a generated attribute never looks like one).
pub const RESERVED_NAMES: &[&str] = &[
    // rule language
    "and",
    "or",
    "not",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "crossover",
    "crossunder",
    // Python keywords
    "False",
    "None",
    "True",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "match",
    "case",
    "type",
    // backtesting.Strategy attributes and the generated code's locals and modules
    "I",
    "init",
    "next",
    "buy",
    "sell",
    "data",
    "position",
    "orders",
    "trades",
    "closed_trades",
    "equity",
    "price",
    "self",
    "np",
    "pd",
    "math",
    "Strategy",
    // builtins a code validator forbids
    "eval",
    "exec",
    "compile",
    "getattr",
    "setattr",
    "delattr",
    "globals",
    "locals",
    "vars",
    "input",
    "breakpoint",
    "print",
    "len",
];

/// Longest parameter or indicator name.
pub const MAX_IDENT_LEN: usize = 64;

/// Checks a parameter or indicator name: `^[A-Za-z][A-Za-z0-9_]{0,63}$` and not reserved.
///
/// These names become Python attributes (`self.<name>`) and rule identifiers, hence no
/// hyphen (unlike strategy names) and no leading underscore (generated helpers use one).
pub fn check_identifier(s: &str) -> Result<(), FieldError> {
    if s.is_empty() {
        return Err(FieldError::new(vec![], "too_short", "name must not be empty"));
    }
    if s.chars().count() > MAX_IDENT_LEN {
        return Err(FieldError::new(
            vec![],
            "too_long",
            format!("name must be at most {MAX_IDENT_LEN} characters"),
        ));
    }
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !first_ok || !rest_ok {
        return Err(FieldError::new(
            vec![],
            "pattern",
            format!("name '{}' must match ^[A-Za-z][A-Za-z0-9_]{{0,63}}$", printable(s)),
        ));
    }
    if RESERVED_NAMES.contains(&s) {
        return Err(FieldError::new(vec![], "pattern", format!("name '{s}' is reserved")));
    }
    Ok(())
}

/// Renders untrusted text for an error message: at most 40 characters, control characters
/// escaped, so a hostile key cannot flood or forge log lines.
pub fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(40)
        .flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] })
        .collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}
