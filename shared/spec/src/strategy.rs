//! The canonical strategy specification (schema 2.0) and its parts.
//!
//! `StrategySpec::parse_json` is the only validated way in: it reads untrusted JSON, reports
//! every problem with its JSON path, fills defaults and returns the canonical form, which
//! serializes back to explicit JSON (the prototype's `validated_data`). The serde derives
//! exist to store and reload that canonical form; run [`StrategySpec::validate`] on anything
//! that did not come from `parse_json`.

use super::backtest::BacktestConfig;
use super::check;
use super::check::RuleMode;
use super::errors::SpecErrors;
use super::indicator::{IndicatorField, IndicatorKind, PriceColumn};
use super::limits::{
    MAX_DESCRIPTION_CHARS, MAX_MIN_TRADES, MAX_PERIOD, MAX_RULE_CHARS, MAX_RULES, MAX_STD_DEV, MIN_PERIOD,
};
use super::name::StrategyName;
use super::schema::{self, IDENT_PATTERN};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Version of the schema implemented here, reported by `validate-schema`.
pub const SCHEMA_VERSION: &str = "2.0";

/// A complete strategy: what to compute, when to enter and exit, how to test it and what
/// result counts as a pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "StrategyDefinition")]
pub struct StrategySpec {
    /// Safe identifier; becomes the file name, branch name and (CamelCased) class name.
    pub name: StrategyName,
    /// Free text for humans and LLM prompts (at most 10,000 characters).
    #[serde(default)]
    #[schemars(length(max = MAX_DESCRIPTION_CHARS))]
    pub description: String,
    /// Tunable numbers referenced by rules and indicator windows; class attributes in the
    /// generated strategy so `Backtest.optimize` can vary them.
    #[serde(default)]
    #[schemars(schema_with = "schema::parameter_map")]
    pub parameters: BTreeMap<String, ParamValue>,
    /// Declared indicators by name; rules refer to them by that name. `type` may be omitted
    /// when the name is itself an indicator type (`"rsi": {"period": 14}`).
    #[serde(default)]
    #[schemars(schema_with = "schema::indicator_map")]
    pub indicators: BTreeMap<String, IndicatorSpec>,
    /// Conditions that must all hold (AND) to open a position.
    #[schemars(length(min = 1, max = MAX_RULES), inner(length(min = 1, max = MAX_RULE_CHARS)))]
    pub entry_rules: Vec<String>,
    /// Conditions of which any (OR) closes the open position.
    #[serde(default)]
    #[schemars(length(max = MAX_RULES), inner(length(min = 1, max = MAX_RULE_CHARS)))]
    pub exit_rules: Vec<String>,
    /// Stop loss, take profit and per-trade sizing.
    #[serde(default)]
    pub risk: RiskConfig,
    /// Capital, costs and dataset of the backtest.
    #[serde(default)]
    pub backtest: BacktestConfig,
    /// What a backtest must achieve for the run to pass.
    #[serde(default)]
    pub acceptance: AcceptanceCriteria,
}

impl StrategySpec {
    /// Reads and validates a spec from untrusted JSON bytes, reporting every structural and
    /// semantic problem at once with its JSON path.
    pub fn parse_json(bytes: &[u8]) -> Result<StrategySpec, SpecErrors> {
        check::parse_strategy(bytes, RuleMode::Compiled)
    }

    /// Like [`StrategySpec::parse_json`], choosing how rules are checked: an LLM provider
    /// accepts free-text rules the rule compiler cannot parse.
    pub fn parse_json_with(bytes: &[u8], rules: RuleMode) -> Result<StrategySpec, SpecErrors> {
        check::parse_strategy(bytes, rules)
    }

    /// Like [`StrategySpec::parse_json_with`], also returning notes on what was accepted and
    /// ignored (type `ignored`: a `source` on an indicator that reads fixed columns).
    pub fn parse_json_noted(
        bytes: &[u8],
        rules: RuleMode,
    ) -> Result<(StrategySpec, Vec<super::errors::FieldError>), SpecErrors> {
        check::parse_strategy_noted(bytes, rules)
    }

