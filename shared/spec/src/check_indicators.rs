//! Reading the `indicators` section: kinds, per-kind fields, defaults and parameter
//! references.

use super::indicator::{IndicatorField, IndicatorKind, PriceColumn};
use super::limits::{MAX_INDICATORS, MAX_PERIOD, MAX_STD_DEV, MIN_PERIOD};
use super::name::{check_identifier, printable};
use super::reader::{Range, Reader, at};
use super::strategy::{IndicatorSpec, IntOrParam, NumOrParam, ParamValue, SeriesSource};
use crate::codegen::suggest;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Reads `indicators`; also returns whether the section as a whole was unreadable.
pub(crate) fn read_indicators(
    r: &mut Reader,
    v: Option<&Value>,
    params: &BTreeMap<String, ParamValue>,
) -> (BTreeMap<String, IndicatorSpec>, bool) {
    let loc = vec!["indicators".to_owned()];
    let mut out = BTreeMap::new();
    let Some(v) = v else {
        return (out, false);
    };
    let Some(obj) = r.object(v, &loc) else {
        return (out, true);
    };
    if obj.len() > MAX_INDICATORS {
        r.push(loc, "too_long", format!("at most {MAX_INDICATORS} indicators, got {}", obj.len()));
        return (out, true);
    }
    for (key, value) in obj {
        let iloc = at(&loc, key);
        if let Err(e) = check_identifier(key) {
            r.push_at(&iloc, e);
            continue;
        }
        if params.contains_key(key) {
            r.push(
                iloc.clone(),
                "conflict",
                format!("'{key}' is also a parameter name; names must be unique"),
            );
        }
        let others: Vec<&str> = obj.keys().map(String::as_str).filter(|k| k != key).collect();
        if let Some(spec) = read_indicator(r, key, value, &iloc, params, &others) {
            out.insert(key.clone(), spec);
        }
    }
    resolve_sources(r, &mut out, &loc);
    (out, false)
}

/// Second pass over indicators computed on indicators: the output a source names must
/// exist (and is written in canonical form), and sources must not form a cycle.
fn resolve_sources(r: &mut Reader, out: &mut BTreeMap<String, IndicatorSpec>, loc: &[String]) {
    let mut canonical = Vec::new();
    for (key, spec) in out.iter() {
        let Some((name, output)) = spec.source.as_ref().and_then(SeriesSource::indicator) else { continue };
        // An entry in error has reported itself; its dependents need not repeat it.
        let Some(target) = out.get(name) else { continue };
        let sloc = at(&at(loc, key), "source");
        match output {
            Some(o) => match target.kind.output_index(o) {
                Some(i) => canonical.push((key.clone(), format!("{name}.{}", target.kind.outputs()[i]))),
                None if target.kind.outputs().is_empty() => r.push(
                    sloc,
                    "pattern",
                    format!("'{name}' is a {} indicator with a single output; use '{name}'", target.kind),
                ),
                None => r.push(
                    sloc,
                    "pattern",
                    format!(
                        "'{name}' has no output '{}'; its outputs are {}",
                        printable(o),
                        target.kind.outputs().join(", ")
                    ),
                ),
            },
            None => canonical.push((key.clone(), name.to_owned())),
        }
    }
    for (key, source) in canonical {
        if let Some(spec) = out.get_mut(&key) {
            spec.source = Some(SeriesSource::Indicator(source));
        }
    }
    for start in out.keys() {
        let mut seen = vec![start.as_str()];
        let mut cur = start.as_str();
        while let Some((next, _)) =
            out.get(cur).and_then(|s| s.source.as_ref()).and_then(SeriesSource::indicator)
        {
            if next == start {
                seen.push(next);
                r.push(
                    at(&at(loc, start), "source"),
                    "conflict",
                    format!("indicator sources form a cycle: {}", seen.join(" -> ")),
                );
                break;
            }
            if seen.contains(&next) || !out.contains_key(next) {
                break;
            }
            seen.push(next);
            cur = next;
        }
    }
}

fn all_indicator_keys() -> Vec<&'static str> {
    let mut keys = vec!["type", "output"];
    for k in IndicatorKind::ALL {
        for f in k.fields() {
            if !keys.contains(&f.key()) {
                keys.push(f.key());
            }
        }
    }
    keys
}

