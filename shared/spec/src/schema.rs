//! JSON Schema (draft 2020-12) of the documents AlgoAgent accepts: a strategy definition,
//! a standalone backtest config and the job envelope on RabbitMQ.
//!
//! The schemas come from the types' `schemars` derives plus the hand-written pieces here for
//! what a derive cannot say: names checked by code (strategy names, identifiers), the
//! indicator map where `type` defaults to the key, and which fields apply to which
//! indicator type. They describe the accepted input (defaults included); the semantic checks
//! that need the whole document (rules referencing declared names, MACD fast < slow,
//! end_date after start_date, kind matching payload) stay in code and are named in
//! descriptions.

use super::backtest::BacktestConfig;
use super::indicator::{IndicatorField, IndicatorKind, PriceColumn};
use super::limits::{MAX_INDICATORS, MAX_PARAMETERS};
use super::name::{MAX_IDENT_LEN, MAX_NAME_LEN, RESERVED_NAMES, StrategyName};
use super::strategy::{IndicatorSpec, ParamValue, SCHEMA_VERSION, StrategySpec};
use algoagent_core::JobEnvelope;
use schemars::transform::{Transform, transform_subschemas};
use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings, json_schema};
use serde_json::{Map, Value, json};
use std::borrow::Cow;

/// Pattern of parameter and indicator names (see [`super::check_identifier`]).
pub(crate) const IDENT_PATTERN: &str = "^[A-Za-z][A-Za-z0-9_]{0,63}$";
/// Pattern of strategy names (see [`StrategyName::parse`]).
pub(crate) const NAME_PATTERN: &str = "^[A-Za-z][A-Za-z0-9_-]{0,63}$";
/// Pattern of symbols in a backtest config (each must name a bundled dataset).
pub(crate) const SYMBOL_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$";
/// Pattern of `dataset`: a bundled dataset, `csv:<file>.csv` or `parquet:<file>.parquet`
/// without `..` (ECMA-262 lookahead, which JSON Schema patterns use).
pub(crate) const DATASET_PATTERN: &str = r"^(GOOG|EURUSD|BTCUSD|csv:(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]*\.csv|parquet:(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]*\.parquet)$";

/// Names of the exported schemas, in [`schemas`] order.
pub const SCHEMA_NAMES: [&str; 3] = ["StrategyDefinition", "BacktestConfig", "JobEnvelope"];

/// Every exported schema by name: `StrategyDefinition` (the spec), `BacktestConfig` and
/// `JobEnvelope`, each a self-contained draft 2020-12 document.
pub fn schemas() -> Vec<(&'static str, Value)> {
    let mut strategy = root::<StrategySpec>(true);
    strategy.insert(
        "$comment".to_owned(),
        json!(format!(
            "AlgoAgent strategy schema {SCHEMA_VERSION}. Also enforced in code: rules parse and name only declared indicators, parameters or price columns; indicator and parameter names are distinct; macd fast < slow; end_date is not before start_date."
        )),
    );
    let mut envelope = root::<JobEnvelope>(false);
    envelope.insert(
        "$comment".to_owned(),
        json!(
            "Also enforced in code: `kind` equals the kind of `payload.type` (generate.v1 is generate, ...)."
        ),
    );
    vec![
        (SCHEMA_NAMES[0], Value::Object(strategy)),
        (SCHEMA_NAMES[1], Value::Object(root::<BacktestConfig>(true))),
        (SCHEMA_NAMES[2], Value::Object(envelope)),
    ]
}

/// The schema of `T` as a root document of the accepted (deserialize) form; `null_optional`
/// for documents read by the spec reader, which takes `null` as "use the default".
fn root<T: JsonSchema>(null_optional: bool) -> Map<String, Value> {
    let generator = SchemaSettings::draft2020_12().for_deserialize().into_generator();
    let mut schema = generator.into_root_schema_for::<T>();
    if null_optional {
        NullMeansDefault.transform(&mut schema);
    }
    match schema.to_value() {
        Value::Object(map) => map,
        // A derived schema is always an object; keep a boolean one rather than lose it.
        other => Map::from_iter([("allOf".to_owned(), json!([other]))]),
    }
}

/// Lets every optional property be `null`: the spec reader treats an explicit `null` like an
/// absent field (use the default), which the derived schemas would refuse.
struct NullMeansDefault;

impl Transform for NullMeansDefault {
    fn transform(&mut self, schema: &mut Schema) {
        transform_subschemas(self, schema);
        let required: Vec<Value> =
            schema.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
        if let Some(Value::Object(properties)) = schema.get_mut("properties") {
            for (key, property) in properties.iter_mut() {
                if !required.contains(&Value::String(key.clone())) {
                    allow_null(property);
                }
            }
        }
    }
}

