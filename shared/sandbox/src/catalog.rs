//! The datasets a backtest can run on: the three bundled with backtesting.py in the sandbox
//! image, and the CSV files an operator puts in `DATASETS_DIR` (mounted read-only at
//! `/datasets` in every container). The directory is read on every call, so a file added
//! there is usable at once, without a rebuild or a restart.
//!
//! A symbol names a dataset: `GOOG`, `EURUSD`, `BTCUSD`, or the stem of a CSV file
//! (`AAPL` for `AAPL.csv`, the dataset `csv:AAPL.csv`). The date range of each dataset is
//! known (bundled) or read from the file's first and last rows, so a request for a symbol or
//! a range that does not exist is refused with what does.

use std::path::Path;

use chrono::{Duration, NaiveDate};

/// The bundled datasets and their date ranges (read from the image's backtesting.py:
/// `backtesting.test.GOOG.index[0]`, `[-1]`, ...).
pub const BUNDLED: [(&str, &str, &str); 3] = [
    ("GOOG", "2004-08-19", "2013-03-01"),
    ("EURUSD", "2017-04-19", "2018-02-07"),
    ("BTCUSD", "2012-01-31", "2024-12-31"),
];

/// Largest CSV the harness reads (its `MAX_CSV_BYTES`).
const MAX_CSV_BYTES: u64 = 50 * 1024 * 1024;

/// A requested range may start or end this many days beyond the data (weekends, holidays).
const RANGE_SLACK_DAYS: i64 = 7;

/// One dataset and the dates it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetInfo {
    /// The symbol that names it.
    pub symbol: String,
    /// The harness's dataset name (`GOOG`, `csv:AAPL.csv`).
    pub dataset: String,
    /// First day with data.
    pub first: NaiveDate,
    /// Last day with data.
    pub last: NaiveDate,
}

impl DatasetInfo {
    /// `GOOG (2004-08-19 to 2013-03-01)`.
    pub fn describe(&self) -> String {
        format!("{} ({} to {})", self.symbol, self.first, self.last)
    }
}

/// Why a symbol or range cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// No dataset has this symbol.
    #[error("no data for symbol '{symbol}'; available: {available}")]
    UnknownSymbol {
        /// The symbol asked for.
        symbol: String,
        /// Every dataset, with its range.
        available: String,
    },
    /// The dataset does not cover the requested dates.
    #[error(
        "{symbol} has data from {first} to {last} only; the requested range {start} to {end} is not covered"
    )]
    OutOfRange {
        /// The symbol asked for.
        symbol: String,
        /// Its first day.
        first: NaiveDate,
        /// Its last day.
        last: NaiveDate,
        /// The requested start (or `-`).
        start: String,
        /// The requested end (or `-`).
        end: String,
    },
}

/// Every dataset available now.
#[derive(Debug, Clone, Default)]
pub struct DatasetCatalog {
    datasets: Vec<DatasetInfo>,
    /// CSV files present but unusable, with why (named in errors so an operator sees them).
    unreadable: Vec<String>,
}

impl DatasetCatalog {
    /// The bundled datasets plus the CSV files of `dir` (blocking file I/O: call it off the
    /// async runtime).
    pub fn scan(dir: Option<&Path>) -> Self {
        let mut catalog = Self::default();
        for (symbol, first, last) in BUNDLED {
            if let (Ok(first), Ok(last)) = (first.parse(), last.parse()) {
                catalog.datasets.push(DatasetInfo {
                    symbol: symbol.to_owned(),
                    dataset: symbol.to_owned(),
                    first,
                    last,
                });
            }
        }
        let Some(entries) = dir.and_then(|d| std::fs::read_dir(d).ok()) else {
            return catalog;
        };
        let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for path in files {
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else { continue };
            let Some(stem) = name.strip_suffix(".csv").filter(|_| csv_name_ok(&name)) else { continue };
            if catalog.datasets.iter().any(|d| d.symbol.eq_ignore_ascii_case(stem)) {
                catalog.unreadable.push(format!("{name} (its symbol is taken by a bundled dataset)"));
                continue;
            }
            match csv_range(&path) {
                Ok((first, last)) => catalog.datasets.push(DatasetInfo {
                    symbol: stem.to_owned(),
                    dataset: format!("csv:{name}"),
                    first,
                    last,
                }),
                Err(reason) => catalog.unreadable.push(format!("{name} ({reason})")),
            }
        }
        catalog
    }

    /// Every usable dataset, bundled first.
    pub fn datasets(&self) -> &[DatasetInfo] {
        &self.datasets
    }

    /// CSV files that are present but unusable, each with its reason.
    pub fn unreadable(&self) -> &[String] {
        &self.unreadable
    }

