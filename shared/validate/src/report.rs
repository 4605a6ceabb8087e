//! The validator's output: findings with a stable rule id, a position and a severity, the
//! metadata gathered on the way, and the helpers that render a report in the prototype's
//! `validate-code` vocabulary (`checks_passed`, `issues`, `"high"`/`"medium"`/`"low"`).

use serde::{Deserialize, Serialize};

use super::rules::{RuleId, RuleKind};

/// Options of one validation; `Default` is strict with no entrypoint and no parameters.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ValidateOptions {
    /// Name the single `Strategy` subclass must have, when the caller knows it.
    pub entrypoint: Option<String>,
    /// Parameter names that must be class attributes of the strategy.
    pub required_params: Vec<String>,
    /// The prototype's `strict_mode`: when false, structure and style findings are warnings.
    /// Safety findings are errors in both modes.
    pub strict: bool,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        Self { entrypoint: None, required_params: Vec::new(), strict: true }
    }
}

/// How bad a finding is. Only `Error` makes a report refused.
#[derive(
    Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The code is refused.
    Error,
    /// Worth fixing; the code is still accepted.
    Warning,
    /// For the record only.
    Info,
}

impl Severity {
    /// The prototype's severity words: error `"high"`, warning `"medium"`, info `"low"`.
    pub fn prototype_level(self) -> &'static str {
        match self {
            Self::Error => "high",
            Self::Warning => "medium",
            Self::Info => "low",
        }
    }

    /// The lowercase name used in JSON (`"error"`, `"warning"`, `"info"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// One problem found in the code.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Finding {
    /// Stable rule id, e.g. `"import-not-allowed"`; the full list is [`RULES`](super::RULES).
    pub rule: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters (Python's `col_offset` is 0-based bytes).
    pub col: u32,
    /// Human message naming the offending construct.
    pub message: String,
    /// Severity after applying the strict/lenient mode.
    pub severity: Severity,
}

impl Finding {
    /// `line 3, col 1: [import-not-allowed] import of 'os' is not allowed`.
    pub fn render(&self) -> String {
        format!("line {}, col {}: [{}] {}", self.line, self.col, self.rule, self.message)
    }
}

/// Facts about the code, recorded with every version (meaningful when it parsed).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Metadata {
    /// Lines that are neither blank nor only a comment.
    pub loc: usize,
    /// Functions and methods, qualified by their enclosing classes/functions (`SmaCross.init`).
    pub functions: Vec<String>,
    /// Classes, qualified the same way.
    pub classes: Vec<String>,
    /// Imported modules in order of first appearance (`numpy`, `backtesting.lib`).
    pub imports: Vec<String>,
    /// Dotted names of the functions passed to `self.I(...)`, in order, without repeats.
    pub indicators: Vec<String>,
}

/// The result of [`validate`](super::validate).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    /// Findings sorted by position.
    pub findings: Vec<Finding>,
    /// Facts about the code.
    pub metadata: Metadata,
}

/// Check group of the size, nesting and literal limits.
pub(crate) const CHECK_LIMITS: &str = "Size and nesting within limits";
/// Check group of the parse.
pub(crate) const CHECK_SYNTAX: &str = "Syntax valid";
/// Check group of style rules, and "no error at all".
pub(crate) const CHECK_AST: &str = "AST analysis passed";

/// Human names of the check groups, for the prototype's `checks_passed`.
pub const CHECKS: &[&str] = &[
    CHECK_LIMITS,
    CHECK_SYNTAX,
    "No dangerous imports",
    "No eval/exec usage",
    "No system commands",
    "No dunder or frame access",
    "No file or network I/O",
    "Strategy structure valid",
    CHECK_AST,
];

impl Report {
    /// True when no finding has `Error` severity.
    pub fn accepted(&self) -> bool {
        self.errors().next().is_none()
    }

    /// The `Error` findings, in position order.
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Error)
    }

    /// The worst severity present, if any finding exists.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).min()
    }

    /// One line: the first error and how many more, or `no errors` with a warning count.
    /// Safety errors come before structure and style errors, then position decides.
    pub fn summary(&self) -> String {
        let first = self
            .errors()
            .find(|f| RuleId::parse(&f.rule).is_some_and(|r| r.kind() == RuleKind::Safety))
            .or_else(|| self.errors().next());
        match first {
            Some(first) => {
                let more = self.errors().count() - 1;
                if more == 0 { first.render() } else { format!("{} (+{more} more)", first.render()) }
            }
            None => {
                let warnings = self.findings.iter().filter(|f| f.severity == Severity::Warning).count();
                match warnings {
                    0 => "no errors".to_owned(),
                    1 => "no errors, 1 warning".to_owned(),
                    n => format!("no errors, {n} warnings"),
                }
            }
        }
    }

    /// Every finding rendered as one string, for the prototype's `issues` list.
    pub fn issues(&self) -> Vec<String> {
        self.findings.iter().map(Finding::render).collect()
    }

    /// The [`CHECKS`] groups passed when the question is only whether code is dangerous (the
    /// prototype's `validate-code`): structure findings (no `Strategy` subclass, no `init`)
    /// say whether the code is a strategy yet, so they do not fail the AST analysis there.
    pub fn safety_checks_passed(&self) -> Vec<&'static str> {
        let mut checks = self.checks_passed();
        let structure_only =
            self.errors().all(|f| RuleId::parse(&f.rule).is_some_and(|r| r.kind() == RuleKind::Structure));
        if structure_only && checks.contains(&CHECK_SYNTAX) && !checks.contains(&CHECK_AST) {
            checks.push(CHECK_AST);
        }
        checks
    }

    /// The [`CHECKS`] groups that ran to completion without an error, in `CHECKS` order.
    ///
    /// Code over the size or nesting limits is not analysed further, and code that does not
    /// parse gets no AST checks, so those later groups are not listed as passed.
    pub fn checks_passed(&self) -> Vec<&'static str> {
        let failed: Vec<&'static str> =
            self.errors().map(|f| RuleId::parse(&f.rule).map_or(CHECK_AST, RuleId::check)).collect();
        let stopped = |id: RuleId| self.errors().any(|f| f.rule == id.as_str());
        if stopped(RuleId::CodeTooLarge) || stopped(RuleId::NestingTooDeep) {
            return Vec::new();
        }
        if stopped(RuleId::Syntax) {
            return vec![CHECK_LIMITS];
        }
        CHECKS
            .iter()
            .copied()
            .filter(|c| !failed.contains(c) && (*c != CHECK_AST || failed.is_empty()))
            .collect()
    }
}