/// Widens one property schema to also accept `null`; `false` and annotation-only schemas
/// (`{"default": ...}` inside an `if`/`then`) are left alone.
fn allow_null(property: &mut Value) {
    let Value::Object(m) = property else {
        return;
    };
    let null_type = json!("null");
    match m.get_mut("type") {
        Some(Value::String(t)) => {
            let t = Value::String(std::mem::take(t));
            m.insert("type".to_owned(), json!([t, null_type]));
        }
        Some(Value::Array(types)) if !types.contains(&null_type) => types.push(null_type),
        Some(_) => {}
        None => {
            if let Some(reference) = m.remove("$ref") {
                m.insert("anyOf".to_owned(), json!([{ "$ref": reference }, { "type": "null" }]));
            } else if let Some(Value::Array(any)) = m.get_mut("anyOf")
                && !any.iter().any(|s| s.get("type") == Some(&null_type))
            {
                any.push(json!({ "type": "null" }));
            }
        }
    }
}

impl JsonSchema for StrategyName {
    fn schema_name() -> Cow<'static, str> {
        "StrategyName".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "Safe identifier; becomes the file name, branch name and (CamelCased) class name. A letter, then letters, digits, '_' or '-': no dots, slashes or spaces.",
            "minLength": 1,
            "maxLength": MAX_NAME_LEN,
            "pattern": NAME_PATTERN,
        })
    }
}

/// The name of a parameter or indicator (a Python attribute in generated code); only its
/// schema is used.
struct Identifier;

impl JsonSchema for Identifier {
    fn schema_name() -> Cow<'static, str> {
        "Identifier".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "Name of a parameter or indicator: a letter, then letters, digits or '_', and not a reserved word.",
            "minLength": 1,
            "maxLength": MAX_IDENT_LEN,
            "pattern": IDENT_PATTERN,
            "not": { "enum": RESERVED_NAMES },
        })
    }
}

/// Schema of the `parameters` map.
pub(crate) fn parameter_map(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "propertyNames": generator.subschema_for::<Identifier>(),
        "maxProperties": MAX_PARAMETERS,
        "additionalProperties": generator.subschema_for::<ParamValue>(),
    })
}

/// The fields of an indicator of type `kind`: its own with their defaults, the others
/// refused (`false`).
fn fields_of(kind: IndicatorKind) -> Value {
    let mut fields: Map<String, Value> = IndicatorField::ALL
        .into_iter()
        .map(|f| {
            let schema = if !kind.fields().contains(&f) {
                Value::Bool(false)
            } else {
                let default = match f {
                    IndicatorField::Source => json!(PriceColumn::Close.name()),
                    f if f.is_real() => json!(kind.default_real(f)),
                    _ => json!(kind.default_window(f)),
                };
                json!({ "default": default })
            };
            (f.key().to_owned(), schema)
        })
        .collect();
    let output = if kind.outputs().is_empty() {
        Value::Bool(false)
    } else {
        json!({ "enum": kind.outputs(), "default": kind.outputs()[kind.primary_output()] })
    };
    fields.insert("output".to_owned(), output);
    json!({ "properties": fields })
}

/// Container transform of `Indicator`: `type` is optional in the entry itself (the map
/// decides when it is required) and each type allows only its own fields, with its defaults.
pub(crate) fn indicator_fields(schema: &mut Schema) {
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|k| k != "type");
        if required.is_empty() {
            schema.remove("required");
        }
    }
    let per_type: Vec<Value> = IndicatorKind::ALL
        .into_iter()
        .map(|kind| {
            json!({
                "if": { "properties": { "type": { "const": kind.name() } }, "required": ["type"] },
                "then": fields_of(kind),
            })
        })
        .collect();
    schema.insert("allOf".to_owned(), Value::Array(per_type));
}

/// Schema of the `indicators` map: a key that is an indicator type (`"rsi": {...}`) may omit
/// `type`, which then defaults to the key; any other key needs `type`.
pub(crate) fn indicator_map(generator: &mut SchemaGenerator) -> Schema {
    let entry = generator.subschema_for::<IndicatorSpec>().to_value();
    let mut by_type = Map::new();
    for kind in IndicatorKind::ALL {
        let mut implied = entry.clone();
        if let Value::Object(m) = &mut implied {
            m.insert(
                "description".to_owned(),
                json!(format!("An indicator of type {kind} unless `type` says otherwise.")),
            );
            m.insert("if".to_owned(), json!({ "not": { "required": ["type"] } }));
            m.insert("then".to_owned(), fields_of(kind));
        }
        by_type.insert(format!("^{}$", kind.name()), implied);
    }
    let mut named = entry;
    if let Value::Object(m) = &mut named {
        m.insert("required".to_owned(), json!(["type"]));
    }
    json_schema!({
        "type": "object",
        "propertyNames": generator.subschema_for::<Identifier>(),
        "maxProperties": MAX_INDICATORS,
        "patternProperties": by_type,
        "additionalProperties": named,
    })
}
