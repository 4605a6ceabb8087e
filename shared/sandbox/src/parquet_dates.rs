//! The first and last day of an operator's Parquet dataset, read as cheaply as the file
//! allows: the footer's row-group statistics of the date column when every row group has
//! them (pandas/pyarrow write them by default: no data page is read), otherwise the first
//! value of the first row group and the last value of the last one.
//!
//! The date column is the one pandas' metadata names as the index (`to_parquet` stores a
//! `DatetimeIndex` as a column, `__index_level_0__` when unnamed), else a column named
//! `Date`, `date` or `index` (any case), else the first column. It must be a `DATE` (days,
//! INT32) or a `TIMESTAMP` in milliseconds, microseconds or nanoseconds (INT64); a UTC
//! timestamp gives its UTC day, a local one its wall-clock day.

use std::fs::File;
use std::path::Path;

use chrono::{DateTime, NaiveDate};
use parquet::basic::{ConvertedType, LogicalType, TimeUnit, Type as PhysicalType};
use parquet::column::reader::ColumnReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{FileReader, RowGroupReader};
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnDescriptor;

/// Column names taken as the date column when pandas' metadata names no index.
const DATE_NAMES: [&str; 3] = ["date", "index", "__index_level_0__"];

/// Why a Parquet file's date range could not be read (shown to operators as the reason the
/// file is unusable).
#[derive(Debug, thiserror::Error)]
pub enum ParquetDateError {
    /// The file could not be opened.
    #[error("unreadable: {0}")]
    Io(#[from] std::io::Error),
    /// The footer or a page is not valid Parquet (or uses an unsupported compression).
    #[error("not a readable Parquet file: {0}")]
    Parquet(#[from] ParquetError),
    /// The file has no columns at all.
    #[error("no columns")]
    NoColumns,
    /// The chosen date column holds no dates.
    #[error("column '{column}' is {found}, not a date or a timestamp (ms, us or ns)")]
    NotADate {
        /// The column's name.
        column: String,
        /// Its physical and logical type.
        found: String,
    },
    /// No row group has a row.
    #[error("no data rows")]
    NoRows,
    /// The first or last row has no date.
    #[error("column '{column}' has a missing date in its first or last row")]
    MissingDate {
        /// The column's name.
        column: String,
    },
    /// A value lies outside what a calendar date can hold.
    #[error("column '{column}' holds {value}, which is not a representable date")]
    BadValue {
        /// The column's name.
        column: String,
        /// The raw stored number.
        value: i64,
    },
    /// The last date is before the first.
    #[error("dates must increase")]
    Decreasing,
}

/// How the date column stores a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// INT32 days since 1970-01-01.
    Days,
    /// INT64 ticks since 1970-01-01T00:00:00, this many per second.
    Ticks(i64),
}

/// The first and last day of the Parquet file at `path` (blocking file I/O).
pub fn parquet_range(path: &Path) -> Result<(NaiveDate, NaiveDate), ParquetDateError> {
    let reader = SerializedFileReader::new(File::open(path)?)?;
    let meta = reader.metadata();
    let (index, encoding) = date_column(meta)?;
    let column = meta.file_metadata().schema_descr().column(index).name().to_owned();
    let groups: Vec<usize> =
        (0..meta.num_row_groups()).filter(|&g| meta.row_group(g).num_rows() > 0).collect();
    let (Some(&first_group), Some(&last_group)) = (groups.first(), groups.last()) else {
        return Err(ParquetDateError::NoRows);
    };
    let (lo, hi) = match footer_bounds(meta, &groups, index) {
        Some(bounds) => bounds,
        None => {
            let first = edge_value(reader.get_row_group(first_group)?.as_ref(), index, Edge::First)?;
            let last = edge_value(reader.get_row_group(last_group)?.as_ref(), index, Edge::Last)?;
            match (first, last) {
                (Some(first), Some(last)) => (first, last),
                _ => return Err(ParquetDateError::MissingDate { column }),
            }
        }
    };
    let first = to_day(lo, encoding)
        .ok_or_else(|| ParquetDateError::BadValue { column: column.clone(), value: lo })?;
    let last = to_day(hi, encoding)
        .ok_or_else(|| ParquetDateError::BadValue { column: column.clone(), value: hi })?;
    if last < first {
        return Err(ParquetDateError::Decreasing);
    }
    Ok((first, last))
}

/// The index and encoding of the date column (see the module documentation for the rule).
fn date_column(meta: &ParquetMetaData) -> Result<(usize, Encoding), ParquetDateError> {
    let schema = meta.file_metadata().schema_descr();
    let columns = schema.columns();
    if columns.is_empty() {
        return Err(ParquetDateError::NoColumns);
    }
    // Top-level, non-repeated columns only: a nested field is never the date.
    let flat = |c: &ColumnDescriptor| c.path().parts().len() == 1 && c.max_rep_level() == 0;
    let by_name = |name: &str| columns.iter().position(|c| flat(c) && c.name() == name);
    let pandas_index = meta
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|kv| kv.key == "pandas"))
        .and_then(|kv| kv.value.as_deref())
        .and_then(pandas_index_column)
        .and_then(|name| by_name(&name));
    let named = || {
        columns.iter().position(|c| flat(c) && DATE_NAMES.iter().any(|n| c.name().eq_ignore_ascii_case(n)))
    };
    let index = pandas_index.or_else(named).unwrap_or(0);
    let descr = schema.column(index);
    match encoding(&descr) {
        Some(encoding) if flat(&descr) => Ok((index, encoding)),
        _ => Err(ParquetDateError::NotADate {
            column: descr.name().to_owned(),
            found: match descr.logical_type_ref() {
                Some(logical) => format!("{} ({logical:?})", descr.physical_type()),
                None => format!("{} ({})", descr.physical_type(), descr.converted_type()),
            },
        }),
    }
}