    /// Reads and validates a spec from an already-parsed JSON value.
    pub fn from_value(value: &serde_json::Value) -> Result<StrategySpec, SpecErrors> {
        check::read_strategy(value, RuleMode::Compiled)
    }

    /// Like [`StrategySpec::from_value`], choosing how rules are checked.
    pub fn from_value_with(value: &serde_json::Value, rules: RuleMode) -> Result<StrategySpec, SpecErrors> {
        check::read_strategy(value, rules)
    }

    /// Re-runs every check on a spec built some other way (deserialized from storage,
    /// constructed in code), returning the canonical form with defaults filled in.
    pub fn validate(&self) -> Result<StrategySpec, SpecErrors> {
        check::read_strategy(&self.as_json()?, RuleMode::Compiled)
    }

    /// The spec as a JSON value, for the checks that read JSON.
    fn as_json(&self) -> Result<serde_json::Value, SpecErrors> {
        serde_json::to_value(self).map_err(|e| {
            SpecErrors::from(super::errors::FieldError::new(
                vec![],
                "type",
                format!("spec cannot be represented as JSON: {e}"),
            ))
        })
    }

    /// Whether the built-in rule compiler can compile this (schema-valid) spec: every error
    /// it would raise, at its field path, with type `not_compilable` and a message that
    /// starts "not compilable by the rule compiler". An LLM provider can still take a spec
    /// that fails here.
    pub fn compile_check(&self) -> Result<(), SpecErrors> {
        let value = self.as_json()?;
        let not_compilable = |errors: SpecErrors| {
            SpecErrors(
                errors
                    .0
                    .into_iter()
                    .map(|e| {
                        let msg = format!("not compilable by the rule compiler: {}", e.msg);
                        super::errors::FieldError::new(e.loc, "not_compilable", msg)
                    })
                    .collect(),
            )
        };
        let spec = check::read_strategy(&value, RuleMode::Compiled).map_err(not_compilable)?;
        crate::codegen::generate(&spec).map(|_| ()).map_err(|e| {
            not_compilable(SpecErrors::from(super::errors::FieldError::new(
                vec![],
                "not_compilable",
                e.to_string(),
            )))
        })
    }

    /// The indicator kind behind a declared indicator name.
    pub fn indicator_kind(&self, name: &str) -> Option<IndicatorKind> {
        self.indicators.get(name).map(|i| i.kind)
    }
}

