//! Reading a backtest config, embedded in a spec or standalone.

use super::backtest::{BUILTIN_DATASETS, BacktestConfig};
use super::limits::{
    MAX_CAPITAL, MAX_COMMISSION, MAX_DATASET_CHARS, MAX_POSITIONS, MAX_SLIPPAGE, MAX_SYMBOL_CHARS,
    MAX_SYMBOLS,
};
use super::reader::{Range, Reader, at};
use chrono::NaiveDate;
use serde_json::Value;

const BACKTEST_FIELDS: &[&str] = &[
    "initial_capital",
    "commission",
    "slippage",
    "position_size",
    "max_positions",
    "dataset",
    "symbols",
    "start_date",
    "end_date",
];

/// Reads a backtest config at `loc` (root for the standalone endpoint).
pub(crate) fn read_backtest(r: &mut Reader, v: &Value, loc: &[String]) -> BacktestConfig {
    let mut c = BacktestConfig::default();
    let Some(obj) = r.object(v, loc) else {
        return c;
    };
    r.check_keys(obj, BACKTEST_FIELDS, loc);
    let num = |r: &mut Reader, key: &str, range: Range, default: f64| {
        Reader::optional(obj, key).and_then(|v| r.number(v, &at(loc, key), range)).unwrap_or(default)
    };
    c.initial_capital = num(r, "initial_capital", Range::above(0.0, MAX_CAPITAL), c.initial_capital);
    c.commission = num(r, "commission", Range::incl(0.0, MAX_COMMISSION), c.commission);
    c.slippage = num(r, "slippage", Range::incl(0.0, MAX_SLIPPAGE), c.slippage);
    c.position_size = num(r, "position_size", Range::above(0.0, 1.0), c.position_size);
    if let Some(v) = Reader::optional(obj, "max_positions")
        && let Some(n) = r.u32_in(v, &at(loc, "max_positions"), 1, MAX_POSITIONS)
    {
        c.max_positions = n;
    }
    if let Some(v) = Reader::optional(obj, "dataset") {
        let dloc = at(loc, "dataset");
        if let Some(s) = r.string(v, &dloc, MAX_DATASET_CHARS) {
            match check_dataset(s) {
                Ok(()) => c.dataset = s.to_owned(),
                Err(msg) => r.push(dloc, "pattern", msg),
            }
        }
    }
    if let Some(v) = Reader::optional(obj, "symbols") {
        let sloc = at(loc, "symbols");
        if let Some(items) = r.array(v, &sloc, MAX_SYMBOLS) {
            for (i, item) in items.iter().enumerate() {
                let iloc = at(&sloc, &i.to_string());
                if let Some(s) = r.string(item, &iloc, MAX_SYMBOL_CHARS) {
                    if !is_symbol(s) {
                        r.push(iloc, "pattern", "symbol must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$");
                    } else if let Some(known) = BUILTIN_DATASETS.iter().find(|d| d.eq_ignore_ascii_case(s)) {
                        c.symbols.push((*known).to_owned());
                    } else {
                        let msg = format!(
                            "unknown symbol '{s}': the available datasets are {} (or an operator file as dataset \"csv:<file>.csv\" or \"parquet:<file>.parquet\")",
                            BUILTIN_DATASETS.join(", ")
                        );
                        r.push(iloc, "pattern", msg);
                    }
                }
            }
        }
        // The symbol selects the dataset: one symbol per run, agreeing with `dataset` if set.
        if c.symbols.len() > 1 {
            r.push(sloc, "conflict", "one symbol per run: submit one run per symbol");
        } else if let Some(symbol) = c.symbols.first() {
            if Reader::optional(obj, "dataset").is_none() {
                c.dataset = symbol.clone();
            } else if &c.dataset != symbol {
                let msg = format!("symbol {symbol} and dataset {} disagree; give one of them", c.dataset);
                r.push(sloc, "conflict", msg);
            }
        }
    }
    let date = |r: &mut Reader, key: &str| -> Option<NaiveDate> {
        let v = Reader::optional(obj, key)?;
        let dloc = at(loc, key);
        let s = r.string(v, &dloc, 10)?;
        match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) if s.len() == 10 => Some(d),
            _ => {
                r.push(dloc, "pattern", "expected a date YYYY-MM-DD");
                None
            }
        }
    };
    c.start_date = date(r, "start_date");
    c.end_date = date(r, "end_date");
    if let (Some(s), Some(e)) = (c.start_date, c.end_date)
        && s > e
    {
        r.push(at(loc, "end_date"), "conflict", format!("end_date {e} is before start_date {s}"));
    }
    c
}

fn is_symbol(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// `GOOG`, `EURUSD`, `BTCUSD`, `csv:<file>.csv` or `parquet:<file>.parquet` with a plain
/// file name.
fn check_dataset(s: &str) -> Result<(), String> {
    if BUILTIN_DATASETS.contains(&s) {
        return Ok(());
    }
    let expected = format!(
        "dataset must be one of {} or csv:<file>.csv or parquet:<file>.parquet (a plain file name: letters, digits, '_', '-', '.', no '..')",
        BUILTIN_DATASETS.join(", ")
    );
    let Some((file, suffix)) = s
        .strip_prefix("csv:")
        .map(|f| (f, ".csv"))
        .or_else(|| s.strip_prefix("parquet:").map(|f| (f, ".parquet")))
    else {
        return Err(expected);
    };
    let mut chars = file.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !file.contains("..")
        && file.len() > suffix.len()
        && file.ends_with(suffix);
    if ok { Ok(()) } else { Err(expected) }
}
