//! Integration tests of `algoagent_spec`: every example parses, and every malformed spec is
//! refused with the JSON path and kind of each problem, all at once.

use algoagent_spec::{
    BacktestConfig, FieldError, IndicatorKind, IntOrParam, ParamValue, PriceColumn, SpecErrors, StrategyName,
    StrategySpec,
};
use serde_json::{Value, json};
use std::path::PathBuf;

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/specs")
}

fn parse(v: &Value) -> Result<StrategySpec, SpecErrors> {
    StrategySpec::parse_json(v.to_string().as_bytes())
}

fn errors(v: &Value) -> SpecErrors {
    match parse(v) {
        Ok(spec) => panic!("expected errors, got a valid spec: {spec:?}"),
        Err(e) => e,
    }
}

/// The error at `path`, failing with every error listed when there is none.
fn error_at<'a>(errs: &'a SpecErrors, path: &str) -> &'a FieldError {
    errs.0.iter().find(|e| e.path() == path).unwrap_or_else(|| panic!("no error at {path}; got:\n{errs}"))
}

fn minimal() -> Value {
    json!({"name": "x", "entry_rules": ["close > open"]})
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

#[test]
fn every_example_spec_parses() {
    let mut count = 0;
    for entry in std::fs::read_dir(examples_dir()).expect("examples/specs exists") {
        let path = entry.expect("readable dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("readable example");
        if let Err(e) = StrategySpec::parse_json(&bytes) {
            panic!("{} is invalid:\n{e}", path.display());
        }
        count += 1;
    }
    assert!(count >= 20, "expected at least 20 examples, found {count}");
}

#[test]
fn the_prototype_request_example_is_accepted_and_defaults_are_filled() {
    let spec = parse(&json!({
        "name": "RSI_Reversal",
        "description": "RSI reversal strategy",
        "parameters": {"rsi_period": 14, "oversold": 30, "overbought": 70},
        "indicators": {"rsi": {"period": 14, "source": "close"}},
        "entry_rules": ["rsi < 30", "volume > sma(volume, 20)"],
        "exit_rules": ["rsi > 70"]
    }))
    .expect("valid");
    assert_eq!(spec.name.as_str(), "RSI_Reversal");
    let rsi = &spec.indicators["rsi"];
    assert_eq!(rsi.kind, IndicatorKind::Rsi);
    assert_eq!(rsi.period, Some(IntOrParam::Value(14)));
    assert_eq!(rsi.source, Some(algoagent_spec::SeriesSource::Column(PriceColumn::Close)));
    assert_eq!(spec.parameters["oversold"], ParamValue::Int(30));
    assert_eq!(spec.backtest.initial_capital, 10_000.0);
    assert_eq!(spec.backtest.commission, 0.002);
    assert_eq!(spec.backtest.dataset, "GOOG");
    assert_eq!(spec.acceptance.min_trades, 1);
}

#[test]
fn a_minimal_spec_gets_every_default() {
    let spec = parse(&minimal()).expect("valid");
    assert_eq!(spec.description, "");
    assert!(spec.parameters.is_empty());
    assert!(spec.indicators.is_empty());
    assert!(spec.exit_rules.is_empty());
    assert_eq!(spec.backtest, BacktestConfig::default());
    assert_eq!(spec.backtest.position_size, 1.0);
    assert_eq!(spec.backtest.max_positions, 1);
}

#[test]
fn the_canonical_form_round_trips_through_json_and_serde() {
    let bytes = std::fs::read(examples_dir().join("risk_managed_trend.json")).expect("example");
    let spec = StrategySpec::parse_json(&bytes).expect("valid");
    let canonical = serde_json::to_vec(&spec).expect("serializes");
    let again = StrategySpec::parse_json(&canonical).expect("canonical form is valid");
    assert_eq!(spec, again);
    let via_serde: StrategySpec = serde_json::from_slice(&canonical).expect("serde reads it");
    assert_eq!(spec, via_serde);
    assert_eq!(spec.validate().expect("valid"), spec);
}

#[test]
fn an_indicator_type_is_written_out_in_the_canonical_form() {
    let spec = parse(&json!({
        "name": "x", "indicators": {"rsi": {}, "m": {"type": "macd"}},
        "entry_rules": ["rsi < 30 and m.signal > 0"]
    }))
    .expect("valid");
    let v = serde_json::to_value(&spec).expect("serializes");
    assert_eq!(v["indicators"]["rsi"], json!({"type": "rsi", "period": 14, "source": "close"}));
    assert_eq!(
        v["indicators"]["m"],
        json!({"type": "macd", "source": "close", "fast": 12, "slow": 26, "signal": 9})
    );
}

#[test]
fn a_missing_name_is_refused_at_name() {
    let errs = errors(&json!({"entry_rules": ["close > open"]}));
    let e = error_at(&errs, "name");
    assert_eq!(e.kind, "missing");
    assert_eq!(e.loc, vec!["name"]);
}

#[test]
fn path_traversal_and_unsafe_names_are_refused() {
    for bad in ["../x", "a/b", "a.b", "", " x", "x y", "_x", "1abc", "é", &"a".repeat(65)] {
        let errs = errors(&with(minimal(), "name", json!(bad)));
        let e = error_at(&errs, "name");
        assert!(["pattern", "too_long", "too_short"].contains(&e.kind.as_str()), "{bad:?}: {e}");
    }
    for good in ["a", "RSI_Reversal", "sma-cross-2", &"a".repeat(64)] {
        assert!(StrategyName::parse(good).is_ok(), "{good}");
    }
}

#[test]
fn an_empty_entry_rule_list_is_refused() {
    let errs = errors(&with(minimal(), "entry_rules", json!([])));
    assert_eq!(error_at(&errs, "entry_rules").kind, "too_short");
}

#[test]
fn negative_and_huge_periods_are_refused_with_their_path() {
    for bad in [json!(-5), json!(0), json!(1_000_000_000), json!(5001), json!(1e300)] {
        let spec = json!({"name": "x", "indicators": {"rsi": {"period": bad}},
                          "entry_rules": ["rsi < 30"]});
        let errs = errors(&spec);
        let e = error_at(&errs, "indicators.rsi.period");
        assert_eq!(e.kind, "range", "{bad}: {e}");
        assert_eq!(e.to_string(), "indicators.rsi.period: must be between 1 and 5000");
    }
}

#[test]
fn fractional_periods_are_type_errors_but_integral_floats_are_accepted() {
    let errs = errors(&json!({"name": "x", "indicators": {"rsi": {"period": 14.5}},
                             "entry_rules": ["rsi < 30"]}));
    assert_eq!(error_at(&errs, "indicators.rsi.period").kind, "type");
    let spec = parse(&json!({"name": "x", "indicators": {"rsi": {"period": 14.0}},
                             "entry_rules": ["rsi < 30"]}))
    .expect("14.0 is an integer");
    assert_eq!(spec.indicators["rsi"].period, Some(IntOrParam::Value(14)));
}

#[test]
fn a_rule_naming_an_undeclared_indicator_is_refused_with_a_suggestion() {
    let errs = errors(&json!({
        "name": "x", "indicators": {"rsi": {}}, "entry_rules": ["close > 1", "rsx < 30"]
    }));
    let e = error_at(&errs, "entry_rules.1");
    assert_eq!(e.kind, "undeclared");
    assert_eq!(e.msg, "col 1: unknown indicator 'rsx' (did you mean 'rsi'?)");
}

#[test]
fn an_undeclared_bare_indicator_name_explains_how_to_declare_or_call_it() {
    let errs = errors(&json!({"name": "x", "entry_rules": ["RSI < 30"]}));
    assert_eq!(error_at(&errs, "entry_rules.0").kind, "undeclared");
    let errs = errors(&json!({"name": "x", "entry_rules": ["rsi < 30"]}));
    let e = error_at(&errs, "entry_rules.0");
    assert!(e.msg.contains("declare it under indicators"), "{e}");
}

#[test]
fn rule_syntax_errors_carry_the_column() {
    let errs = errors(&json!({"name": "x", "entry_rules": ["close >> open"]}));
    let e = error_at(&errs, "entry_rules.0");
    assert_eq!(e.kind, "rule_syntax");
    assert!(e.msg.starts_with("col 8:"), "{e}");
}

#[test]
fn a_rule_that_is_not_a_condition_is_a_type_error() {
    let errs = errors(&json!({"name": "x", "entry_rules": ["close + 1"]}));
    assert_eq!(error_at(&errs, "entry_rules.0").kind, "rule_type");
}

#[test]
fn wrong_types_are_refused_at_their_path() {
    let errs = errors(&json!({
        "name": 5,
        "description": ["no"],
        "parameters": [],
        "indicators": {"rsi": {"period": "abc", "source": 3}},
        "entry_rules": "close > open",
        "exit_rules": [1],
        "risk": "none",
        "backtest": {"initial_capital": "lots", "symbols": "GOOG"},
        "acceptance": {"min_trades": -1}
    }));
    for (path, kind) in [
        ("name", "type"),
        ("description", "type"),
        ("parameters", "type"),
        ("indicators.rsi.period", "undeclared"),
        ("indicators.rsi.source", "type"),
        ("entry_rules", "type"),
        ("exit_rules.0", "type"),
        ("risk", "type"),
        ("backtest.initial_capital", "type"),
        ("backtest.symbols", "type"),
        ("acceptance.min_trades", "range"),
    ] {
        assert_eq!(error_at(&errs, path).kind, kind, "{path}");
    }
}

#[test]
fn unknown_fields_are_refused_at_every_level() {
    let errs = errors(&json!({
        "name": "x",
        "entry_rule": [],
        "entry_rules": ["rsi < 30"],
        "indicators": {"rsi": {"period": 14, "lenght": 3, "std_dev": 2}},
        "risk": {"stop_loss": 3},
        "backtest": {"cash": 1},
        "acceptance": {"min_trade": 1}
    }));
    for path in [
        "entry_rule",
        "indicators.rsi.lenght",
        "indicators.rsi.std_dev",
        "risk.stop_loss",
        "backtest.cash",
        "acceptance.min_trade",
    ] {
        assert_eq!(error_at(&errs, path).kind, "unknown_field", "{path}");
    }
    assert!(error_at(&errs, "entry_rule").msg.contains("did you mean 'entry_rules'"));
}

#[test]
fn a_two_megabyte_description_is_refused_at_description() {
    let errs = errors(&with(minimal(), "description", json!("x".repeat(2 * 1024 * 1024))));
    assert_eq!(error_at(&errs, "description").kind, "too_long");
    let ok = parse(&with(minimal(), "description", json!("x".repeat(10_000))));
    assert!(ok.is_ok());
}

#[test]
fn oversized_documents_are_refused_before_parsing() {
    let big = format!("{{\"name\": \"x\", \"description\": \"{}\"}}", "x".repeat(5 << 20));
    let errs = StrategySpec::parse_json(big.as_bytes()).expect_err("too big");
    assert_eq!(errs.0[0].kind, "too_long");
    assert!(errs.0[0].loc.is_empty());
}

#[test]
fn list_and_map_sizes_are_bounded() {
    let rules: Vec<String> = (0..51).map(|i| format!("close > {i}")).collect();
    let errs = errors(&with(minimal(), "entry_rules", json!(rules)));
    assert_eq!(error_at(&errs, "entry_rules").kind, "too_long");

    let long_rule = format!("close > {}", "1".repeat(495));
    let errs = errors(&with(minimal(), "entry_rules", json!([long_rule])));
    assert_eq!(error_at(&errs, "entry_rules.0").kind, "too_long");

    let params: serde_json::Map<String, Value> = (0..101).map(|i| (format!("p{i}"), json!(i))).collect();
    let errs = errors(&with(minimal(), "parameters", Value::Object(params)));
    assert_eq!(error_at(&errs, "parameters").kind, "too_long");

    let inds: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("s{i}"), json!({"type": "sma"}))).collect();
    let errs = errors(&with(minimal(), "indicators", Value::Object(inds)));
    assert_eq!(error_at(&errs, "indicators").kind, "too_long");

    let symbols: Vec<String> = (0..51).map(|i| format!("S{i}")).collect();
    let errs = errors(&with(minimal(), "backtest", json!({"symbols": symbols})));
    assert_eq!(error_at(&errs, "backtest.symbols").kind, "too_long");
}

