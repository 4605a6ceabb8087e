//! Python AST safety and structure checks for generated strategies (ruff's Python parser).
//!
//! [`validate`] refuses code that could escape the backtest (imports outside an allowlist,
//! eval/exec and friends, dunder and frame access, format-string attribute traversal,
//! pandas/numpy file and network I/O, huge literals), checks the `backtesting.Strategy`
//! structure, and records metadata. Every finding has a stable rule id, a line and a column;
//! `docs/VALIDATOR.md` lists the rules.

mod checker;
mod dismantle;
mod dispatch;
mod engine;
mod imports;
mod limits;
mod lines;
mod literals;
mod names;
mod report;
mod rules;
mod structure;
mod tables;
mod tamper;
mod walk_expr;
mod walker;

pub use engine::{EntrypointError, find_entrypoint, validate};
pub use limits::{
    LimitViolation, MAX_AST_DEPTH, MAX_BYTES, MAX_EXPR_ESTIMATE, MAX_FINDINGS, MAX_LINES, MAX_NESTING,
    prescan,
};
pub use report::{CHECKS, Finding, Metadata, Report, Severity, ValidateOptions};
pub use rules::{RULES, RuleId, RuleKind};
