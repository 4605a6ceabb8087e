//! The harness protocol: one JSON request on the container's stdin, one JSON line back on
//! its stdout (`deploy/sandbox/README.md` is the reference; `harness.py` the other side).

use serde::{Deserialize, Deserializer, Serialize};

use super::error::SandboxError;
use super::usage::ResourceUsage;

/// One backtest to run: the strategy code, its class name, the data and the broker settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HarnessRequest {
    /// Python source of the strategy module (compiled as `strategy.py`).
    pub code: String,
    /// Name of the `backtesting.Strategy` subclass to run.
    pub entrypoint: String,
    /// `GOOG`, `EURUSD`, `BTCUSD` (bundled with backtesting.py), `csv:<file name>` or
    /// `parquet:<file name>` from the datasets directory.
    pub dataset: String,
    /// Arguments of `backtesting.Backtest`.
    pub config: BacktestParams,
}

impl HarnessRequest {
    /// The request as the single newline-terminated line the harness reads from stdin.
    pub fn to_line(&self) -> Result<Vec<u8>, SandboxError> {
        let mut line = serde_json::to_vec(self).map_err(SandboxError::Encode)?;
        line.push(b'\n');
        Ok(line)
    }
}

/// Arguments of `backtesting.Backtest(...)` plus an optional date range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BacktestParams {
    /// Starting cash.
    pub cash: f64,
    /// Commission as a fraction of the trade value (0.002 = 0.2 %).
    pub commission: f64,
    /// Bid-ask spread as a fraction of the price.
    pub spread: f64,
    /// Margin ratio (1 = no leverage, 0.02 = 50:1).
    pub margin: f64,
    /// Each new order closes the previous position first.
    pub exclusive_orders: bool,
    /// Market orders fill at the current bar's close instead of the next bar's open.
    pub trade_on_close: bool,
    /// Close trades still open at the end so they count in the statistics.
    pub finalize_trades: bool,
    /// First day of data to use (`YYYY-MM-DD`), inclusive.
    pub start: Option<String>,
    /// Last day of data to use (`YYYY-MM-DD`), inclusive.
    pub end: Option<String>,
}

impl Default for BacktestParams {
    fn default() -> Self {
        Self {
            cash: 10_000.0,
            commission: 0.0,
            spread: 0.0,
            margin: 1.0,
            exclusive_orders: false,
            trade_on_close: false,
            finalize_trades: false,
            start: None,
            end: None,
        }
    }
}

/// What the harness said, tagged by its `status` field.
// One per run, moved around rarely: boxing the report would only make matching clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum HarnessResponse {
    /// The backtest ran.
    Ok(BacktestReport),
    /// The user's code failed (exception, syntax error, no such Strategy class).
    Error(CodeFailure),
    /// The request itself was refused (bad JSON, unknown dataset, bad CSV, bad config);
    /// the code never ran.
    InvalidRequest {
        /// Why, in one sentence.
        error: String,
    },
}

/// Results of a backtest that ran to the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestReport {
    /// Summary statistics.
    pub metrics: Metrics,
    /// `(ISO timestamp, equity)` points, at most 500, first and last always included.
    pub equity_curve: Vec<(String, f64)>,
    /// Trade counts.
    pub trades_summary: TradesSummary,
    /// Warnings raised while the strategy ran (deduplicated, at most about 50).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Time spent in the user's code and the backtest, in milliseconds.
    pub elapsed_ms: f64,
}

