//! Errors of the rule language and of code generation.

use crate::SpecErrors;
use std::fmt;

/// What went wrong in a rule, mapped to the spec error `kind` it is reported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleErrorKind {
    /// The text is not a well-formed rule (`rule_syntax`).
    Syntax,
    /// A name is not a column, parameter or declared indicator (`undeclared`).
    Undeclared,
    /// A well-formed rule combines values wrongly, e.g. `rsi and 3` (`rule_type`).
    Type,
}

impl RuleErrorKind {
    /// The `FieldError::kind` string for this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Syntax => "rule_syntax",
            Self::Undeclared => "undeclared",
            Self::Type => "rule_type",
        }
    }
}

/// An error in one rule, located by a 1-based character column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// 1-based column of the offending token.
    pub col: usize,
    /// What is wrong, possibly with a "did you mean" suggestion.
    pub message: String,
    /// Category, for the API's error `kind`.
    pub kind: RuleErrorKind,
}

impl RuleError {
    /// A syntax error at `col`.
    pub fn syntax(col: usize, message: impl Into<String>) -> Self {
        Self { col, message: message.into(), kind: RuleErrorKind::Syntax }
    }

    /// An unknown-name error at `col`.
    pub fn undeclared(col: usize, message: impl Into<String>) -> Self {
        Self { col, message: message.into(), kind: RuleErrorKind::Undeclared }
    }

    /// A type error at `col`.
    pub fn type_error(col: usize, message: impl Into<String>) -> Self {
        Self { col, message: message.into(), kind: RuleErrorKind::Type }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "col {}: {}", self.col, self.message)
    }
}

impl std::error::Error for RuleError {}

/// Why a spec could not be turned into code.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// The spec fails validation (only possible for specs not built by `parse_json`).
    #[error("invalid strategy spec:\n{0}")]
    InvalidSpec(#[from] SpecErrors),
    /// A rule failed to compile although the spec validated; a bug, reported with the rule.
    #[error("rule {field}[{index}] could not be compiled")]
    Rule {
        /// `entry_rules` or `exit_rules`.
        field: &'static str,
        /// Index in that list.
        index: usize,
        /// The rule error.
        #[source]
        source: RuleError,
    },
}