fn read_indicator(
    r: &mut Reader,
    key: &str,
    v: &Value,
    loc: &[String],
    params: &BTreeMap<String, ParamValue>,
    others: &[&str],
) -> Option<IndicatorSpec> {
    let obj = r.object(v, loc)?;
    let errors_before = r.count();
    let mut implied_output = None;
    let kind = match Reader::optional(obj, "type") {
        Some(t) => {
            let tloc = at(loc, "type");
            r.string(t, &tloc, 64).and_then(|s| match IndicatorKind::from_type_name(s) {
                Some((k, output)) => {
                    implied_output = output;
                    Some(k)
                }
                None => {
                    let names: Vec<&str> = IndicatorKind::ALL.iter().map(|k| k.name()).collect();
                    let hint = suggest::closest(s, names.iter().copied())
                        .map(|n| format!(" (did you mean '{n}'?)"))
                        .unwrap_or_default();
                    r.push(
                        tloc,
                        "pattern",
                        format!(
                            "unknown indicator type '{}'{hint}; known: {}",
                            printable(s),
                            names.join(", ")
                        ),
                    );
                    None
                }
            })
        }
        None => match IndicatorKind::from_type_name(key) {
            Some((k, output)) => {
                implied_output = output;
                Some(k)
            }
            None => {
                r.push(
                    at(loc, "type"),
                    "missing",
                    format!("field required: '{key}' is not an indicator name, so 'type' must say which indicator it is"),
                );
                None
            }
        },
    };
    let Some(kind) = kind else {
        // Still report unknown fields against everything any indicator accepts.
        r.check_keys(obj, &all_indicator_keys(), loc);
        return None;
    };
    let mut allowed = vec!["type"];
    if !kind.outputs().is_empty() {
        allowed.push("output");
    }
    allowed.extend(kind.fields().iter().map(|f| f.key()));
    for k in obj.keys() {
        // `source` on an indicator that reads fixed columns changes nothing: accepted, and
        // the author is told it is ignored (a column name only; anything else is an error).
        if k == "source"
            && !kind.takes_source()
            && obj.get("source").and_then(Value::as_str).is_some_and(|s| PriceColumn::from_name(s).is_some())
        {
            let reads: Vec<&str> = kind.inputs().iter().map(|c| c.name()).collect();
            r.note(
                at(loc, "source"),
                format!("ignored: a {kind} indicator reads {} and takes no source", reads.join(", ")),
            );
            continue;
        }
        if !allowed.contains(&k.as_str()) && all_indicator_keys().contains(&k.as_str()) {
            r.push(
                at(loc, k),
                "unknown_field",
                format!("field '{k}' does not apply to a {kind} indicator; allowed: {}", allowed.join(", ")),
            );
        }
    }
    let unknown: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| !all_indicator_keys().contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    r.check_keys(&unknown, &allowed, loc);

    let mut spec = IndicatorSpec::new(kind);
    spec.output = read_output(r, kind, implied_output, Reader::optional(obj, "output"), loc);
    for field in kind.fields() {
        let floc = at(loc, field.key());
        let raw = Reader::optional(obj, field.key());
        match field {
            IndicatorField::Source => {
                spec.source = match raw {
                    None => Some(SeriesSource::Column(PriceColumn::Close)),
                    Some(v) => r.string(v, &floc, 130).and_then(|s| read_source(r, s, key, others, &floc)),
                };
            }
            f if f.is_real() => {
                let value = match raw {
                    None => Some(NumOrParam::Value(kind.default_real(*f))),
                    Some(Value::String(p)) => param_ref(r, p, &floc, params, |v| {
                        let x = v.as_f64().unwrap_or(f64::NAN);
                        (x > 0.0 && x <= MAX_STD_DEV)
                            .then_some(())
                            .ok_or_else(|| format!("must be greater than 0 and at most {MAX_STD_DEV}"))
                    })
                    .map(|()| NumOrParam::Param(p.clone())),
                    Some(v) => r.number(v, &floc, Range::above(0.0, MAX_STD_DEV)).map(NumOrParam::Value),
                };
                spec.set_real(*f, value);
            }
            _ => {
                let value = match raw {
                    None => Some(IntOrParam::Value(kind.default_window(*field))),
                    Some(Value::String(p)) => param_ref(r, p, &floc, params, |v| {
                        v.as_window(MIN_PERIOD, MAX_PERIOD).map(|_| ()).ok_or_else(|| {
                            format!("must be an integer between {MIN_PERIOD} and {MAX_PERIOD} to serve as a window")
                        })
                    })
                    .map(|()| IntOrParam::Param(p.clone())),
                    Some(v) => r.u32_in(v, &floc, MIN_PERIOD, MAX_PERIOD).map(IntOrParam::Value),
                };
                spec.set_window(*field, value);
            }
        }
    }
    if kind == IndicatorKind::Macd {
        let value = |w: &Option<IntOrParam>| match w {
            Some(IntOrParam::Value(n)) => Some(i64::from(*n)),
            Some(IntOrParam::Param(p)) => match params.get(p) {
                Some(ParamValue::Int(i)) => Some(*i),
                _ => None,
            },
            None => None,
        };
        if let (Some(f), Some(s)) = (value(&spec.fast), value(&spec.slow))
            && f >= s
        {
            r.push(at(loc, "fast"), "conflict", format!("fast ({f}) must be less than slow ({s})"));
        }
    }
    (r.count() == errors_before).then_some(spec)
}