/// backtesting.py's statistics. Values the library reports as NaN arrive as `null`: nullable
/// ones are `None`, the others `f64::NAN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// First bar of the backtest (ISO 8601).
    pub start: String,
    /// Last bar of the backtest (ISO 8601).
    pub end: String,
    /// Span of the data in days.
    #[serde(deserialize_with = "nan_if_null")]
    pub duration_days: f64,
    /// Share of bars with an open position, in percent.
    #[serde(deserialize_with = "nan_if_null")]
    pub exposure_pct: f64,
    /// Equity at the end.
    #[serde(deserialize_with = "nan_if_null")]
    pub equity_final: f64,
    /// Highest equity.
    #[serde(deserialize_with = "nan_if_null")]
    pub equity_peak: f64,
    /// Total return in percent.
    #[serde(deserialize_with = "nan_if_null")]
    pub return_pct: f64,
    /// Return of buying at the first bar and holding, in percent.
    #[serde(deserialize_with = "nan_if_null")]
    pub buy_hold_return_pct: f64,
    /// Annualised return in percent.
    #[serde(deserialize_with = "nan_if_null")]
    pub return_ann_pct: f64,
    /// Annualised volatility in percent.
    #[serde(deserialize_with = "nan_if_null")]
    pub volatility_ann_pct: f64,
    /// Sharpe ratio.
    pub sharpe: Option<f64>,
    /// Sortino ratio.
    pub sortino: Option<f64>,
    /// Calmar ratio.
    pub calmar: Option<f64>,
    /// Maximum drawdown in percent (negative).
    #[serde(deserialize_with = "nan_if_null")]
    pub max_drawdown_pct: f64,
    /// Average drawdown in percent (negative).
    #[serde(deserialize_with = "nan_if_null")]
    pub avg_drawdown_pct: f64,
    /// Winning trades in percent; `None` without trades.
    pub win_rate_pct: Option<f64>,
    /// Gross profit over gross loss; `None` without trades.
    pub profit_factor: Option<f64>,
    /// Number of closed trades.
    pub trades: u64,
    /// Best trade's return in percent.
    pub best_trade_pct: Option<f64>,
    /// Worst trade's return in percent.
    pub worst_trade_pct: Option<f64>,
    /// Average trade's return in percent.
    pub avg_trade_pct: Option<f64>,
    /// Expectancy in percent.
    pub expectancy_pct: Option<f64>,
    /// Commissions paid (absent from older harnesses).
    #[serde(default)]
    pub commissions: Option<f64>,
    /// Compound annual growth rate in percent (absent from older harnesses).
    #[serde(default)]
    pub cagr_pct: Option<f64>,
    /// Van Tharp's system quality number (absent from older harnesses).
    #[serde(default)]
    pub sqn: Option<f64>,
}

/// Trade counts of a backtest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradesSummary {
    /// Closed trades.
    pub count: u64,
    /// Long trades.
    pub long: u64,
    /// Short trades.
    pub short: u64,
    /// Trades with a positive profit.
    pub winning: u64,
    /// Trades with a negative profit.
    pub losing: u64,
}

/// How the user's code failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeFailure {
    /// Python exception class (`ZeroDivisionError`, `SyntaxError`, `EntrypointError`...).
    pub error_type: String,
    /// The exception's message.
    pub error: String,
    /// The last 50 lines of the traceback; frames of the user's code name `strategy.py`.
    #[serde(default)]
    pub traceback: String,
    /// Line of `strategy.py` nearest the failure, when known.
    #[serde(default)]
    pub line: Option<u32>,
    /// Warnings raised before the failure.
    #[serde(default)]
    pub warnings: Vec<String>,
}

fn nan_if_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// Finds the harness's answer in what it wrote to stdout: the last non-empty line that is
/// not the warm-pool `{"status":"ready"}` line. The error says what was wrong, in one line.
pub fn parse_harness_output(stdout: &[u8]) -> Result<HarnessResponse, String> {
    let line = result_line(stdout).ok_or_else(|| "the harness wrote nothing to stdout".to_owned())?;
    serde_json::from_slice(line).map_err(|e| {
        let shown = String::from_utf8_lossy(&line[..line.len().min(120)]).into_owned();
        format!("the harness wrote an unreadable result ({e}): {shown}")
    })
}

/// The resource usage the harness put on its result line, if it did.
pub(crate) fn parse_reported_usage(stdout: &[u8]) -> Option<ResourceUsage> {
    #[derive(Deserialize)]
    struct Line {
        usage: Option<ResourceUsage>,
    }
    serde_json::from_slice::<Line>(result_line(stdout)?).ok()?.usage
}