#[test]
fn malformed_json_is_one_root_error() {
    for bad in ["{", "", "nul", "{\"name\": \"x\",}", "[1, 2]", "\"just a string\""] {
        let errs = StrategySpec::parse_json(bad.as_bytes()).expect_err(bad);
        assert_eq!(errs.0.len(), 1, "{bad}: {errs}");
        assert!(errs.0[0].loc.is_empty());
        assert!(["json_invalid", "type"].contains(&errs.0[0].kind.as_str()), "{bad}");
        assert!(errs.to_string().starts_with("(root): "), "{errs}");
    }
}

#[test]
fn all_semantic_errors_are_reported_at_once() {
    let errs = errors(&json!({
        "name": "../evil",
        "parameters": {"close": 1, "ok": [1]},
        "indicators": {"fast": {"period": 3}, "rsi": {"period": 0}},
        "entry_rules": ["rsx < 30", "close >"],
        "risk": {"stop_loss_pct": 150},
        "backtest": {"commission": 0.5, "dataset": "csv:../../etc/passwd"}
    }));
    for path in [
        "name",
        "parameters.close",
        "parameters.ok",
        "indicators.fast.type",
        "indicators.rsi.period",
        "entry_rules.0",
        "entry_rules.1",
        "risk.stop_loss_pct",
        "backtest.commission",
        "backtest.dataset",
    ] {
        error_at(&errs, path);
    }
    assert_eq!(errs.0.len(), 10, "{errs}");
}

