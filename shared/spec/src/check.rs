//! Reading and validating strategy specs and backtest configs from untrusted JSON.
//!
//! Structure (types, unknown and missing fields), ranges, names and rules are checked in
//! one pass that keeps going after an error, so a client sees every problem at once.

use super::backtest::BacktestConfig;
use super::check_backtest::read_backtest;
use super::check_indicators::read_indicators;
use super::errors::{FieldError, SpecErrors};
use super::limits::{
    MAX_ABS_NUMBER, MAX_DESCRIPTION_CHARS, MAX_DOCUMENT_BYTES, MAX_MIN_TRADES, MAX_PARAMETERS,
    MAX_RULE_CHARS, MAX_RULES,
};
use super::name::{StrategyName, check_identifier};
use super::reader::{Range, Reader, at};
use super::strategy::{
    AcceptanceCriteria, IndicatorSpec, MAX_TEXT_PARAM, ParamValue, RiskConfig, StrategySpec,
};
use crate::codegen::{Resolver, Scope, parse_rule};
use serde_json::Value;
use std::collections::BTreeMap;

const STRATEGY_FIELDS: &[&str] = &[
    "name",
    "description",
    "parameters",
    "indicators",
    "entry_rules",
    "exit_rules",
    "risk",
    "backtest",
    "acceptance",
];

/// How rules are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleMode {
    /// Every rule must parse in the rule language and name only declared things (the rule
    /// compiler will turn them into code).
    Compiled,
    /// Rules the compiler cannot parse are kept as free text (an LLM provider reads the
    /// whole spec); size bounds still apply.
    FreeTextAllowed,
    /// The schema alone, as the prototype's `validate-schema` answers it: free-text rules
    /// and an empty `entry_rules` are schema-valid; whether the rule compiler can compile
    /// the spec is a separate question ([`StrategySpec::compile_check`](super::StrategySpec::compile_check)).
    Schema,
}

/// Parses bytes into a JSON value, or a root-level error.
fn parse_document(bytes: &[u8]) -> Result<Value, SpecErrors> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(FieldError::new(
            vec![],
            "too_long",
            format!("document is larger than {MAX_DOCUMENT_BYTES} bytes"),
        )
        .into());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        FieldError::new(
            vec![],
            "json_invalid",
            format!("invalid JSON at line {} column {}: {e}", e.line(), e.column()),
        )
        .into()
    })
}

/// `StrategySpec::parse_json_with`.
pub(crate) fn parse_strategy(bytes: &[u8], rules: RuleMode) -> Result<StrategySpec, SpecErrors> {
    read_strategy(&parse_document(bytes)?, rules)
}

/// `BacktestConfig::parse_json`.
pub(crate) fn parse_backtest(bytes: &[u8]) -> Result<BacktestConfig, SpecErrors> {
    let value = parse_document(bytes)?;
    let mut r = Reader::default();
    let config = read_backtest(&mut r, &value, &[]);
    r.finish(config)
}

/// Reads a whole strategy spec from a JSON value.
pub(crate) fn read_strategy(v: &Value, rules: RuleMode) -> Result<StrategySpec, SpecErrors> {
    read_strategy_noted(v, rules).map(|(spec, _)| spec)
}

/// `StrategySpec::parse_json_noted`.
pub(crate) fn parse_strategy_noted(
    bytes: &[u8],
    rules: RuleMode,
) -> Result<(StrategySpec, Vec<FieldError>), SpecErrors> {
    read_strategy_noted(&parse_document(bytes)?, rules)
}

/// Reads a whole strategy spec, with the notes on what was accepted and ignored.
pub(crate) fn read_strategy_noted(
    v: &Value,
    rules: RuleMode,
) -> Result<(StrategySpec, Vec<FieldError>), SpecErrors> {
    let mut r = Reader::default();
    let Some(obj) = r.object(v, &[]) else {
        return Err(r.into_errors());
    };
    r.check_keys(obj, STRATEGY_FIELDS, &[]);

    let name = r.required(obj, "name", &[]).and_then(|v| {
        let loc = at(&[], "name");
        let s = r.string(v, &loc, usize::MAX)?;
        StrategyName::parse(s).map_err(|e| r.push_at(&loc, e)).ok()
    });

    let description = Reader::optional(obj, "description")
        .and_then(|v| r.string(v, &at(&[], "description"), MAX_DESCRIPTION_CHARS))
        .unwrap_or_default()
        .to_owned();

    let parameters = read_parameters(&mut r, Reader::optional(obj, "parameters"));
    let params_section_failed = parameters.is_none();
    let parameters = parameters.unwrap_or_default();

    let (indicators, indicators_section_failed) =
        read_indicators(&mut r, Reader::optional(obj, "indicators"), &parameters);

    // The scope for rules: every declared name, even when its value was invalid.
    let mut scope = Scope { lenient: params_section_failed || indicators_section_failed, ..Scope::default() };
    if let Some(Value::Object(m)) = obj.get("parameters") {
        for k in m.keys() {
            scope.parameters.insert(k.clone(), parameters.get(k).cloned());
        }
    }
    if let Some(Value::Object(m)) = obj.get("indicators") {
        for k in m.keys() {
            scope.indicators.insert(k.clone(), indicators.get(k).map(|i| i.kind));
            if let Some(o) = indicators.get(k).and_then(IndicatorSpec::default_output) {
                scope.outputs.insert(k.clone(), o);
            }
        }
    }

    let entry_rules = match r.required(obj, "entry_rules", &[]) {
        Some(v) => read_rules(&mut r, v, "entry_rules", &scope, rules != RuleMode::Schema, rules),
        None => Vec::new(),
    };
    let exit_rules = match Reader::optional(obj, "exit_rules") {
        Some(v) => read_rules(&mut r, v, "exit_rules", &scope, false, rules),
        None => Vec::new(),
    };

    let risk = Reader::optional(obj, "risk").map(|v| read_risk(&mut r, v)).unwrap_or_default();
    let backtest = Reader::optional(obj, "backtest")
        .map(|v| read_backtest(&mut r, v, &["backtest".to_owned()]))
        .unwrap_or_default();
    let acceptance =
        Reader::optional(obj, "acceptance").map(|v| read_acceptance(&mut r, v)).unwrap_or_default();

    let notes = std::mem::take(&mut r.notes);
    match (name, r.ok()) {
        (Some(name), true) => Ok((
            StrategySpec {
                name,
                description,
                parameters,
                indicators,
                entry_rules,
                exit_rules,
                risk,
                backtest,
                acceptance,
            },
            notes,
        )),
        _ => Err(r.into_errors()),
    }
}