/// The last non-empty line of stdout other than the ready line.
fn result_line(stdout: &[u8]) -> Option<&[u8]> {
    stdout
        .split(|b| *b == b'\n')
        .map(<[u8]>::trim_ascii)
        .rfind(|line| !line.is_empty() && *line != br#"{"status":"ready"}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ok_line_with_nulls_decodes_into_a_report() {
        let line = br#"{"status":"ok","metrics":{"start":"2004-08-19T00:00:00","end":"2013-03-01T00:00:00","duration_days":3116.0,"exposure_pct":94.2,"equity_final":56263.5,"equity_peak":56309.0,"return_pct":462.6,"buy_hold_return_pct":607.3,"return_ann_pct":22.4,"volatility_ann_pct":null,"sharpe":null,"sortino":1.1,"calmar":0.6,"max_drawdown_pct":-33.9,"avg_drawdown_pct":-6.1,"win_rate_pct":52.6,"profit_factor":null,"trades":93,"best_trade_pct":1.0,"worst_trade_pct":-1.0,"avg_trade_pct":0.1,"expectancy_pct":0.2},"equity_curve":[["2004-08-19T00:00:00",10000.0]],"trades_summary":{"count":93,"long":46,"short":47,"winning":49,"losing":44},"warnings":["UserWarning: x"],"elapsed_ms":86.6}"#;
        let mut stdout = br#"{"status":"ready"}"#.to_vec();
        stdout.push(b'\n');
        stdout.extend_from_slice(line);
        stdout.push(b'\n');

        let response = parse_harness_output(&stdout).expect("decodes");

        let HarnessResponse::Ok(report) = response else { panic!("not ok: {response:?}") };
        assert_eq!(report.metrics.trades, 93);
        assert!(report.metrics.volatility_ann_pct.is_nan());
        assert_eq!(report.metrics.sharpe, None);
        assert_eq!(report.metrics.commissions, None);
        assert_eq!(report.equity_curve[0].1, 10_000.0);
        assert_eq!(report.trades_summary.short, 47);
    }

    #[test]
    fn the_reported_usage_is_read_from_the_result_line() {
        let stdout = b"{\"status\":\"ready\"}\n{\"status\":\"invalid_request\",\"error\":\"x\",\"usage\":{\"peak_memory_bytes\":7,\"cpu_time_ms\":3}}\n";

        let usage = parse_reported_usage(stdout);

        assert_eq!(usage, Some(ResourceUsage { peak_memory_bytes: Some(7), cpu_time_ms: Some(3) }));
        assert_eq!(parse_reported_usage(b"{\"status\":\"invalid_request\",\"error\":\"x\"}"), None);
    }

    #[test]
    fn error_and_invalid_request_lines_decode() {
        let error = br#"{"status":"error","error_type":"ZeroDivisionError","error":"division by zero","traceback":"File \"strategy.py\", line 9","line":9,"warnings":[]}"#;
        let invalid = br#"{"status":"invalid_request","error":"unknown dataset 'FOO'"}"#;

        let error = parse_harness_output(error).expect("error decodes");
        let invalid = parse_harness_output(invalid).expect("invalid decodes");

        assert!(matches!(error, HarnessResponse::Error(CodeFailure { line: Some(9), .. })));
        assert_eq!(invalid, HarnessResponse::InvalidRequest { error: "unknown dataset 'FOO'".to_owned() });
    }

    #[test]
    fn empty_or_garbage_output_is_reported_not_decoded() {
        assert!(parse_harness_output(b"").is_err());
        assert!(parse_harness_output(b"{\"status\":\"ready\"}\n").is_err());
        let err = parse_harness_output(b"hello\n").expect_err("garbage");
        assert!(err.contains("unreadable"), "{err}");
    }

    #[test]
    fn a_request_is_one_line_with_the_protocol_field_names() {
        let request = HarnessRequest {
            code: "class A:\n    pass\n".to_owned(),
            entrypoint: "A".to_owned(),
            dataset: "GOOG".to_owned(),
            config: BacktestParams { start: Some("2010-01-01".to_owned()), ..Default::default() },
        };

        let line = request.to_line().expect("encodes");

        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        let value: serde_json::Value = serde_json::from_slice(&line).expect("json");
        assert_eq!(value["config"]["cash"], 10_000.0);
        assert_eq!(value["config"]["start"], "2010-01-01");
        assert_eq!(value["config"]["end"], serde_json::Value::Null);
        assert_eq!(value["config"]["exclusive_orders"], false);
    }
}