#[test]
fn parameters_used_as_periods_must_be_integers_in_range() {
    let errs = errors(&json!({
        "name": "x", "parameters": {"p": 14.5, "q": 0, "r": 20},
        "indicators": {"a": {"type": "sma", "period": "p"}, "b": {"type": "sma", "period": "q"},
                       "c": {"type": "sma", "period": "r"}, "d": {"type": "sma", "period": "zz"}},
        "entry_rules": ["close > a", "close > sma(close, p)"]
    }));
    assert_eq!(error_at(&errs, "indicators.a.period").kind, "range");
    assert_eq!(error_at(&errs, "indicators.b.period").kind, "range");
    assert_eq!(error_at(&errs, "indicators.d.period").kind, "undeclared");
    assert_eq!(error_at(&errs, "entry_rules.1").kind, "rule_type");
    assert!(!errs.has_path("indicators.c.period"));
}

#[test]
fn macd_fast_must_be_below_slow() {
    let errs = errors(&json!({"name": "x", "indicators": {"macd": {"fast": 30, "slow": 20}},
                             "entry_rules": ["macd > 0"]}));
    assert_eq!(error_at(&errs, "indicators.macd.fast").kind, "conflict");
}

#[test]
fn an_indicator_key_that_is_not_a_kind_needs_a_type() {
    let errs = errors(&json!({"name": "x", "indicators": {"fast_ma": {"period": 5}},
                             "entry_rules": ["close > fast_ma"]}));
    assert_eq!(error_at(&errs, "indicators.fast_ma.type").kind, "missing");
    // The rule is not blamed for the broken declaration.
    assert!(!errs.has_path("entry_rules.0"), "{errs}");
    let errs = errors(&json!({"name": "x", "indicators": {"m": {"type": "smaa"}},
                             "entry_rules": ["close > m"]}));
    let e = error_at(&errs, "indicators.m.type");
    assert!(e.msg.contains("did you mean 'sma'"), "{e}");
}

