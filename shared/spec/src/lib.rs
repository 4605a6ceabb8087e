//! The canonical strategy schema (version 2.0), backtest configuration and their strict
//! validation.
//!
//! Everything a client submits enters through [`StrategySpec::parse_json`] or
//! [`BacktestConfig::parse_json`], which refuse unknown fields, unsafe names, absurd numbers
//! and malformed rules, reporting every problem at once with its JSON path.

mod backtest;
mod check;
mod check_backtest;
mod check_indicators;
/// The rule language and the deterministic generator (one language with the schema).
pub mod codegen;
mod errors;
mod indicator;
pub mod limits;
mod name;
mod reader;
mod schema;
mod strategy;

pub use backtest::{BUILTIN_DATASETS, BacktestConfig};
pub use check::RuleMode;
pub use errors::{FieldError, SpecErrors};
pub use indicator::{IndicatorField, IndicatorKind, PriceColumn};
pub use name::{MAX_IDENT_LEN, MAX_NAME_LEN, RESERVED_NAMES, StrategyName, check_identifier};
pub use schema::{SCHEMA_NAMES, schemas};
pub use strategy::{
    AcceptanceCriteria, IndicatorSpec, IntOrParam, NumOrParam, ParamValue, RiskConfig, SCHEMA_VERSION,
    SeriesSource, StrategySpec,
};
