//! Backtest configuration: capital, costs, sizing, dataset and date range.
//!
//! Embedded in every strategy spec (`backtest`) and also accepted on its own by the
//! prototype's `/backtests/validate-config/` endpoint, which additionally returns warnings
//! for settings that are legal but probably not what the author meant.

use super::check;
use super::errors::SpecErrors;
use super::limits::{
    MAX_CAPITAL, MAX_COMMISSION, MAX_DATASET_CHARS, MAX_POSITIONS, MAX_SLIPPAGE, MAX_SYMBOL_CHARS,
    MAX_SYMBOLS,
};
use super::schema::{DATASET_PATTERN, SYMBOL_PATTERN};
use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Datasets bundled with backtesting.py that the sandbox image carries.
pub const BUILTIN_DATASETS: &[&str] = &["GOOG", "EURUSD", "BTCUSD"];

/// How to run the backtest of a strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestConfig {
    /// Starting cash (0 < x <= 1e12; default 10,000, backtesting.py's default).
    #[serde(default = "default_capital")]
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = MAX_CAPITAL))]
    pub initial_capital: f64,
    /// Commission rate per trade side (0 <= x <= 0.1; default 0.002 = 0.2 %).
    #[serde(default = "default_commission")]
    #[schemars(range(min = 0, max = MAX_COMMISSION))]
    pub commission: f64,
    /// Slippage modelled as backtesting.py's `spread` rate (0 <= x <= 0.1; default 0).
    #[serde(default)]
    #[schemars(range(min = 0, max = MAX_SLIPPAGE))]
    pub slippage: f64,
    /// Fraction of available equity put into each trade (0 < x <= 1). The default 1.0 means
    /// "all available equity", which the generator expresses by omitting `size` (backtesting.py
    /// treats `size >= 1` as a number of units, so 1.0 is never passed literally).
    #[serde(default = "default_position_size")]
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 1))]
    pub position_size: f64,
    /// Most simultaneous positions (1..=100; default 1). The builtin generator holds one
    /// position at a time; larger values only matter to LLM-written strategies.
    #[serde(default = "default_max_positions")]
    #[schemars(range(min = 1, max = MAX_POSITIONS))]
    pub max_positions: u32,
    /// Data to test on: `GOOG` (default), `EURUSD`, `BTCUSD`, or `csv:<file>.csv` /
    /// `parquet:<file>.parquet` naming a file in the datasets directory (no directories, no
    /// `..`).
    #[serde(default = "default_dataset")]
    #[schemars(length(max = MAX_DATASET_CHARS), extend("pattern" = DATASET_PATTERN))]
    pub dataset: String,
    /// Informational symbol list (the dataset decides the data); at most 50.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_SYMBOLS), inner(length(max = MAX_SYMBOL_CHARS), regex(pattern = SYMBOL_PATTERN)))]
    pub symbols: Vec<String>,
    /// First bar to include, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<NaiveDate>,
    /// Last bar to include, `YYYY-MM-DD` (not before `start_date`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<NaiveDate>,
}

fn default_capital() -> f64 {
    10_000.0
}
fn default_commission() -> f64 {
    0.002
}
fn default_position_size() -> f64 {
    1.0
}
fn default_max_positions() -> u32 {
    1
}
fn default_dataset() -> String {
    "GOOG".to_owned()
}

impl Default for BacktestConfig {
    fn default() -> Self {
        Self {
            initial_capital: default_capital(),
            commission: default_commission(),
            slippage: 0.0,
            position_size: default_position_size(),
            max_positions: default_max_positions(),
            dataset: default_dataset(),
            symbols: Vec::new(),
            start_date: None,
            end_date: None,
        }
    }
}

impl BacktestConfig {
    /// Reads and validates a standalone config from untrusted JSON bytes; on success also
    /// returns warnings about legal but suspicious settings.
    pub fn parse_json(bytes: &[u8]) -> Result<(BacktestConfig, Vec<String>), SpecErrors> {
        let config = check::parse_backtest(bytes)?;
        let warnings = config.warnings();
        Ok((config, warnings))
    }

    /// Legal but suspicious settings, as sentences for the `warnings` list of the
    /// validate-config response.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.max_positions > 1 {
            w.push(
                "max_positions > 1: strategies from the builtin generator hold one position at a time"
                    .to_owned(),
            );
        }
        if self.commission > 0.01 {
            w.push(format!(
                "commission {} is above 1 % per trade; is it a percentage instead of a rate?",
                self.commission
            ));
        }
        if self.slippage > 0.01 {
            w.push(format!("slippage {} is above 1 %; is it a percentage instead of a rate?", self.slippage));
        }
        if self.position_size < 0.01 {
            w.push(format!(
                "position_size {} is below 1 % of equity; trades may round down to zero units",
                self.position_size
            ));
        }
        if self.initial_capital < 1_000.0 {
            w.push(format!(
                "initial_capital {} may be too small to buy one unit of the dataset's asset",
                self.initial_capital
            ));
        }
        w
    }

    /// The CSV file name when `dataset` is `csv:<file>.csv`.
    pub fn csv_file(&self) -> Option<&str> {
        self.dataset.strip_prefix("csv:")
    }
}