    /// What exists, in one line: `GOOG (2004-08-19 to 2013-03-01), ...`.
    pub fn describe(&self) -> String {
        let mut text = self.datasets.iter().map(DatasetInfo::describe).collect::<Vec<_>>().join(", ");
        if !self.unreadable.is_empty() {
            text.push_str(&format!("; unusable files: {}", self.unreadable.join(", ")));
        }
        text
    }

    /// The dataset of `symbol` (case-insensitive), checked to cover `start..=end` (give or
    /// take a week at either end, for weekends and holidays).
    pub fn resolve(
        &self,
        symbol: &str,
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
    ) -> Result<&DatasetInfo, CatalogError> {
        let info = self
            .datasets
            .iter()
            .find(|d| d.symbol == symbol)
            .or_else(|| self.datasets.iter().find(|d| d.symbol.eq_ignore_ascii_case(symbol)))
            .ok_or_else(|| CatalogError::UnknownSymbol {
                symbol: symbol.to_owned(),
                available: self.describe(),
            })?;
        let slack = Duration::days(RANGE_SLACK_DAYS);
        let starts_ok = start.is_none_or(|s| s + slack >= info.first && s <= info.last);
        let ends_ok = end.is_none_or(|e| e - slack <= info.last && e >= info.first);
        if starts_ok && ends_ok {
            Ok(info)
        } else {
            let shown = |d: Option<NaiveDate>| d.map_or_else(|| "-".to_owned(), |d| d.to_string());
            Err(CatalogError::OutOfRange {
                symbol: info.symbol.clone(),
                first: info.first,
                last: info.last,
                start: shown(start),
                end: shown(end),
            })
        }
    }
}

/// The harness's rule for CSV file names: `[A-Za-z0-9_][A-Za-z0-9._-]{0,200}.csv`.
fn csv_name_ok(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".csv") else { return false };
    let mut chars = stem.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && stem.len() <= 201
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The first and last dates of a CSV whose first column is the date (a header row first).
fn csv_range(path: &Path) -> Result<(NaiveDate, NaiveDate), String> {
    let size = std::fs::metadata(path).map_err(|e| format!("unreadable: {e}"))?.len();
    if size > MAX_CSV_BYTES {
        return Err(format!("{size} bytes, over the {MAX_CSV_BYTES}-byte limit"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("unreadable: {e}"))?;
    let rows: Vec<&str> = text.lines().skip(1).filter(|l| !l.trim().is_empty()).collect();
    let date = |line: &str| -> Result<NaiveDate, String> {
        let cell = line.split(',').next().unwrap_or_default().trim().trim_matches('"');
        let day = cell.get(..10).unwrap_or(cell);
        day.parse().map_err(|_| format!("first column '{cell}' is not a YYYY-MM-DD date"))
    };
    let first = date(rows.first().ok_or_else(|| "no data rows".to_owned())?)?;
    let last = date(rows.last().ok_or_else(|| "no data rows".to_owned())?)?;
    if last < first {
        return Err("dates must increase".to_owned());
    }
    Ok((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn an_unknown_symbol_names_what_exists_and_a_csv_adds_a_symbol() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = DatasetCatalog::scan(Some(dir.path()));
        let err = empty.resolve("AAPL", None, None).expect_err("unknown");
        assert!(err.to_string().contains("GOOG (2004-08-19 to 2013-03-01)"), "{err}");

        std::fs::write(
            dir.path().join("AAPL.csv"),
            "Date,Open,High,Low,Close,Volume\n2023-01-03,1,2,0.5,1.5,10\n2023-12-29,1,2,0.5,1.5,10\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("bad.csv"), "Date,Open\nyesterday,1\n").expect("write");
        let catalog = DatasetCatalog::scan(Some(dir.path()));

        let aapl = catalog.resolve("AAPL", Some(day("2023-01-01")), Some(day("2023-12-31"))).expect("aapl");
        assert_eq!(aapl.dataset, "csv:AAPL.csv");
        assert!(catalog.describe().contains("bad.csv"), "{}", catalog.describe());
        let err =
            catalog.resolve("GOOG", Some(day("2023-01-01")), Some(day("2023-12-31"))).expect_err("range");
        assert!(matches!(err, CatalogError::OutOfRange { .. }), "{err}");
        assert!(err.to_string().contains("2004-08-19 to 2013-03-01"), "{err}");
    }

    #[test]
    fn file_names_follow_the_harness_rule() {
        assert!(csv_name_ok("AAPL.csv"));
        assert!(csv_name_ok("my-data_2.csv"));
        assert!(!csv_name_ok("../x.csv"));
        assert!(!csv_name_ok(".hidden.csv"));
        assert!(!csv_name_ok("x.parquet"));
    }
}