/// The first stored index column named in pandas' `to_parquet` metadata (a range index is
/// stored as metadata only and has no column).
fn pandas_index_column(json: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    value.get("index_columns")?.as_array()?.first()?.as_str().map(str::to_owned)
}

/// How `descr` stores a day, if it is a date or a timestamp.
fn encoding(descr: &ColumnDescriptor) -> Option<Encoding> {
    let per_second = |unit: &TimeUnit| match unit {
        TimeUnit::MILLIS => 1_000,
        TimeUnit::MICROS => 1_000_000,
        TimeUnit::NANOS => 1_000_000_000,
    };
    match (descr.physical_type(), descr.logical_type_ref(), descr.converted_type()) {
        (PhysicalType::INT32, Some(LogicalType::Date), _)
        | (PhysicalType::INT32, None, ConvertedType::DATE) => Some(Encoding::Days),
        (PhysicalType::INT64, Some(LogicalType::Timestamp(t)), _) => {
            Some(Encoding::Ticks(per_second(&t.unit)))
        }
        (PhysicalType::INT64, None, ConvertedType::TIMESTAMP_MILLIS) => Some(Encoding::Ticks(1_000)),
        (PhysicalType::INT64, None, ConvertedType::TIMESTAMP_MICROS) => Some(Encoding::Ticks(1_000_000)),
        _ => None,
    }
}

/// The smallest and largest stored value of column `index`, from the footer alone, when
/// every non-empty row group has exact statistics without nulls.
fn footer_bounds(meta: &ParquetMetaData, groups: &[usize], index: usize) -> Option<(i64, i64)> {
    let mut bounds: Option<(i64, i64)> = None;
    for &group in groups {
        let stats = meta.row_group(group).column(index).statistics()?;
        if stats.null_count_opt() != Some(0) || !stats.min_is_exact() || !stats.max_is_exact() {
            return None;
        }
        let (lo, hi) = match stats {
            Statistics::Int32(s) => (i64::from(*s.min_opt()?), i64::from(*s.max_opt()?)),
            Statistics::Int64(s) => (*s.min_opt()?, *s.max_opt()?),
            _ => return None,
        };
        bounds = Some(bounds.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
    }
    bounds
}

/// Which row of a row group to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    First,
    Last,
}

/// The value of column `index` in the first or last row of `group` (None when null); only
/// that column's pages are decoded, up to the row.
fn edge_value(group: &dyn RowGroupReader, index: usize, edge: Edge) -> Result<Option<i64>, ParquetDateError> {
    let rows = usize::try_from(group.metadata().num_rows()).unwrap_or(0);
    let skip = if edge == Edge::Last { rows.saturating_sub(1) } else { 0 };
    let mut defs = Vec::new();
    match group.get_column_reader(index)? {
        ColumnReader::Int32ColumnReader(mut reader) => {
            reader.skip_records(skip)?;
            let mut values = Vec::new();
            reader.read_records(1, Some(&mut defs), None, &mut values)?;
            Ok(values.first().map(|&v| i64::from(v)))
        }
        ColumnReader::Int64ColumnReader(mut reader) => {
            reader.skip_records(skip)?;
            let mut values = Vec::new();
            reader.read_records(1, Some(&mut defs), None, &mut values)?;
            Ok(values.first().copied())
        }
        _ => Ok(None),
    }
}

