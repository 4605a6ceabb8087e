//! Size and range limits of the strategy schema, in one place so docs, validation and tests
//! agree.
//!
//! Every string, list and number a client can send is bounded: the spec is untrusted input
//! that ends up in a database row, a prompt and generated code.

/// Largest spec document accepted by `parse_json`, in bytes; the HTTP layer should cap
/// bodies lower. Larger values are still reported per field below this size.
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// Most rules in `entry_rules` or in `exit_rules`.
pub const MAX_RULES: usize = 50;
/// Longest rule, in characters.
pub const MAX_RULE_CHARS: usize = 500;
/// Most declared indicators.
pub const MAX_INDICATORS: usize = 50;
/// Most parameters.
pub const MAX_PARAMETERS: usize = 100;
/// Smallest indicator window, in bars.
pub const MIN_PERIOD: u32 = 1;
/// Largest indicator window, in bars (about 20 years of daily bars).
pub const MAX_PERIOD: u32 = 5000;
/// Largest lookback `x[n]` in a rule.
pub const MAX_LOOKBACK: u32 = 1000;
/// Largest magnitude of a parameter value or a number literal in a rule.
pub const MAX_ABS_NUMBER: f64 = 1e12;
/// Largest initial capital.
pub const MAX_CAPITAL: f64 = 1e12;
/// Largest commission rate (10 % per trade).
pub const MAX_COMMISSION: f64 = 0.1;
/// Largest slippage / spread rate.
pub const MAX_SLIPPAGE: f64 = 0.1;
/// Most simultaneous positions.
pub const MAX_POSITIONS: u32 = 100;
/// Most symbols in a backtest config.
pub const MAX_SYMBOLS: usize = 50;
/// Longest symbol.
pub const MAX_SYMBOL_CHARS: usize = 32;
/// Longest dataset reference (`csv:<file>.csv`, `parquet:<file>.parquet`).
pub const MAX_DATASET_CHARS: usize = 132;
/// Largest Bollinger width in standard deviations.
pub const MAX_STD_DEV: f64 = 10.0;
/// Largest `min_trades` acceptance threshold.
pub const MAX_MIN_TRADES: u32 = 1_000_000;