/// Reads `parameters`; `None` when the section is not an object at all.
fn read_parameters(r: &mut Reader, v: Option<&Value>) -> Option<BTreeMap<String, ParamValue>> {
    let loc = vec!["parameters".to_owned()];
    let Some(v) = v else {
        return Some(BTreeMap::new());
    };
    let obj = r.object(v, &loc)?;
    if obj.len() > MAX_PARAMETERS {
        r.push(loc, "too_long", format!("at most {MAX_PARAMETERS} parameters, got {}", obj.len()));
        return None;
    }
    let mut out = BTreeMap::new();
    for (key, value) in obj {
        let ploc = at(&loc, key);
        if let Err(e) = check_identifier(key) {
            r.push_at(&ploc, e);
            continue;
        }
        let pv = match value {
            Value::Bool(b) => ParamValue::Bool(*b),
            Value::String(s) => {
                if s.chars().count() > MAX_TEXT_PARAM {
                    r.push(
                        ploc,
                        "too_long",
                        format!("a text parameter has at most {MAX_TEXT_PARAM} characters"),
                    );
                    continue;
                }
                if s.chars().any(char::is_control) {
                    r.push(ploc, "pattern", "a text parameter cannot contain control characters".to_owned());
                    continue;
                }
                ParamValue::Text(s.clone())
            }
            Value::Number(_) => {
                let Some(x) = r.number(value, &ploc, Range::incl(-MAX_ABS_NUMBER, MAX_ABS_NUMBER)) else {
                    continue;
                };
                // Integers stay integers so they can serve as windows.
                match value.as_i64() {
                    Some(i) => ParamValue::Int(i),
                    None => ParamValue::Float(x),
                }
            }
            _ => {
                r.push(ploc, "type", "a parameter is a number, a boolean or a string".to_owned());
                continue;
            }
        };
        out.insert(key.clone(), pv);
    }
    Some(out)
}

fn read_rules(
    r: &mut Reader,
    v: &Value,
    field: &str,
    scope: &Scope,
    non_empty: bool,
    mode: RuleMode,
) -> Vec<String> {
    let loc = vec![field.to_owned()];
    let Some(items) = r.array(v, &loc, MAX_RULES) else {
        return Vec::new();
    };
    if non_empty && items.is_empty() {
        r.push(loc.clone(), "too_short", "at least one rule is required");
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let rloc = at(&loc, &i.to_string());
        let Some(src) = r.string(item, &rloc, MAX_RULE_CHARS) else {
            continue;
        };
        let checked = parse_rule(src).and_then(|expr| Resolver::new(scope).rule(&expr));
        match (checked, mode) {
            (Ok(_), _) | (Err(_), RuleMode::FreeTextAllowed | RuleMode::Schema) => out.push(src.to_owned()),
            (Err(e), RuleMode::Compiled) => r.push(rloc, e.kind.as_str(), e.to_string()),
        }
    }
    out
}

fn read_risk(r: &mut Reader, v: &Value) -> RiskConfig {
    let loc = vec!["risk".to_owned()];
    let Some(obj) = r.object(v, &loc) else {
        return RiskConfig::default();
    };
    r.check_keys(obj, &["stop_loss_pct", "take_profit_pct", "position_size"], &loc);
    let mut num =
        |key: &str, range: Range| Reader::optional(obj, key).and_then(|v| r.number(v, &at(&loc, key), range));
    RiskConfig {
        stop_loss_pct: num("stop_loss_pct", Range::open(0.0, 100.0)),
        take_profit_pct: num("take_profit_pct", Range::above(0.0, 1000.0)),
        position_size: num("position_size", Range::above(0.0, 1.0)),
    }
}

fn read_acceptance(r: &mut Reader, v: &Value) -> AcceptanceCriteria {
    let loc = vec!["acceptance".to_owned()];
    let Some(obj) = r.object(v, &loc) else {
        return AcceptanceCriteria::default();
    };
    r.check_keys(obj, &["min_trades", "max_drawdown_pct", "min_return_pct", "min_sharpe"], &loc);
    let min_trades = Reader::optional(obj, "min_trades")
        .and_then(|v| r.u32_in(v, &at(&loc, "min_trades"), 0, MAX_MIN_TRADES))
        .unwrap_or(1);
    let mut num =
        |key: &str, range: Range| Reader::optional(obj, key).and_then(|v| r.number(v, &at(&loc, key), range));
    AcceptanceCriteria {
        min_trades,
        max_drawdown_pct: num("max_drawdown_pct", Range::above(0.0, 100.0)),
        min_return_pct: num("min_return_pct", Range::incl(-100.0, 1e6)),
        min_sharpe: num("min_sharpe", Range::incl(-100.0, 100.0)),
    }
}
