//! The datasets a backtest can run on: the three bundled with backtesting.py in the sandbox
//! image, and the CSV and Parquet files an operator puts in `DATASETS_DIR` (mounted
//! read-only at `/datasets` in every container). The directory is read on every call, so a
//! file added there is usable at once, without a rebuild or a restart.
//!
//! A symbol names a dataset: `GOOG`, `EURUSD`, `BTCUSD`, or the stem of a CSV or Parquet file
//! (`AAPL` for `AAPL.csv`, the dataset `csv:AAPL.csv`; `MSFT` for `MSFT.parquet`, the dataset
//! `parquet:MSFT.parquet`). The date range of each dataset is known (bundled), read from a
//! CSV's first and last rows, or from a Parquet file's footer statistics (or first and last
//! rows), so a request for a symbol or a range that does not exist is refused with what does.
//! When two files share a stem, the first in name order (`AAPL.csv` before `AAPL.parquet`)
//! holds the symbol and the other is listed as unusable.

use std::path::Path;

use chrono::{Duration, NaiveDate};

use crate::parquet_dates::parquet_range;

/// The bundled datasets and their date ranges (read from the image's backtesting.py:
/// `backtesting.test.GOOG.index[0]`, `[-1]`, ...).
pub const BUNDLED: [(&str, &str, &str); 3] = [
    ("GOOG", "2004-08-19", "2013-03-01"),
    ("EURUSD", "2017-04-19", "2018-02-07"),
    ("BTCUSD", "2012-01-31", "2024-12-31"),
];

/// Largest CSV the harness reads (its `MAX_CSV_BYTES`).
const MAX_CSV_BYTES: u64 = 50 * 1024 * 1024;

/// Largest Parquet file the harness reads (its `MAX_PARQUET_BYTES`).
const MAX_PARQUET_BYTES: u64 = 50 * 1024 * 1024;

/// The first and last day of an operator file, or why it is unusable.
type RangeReader = fn(&Path) -> Result<(NaiveDate, NaiveDate), String>;

/// The kinds of operator file: suffix, dataset prefix, size limit, and how its dates are read.
const FILE_KINDS: [(&str, &str, u64, RangeReader); 2] = [
    (".csv", "csv", MAX_CSV_BYTES, csv_range),
    (".parquet", "parquet", MAX_PARQUET_BYTES, |path| parquet_range(path).map_err(|e| e.to_string())),
];

/// A requested range may start or end this many days beyond the data (weekends, holidays).
const RANGE_SLACK_DAYS: i64 = 7;

/// One dataset and the dates it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetInfo {
    /// The symbol that names it.
    pub symbol: String,
    /// The harness's dataset name (`GOOG`, `csv:AAPL.csv`, `parquet:MSFT.parquet`).
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
    /// CSV and Parquet files present but unusable, with why (named in errors so an operator
    /// sees them).
    unreadable: Vec<String>,
}