#[test]
fn reserved_and_conflicting_names_are_refused() {
    let errs = errors(&json!({
        "name": "x",
        "parameters": {"close": 1, "import": 2, "__class__": 3, "x-y": 4, "rsi": 5},
        "indicators": {"rsi": {}, "self": {"type": "sma"}},
        "entry_rules": ["close > 0"]
    }));
    for path in [
        "parameters.close",
        "parameters.import",
        "parameters.__class__",
        "parameters.x-y",
        "indicators.rsi",
        "indicators.self",
    ] {
        error_at(&errs, path);
    }
}

#[test]
fn risk_and_acceptance_ranges_are_enforced() {
    let errs = errors(&json!({
        "name": "x", "entry_rules": ["close > 0"],
        "risk": {"stop_loss_pct": 0, "take_profit_pct": -1, "position_size": 1.5},
        "acceptance": {"max_drawdown_pct": 101, "min_return_pct": -200, "min_sharpe": 1000}
    }));
    for path in [
        "risk.stop_loss_pct",
        "risk.take_profit_pct",
        "risk.position_size",
        "acceptance.max_drawdown_pct",
        "acceptance.min_return_pct",
        "acceptance.min_sharpe",
    ] {
        assert_eq!(error_at(&errs, path).kind, "range", "{path}");
    }
}

#[test]
fn null_optional_fields_mean_defaults() {
    let spec = parse(&json!({"name": "x", "description": null, "exit_rules": null,
                             "risk": null, "entry_rules": ["close > 0"]}))
    .expect("nulls are defaults");
    assert!(spec.exit_rules.is_empty());
}

#[test]
fn validate_refuses_specs_built_in_code_with_unsafe_names() {
    let mut spec = parse(&minimal()).expect("valid");
    spec.parameters.insert("x = 1\nimport os".to_owned(), ParamValue::Int(1));
    let errs = spec.validate().expect_err("unsafe parameter name");
    assert!(errs.0.iter().any(|e| e.loc.first().map(String::as_str) == Some("parameters")));
}

