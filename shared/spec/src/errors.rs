//! Field-level validation errors for specs and backtest configs.
//!
//! Every refusal names the JSON path of the offending value, a human message and a stable
//! machine `kind`, in the shape of the prototype's `validate-schema` response (`loc`, `msg`,
//! `type`), so the HTTP layer can return all of them at once.

use serde::Serialize;
use std::fmt;

/// One problem with one value of a submitted document, located by its JSON path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Path segments from the document root, e.g. `["indicators", "rsi", "period"]`;
    /// list indexes are decimal strings (`["entry_rules", "1"]`). Empty means the whole body.
    pub loc: Vec<String>,
    /// Human-readable reason, a sentence fragment without the path.
    pub msg: String,
    /// Stable machine category (see [`FieldError::KINDS`]); serialized as `type` like the
    /// prototype's Pydantic errors.
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    /// Every `kind` this module emits, so API clients can rely on a closed set.
    pub const KINDS: &'static [&'static str] = &[
        "json_invalid",
        "missing",
        "unknown_field",
        "type",
        "range",
        "pattern",
        "too_long",
        "too_short",
        "rule_syntax",
        "undeclared",
        "rule_type",
        "conflict",
        "not_compilable",
    ];

    /// Builds an error at `loc` with the given machine `kind` and message.
    pub fn new(loc: Vec<String>, kind: &str, msg: impl Into<String>) -> Self {
        Self { loc, msg: msg.into(), kind: kind.to_owned() }
    }

    /// The location as one dotted string (`entry_rules.1`, `indicators.rsi.period`), or
    /// `(root)` when the error concerns the whole document.
    pub fn path(&self) -> String {
        if self.loc.is_empty() { "(root)".to_owned() } else { self.loc.join(".") }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path(), self.msg)
    }
}

impl std::error::Error for FieldError {}

/// All problems found in one document; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct SpecErrors(pub Vec<FieldError>);

impl SpecErrors {
    /// The individual field errors, in document order.
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }

    /// Whether some error sits exactly at `path` (dotted form, see [`FieldError::path`]).
    pub fn has_path(&self, path: &str) -> bool {
        self.0.iter().any(|e| e.path() == path)
    }
}

impl From<FieldError> for SpecErrors {
    fn from(e: FieldError) -> Self {
        Self(vec![e])
    }
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}
