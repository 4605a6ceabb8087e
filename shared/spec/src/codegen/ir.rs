//! The typed intermediate form of rules: what the resolver produces and the emitter prints.

use super::ast::BinOp;
use crate::{IndicatorKind, ParamValue, PriceColumn, StrategySpec};
use std::collections::BTreeMap;

/// The names a rule may use: parameters and declared indicators of one spec.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Parameter names; the value is `None` when the parameter itself is invalid.
    pub parameters: BTreeMap<String, Option<ParamValue>>,
    /// Declared indicator names; the kind is `None` when the entry itself is invalid.
    pub indicators: BTreeMap<String, Option<IndicatorKind>>,
    /// The output a bare reference reads, for declared multi-output indicators.
    pub outputs: BTreeMap<String, usize>,
    /// When a whole section failed to read, unknown names are not reported (they would only
    /// repeat that section's error).
    pub lenient: bool,
}

impl Scope {
    /// The scope of a validated spec.
    pub fn from_spec(spec: &StrategySpec) -> Self {
        Self {
            parameters: spec.parameters.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect(),
            indicators: spec.indicators.iter().map(|(k, v)| (k.clone(), Some(v.kind))).collect(),
            outputs: spec
                .indicators
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.default_output()?)))
                .collect(),
            lenient: false,
        }
    }
}

/// Whether a value is a number or a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A number (current value of a series, parameter, literal, arithmetic).
    Num,
    /// A condition (comparison, crossover, and/or/not).
    Bool,
}

/// A series the strategy can index: a data column or (one output of) an indicator attribute.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SeriesRef {
    /// `self.data.<Column>`.
    Column(PriceColumn),
    /// `self.<attr>`, or row `output` of a multi-output indicator (`self.<attr>[i]`).
    Indicator {
        /// Attribute name on the strategy.
        attr: String,
        /// Row of a 2-D indicator, for multi-output kinds.
        output: Option<usize>,
    },
}

/// A resolved indicator argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A literal window.
    Int(u32),
    /// A literal real value.
    Float(f64),
    /// A parameter (`self.<name>`).
    Param(String),
}

/// One indicator the strategy computes in `init()`.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorCall {
    /// Attribute name (`self.<attr>`): the declared name, or `_<kind>_...` for inline calls.
    pub attr: String,
    /// Which indicator.
    pub kind: IndicatorKind,
    /// Input series for single-source kinds; `None` for kinds reading high/low/close.
    pub source: Option<SeriesRef>,
    /// Windows and widths in the helper's parameter order.
    pub args: Vec<Arg>,
    /// Plot label, e.g. `sma(close, 20)`; only identifier characters, digits and `.,() `.
    pub label: String,
}

/// A typed rule expression ready to print as Python.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A number literal and whether it is integral.
    Num(f64, bool),
    /// A parameter.
    Param(String),
    /// The value of a series `bars_ago` bars before the current bar.
    Series {
        /// Which series.
        series: SeriesRef,
        /// 0 for the current bar.
        bars_ago: u32,
    },
    /// Unary minus.
    Neg(Box<Node>),
    /// `+ - * /`.
    Arith(BinOp, Box<Node>, Box<Node>),
    /// A comparison.
    Cmp(BinOp, Box<Node>, Box<Node>),
    /// Both conditions.
    And(Box<Node>, Box<Node>),
    /// Either condition.
    Or(Box<Node>, Box<Node>),
    /// Negated condition.
    Not(Box<Node>),
    /// `above` crossed over `below` on this bar (crossunder swaps the operands).
    Cross(Box<Node>, Box<Node>),
}

impl Node {
    /// Whether any series in the tree is read with a lookback `[n]`, `n > 0`.
    pub fn has_lookback(&self) -> bool {
        match self {
            Node::Series { bars_ago, .. } => *bars_ago > 0,
            Node::Num(..) | Node::Param(_) => false,
            Node::Neg(a) | Node::Not(a) => a.has_lookback(),
            Node::Arith(_, a, b)
            | Node::Cmp(_, a, b)
            | Node::And(a, b)
            | Node::Or(a, b)
            | Node::Cross(a, b) => a.has_lookback() || b.has_lookback(),
        }
    }

    /// Whether the tree reads any series (column or indicator).
    pub fn has_series(&self) -> bool {
        match self {
            Node::Series { .. } => true,
            Node::Num(..) | Node::Param(_) => false,
            Node::Neg(a) | Node::Not(a) => a.has_series(),
            Node::Arith(_, a, b)
            | Node::Cmp(_, a, b)
            | Node::And(a, b)
            | Node::Or(a, b)
            | Node::Cross(a, b) => a.has_series() || b.has_series(),
        }
    }
}
