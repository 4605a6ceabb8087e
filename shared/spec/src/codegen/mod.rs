//! The builtin code generator: the rule language (lexer, Pratt parser, resolver) and a
//! deterministic emitter of backtesting.py strategies.
//!
//! `generate` is the `builtin` LLM provider's whole job: no network, no randomness, the
//! same spec always gives the same module. The rule grammar is documented in `docs/SPEC.md`.

pub mod ast;
mod calls;
mod emit;
mod errors;
mod generate;
pub mod indicators;
pub mod ir;
mod layout;
pub mod lexer;
pub mod parser;
pub mod python;
pub mod resolve;
pub mod suggest;

pub use ast::{BinOp, Expr, ExprKind, Func, Span};
pub use calls::declared_call;
pub use emit::class_name;
pub use errors::{CodegenError, RuleError, RuleErrorKind};
pub use generate::{GeneratedCode, generate};
pub use indicators::indicator_helpers_source;
pub use ir::{Arg, IndicatorCall, Node, Scope, SeriesRef, Ty};
pub use parser::parse_rule;
pub use resolve::Resolver;

/// Parses and resolves one rule against `scope`, as spec validation does; returns the
/// typed tree on success.
pub fn check_rule(src: &str, scope: &Scope) -> Result<Node, RuleError> {
    let expr = parse_rule(src)?;
    Resolver::new(scope).rule(&expr)
}