/// A parameter value: JSON integers stay integers (so they can be windows), other numbers
/// are floats; booleans (a flag) and short strings (`"long"`, `"short"`, an order type) are
/// free-form settings the strategy carries as class attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "ParameterValue")]
pub enum ParamValue {
    /// An integral value, e.g. a window length.
    Int(#[schemars(range(min = -1_000_000_000_000_i64, max = 1_000_000_000_000_i64))] i64),
    /// A fractional value, e.g. a threshold.
    Float(#[schemars(range(min = -1e12, max = 1e12))] f64),
    /// A flag; in rules it is a condition.
    Bool(bool),
    /// A setting such as a direction; not usable in rules, which compare numbers.
    Text(#[schemars(length(max = MAX_TEXT_PARAM))] String),
}

/// Longest text parameter, in characters.
pub const MAX_TEXT_PARAM: usize = 200;

impl ParamValue {
    /// The value as a float, for range checks; `None` for a flag or a text.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            // Parameter magnitudes are capped at 1e12, well inside f64's exact integers.
            #[allow(clippy::cast_precision_loss)]
            Self::Int(i) => Some(*i as f64),
            Self::Float(f) => Some(*f),
            Self::Bool(_) | Self::Text(_) => None,
        }
    }

    /// The value as a window length when it is an integer in `min..=max`.
    pub fn as_window(&self, min: u32, max: u32) -> Option<u32> {
        match self {
            Self::Int(i) => u32::try_from(*i).ok().filter(|w| (min..=max).contains(w)),
            Self::Float(_) | Self::Bool(_) | Self::Text(_) => None,
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            // Debug keeps the fraction (`14.0`), so an integral float reads as a float.
            Self::Float(x) => write!(f, "{x:?}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// A window length given either literally or as the name of an integer parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Window")]
pub enum IntOrParam {
    /// A literal number of bars.
    Value(#[schemars(range(min = MIN_PERIOD, max = MAX_PERIOD))] u32),
    /// The name of a parameter holding the number of bars (tunable by the optimizer).
    Param(#[schemars(regex(pattern = IDENT_PATTERN))] String),
}

/// What a single-source indicator is computed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SeriesSource {
    /// A price or volume column.
    Column(PriceColumn),
    /// Another declared indicator, `name` or `name.output`.
    Indicator(
        #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]*)?$"))] String,
    ),
}

impl SeriesSource {
    /// The declared indicator this source reads and the output it names, if it is one.
    pub fn indicator(&self) -> Option<(&str, Option<&str>)> {
        match self {
            Self::Column(_) => None,
            Self::Indicator(s) => Some(match s.split_once('.') {
                Some((name, output)) => (name, Some(output)),
                None => (s.as_str(), None),
            }),
        }
    }
}

/// A real-valued setting given either literally or as the name of a parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "StdDev")]
pub enum NumOrParam {
    /// A literal value.
    Value(#[schemars(extend("exclusiveMinimum" = 0, "maximum" = MAX_STD_DEV))] f64),
    /// The name of a parameter holding the value.
    Param(#[schemars(regex(pattern = IDENT_PATTERN))] String),
}

/// One declared indicator. After `parse_json`, `kind` is set and every field that applies
/// to the kind is filled (with its default when omitted); fields that do not apply are
/// `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "Indicator",
    description = "One declared indicator. Only the fields of its type are allowed; omitted ones take the type's default.",
    transform = schema::indicator_fields
)]
pub struct IndicatorSpec {
    /// Which indicator; in input JSON it defaults to the map key when the key is an
    /// indicator name (`"rsi": {"period": 14}`).
    #[serde(rename = "type")]
    pub kind: IndicatorKind,
    /// Window length in bars, a number or an integer parameter's name (all types but macd
    /// and stochastic; default 14 for rsi and atr, 10 for roc, 20 for the others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<IntOrParam>,
    /// Input series (single-source kinds; default `close`): a column, or another declared
    /// indicator (`"roc"`, `"macd.hist"`) for an indicator of an indicator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SeriesSource>,
    /// MACD fast EMA span (default 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast: Option<IntOrParam>,
    /// MACD slow EMA span (default 26).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow: Option<IntOrParam>,
    /// MACD signal EMA span (default 9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<IntOrParam>,
    /// Bollinger width in standard deviations (default 2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std_dev: Option<NumOrParam>,
    /// Stochastic %K window (default 14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k_period: Option<IntOrParam>,
    /// Stochastic %D smoothing window (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d_period: Option<IntOrParam>,
    /// Keltner channel width in ATRs (default 2.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<NumOrParam>,
    /// Parabolic SAR acceleration step (default 0.02).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<NumOrParam>,
    /// Parabolic SAR acceleration cap (default 0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_step: Option<NumOrParam>,
    /// Ichimoku conversion-line window (default 9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenkan: Option<IntOrParam>,
    /// Ichimoku base-line window and span shift (default 26).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kijun: Option<IntOrParam>,
    /// Ichimoku leading span B window (default 52).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub senkou: Option<IntOrParam>,
    /// The output a bare reference to a multi-output indicator reads (`"lower"` for a
    /// Bollinger entry named `bb_low`); default: the kind's primary output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl IndicatorSpec {
    /// An entry of `kind` with every field unset (defaults apply at validation).
    pub fn new(kind: IndicatorKind) -> Self {
        Self {
            kind,
            period: None,
            source: None,
            fast: None,
            slow: None,
            signal: None,
            std_dev: None,
            k_period: None,
            d_period: None,
            multiplier: None,
            step: None,
            max_step: None,
            tenkan: None,
            kijun: None,
            senkou: None,
            output: None,
        }
    }

    /// The index of the output a bare reference reads, for multi-output kinds.
    pub fn default_output(&self) -> Option<usize> {
        if self.kind.outputs().is_empty() {
            return None;
        }
        Some(
            self.output
                .as_deref()
                .and_then(|o| self.kind.output_index(o))
                .unwrap_or(self.kind.primary_output()),
        )
    }

    /// The window field `field` of the entry, as read (None when absent or not a window).
    pub fn window(&self, field: IndicatorField) -> Option<&IntOrParam> {
        use IndicatorField as F;
        match field {
            F::Period => self.period.as_ref(),
            F::Fast => self.fast.as_ref(),
            F::Slow => self.slow.as_ref(),
            F::Signal => self.signal.as_ref(),
            F::KPeriod => self.k_period.as_ref(),
            F::DPeriod => self.d_period.as_ref(),
            F::Tenkan => self.tenkan.as_ref(),
            F::Kijun => self.kijun.as_ref(),
            F::Senkou => self.senkou.as_ref(),
            F::Source | F::StdDev | F::Multiplier | F::Step | F::MaxStep => None,
        }
    }

    /// Sets the window field `field` (the counterpart of [`Self::window`]; a field that is
    /// not a window is left alone).
    pub fn set_window(&mut self, field: IndicatorField, value: Option<IntOrParam>) {
        use IndicatorField as F;
        match field {
            F::Period => self.period = value,
            F::Fast => self.fast = value,
            F::Slow => self.slow = value,
            F::Signal => self.signal = value,
            F::KPeriod => self.k_period = value,
            F::DPeriod => self.d_period = value,
            F::Tenkan => self.tenkan = value,
            F::Kijun => self.kijun = value,
            F::Senkou => self.senkou = value,
            F::Source | F::StdDev | F::Multiplier | F::Step | F::MaxStep => {}
        }
    }

    /// The real-valued field `field` of the entry, as read.
    pub fn real(&self, field: IndicatorField) -> Option<&NumOrParam> {
        use IndicatorField as F;
        match field {
            F::StdDev => self.std_dev.as_ref(),
            F::Multiplier => self.multiplier.as_ref(),
            F::Step => self.step.as_ref(),
            F::MaxStep => self.max_step.as_ref(),
            _ => None,
        }
    }

    /// Sets the real-valued field `field` (the counterpart of [`Self::real`]).
    pub fn set_real(&mut self, field: IndicatorField, value: Option<NumOrParam>) {
        use IndicatorField as F;
        match field {
            F::StdDev => self.std_dev = value,
            F::Multiplier => self.multiplier = value,
            F::Step => self.step = value,
            F::MaxStep => self.max_step = value,
            _ => {}
        }
    }
}

/// Per-trade risk settings; percentages are in percent (`2.5` means 2.5 %).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Risk")]
pub struct RiskConfig {
    /// Stop loss below the entry bar's close, in percent (0 < x < 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0, "exclusiveMaximum" = 100))]
    pub stop_loss_pct: Option<f64>,
    /// Take profit above the entry bar's close, in percent (0 < x <= 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 1000))]
    pub take_profit_pct: Option<f64>,
    /// Fraction of available equity per trade (0 < x <= 1); overrides
    /// `backtest.position_size` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 1))]
    pub position_size: Option<f64>,
}

/// What a backtest must achieve for a run to pass (default: at least one trade).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Acceptance")]
pub struct AcceptanceCriteria {
    /// Fewest closed trades (default 1).
    #[serde(default = "default_min_trades")]
    #[schemars(range(max = MAX_MIN_TRADES))]
    pub min_trades: u32,
    /// Largest tolerated maximum drawdown, in percent (0 < x <= 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 100))]
    pub max_drawdown_pct: Option<f64>,
    /// Smallest acceptable total return, in percent (-100 <= x <= 1e6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -100, max = 1e6))]
    pub min_return_pct: Option<f64>,
    /// Smallest acceptable Sharpe ratio (-100 <= x <= 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -100, max = 100))]
    pub min_sharpe: Option<f64>,
}

fn default_min_trades() -> u32 {
    1
}

impl Default for AcceptanceCriteria {
    fn default() -> Self {
        Self {
            min_trades: default_min_trades(),
            max_drawdown_pct: None,
            min_return_pct: None,
            min_sharpe: None,
        }
    }
}