/// The day of a stored value.
fn to_day(value: i64, encoding: Encoding) -> Option<NaiveDate> {
    match encoding {
        Encoding::Days => {
            let days = i32::try_from(value).ok()?;
            NaiveDate::from_ymd_opt(1970, 1, 1)?
                .checked_add_signed(chrono::Duration::try_days(i64::from(days))?)
        }
        Encoding::Ticks(per_second) => {
            let seconds = value.div_euclid(per_second);
            let nanos = u32::try_from(value.rem_euclid(per_second) * (1_000_000_000 / per_second)).ok()?;
            DateTime::from_timestamp(seconds, nanos).map(|t| t.date_naive())
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use parquet::basic::Compression;
    use parquet::data_type::{DoubleType, Int32Type, Int64Type};
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    use super::*;

    /// How a test file is written.
    pub(crate) struct Shape<'a> {
        /// The schema's date column line, e.g. `REQUIRED INT64 Date (TIMESTAMP(MILLIS,false));`.
        pub date_field: &'a str,
        /// Put the date column last (as pyarrow does with an index) instead of first.
        pub date_last: bool,
        /// pandas' metadata JSON, if any.
        pub pandas: Option<&'a str>,
        /// Write footer statistics.
        pub statistics: bool,
        /// Rows per row group.
        pub group_rows: usize,
        /// Compression of every column.
        pub compression: Compression,
    }

    impl Default for Shape<'_> {
        fn default() -> Self {
            Self {
                date_field: "REQUIRED INT64 Date (TIMESTAMP(MILLIS,false));",
                date_last: false,
                pandas: None,
                statistics: true,
                group_rows: 1000,
                compression: Compression::SNAPPY,
            }
        }
    }

    /// Writes a Parquet file with a date column holding `dates` (raw stored values) and a
    /// Close column.
    pub(crate) fn write(path: &Path, shape: &Shape<'_>, dates: &[i64]) {
        let date_field = shape.date_field;
        let fields = if shape.date_last {
            format!("REQUIRED DOUBLE Close; {date_field}")
        } else {
            format!("{date_field} REQUIRED DOUBLE Close;")
        };
        let schema = Arc::new(parse_message_type(&format!("message schema {{ {fields} }}")).expect("schema"));
        let mut props = WriterProperties::builder().set_compression(shape.compression);
        if !shape.statistics {
            props = props.set_statistics_enabled(EnabledStatistics::None);
        }
        if let Some(json) = shape.pandas {
            props =
                props.set_key_value_metadata(Some(vec![KeyValue::new("pandas".to_owned(), json.to_owned())]));
        }
        let file = File::create(path).expect("create");
        let mut writer = SerializedFileWriter::new(file, schema, Arc::new(props.build())).expect("writer");
        let optional = date_field.starts_with("OPTIONAL");
        for chunk in dates.chunks(shape.group_rows.max(1)) {
            let mut group = writer.next_row_group().expect("group");
            let order: [bool; 2] = if shape.date_last { [false, true] } else { [true, false] };
            for is_date in order {
                let mut column = group.next_column().expect("column").expect("a column");
                if is_date {
                    let defs = vec![1_i16; chunk.len()];
                    let defs = optional.then_some(defs.as_slice());
                    if date_field.contains(" INT32 ") {
                        let days: Vec<i32> = chunk.iter().map(|&d| i32::try_from(d).expect("i32")).collect();
                        column.typed::<Int32Type>().write_batch(&days, defs, None).expect("write");
                    } else {
                        column.typed::<Int64Type>().write_batch(chunk, defs, None).expect("write");
                    }
                } else {
                    let closes: Vec<f64> = (0..chunk.len()).map(|i| 100.0 + i as f64).collect();
                    column.typed::<DoubleType>().write_batch(&closes, None, None).expect("write");
                }
                column.close().expect("close column");
            }
            group.close().expect("close group");
        }
        writer.close().expect("close file");
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    /// `days` consecutive days from `start`, as `per_second` ticks at 16:00 (a market close)
    /// or, with `per_second` 0, as days since the epoch.
    fn series(start: &str, days: i64, per_second: i64) -> Vec<i64> {
        let epoch = day("1970-01-01");
        (0..days)
            .map(|i| {
                let d = (day(start) - epoch).num_days() + i;
                if per_second == 0 { d } else { (d * 86_400 + 16 * 3600) * per_second }
            })
            .collect()
    }

    #[test]
    fn every_timestamp_unit_and_date32_give_the_same_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cases = [
            ("REQUIRED INT64 Date (TIMESTAMP(MILLIS,false));", 1_000),
            ("REQUIRED INT64 Date (TIMESTAMP(MICROS,true));", 1_000_000),
            ("REQUIRED INT64 Date (TIMESTAMP(NANOS,false));", 1_000_000_000),
            ("REQUIRED INT64 Date (TIMESTAMP_MILLIS);", 1_000),
            ("REQUIRED INT32 Date (DATE);", 0),
        ];
        for (i, (field, per_second)) in cases.into_iter().enumerate() {
            for statistics in [true, false] {
                let path = dir.path().join(format!("t{i}-{statistics}.parquet"));
                let shape = Shape { date_field: field, statistics, group_rows: 100, ..Shape::default() };
                write(&path, &shape, &series("2021-03-01", 365, per_second));
                let range =
                    parquet_range(&path).unwrap_or_else(|e| panic!("{field} stats={statistics}: {e}"));
                assert_eq!(range, (day("2021-03-01"), day("2022-02-28")), "{field} stats={statistics}");
            }
        }
    }

    #[test]
    fn the_pandas_index_or_a_date_named_column_is_found_wherever_it_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dates = series("2019-01-01", 10, 1_000_000_000);
        let unnamed = dir.path().join("unnamed.parquet");
        let pandas = r#"{"index_columns": ["__index_level_0__"], "columns": []}"#;
        let field = "OPTIONAL INT64 __index_level_0__ (TIMESTAMP(NANOS,false));";
        let shape = Shape { date_field: field, date_last: true, pandas: Some(pandas), ..Shape::default() };
        write(&unnamed, &shape, &dates);
        assert_eq!(parquet_range(&unnamed).expect("unnamed"), (day("2019-01-01"), day("2019-01-10")));

        let named = dir.path().join("named.parquet");
        let field = "OPTIONAL INT64 date (TIMESTAMP(MICROS,false));";
        let shape = Shape { date_field: field, date_last: true, statistics: false, ..Shape::default() };
        write(&named, &shape, &series("2019-01-01", 10, 1_000_000));
        assert_eq!(parquet_range(&named).expect("named"), (day("2019-01-01"), day("2019-01-10")));
    }

    #[test]
    fn zstd_pages_are_read_when_the_footer_has_no_statistics() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("z.parquet");
        let zstd = Compression::ZSTD(parquet::basic::ZstdLevel::default());
        let shape = Shape { statistics: false, group_rows: 7, compression: zstd, ..Shape::default() };
        write(&path, &shape, &series("2020-02-01", 30, 1_000));
        assert_eq!(parquet_range(&path).expect("zstd"), (day("2020-02-01"), day("2020-03-01")));
    }

    #[test]
    fn bad_files_say_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = dir.path().join("text.parquet");
        std::fs::write(&text, "Date,Open\n2020-01-01,1\n").expect("write");
        let err = parquet_range(&text).expect_err("not parquet");
        assert!(err.to_string().contains("not a readable Parquet file"), "{err}");

        let prices = dir.path().join("prices.parquet");
        write(&prices, &Shape { date_field: "REQUIRED DOUBLE Open;", ..Shape::default() }, &[]);
        let err = parquet_range(&prices).expect_err("no date");
        assert!(err.to_string().contains("column 'Open' is DOUBLE"), "{err}");

        let empty = dir.path().join("empty.parquet");
        write(&empty, &Shape::default(), &[]);
        assert!(matches!(parquet_range(&empty), Err(ParquetDateError::NoRows)));

        let backwards = dir.path().join("backwards.parquet");
        let mut dates = series("2020-01-01", 3, 1_000);
        dates.reverse();
        write(&backwards, &Shape { statistics: false, ..Shape::default() }, &dates);
        assert!(matches!(parquet_range(&backwards), Err(ParquetDateError::Decreasing)));

        let missing = dir.path().join("missing.parquet");
        assert!(matches!(parquet_range(&missing), Err(ParquetDateError::Io(_))));
    }

    #[test]
    fn the_pandas_written_fixtures_give_their_first_and_last_business_day() {
        // tests/fixtures/datasets/make_synth_parquet.py: SYNTH has a DatetimeIndex `Date`
        // stored last as TIMESTAMP(NANOS) (snappy, statistics); the variants store the same
        // days as a plain first column, as DATE, and as UTC TIMESTAMP(MILLIS) with zstd and
        // no statistics.
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/datasets");
        for name in [
            "SYNTH.parquet",
            "variants/COLUMN.parquet",
            "variants/DATE32.parquet",
            "variants/UTC_ZSTD.parquet",
        ] {
            let range = parquet_range(&fixtures.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(range, (day("2021-01-04"), day("2022-02-25")), "{name}");
        }
    }

    #[test]
    fn values_before_the_epoch_and_past_any_calendar_are_handled() {
        assert_eq!(to_day(-1, Encoding::Ticks(1_000)), Some(day("1969-12-31")));
        assert_eq!(to_day(-1, Encoding::Days), Some(day("1969-12-31")));
        assert_eq!(to_day(i64::MAX, Encoding::Days), None);
        assert_eq!(to_day(i64::MAX, Encoding::Ticks(1)), None);
    }
}
