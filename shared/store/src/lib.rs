//! The domain tables beside the engine's: runs and strategies, versions, backtests, stored
//! backtest configs, API keys,
//! and the failure memory with its LLM-call accounting.

pub mod api_keys;
pub mod backtest_configs;
pub mod backtests;
pub mod memory;
pub mod runs;
pub mod versions;
