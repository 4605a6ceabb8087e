//! The exported JSON Schemas: names, draft, and that they state the limits and defaults the
//! validator enforces (one source of truth: `spec::limits`).

use algoagent_spec::limits::{MAX_DESCRIPTION_CHARS, MAX_INDICATORS, MAX_PERIOD, MAX_RULES, MIN_PERIOD};
use algoagent_spec::{BUILTIN_DATASETS, IndicatorKind, SCHEMA_NAMES, schemas};
use serde_json::Value;

fn schema(name: &str) -> Value {
    schemas().into_iter().find(|(n, _)| *n == name).map(|(_, s)| s).unwrap_or_else(|| panic!("no {name}"))
}

fn def<'a>(root: &'a Value, name: &str) -> &'a Value {
    let d = &root["$defs"][name];
    assert!(d.is_object(), "no $defs/{name} in {root:#}");
    d
}

#[test]
fn three_named_draft_2020_12_schemas_are_exported_deterministically() {
    let all = schemas();
    let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, SCHEMA_NAMES);
    assert_eq!(names, ["StrategyDefinition", "BacktestConfig", "JobEnvelope"]);
    for (name, s) in &all {
        assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema", "{name}");
        assert_eq!(s["title"], *name);
        assert_eq!(s["type"], "object", "{name}");
        assert_eq!(s["additionalProperties"], false, "{name} must refuse unknown fields");
    }
    assert_eq!(serde_json::to_string(&all).ok(), serde_json::to_string(&schemas()).ok());
}

#[test]
fn the_strategy_schema_requires_name_and_entry_rules_and_bounds_them() {
    let s = schema("StrategyDefinition");
    assert_eq!(s["required"], serde_json::json!(["name", "entry_rules"]));
    let rules = &s["properties"]["entry_rules"];
    assert_eq!(rules["type"], "array");
    assert_eq!(rules["minItems"], 1);
    assert_eq!(rules["maxItems"], MAX_RULES);
    assert_eq!(rules["items"]["type"], "string");
    assert_eq!(s["properties"]["description"]["maxLength"], MAX_DESCRIPTION_CHARS);
    let name = def(&s, "StrategyName");
    assert_eq!(name["pattern"], "^[A-Za-z][A-Za-z0-9_-]{0,63}$");
}

#[test]
fn indicator_windows_carry_the_period_range() {
    let s = schema("StrategyDefinition");
    let window = def(&s, "Window");
    let literal = &window["anyOf"][0];
    assert_eq!(literal["type"], "integer");
    assert_eq!(literal["minimum"], MIN_PERIOD);
    assert_eq!(literal["maximum"], MAX_PERIOD);
    assert_eq!(window["anyOf"][1]["type"], "string", "a parameter name is also accepted");
}

#[test]
fn the_indicator_map_lets_an_indicator_named_key_omit_type() {
    let s = schema("StrategyDefinition");
    let map = &s["properties"]["indicators"];
    assert_eq!(map["maxProperties"], MAX_INDICATORS);
    assert_eq!(map["additionalProperties"]["required"], serde_json::json!(["type"]));
    for kind in IndicatorKind::ALL {
        let implied = &map["patternProperties"][format!("^{kind}$")];
        assert_eq!(implied["$ref"], "#/$defs/Indicator", "{kind}");
        assert!(implied.get("required").is_none(), "{kind}: type must be optional under its own key");
    }
    let indicator = def(&s, "Indicator");
    assert!(indicator.get("required").is_none(), "type is required only by the map");
    assert_eq!(indicator["allOf"].as_array().map(Vec::len), Some(IndicatorKind::ALL.len()));
    // Per-type defaults and refused fields.
    let rsi = &map["patternProperties"]["^rsi$"]["then"]["properties"];
    assert_eq!(rsi["period"]["default"], 14);
    assert_eq!(rsi["source"]["default"], "close");
    assert_eq!(rsi["fast"], false);
    let macd = &map["patternProperties"]["^macd$"]["then"]["properties"];
    assert_eq!((&macd["fast"]["default"], &macd["slow"]["default"]), (&12.into(), &26.into()));
    assert_eq!(macd["period"], false);
}

#[test]
fn defaults_are_stated_for_omittable_sections() {
    let s = schema("StrategyDefinition");
    let backtest = &s["properties"]["backtest"]["default"];
    assert_eq!(backtest["initial_capital"], 10_000.0);
    assert_eq!(backtest["commission"], 0.002);
    assert_eq!(backtest["dataset"], "GOOG");
    assert_eq!(s["properties"]["acceptance"]["default"]["min_trades"], 1);
    assert_eq!(s["properties"]["exit_rules"]["default"], serde_json::json!([]));
}

#[test]
fn the_backtest_config_schema_names_every_builtin_dataset() {
    let s = schema("BacktestConfig");
    let pattern = s["properties"]["dataset"]["pattern"].as_str().unwrap_or_default();
    for d in BUILTIN_DATASETS {
        assert!(pattern.contains(d), "{d} missing from {pattern}");
    }
    assert!(pattern.contains("csv:"));
    assert_eq!(s["properties"]["initial_capital"]["exclusiveMinimum"], 0);
}

#[test]
fn the_job_envelope_schema_pins_the_version_and_lists_payload_types() {
    let s = schema("JobEnvelope");
    assert_eq!(s["properties"]["v"]["const"], algoagent_core::ENVELOPE_VERSION);
    let payload = def(&s, "JobPayload");
    let types: Vec<&str> = payload["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["properties"]["type"]["const"].as_str())
        .collect();
    assert_eq!(
        types,
        [
            "generate.v1",
            "validate.v1",
            "test.v1",
            "fix.v1",
            "merge.v1",
            "sandbox_test.v1",
            "sandbox_backtest.v1"
        ]
    );
    assert_eq!(def(&s, "JobId")["format"], "uuid");
}

#[test]
fn optional_fields_accept_null_like_the_reader_and_required_ones_do_not() {
    let s = schema("StrategyDefinition");
    let props = &s["properties"];
    assert_eq!(props["description"]["type"], serde_json::json!(["string", "null"]));
    assert_eq!(props["backtest"]["anyOf"][1]["type"], "null");
    assert_eq!(props["entry_rules"]["type"], "array", "entry_rules is required: null is refused");
    assert_eq!(props["name"]["$ref"], "#/$defs/StrategyName");
    let envelope = schema("JobEnvelope");
    assert_eq!(envelope["properties"]["attempt"]["type"], "integer", "the envelope stays strict");
}
