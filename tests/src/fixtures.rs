//! Shared test data: the malformed specs every entry point (CLI, HTTP) must refuse.

/// A malformed spec and the JSON path its refusal must name.
pub struct Case {
    /// What is wrong with it.
    pub what: &'static str,
    /// The spec.
    pub body: String,
    /// The dotted path the error must name.
    pub loc: &'static str,
    /// Schema-valid (the prototype's validate-schema accepts it) but not compilable by the
    /// rule compiler, so only a builtin-provider submission refuses it.
    pub schema_valid: bool,
}

/// Every malformed spec of issue 3's list.
pub fn malformed() -> Vec<Case> {
    let case = |what, body: &str, loc| Case { what, body: body.to_owned(), loc, schema_valid: false };
    let not_compilable =
        |what, body: &str, loc| Case { what, body: body.to_owned(), loc, schema_valid: true };
    vec![
        case("missing name", r#"{"entry_rules":["close > 1"]}"#, "name"),
        case("path traversal name", r#"{"name":"../x","entry_rules":["close > 1"]}"#, "name"),
        not_compilable("empty entry rules", r#"{"name":"Empty","entry_rules":[]}"#, "entry_rules"),
        case(
            "negative period",
            r#"{"name":"Neg","indicators":{"fast":{"type":"sma","period":-5}},"entry_rules":["close > fast"]}"#,
            "indicators.fast.period",
        ),
        case(
            "period of 10^9",
            r#"{"name":"Huge","indicators":{"fast":{"type":"sma","period":1000000000}},"entry_rules":["close > fast"]}"#,
            "indicators.fast.period",
        ),
        not_compilable(
            "undeclared indicator in a rule",
            r#"{"name":"Undeclared","entry_rules":["close > sma_fast"]}"#,
            "entry_rules.0",
        ),
        case("rules as a string", r#"{"name":"Wrong","entry_rules":"close > 1"}"#, "entry_rules"),
        case("name as a number", r#"{"name":42,"entry_rules":["close > 1"]}"#, "name"),
        case(
            "capital as a string",
            r#"{"name":"Cash","entry_rules":["close > 1"],"backtest":{"initial_capital":"lots"}}"#,
            "backtest.initial_capital",
        ),
        case("unknown field", r#"{"name":"Colour","colour":"red","entry_rules":["close > 1"]}"#, "colour"),
        Case {
            what: "2 MB description",
            body: format!(
                r#"{{"name":"Big","description":"{}","entry_rules":["close > 1"]}}"#,
                "x".repeat(2 << 20)
            ),
            loc: "description",
            schema_valid: false,
        },
    ]
}
