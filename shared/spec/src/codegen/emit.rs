//! Prints a resolved strategy as a backtesting.py module.
//!
//! Output depends only on the spec (ordered maps, first-use order for hidden indicators),
//! so the same spec always yields the same bytes, and it is laid out as black would format
//! it for the shapes emitted here.

use super::ast::format_number;
use super::indicators::{helper_name, helper_source};
use super::ir::{Arg, IndicatorCall, Node, SeriesRef};
use super::layout::{condition_lines, entry_condition, exit_condition};
use super::python::{LINE_LENGTH, call_lines, comment_lines, docstring_lines, float_literal, string_literal};
use crate::{IndicatorKind, ParamValue, SCHEMA_VERSION, StrategySpec};
use std::collections::BTreeSet;

/// Everything the emitter needs, already resolved and checked.
pub(crate) struct Program<'a> {
    pub spec: &'a StrategySpec,
    pub class_name: &'a str,
    pub indicators: Vec<IndicatorCall>,
    pub entry: Vec<(String, Node)>,
    pub exit: Vec<(String, Node)>,
    pub max_lookback: u32,
    pub uses_crossover: bool,
}

const ATOM: u8 = 8;

pub(crate) fn prec(node: &Node) -> u8 {
    match node {
        Node::Or(..) => 1,
        Node::And(..) => 2,
        Node::Not(_) => 3,
        Node::Cmp(..) => 4,
        Node::Arith(op, ..) => op.precedence(),
        Node::Neg(_) => 7,
        Node::Num(..) | Node::Param(_) | Node::Series { .. } | Node::Cross(..) => ATOM,
    }
}

fn series_text(s: &SeriesRef) -> String {
    match s {
        SeriesRef::Column(c) => format!("self.data.{}", c.data_attr()),
        SeriesRef::Indicator { attr, output: None } => format!("self.{attr}"),
        SeriesRef::Indicator { attr, output: Some(i) } => format!("self.{attr}[{i}]"),
    }
}

/// Python text of a node; `array` prints series as whole arrays (crossover arguments)
/// instead of their value `bars_ago` bars back.
pub(crate) fn py(node: &Node, array: bool) -> String {
    match node {
        Node::Num(v, integer) => format_number(*v, *integer),
        Node::Param(p) => format!("self.{p}"),
        Node::Series { series, bars_ago } => {
            if array {
                series_text(series)
            } else {
                format!("{}[-{}]", series_text(series), bars_ago + 1)
            }
        }
        Node::Neg(inner) => format!("-{}", wrap(inner, 7, array)),
        Node::Not(inner) => format!("not {}", wrap(inner, 3, array)),
        Node::Arith(op, l, r) | Node::Cmp(op, l, r) => binary(op.symbol(), op.precedence(), l, r, array),
        Node::And(l, r) => binary("and", 2, l, r, array),
        // black gives `and` and `or` the same split priority; explicit parentheses keep
        // mixed chains readable when black splits them over lines.
        Node::Or(l, r) => format!("{} or {}", logic_operand(l, array), logic_operand(r, array)),
        Node::Cross(a, b) => format!("crossover({}, {})", py(a, true), py(b, true)),
    }
}

/// An operand of `or`: `and` chains and anything looser than `or`'s operands get
/// parentheses.
fn logic_operand(n: &Node, array: bool) -> String {
    if matches!(n, Node::And(..)) { format!("({})", py(n, array)) } else { wrap(n, 1, array) }
}

/// `inner` printed, parenthesized when it binds looser than `min`.
pub(crate) fn wrap(inner: &Node, min: u8, array: bool) -> String {
    if prec(inner) < min { format!("({})", py(inner, array)) } else { py(inner, array) }
}

fn binary(sym: &str, p: u8, l: &Node, r: &Node, array: bool) -> String {
    // Comparisons never chain (the resolver only compares numbers), so a comparison
    // operand never needs the non-associativity parentheses.
    format!("{} {sym} {}", wrap(l, p, array), wrap(r, p + 1, array))
}

fn arg_text(a: &Arg) -> String {
    match a {
        Arg::Int(i) => i.to_string(),
        Arg::Float(f) => float_literal(*f),
        Arg::Param(p) => format!("self.{p}"),
    }
}

fn indicator_lines(call: &IndicatorCall) -> Vec<String> {
    let mut args = vec![helper_name(call.kind)];
    match &call.source {
        Some(s) => args.push(series_text(s)),
        None => args.extend(call.kind.inputs().iter().map(|c| format!("self.data.{}", c.data_attr()))),
    }
    args.extend(call.args.iter().map(arg_text));
    args.push(format!("name=\"{}\"", call.label));
    call_lines(8, &format!("self.{} = self.I(", call.attr), &args, ")")
}