#[test]
fn field_errors_serialize_like_the_prototype() {
    let errs = errors(&json!({"entry_rules": ["close > 0"]}));
    let v = serde_json::to_value(&errs).expect("serializes");
    assert_eq!(v, json!([{"loc": ["name"], "msg": "field required", "type": "missing"}]));
    for e in &errs.0 {
        assert!(FieldError::KINDS.contains(&e.kind.as_str()));
    }
}

#[test]
fn the_prototype_backtest_config_is_valid_with_warnings() {
    let (config, warnings) = BacktestConfig::parse_json(
        br#"{"initial_capital": 100000, "commission": 0.001, "slippage": 0.0005,
             "position_size": 0.1, "max_positions": 5}"#,
    )
    .expect("valid");
    assert_eq!(config.initial_capital, 100_000.0);
    assert_eq!(config.max_positions, 5);
    assert_eq!(config.dataset, "GOOG");
    assert!(warnings.iter().any(|w| w.contains("max_positions")), "{warnings:?}");
}

#[test]
fn invalid_backtest_configs_are_refused_with_paths() {
    let errs = BacktestConfig::parse_json(
        br#"{"initial_capital": 0, "commission": 0.5, "slippage": -1, "position_size": 2,
             "max_positions": 0, "dataset": "csv:../secrets.csv", "symbols": ["GOOG", "a/b"],
             "start_date": "2020-13-01", "end_date": "yesterday", "leverage": 2}"#,
    )
    .expect_err("invalid");
    for (path, kind) in [
        ("initial_capital", "range"),
        ("commission", "range"),
        ("slippage", "range"),
        ("position_size", "range"),
        ("max_positions", "range"),
        ("dataset", "pattern"),
        ("symbols.1", "pattern"),
        ("start_date", "pattern"),
        ("end_date", "pattern"),
        ("leverage", "unknown_field"),
    ] {
        assert_eq!(error_at(&errs, path).kind, kind, "{path}");
    }
}

