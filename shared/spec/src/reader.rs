//! A small error-collecting reader over `serde_json::Value`.
//!
//! serde's derive stops at the first error and loses the path; the API promises every error
//! with its path, so documents are parsed to a `Value` first and read field by field here.
//! Each accessor records a [`FieldError`] and returns `None` on failure so reading continues.

use super::errors::{FieldError, SpecErrors};
use super::name::printable;
use crate::codegen::suggest;
use serde_json::{Map, Value};

/// A JSON path as owned segments.
pub(crate) type Loc = Vec<String>;

/// `loc` extended by one segment. Keys come from the client, so an absurdly long key or
/// one with control characters is shortened and escaped before it is echoed back.
pub(crate) fn at(loc: &[String], key: &str) -> Loc {
    let mut l = loc.to_vec();
    if key.chars().count() > 64 || key.chars().any(char::is_control) {
        l.push(printable(key));
    } else {
        l.push(key.to_owned());
    }
    l
}

/// Most errors reported for one document; the rest are summarized in one more error.
pub(crate) const MAX_ERRORS: usize = 100;

/// An interval a number must lie in; each end open or closed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Range {
    pub lo: f64,
    pub lo_incl: bool,
    pub hi: f64,
    pub hi_incl: bool,
}

impl Range {
    /// `lo <= x <= hi`.
    pub const fn incl(lo: f64, hi: f64) -> Self {
        Self { lo, lo_incl: true, hi, hi_incl: true }
    }
    /// `lo < x <= hi`.
    pub const fn above(lo: f64, hi: f64) -> Self {
        Self { lo, lo_incl: false, hi, hi_incl: true }
    }
    /// `lo < x < hi`.
    pub const fn open(lo: f64, hi: f64) -> Self {
        Self { lo, lo_incl: false, hi, hi_incl: false }
    }

    fn contains(&self, x: f64) -> bool {
        let lo_ok = if self.lo_incl { x >= self.lo } else { x > self.lo };
        let hi_ok = if self.hi_incl { x <= self.hi } else { x < self.hi };
        lo_ok && hi_ok
    }

    fn describe(&self) -> String {
        match (self.lo_incl, self.hi_incl) {
            (true, true) => format!("must be between {} and {}", self.lo, self.hi),
            (false, true) => format!("must be greater than {} and at most {}", self.lo, self.hi),
            (true, false) => format!("must be at least {} and less than {}", self.lo, self.hi),
            (false, false) => format!("must be greater than {} and less than {}", self.lo, self.hi),
        }
    }
}

/// Collects errors while reading one document.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    pub errors: Vec<FieldError>,
    /// Harmless oddities accepted and ignored, reported so the author knows (`type` `ignored`).
    pub notes: Vec<FieldError>,
}