impl DatasetCatalog {
    /// The bundled datasets plus the CSV and Parquet files of `dir` (blocking file I/O: call
    /// it off the async runtime).
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
            let Some((suffix, prefix, limit, read_range)) =
                FILE_KINDS.into_iter().find(|(suffix, ..)| name.ends_with(suffix))
            else {
                continue;
            };
            let Some(stem) = name.strip_suffix(suffix).filter(|_| file_name_ok(&name, suffix)) else {
                continue;
            };
            if let Some(holder) = catalog.datasets.iter().find(|d| d.symbol.eq_ignore_ascii_case(stem)) {
                let by = if holder.dataset == holder.symbol {
                    "a bundled dataset".to_owned()
                } else {
                    holder.dataset.clone()
                };
                catalog.unreadable.push(format!("{name} (its symbol is taken by {by})"));
                continue;
            }
            match file_size(&path, limit).and_then(|()| read_range(&path)) {
                Ok((first, last)) => catalog.datasets.push(DatasetInfo {
                    symbol: stem.to_owned(),
                    dataset: format!("{prefix}:{name}"),
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

    /// CSV and Parquet files that are present but unusable, each with its reason.
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

/// The symbol a dataset name stands for: `AAPL` for `csv:AAPL.csv` or
/// `parquet:AAPL.parquet` (an operator file's symbol is its stem), else the name itself.
pub fn file_symbol(name: &str) -> &str {
    FILE_KINDS
        .into_iter()
        .find_map(|(suffix, prefix, ..)| name.strip_prefix(prefix)?.strip_prefix(':')?.strip_suffix(suffix))
        .unwrap_or(name)
}

/// The harness's rule for dataset file names: `[A-Za-z0-9_][A-Za-z0-9._-]{0,200}` and the
/// suffix (`.csv`, `.parquet`).
fn file_name_ok(name: &str, suffix: &str) -> bool {
    let Some(stem) = name.strip_suffix(suffix) else { return false };
    let mut chars = stem.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && stem.len() <= 201
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Refuses a file the harness would refuse for its size.
fn file_size(path: &Path, limit: u64) -> Result<(), String> {
    let size = std::fs::metadata(path).map_err(|e| format!("unreadable: {e}"))?.len();
    if size > limit {
        return Err(format!("{size} bytes, over the {limit}-byte limit"));
    }
    Ok(())
}

/// The first and last dates of a CSV whose first column is the date (a header row first).
fn csv_range(path: &Path) -> Result<(NaiveDate, NaiveDate), String> {
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
    fn a_dataset_name_stands_for_its_files_stem() {
        assert_eq!(file_symbol("csv:AAPL.csv"), "AAPL");
        assert_eq!(file_symbol("parquet:MSFT.parquet"), "MSFT");
        assert_eq!(file_symbol("GOOG"), "GOOG");
        assert_eq!(file_symbol("csv:AAPL.parquet"), "csv:AAPL.parquet");
        assert_eq!(file_symbol("parquetX:A.parquet"), "parquetX:A.parquet");
    }

    #[test]
    fn file_names_follow_the_harness_rule() {
        assert!(file_name_ok("AAPL.csv", ".csv"));
        assert!(file_name_ok("my-data_2.csv", ".csv"));
        assert!(!file_name_ok("../x.csv", ".csv"));
        assert!(!file_name_ok(".hidden.csv", ".csv"));
        assert!(!file_name_ok("x.parquet", ".csv"));
        assert!(file_name_ok("x.parquet", ".parquet"));
        assert!(!file_name_ok(".x.parquet", ".parquet"));
        assert!(!file_name_ok("a b.parquet", ".parquet"));
    }

    #[test]
    fn a_parquet_file_adds_a_symbol_and_a_stem_is_served_once() {
        use crate::parquet_dates::tests::{Shape, write};
        let dir = tempfile::tempdir().expect("tempdir");
        let ms = |d: &str| (day(d) - day("1970-01-01")).num_days() * 86_400_000;
        let dates: Vec<i64> = (0..300).map(|i| ms("2022-01-03") + i * 86_400_000).collect();
        write(&dir.path().join("MSFT.parquet"), &Shape::default(), &dates);
        write(&dir.path().join("AAPL.parquet"), &Shape::default(), &dates);
        std::fs::write(
            dir.path().join("AAPL.csv"),
            "Date,Open,High,Low,Close\n2023-01-03,1,2,0.5,1.5\n2023-12-29,1,2,0.5,1.5\n",
        )
        .expect("write");
        write(&dir.path().join("GOOG.parquet"), &Shape::default(), &dates);
        std::fs::write(dir.path().join("junk.parquet"), b"PAR1 not really").expect("write");
        let catalog = DatasetCatalog::scan(Some(dir.path()));

        let msft = catalog.resolve("msft", Some(day("2022-01-03")), Some(day("2022-10-29"))).expect("msft");
        assert_eq!(msft.dataset, "parquet:MSFT.parquet");
        assert_eq!((msft.first, msft.last), (day("2022-01-03"), day("2022-10-29")));
        let err = catalog.resolve("MSFT", Some(day("2023-01-01")), None).expect_err("range");
        assert!(err.to_string().contains("MSFT has data from 2022-01-03 to 2022-10-29"), "{err}");
        assert_eq!(catalog.resolve("AAPL", None, None).expect("aapl").dataset, "csv:AAPL.csv");
        let unusable = catalog.unreadable().join("; ");
        assert!(unusable.contains("AAPL.parquet (its symbol is taken by csv:AAPL.csv)"), "{unusable}");
        assert!(unusable.contains("GOOG.parquet (its symbol is taken by a bundled dataset)"), "{unusable}");
        assert!(unusable.contains("junk.parquet (not a readable Parquet file"), "{unusable}");
        assert!(catalog.describe().contains("MSFT (2022-01-03 to 2022-10-29)"), "{}", catalog.describe());
    }
}