#[test]
fn dataset_references_are_limited_to_builtins_and_plain_csv_or_parquet_names() {
    for good in ["GOOG", "EURUSD", "BTCUSD", "csv:prices.csv", "csv:my-data_2.csv", "parquet:SYNTH.parquet"] {
        let body = json!({"dataset": good}).to_string();
        assert!(BacktestConfig::parse_json(body.as_bytes()).is_ok(), "{good}");
    }
    for bad in [
        "goog",
        "AAPL",
        "csv:",
        "csv:.csv",
        "csv:a/b.csv",
        "csv:..csv",
        "csv:x.txt",
        "/etc/passwd",
        "parquet:.parquet",
        "parquet:a/b.parquet",
        "parquet:x.csv",
        "csv:x.parquet",
    ] {
        let body = json!({"dataset": bad}).to_string();
        assert!(BacktestConfig::parse_json(body.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn end_date_before_start_date_is_a_conflict() {
    let errs = BacktestConfig::parse_json(br#"{"start_date": "2020-01-02", "end_date": "2020-01-01"}"#)
        .expect_err("conflict");
    assert_eq!(error_at(&errs, "end_date").kind, "conflict");
    let (c, _) = BacktestConfig::parse_json(br#"{"start_date": "2020-01-01", "end_date": "2020-12-31"}"#)
        .expect("valid");
    assert_eq!(c.start_date.map(|d| d.to_string()), Some("2020-01-01".to_owned()));
}

#[test]
fn embedded_backtest_errors_are_prefixed_with_backtest() {
    let errs = errors(&with(minimal(), "backtest", json!({"commission": -0.1})));
    assert_eq!(error_at(&errs, "backtest.commission").kind, "range");
}

#[test]
fn hostile_keys_are_shortened_and_escaped_in_error_paths() {
    let long_key = "k".repeat(10_000);
    let errs = errors(&json!({"name": "x", "entry_rules": ["close > 0"], long_key.clone(): 1,
                             "bad\nkey": 2}));
    assert_eq!(errs.0.len(), 2, "{errs}");
    for e in &errs.0 {
        assert_eq!(e.kind, "unknown_field");
        assert!(e.path().chars().count() <= 64, "{}", e.path());
        assert!(!e.to_string().contains('\n'), "{e}");
    }
}

#[test]
fn the_error_list_is_capped() {
    let mut body = serde_json::Map::new();
    body.insert("name".into(), json!("x"));
    body.insert("entry_rules".into(), json!(["close > 0"]));
    for i in 0..500 {
        body.insert(format!("unknown_{i}"), json!(i));
    }
    let errs = errors(&Value::Object(body));
    assert_eq!(errs.0.len(), 101);
    assert_eq!(errs.0[100].msg, "400 more errors not shown");
}

#[test]
fn an_integral_float_parameter_is_not_a_window() {
    let errs = errors(&json!({"name": "x", "parameters": {"p": 14.0},
                             "indicators": {"s": {"type": "sma", "period": "p"}},
                             "entry_rules": ["close > s"]}));
    let e = error_at(&errs, "indicators.s.period");
    assert!(e.msg.starts_with("parameter 'p' is 14.0;"), "{e}");
}

#[test]
fn a_symbol_selects_its_dataset_and_an_unknown_one_lists_the_available() {
    let spec = |backtest: &str| {
        format!(
            r#"{{"name":"S","entry_rules":["close > 1"],"exit_rules":["close < 1"],"backtest":{backtest}}}"#
        )
    };
    let ok = algoagent_spec::StrategySpec::parse_json(spec(r#"{"symbols":["btcusd"]}"#).as_bytes())
        .expect("valid");
    assert_eq!(ok.backtest.dataset, "BTCUSD");
    let err = algoagent_spec::StrategySpec::parse_json(spec(r#"{"symbols":["AAPL"]}"#).as_bytes())
        .expect_err("refused");
    assert!(err.has_path("backtest.symbols.0"), "{err}");
    assert!(err.to_string().contains("GOOG, EURUSD, BTCUSD"), "{err}");
    let err = algoagent_spec::StrategySpec::parse_json(spec(r#"{"symbols":["GOOG","EURUSD"]}"#).as_bytes())
        .expect_err("refused");
    assert!(err.has_path("backtest.symbols"), "{err}");
    let err = algoagent_spec::StrategySpec::parse_json(
        spec(r#"{"symbols":["GOOG"],"dataset":"EURUSD"}"#).as_bytes(),
    )
    .expect_err("refused");
    assert!(err.to_string().contains("disagree"), "{err}");
}

#[test]
fn parameters_may_be_text_and_flags_as_the_guide_allows() {
    let spec = parse(&json!({
        "name": "x",
        "parameters": {"direction": "short", "order_type": "market", "use_filter": true, "n": 14},
        "entry_rules": ["use_filter and close > open"]
    }))
    .expect("free-form parameters are valid");
    assert_eq!(spec.parameters["direction"], ParamValue::Text("short".to_owned()));
    assert_eq!(spec.parameters["use_filter"], ParamValue::Bool(true));

    let code = algoagent_spec::codegen::generate(&spec).expect("compiles").code;
    assert!(code.contains("    direction = \"short\"\n"), "{code}");
    assert!(code.contains("    use_filter = True\n"), "{code}");
    assert!(code.contains("and self.use_filter\n"), "{code}");
}

#[test]
fn text_parameters_are_bounded_and_never_reach_code_unescaped() {
    let long = "x".repeat(201);
    let errs = errors(
        &json!({"name": "x", "parameters": {"a": long, "b": "line\nbreak", "c": null, "d": {"k": 1}}, "entry_rules": ["close > open"]}),
    );
    assert_eq!(error_at(&errs, "parameters.a").kind, "too_long");
    assert_eq!(error_at(&errs, "parameters.b").kind, "pattern");
    assert_eq!(error_at(&errs, "parameters.c").kind, "type");
    assert_eq!(error_at(&errs, "parameters.d").kind, "type");

    let note = "it's \\ \u{e9}\u{4e2d}\u{1f600}\"\"\"";
    let spec = parse(&json!({"name": "x", "parameters": {"note": note}, "entry_rules": ["close > open"]}))
        .expect("printable text is valid");
    let code = algoagent_spec::codegen::generate(&spec).expect("compiles").code;
    let line = code.lines().find(|l| l.starts_with("    note = ")).expect("attribute");
    assert!(line.is_ascii(), "{line}");
    assert_eq!(line, r#"    note = 'it\'s \\ \xe9\u4e2d\U0001f600"""'"#);
}

#[test]
fn a_text_parameter_in_a_rule_is_a_type_error() {
    let errs =
        errors(&json!({"name": "x", "parameters": {"direction": "long"}, "entry_rules": ["direction > 1"]}));
    let e = error_at(&errs, "entry_rules.0");
    assert!(e.msg.contains("text") && e.msg.contains("direction"), "{e:?}");
}

#[test]
fn component_types_and_aliases_name_the_indicator_and_its_output() {
    let spec = parse(&json!({
        "name": "x",
        "indicators": {
            "bb_low": {"type": "bollinger_lower", "period": 20},
            "bollinger_upper": {"period": 20},
            "sig": {"type": "MACD-Signal"},
            "slow_d": {"type": "stochastic", "output": "%D"},
            "pdi": {"type": "plus_di", "period": 14},
            "wr": {"type": "Williams %R"},
            "sar": {"type": "parabolic_sar"},
            "span": {"type": "ichimoku_senkou_a"}
        },
        "entry_rules": ["close < bb_low", "sig > 0", "slow_d < 20", "pdi > 25", "wr < -80", "close > sar", "close > span"],
        "exit_rules": ["close > bollinger_upper"]
    }))
    .expect("aliases are valid");
    let kind_and_output = |name: &str| (spec.indicators[name].kind, spec.indicators[name].output.clone());
    assert_eq!(kind_and_output("bb_low"), (IndicatorKind::Bbands, Some("lower".to_owned())));
    assert_eq!(kind_and_output("bollinger_upper"), (IndicatorKind::Bbands, Some("upper".to_owned())));
    assert_eq!(kind_and_output("sig"), (IndicatorKind::Macd, Some("signal".to_owned())));
    assert_eq!(kind_and_output("slow_d"), (IndicatorKind::Stochastic, Some("d".to_owned())));
    assert_eq!(kind_and_output("pdi"), (IndicatorKind::Adx, Some("plus_di".to_owned())));
    assert_eq!(kind_and_output("wr"), (IndicatorKind::WilliamsR, None));
    assert_eq!(kind_and_output("sar"), (IndicatorKind::Psar, None));
    assert_eq!(kind_and_output("span"), (IndicatorKind::Ichimoku, Some("senkou_a".to_owned())));

    // The canonical form names the type and the output; a bare reference reads that output.
    let canonical = serde_json::to_value(&spec).expect("serialises");
    assert_eq!(canonical["indicators"]["bb_low"]["type"], "bbands");
    assert_eq!(canonical["indicators"]["bb_low"]["output"], "lower");
    let code = algoagent_spec::codegen::generate(&spec).expect("compiles").code;
    assert!(code.contains("self.data.Close[-1] < self.bb_low[2][-1]"), "{code}");
    assert!(code.contains("self.sig[1][-1] > 0"), "{code}");
    assert!(code.contains("self.pdi[1][-1] > 25"), "{code}");
}

#[test]
fn a_wrong_or_contradictory_output_is_refused_with_its_path() {
    let errs = errors(&json!({
        "name": "x",
        "indicators": {
            "a": {"type": "bollinger_lower", "output": "upper"},
            "b": {"type": "macd", "output": "nope"},
            "c": {"type": "rsi", "output": "line"},
            "d": {"type": "bollinger_sideways"}
        },
        "entry_rules": ["close > 1"]
    }));
    assert_eq!(error_at(&errs, "indicators.a.output").kind, "conflict");
    let b = error_at(&errs, "indicators.b.output");
    assert!(b.kind == "pattern" && b.msg.contains("line, signal, hist"), "{b:?}");
    assert_eq!(error_at(&errs, "indicators.c.output").kind, "unknown_field");
    assert_eq!(error_at(&errs, "indicators.d.type").kind, "pattern");
}

#[test]
fn an_indicator_may_be_computed_on_another_and_is_emitted_after_it() {
    let spec = parse(&json!({
        "name": "x",
        "indicators": {
            "a_smooth": {"type": "ema", "source": "z_rsi", "period": 5},
            "z_rsi": {"type": "rsi"},
            "macd": {},
            "hist_avg": {"type": "sma", "source": "macd.histogram", "period": 3}
        },
        "entry_rules": ["a_smooth < 30", "hist_avg > 0"]
    }))
    .expect("indicator sources are valid");
    assert_eq!(
        spec.indicators["a_smooth"].source,
        Some(algoagent_spec::SeriesSource::Indicator("z_rsi".to_owned()))
    );
    assert_eq!(
        spec.indicators["hist_avg"].source,
        Some(algoagent_spec::SeriesSource::Indicator("macd.hist".to_owned()))
    );

    let code = algoagent_spec::codegen::generate(&spec).expect("compiles").code;
    let at = |needle: &str| code.find(needle).unwrap_or_else(|| panic!("no {needle:?} in\n{code}"));
    assert!(code.contains("self.I(_ema, self.z_rsi, 5, name=\"a_smooth\")"), "{code}");
    assert!(code.contains("self.I(_sma, self.macd[2], 3, name=\"hist_avg\")"), "{code}");
    assert!(at("self.z_rsi = self.I(") < at("self.a_smooth = self.I("), "{code}");
    assert!(at("self.macd = self.I(") < at("self.hist_avg = self.I("), "{code}");
}

#[test]
fn unknown_self_cyclic_and_wrong_output_sources_are_refused() {
    let errs = errors(&json!({
        "name": "x",
        "indicators": {
            "a": {"type": "sma", "source": "b"},
            "b": {"type": "ema", "source": "a"},
            "c": {"type": "sma", "source": "c"},
            "d": {"type": "sma", "source": "nope"},
            "e": {"type": "sma", "source": "m.nope"},
            "f": {"type": "sma", "source": "r.line"},
            "m": {"type": "macd"},
            "r": {"type": "rsi"}
        },
        "entry_rules": ["close > 1"]
    }));
    assert!(error_at(&errs, "indicators.a.source").msg.contains("a -> b -> a"), "{errs}");
    assert!(error_at(&errs, "indicators.c.source").msg.contains("itself"), "{errs}");
    assert_eq!(error_at(&errs, "indicators.d.source").kind, "pattern");
    assert!(error_at(&errs, "indicators.e.source").msg.contains("line, signal, hist"), "{errs}");
    assert!(error_at(&errs, "indicators.f.source").msg.contains("single output"), "{errs}");
}

#[test]
fn a_source_on_an_indicator_that_reads_fixed_columns_is_accepted_and_noted_as_ignored() {
    let body = json!({
        "name": "x",
        "indicators": {"atr": {"period": 14, "source": "close"}, "st": {"type": "stochastic", "source": "high"}},
        "entry_rules": ["atr > 1", "st < 20"]
    });
    let (spec, notes) =
        StrategySpec::parse_json_noted(body.to_string().as_bytes(), algoagent_spec::RuleMode::Compiled)
            .expect("valid");
    assert_eq!(spec.indicators["atr"].source, None, "the canonical spec drops it");
    let paths: Vec<String> = notes.iter().map(|n| n.path()).collect();
    assert_eq!(paths, ["indicators.atr.source", "indicators.st.source"]);
    assert!(notes.iter().all(|n| n.kind == "ignored" && n.msg.starts_with("ignored:")), "{notes:?}");
    assert!(notes[0].msg.contains("high, low, close"), "{:?}", notes[0]);

    // Anything but a column name there is still an error, and so are other foreign fields.
    let errs = errors(
        &json!({"name": "x", "indicators": {"atr": {"source": "roc"}, "sma": {"std_dev": 2}}, "entry_rules": ["close > 1"]}),
    );
    assert_eq!(error_at(&errs, "indicators.atr.source").kind, "unknown_field");
    assert_eq!(error_at(&errs, "indicators.sma.std_dev").kind, "unknown_field");
}

#[test]
fn the_guides_own_examples_are_schema_valid_and_report_compilability_separately() {
    // validate-schema's request example: key-implied type, a source, an inline call.
    let request = json!({
        "name": "RSI_Reversal",
        "description": "RSI reversal strategy",
        "parameters": {"rsi_period": 14, "oversold": 30, "overbought": 70},
        "indicators": {"rsi": {"period": 14, "source": "close"}},
        "entry_rules": ["rsi < 30", "volume > sma(volume, 20)"],
        "exit_rules": ["rsi > 70"]
    });
    let spec =
        StrategySpec::parse_json_with(request.to_string().as_bytes(), algoagent_spec::RuleMode::Schema)
            .expect("schema-valid");
    spec.compile_check().expect("and compilable");

    // The cURL example: empty rules are schema-valid, but the rule compiler has nothing to compile.
    let curl = br#"{"name":"RSI","description":"Test","parameters":{},"indicators":{},"entry_rules":[],"exit_rules":[]}"#;
    let spec = StrategySpec::parse_json_with(curl, algoagent_spec::RuleMode::Schema).expect("schema-valid");
    let errs = spec.compile_check().expect_err("not compilable");
    let e = error_at(&errs, "entry_rules");
    assert_eq!(e.kind, "not_compilable");
    assert!(e.msg.starts_with("not compilable by the rule compiler: "), "{e:?}");
}