/// A short name for a JSON value's type, for "expected X, got Y" messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl Reader {
    /// Records an error.
    pub fn push(&mut self, loc: Loc, kind: &str, msg: impl Into<String>) {
        self.errors.push(FieldError::new(loc, kind, msg));
    }

    /// Records something accepted but ignored.
    pub fn note(&mut self, loc: Loc, msg: impl Into<String>) {
        self.notes.push(FieldError::new(loc, "ignored", msg));
    }

    /// Records an error produced without a location, placing it at `loc`.
    pub fn push_at(&mut self, loc: &[String], mut e: FieldError) {
        let mut full = loc.to_vec();
        full.append(&mut e.loc);
        e.loc = full;
        self.errors.push(e);
    }

    /// Whether nothing has been recorded.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Number of errors recorded so far (to tell whether a section added any).
    pub fn count(&self) -> usize {
        self.errors.len()
    }

    /// Ends reading: the value if no error was recorded.
    pub fn finish<T>(self, value: T) -> Result<T, SpecErrors> {
        if self.errors.is_empty() { Ok(value) } else { Err(self.into_errors()) }
    }

    /// The recorded errors, capped at [`MAX_ERRORS`] plus a summary.
    pub fn into_errors(mut self) -> SpecErrors {
        if self.errors.len() > MAX_ERRORS {
            let more = self.errors.len() - MAX_ERRORS;
            self.errors.truncate(MAX_ERRORS);
            self.push(vec![], "too_long", format!("{more} more errors not shown"));
        }
        SpecErrors(self.errors)
    }

    fn type_error(&mut self, loc: &[String], expected: &str, got: &Value) {
        self.push(loc.to_vec(), "type", format!("expected {expected}, got {}", type_name(got)));
    }

    /// The value as an object, or a `type` error.
    pub fn object<'v>(&mut self, v: &'v Value, loc: &[String]) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            other => {
                self.type_error(loc, "an object", other);
                None
            }
        }
    }

    /// Records an `unknown_field` error for every key not in `allowed`, with a suggestion.
    pub fn check_keys(&mut self, obj: &Map<String, Value>, allowed: &[&str], loc: &[String]) {
        for key in obj.keys() {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            let hint = suggest::closest(key, allowed.iter().copied())
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            self.push(
                at(loc, key),
                "unknown_field",
                format!("unknown field '{}'{hint}; allowed: {}", printable(key), allowed.join(", ")),
            );
        }
    }

    /// A present, non-null field, or a `missing` error.
    pub fn required<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        key: &str,
        loc: &[String],
    ) -> Option<&'v Value> {
        match obj.get(key) {
            Some(Value::Null) | None => {
                self.push(at(loc, key), "missing", "field required");
                None
            }
            Some(v) => Some(v),
        }
    }

    /// A present, non-null field or `None` (absent and `null` both mean "use the default").
    pub fn optional<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
        obj.get(key).filter(|v| !v.is_null())
    }

    /// A finite number within `range`.
    pub fn number(&mut self, v: &Value, loc: &[String], range: Range) -> Option<f64> {
        let Some(x) = v.as_f64() else {
            self.type_error(loc, "a number", v);
            return None;
        };
        if !x.is_finite() || !range.contains(x) {
            self.push(loc.to_vec(), "range", range.describe());
            return None;
        }
        Some(x)
    }

    /// An integer (integral floats such as `14.0` accepted) within `lo..=hi`.
    pub fn integer(&mut self, v: &Value, loc: &[String], lo: i64, hi: i64) -> Option<i64> {
        let Value::Number(n) = v else {
            self.type_error(loc, "an integer", v);
            return None;
        };
        let value = if let Some(i) = n.as_i64() {
            Some(i)
        } else if n.is_u64() {
            // Larger than i64::MAX: certainly out of range.
            None
        } else {
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    // Checked integral and far inside i64.
                    #[allow(clippy::cast_possible_truncation)]
                    Some(f as i64)
                }
                Some(f) if f.fract() != 0.0 => {
                    self.push(loc.to_vec(), "type", "expected an integer, got a fraction");
                    return None;
                }
                _ => None,
            }
        };
        match value {
            Some(i) if (lo..=hi).contains(&i) => Some(i),
            _ => {
                self.push(loc.to_vec(), "range", format!("must be between {lo} and {hi}"));
                None
            }
        }
    }

    /// A `u32` within `lo..=hi`.
    pub fn u32_in(&mut self, v: &Value, loc: &[String], lo: u32, hi: u32) -> Option<u32> {
        self.integer(v, loc, i64::from(lo), i64::from(hi)).and_then(|i| u32::try_from(i).ok())
    }

    /// A string of at most `max_chars` characters.
    pub fn string<'v>(&mut self, v: &'v Value, loc: &[String], max_chars: usize) -> Option<&'v str> {
        let Value::String(s) = v else {
            self.type_error(loc, "a string", v);
            return None;
        };
        if s.chars().count() > max_chars {
            self.push(loc.to_vec(), "too_long", format!("must be at most {max_chars} characters"));
            return None;
        }
        Some(s)
    }

    /// A list of at most `max_len` items.
    pub fn array<'v>(&mut self, v: &'v Value, loc: &[String], max_len: usize) -> Option<&'v [Value]> {
        let Value::Array(items) = v else {
            self.type_error(loc, "a list", v);
            return None;
        };
        if items.len() > max_len {
            self.push(
                loc.to_vec(),
                "too_long",
                format!("must have at most {max_len} items, got {}", items.len()),
            );
            return None;
        }
        Some(items)
    }
}