/// A `source`: a column, or another declared indicator (`roc`, `macd.hist`) whose output is
/// checked once every entry is read.
fn read_source(r: &mut Reader, s: &str, key: &str, others: &[&str], loc: &[String]) -> Option<SeriesSource> {
    if let Some(c) = PriceColumn::from_name(s) {
        return Some(SeriesSource::Column(c));
    }
    let name = s.split_once('.').map_or(s, |(n, _)| n);
    if others.contains(&name) {
        return Some(SeriesSource::Indicator(s.to_owned()));
    }
    let message = if name == key {
        format!("indicator '{key}' cannot be computed on itself")
    } else {
        let hint =
            suggest::closest(name, others.iter().copied().chain(["open", "high", "low", "close", "volume"]))
                .map(|n| format!(" (did you mean '{n}'?)"))
                .unwrap_or_default();
        format!(
            "unknown source '{}'{hint}; expected a column (open, high, low, close, volume) or another declared indicator",
            printable(s)
        )
    };
    r.push(loc.to_vec(), "pattern", message);
    None
}

/// The canonical output a bare reference reads: from `output`, or implied by a component
/// type such as `bollinger_lower`; the two must agree.
fn read_output(
    r: &mut Reader,
    kind: IndicatorKind,
    implied: Option<usize>,
    raw: Option<&Value>,
    loc: &[String],
) -> Option<String> {
    let outputs = kind.outputs();
    let explicit = match raw {
        None => None,
        // A single-output kind already reported `output` as a field that does not apply.
        Some(_) if outputs.is_empty() => return None,
        Some(v) => {
            let oloc = at(loc, "output");
            let name = r.string(v, &oloc, 64)?;
            match kind.output_index(name) {
                Some(i) => Some(i),
                None => {
                    r.push(
                        oloc,
                        "pattern",
                        format!(
                            "{kind} has no output '{}'; its outputs are {}",
                            printable(name),
                            outputs.join(", ")
                        ),
                    );
                    return None;
                }
            }
        }
    };
    if let (Some(e), Some(i)) = (explicit, implied)
        && e != i
    {
        r.push(
            at(loc, "output"),
            "conflict",
            format!(
                "output '{}' disagrees with the type, which names the '{}' output",
                outputs[e], outputs[i]
            ),
        );
        return None;
    }
    explicit.or(implied).map(|i| outputs[i].to_owned())
}

/// Checks that a string field names a parameter whose value passes `ok`.
fn param_ref(
    r: &mut Reader,
    name: &str,
    loc: &[String],
    params: &BTreeMap<String, ParamValue>,
    ok: impl Fn(&ParamValue) -> Result<(), String>,
) -> Option<()> {
    match params.get(name) {
        Some(v) => match ok(v) {
            Ok(()) => Some(()),
            Err(why) => {
                r.push(loc.to_vec(), "range", format!("parameter '{name}' is {v}; it {why}"));
                None
            }
        },
        None => {
            let hint = suggest::closest(name, params.keys().map(String::as_str))
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            r.push(
                loc.to_vec(),
                "undeclared",
                format!(
                    "'{}' is not a declared parameter{hint}; use a number or a parameter name",
                    printable(name)
                ),
            );
            None
        }
    }
}