fn param_literal(v: &ParamValue) -> String {
    match v {
        ParamValue::Int(i) => i.to_string(),
        ParamValue::Float(f) => float_literal(*f),
        ParamValue::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        ParamValue::Text(t) => string_literal(t),
    }
}

fn pct_factor(sign: char, pct: f64) -> String {
    format!("price * (1 {sign} {} / 100)", format_number(pct, pct.fract() == 0.0))
}

/// The whole module.
pub(crate) fn module(p: &Program<'_>) -> String {
    let spec = p.spec;
    let mut out = String::new();

    // Module docstring: the name is a safe identifier; the description is filtered.
    let name = spec.name.as_str();
    out.push_str(&format!("\"\"\"Strategy {name}.\n"));
    let desc = docstring_lines(&spec.description, LINE_LENGTH, 12);
    if !desc.is_empty() {
        out.push('\n');
        for line in desc {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "\nGenerated by AlgoAgent's rule compiler from schema {SCHEMA_VERSION}. \
         Edit the spec, not this file.\n\"\"\"\n\n"
    ));

    out.push_str("import numpy as np\nimport pandas as pd\nfrom backtesting import Strategy\n");
    if p.uses_crossover {
        out.push_str("from backtesting.lib import crossover\n");
    }

    let kinds: BTreeSet<IndicatorKind> = p.indicators.iter().map(|c| c.kind).collect();
    for kind in &kinds {
        out.push_str("\n\n");
        out.push_str(helper_source(*kind));
    }

    out.push_str(&format!("\n\nclass {}(Strategy):\n", p.class_name));
    out.push_str("    \"\"\"Enters when every entry rule holds; exits when any exit rule holds.\"\"\"\n");
    if !spec.parameters.is_empty() {
        out.push('\n');
        for (k, v) in &spec.parameters {
            out.push_str(&format!("    {k} = {}\n", param_literal(v)));
        }
    }

    out.push_str("\n    def init(self):\n");
    if p.indicators.is_empty() {
        out.push_str("        pass\n");
    }
    for call in &p.indicators {
        for line in indicator_lines(call) {
            out.push_str(&line);
            out.push('\n');
        }
    }

    out.push_str("\n    def next(self):\n");
    // The rules in canonical form: only tokens of the rule language, so safe in comments.
    let rule_comments = p
        .entry
        .iter()
        .map(|(text, _)| comment_lines(8, "entry (all)", text))
        .chain(p.exit.iter().map(|(text, _)| comment_lines(8, "exit (any)", text)));
    for lines in rule_comments {
        for line in lines {
            out.push_str(&line);
            out.push('\n');
        }
    }
    if p.max_lookback > 0 {
        out.push_str(&format!("        if len(self.data) <= {}:\n            return\n", p.max_lookback));
    }
    let risk = &spec.risk;
    let size = risk.position_size.unwrap_or(spec.backtest.position_size);
    let mut buy_args = Vec::new();
    if size < 1.0 {
        buy_args.push(format!("size={}", float_literal(size)));
    }
    if let Some(sl) = risk.stop_loss_pct {
        buy_args.push(format!("sl={}", pct_factor('-', sl)));
    }
    if let Some(tp) = risk.take_profit_pct {
        buy_args.push(format!("tp={}", pct_factor('+', tp)));
    }
    if risk.stop_loss_pct.is_some() || risk.take_profit_pct.is_some() {
        out.push_str("        price = self.data.Close[-1]\n");
    }
    let entry: Vec<&Node> = p.entry.iter().map(|(_, n)| n).collect();
    for line in condition_lines(8, "if", &entry_condition(&entry)) {
        out.push_str(&line);
        out.push('\n');
    }
    for line in call_lines(12, "self.buy(", &buy_args, ")") {
        out.push_str(&line);
        out.push('\n');
    }
    let exit: Vec<&Node> = p.exit.iter().map(|(_, n)| n).collect();
    if let Some(cond) = exit_condition(&exit) {
        for line in condition_lines(8, "elif", &cond) {
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str("            self.position.close()\n");
    }
    out
}

/// `RSI_Reversal` -> `RsiReversalStrategy`: CamelCase parts split at `_` and `-`, all-caps
/// parts capitalized, `Strategy` appended unless the name already ends with it.
pub fn class_name(name: &str) -> String {
    let mut out = String::new();
    for part in name.split(['_', '-']).filter(|p| !p.is_empty()) {
        let all_upper = part.chars().all(|c| !c.is_ascii_lowercase());
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            if all_upper {
                out.extend(chars.map(|c| c.to_ascii_lowercase()));
            } else {
                out.extend(chars);
            }
        }
    }
    if !out.ends_with("Strategy") {
        out.push_str("Strategy");
    }
    out
}
