//! Name resolution and type checking of parsed rules against a spec.
//!
//! Turns a syntax tree into a typed [`Node`] tree that the emitter prints as Python: names
//! become columns, parameters or indicator series; inline indicator calls become hidden
//! indicators (deduplicated, named deterministically); every rule must be a condition.

use super::RuleError;
use super::ast::{BinOp, Expr, ExprKind, Func};
use super::calls::usage;
use super::ir::{IndicatorCall, Node, Scope, SeriesRef, Ty};
use super::suggest;
use crate::PriceColumn;
use crate::limits::MAX_ABS_NUMBER;
use crate::{IndicatorKind, ParamValue};

/// Resolves the rules of one spec, collecting the hidden indicators their inline calls need.
#[derive(Debug)]
pub struct Resolver<'s> {
    pub(super) scope: &'s Scope,
    /// Indicators created by inline calls, in order of first use (dependencies first).
    pub hidden: Vec<IndicatorCall>,
    pub(super) keys: Vec<String>,
    /// Largest lookback `n` in any `x[n]` seen.
    pub max_lookback: u32,
    /// Whether any rule uses crossover/crossunder (the emitter imports it only then).
    pub uses_crossover: bool,
}

fn num_type_error(col: usize, found: Ty) -> RuleError {
    match found {
        Ty::Bool => RuleError::type_error(col, "expected a number, found a condition"),
        Ty::Num => RuleError::type_error(
            col,
            "expected a condition (a comparison, crossover, and/or/not), found a number",
        ),
    }
}

impl<'s> Resolver<'s> {
    /// A resolver over `scope` with no hidden indicators yet.
    pub fn new(scope: &'s Scope) -> Self {
        Self { scope, hidden: Vec::new(), keys: Vec::new(), max_lookback: 0, uses_crossover: false }
    }

    /// Resolves one rule, which must be a condition.
    pub fn rule(&mut self, expr: &Expr) -> Result<Node, RuleError> {
        let (node, ty) = self.value(expr)?;
        if ty != Ty::Bool {
            return Err(RuleError::type_error(
                expr.span.col,
                "a rule must be a condition (a comparison, crossover, and/or/not), not a number",
            ));
        }
        Ok(node)
    }

    fn expect(&mut self, expr: &Expr, want: Ty) -> Result<Node, RuleError> {
        let (node, ty) = self.value(expr)?;
        if ty == want { Ok(node) } else { Err(num_type_error(expr.span.col, ty)) }
    }

    pub(super) fn value(&mut self, expr: &Expr) -> Result<(Node, Ty), RuleError> {
        let col = expr.span.col;
        match &expr.kind {
            ExprKind::Number { value, integer } => {
                if value.abs() > MAX_ABS_NUMBER {
                    return Err(RuleError::type_error(
                        col,
                        format!("number is too large (at most {MAX_ABS_NUMBER:e} in magnitude)"),
                    ));
                }
                Ok((Node::Num(*value, *integer), Ty::Num))
            }
            ExprKind::Name(name) => self.name(name, col),
            ExprKind::Member { base, field, field_span } => self.member(base, field, field_span.col),
            ExprKind::Lookback { base, bars } => {
                let (node, _) = self.value(base)?;
                match node {
                    Node::Series { series, bars_ago: 0 } => {
                        self.max_lookback = self.max_lookback.max(*bars);
                        Ok((Node::Series { series, bars_ago: *bars }, Ty::Num))
                    }
                    Node::Param(p) if !p.is_empty() => Err(RuleError::type_error(
                        col,
                        format!("'{p}' is a parameter; lookback [n] applies to columns and indicators"),
                    )),
                    _ => Err(RuleError::type_error(col, "lookback [n] applies to columns and indicators")),
                }
            }
            ExprKind::Call { func, args } => match func {
                Func::Indicator(kind) => {
                    let (attr, multi) = self.indicator_call(*kind, args, col)?;
                    let output = multi.then(|| kind.primary_output());
                    Ok((Node::Series { series: SeriesRef::Indicator { attr, output }, bars_ago: 0 }, Ty::Num))
                }
                Func::Crossover | Func::Crossunder => {
                    if args.len() != 2 {
                        return Err(RuleError::type_error(
                            col,
                            format!("{} takes 2 arguments (a, b), got {}", func.name(), args.len()),
                        ));
                    }
                    let a = self.expect(&args[0], Ty::Num)?;
                    let b = self.expect(&args[1], Ty::Num)?;
                    for (node, arg) in [(&a, &args[0]), (&b, &args[1])] {
                        if node.has_lookback() {
                            return Err(RuleError::type_error(
                                arg.span.col,
                                format!("{} compares whole series; remove the lookback [n]", func.name()),
                            ));
                        }
                    }
                    if !a.has_series() && !b.has_series() {
                        return Err(RuleError::type_error(
                            col,
                            format!("{} needs a column or an indicator on at least one side", func.name()),
                        ));
                    }
                    self.uses_crossover = true;
                    let node = if *func == Func::Crossover {
                        Node::Cross(Box::new(a), Box::new(b))
                    } else {
                        Node::Cross(Box::new(b), Box::new(a))
                    };
                    Ok((node, Ty::Bool))
                }
            },
            ExprKind::Neg(inner) => {
                let n = self.expect(inner, Ty::Num)?;
                Ok((Node::Neg(Box::new(n)), Ty::Num))
            }
            ExprKind::Not(inner) => {
                let n = self.expect(inner, Ty::Bool)?;
                Ok((Node::Not(Box::new(n)), Ty::Bool))
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs),
        }
    }

    fn binary(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr) -> Result<(Node, Ty), RuleError> {
        match op {
            BinOp::And | BinOp::Or => {
                let l = self.expect(lhs, Ty::Bool)?;
                let r = self.expect(rhs, Ty::Bool)?;
                let node = if op == BinOp::And {
                    Node::And(Box::new(l), Box::new(r))
                } else {
                    Node::Or(Box::new(l), Box::new(r))
                };
                Ok((node, Ty::Bool))
            }
            _ => {
                let l = self.expect(lhs, Ty::Num)?;
                let r = self.expect(rhs, Ty::Num)?;
                if op == BinOp::Div && matches!(r, Node::Num(v, _) if v == 0.0) {
                    return Err(RuleError::type_error(rhs.span.col, "division by zero"));
                }
                if op.is_comparison() {
                    Ok((Node::Cmp(op, Box::new(l), Box::new(r)), Ty::Bool))
                } else {
                    Ok((Node::Arith(op, Box::new(l), Box::new(r)), Ty::Num))
                }
            }
        }
    }

    fn name(&mut self, name: &str, col: usize) -> Result<(Node, Ty), RuleError> {
        if let Some(c) = PriceColumn::from_name(name) {
            return Ok((Node::Series { series: SeriesRef::Column(c), bars_ago: 0 }, Ty::Num));
        }
        if let Some(value) = self.scope.parameters.get(name) {
            return match value {
                // A flag is a condition (`use_filter and rsi < 30`).
                Some(ParamValue::Bool(_)) => Ok((Node::Param(name.to_owned()), Ty::Bool)),
                Some(ParamValue::Text(t)) => Err(RuleError::type_error(
                    col,
                    format!("parameter '{name}' is the text {t:?}; rules compare numbers and conditions"),
                )),
                _ => Ok((Node::Param(name.to_owned()), Ty::Num)),
            };
        }
        if let Some(kind) = self.scope.indicators.get(name) {
            let output = kind
                .filter(|k| !k.outputs().is_empty())
                .map(|k| self.scope.outputs.get(name).copied().unwrap_or(k.primary_output()));
            return Ok((
                Node::Series { series: SeriesRef::Indicator { attr: name.to_owned(), output }, bars_ago: 0 },
                Ty::Num,
            ));
        }
        if self.scope.lenient {
            // Placeholder: the declaring section already has an error.
            return Ok((Node::Param(String::new()), Ty::Num));
        }
        Err(self.unknown_name(name, col))
    }

    pub(super) fn unknown_name(&self, name: &str, col: usize) -> RuleError {
        if let Some(Func::Indicator(k)) = Func::from_name(name) {
            let example = usage(k);
            return RuleError::undeclared(
                col,
                format!(
                    "unknown indicator '{name}': declare it under indicators, or call it inline {}",
                    example.split_once("e.g. ").map_or(example, |(_, e)| e)
                ),
            );
        }
        let mut candidates: Vec<&str> = Vec::new();
        candidates.extend(self.scope.indicators.keys().map(String::as_str));
        candidates.extend(self.scope.parameters.keys().map(String::as_str));
        for c in PriceColumn::ALL {
            candidates.push(c.name());
        }
        match suggest::closest(name, candidates) {
            Some(s) => {
                let what = if self.scope.indicators.contains_key(s) {
                    "indicator"
                } else if self.scope.parameters.contains_key(s) {
                    "parameter"
                } else {
                    "column"
                };
                RuleError::undeclared(col, format!("unknown {what} '{name}' (did you mean '{s}'?)"))
            }
            None => RuleError::undeclared(
                col,
                format!(
                    "unknown name '{name}': not a declared indicator, a parameter or a column \
                     (open, high, low, close, volume)"
                ),
            ),
        }
    }

    fn member(&mut self, base: &Expr, field: &str, field_col: usize) -> Result<(Node, Ty), RuleError> {
        let (node, _) = self.value(base)?;
        let (attr, kind) = match (&base.kind, node) {
            (_, Node::Param(p)) if p.is_empty() => return Ok((Node::Param(p), Ty::Num)),
            (ExprKind::Name(n), Node::Series { series: SeriesRef::Indicator { attr, .. }, .. }) => {
                match self.scope.indicators.get(n).copied().flatten() {
                    Some(k) => (attr, k),
                    // The entry is invalid; its own error suffices.
                    None => return Ok((Node::Param(String::new()), Ty::Num)),
                }
            }
            (
                ExprKind::Call { func: Func::Indicator(k), .. },
                Node::Series { series: SeriesRef::Indicator { attr, .. }, .. },
            ) => (attr, *k),
            _ => {
                return Err(RuleError::type_error(
                    field_col,
                    format!(
                        "'{base}' has no outputs; '.{field}' applies to {}",
                        IndicatorKind::ALL
                            .iter()
                            .filter(|k| !k.outputs().is_empty())
                            .map(|k| k.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        };
        let outputs = kind.outputs();
        if outputs.is_empty() {
            return Err(RuleError::type_error(
                field_col,
                format!("'{base}' is a {kind} indicator with a single output; drop '.{field}'"),
            ));
        }
        match outputs.iter().position(|o| *o == field) {
            Some(i) => Ok((
                Node::Series { series: SeriesRef::Indicator { attr, output: Some(i) }, bars_ago: 0 },
                Ty::Num,
            )),
            None => {
                let hint = suggest::closest(field, outputs.iter().copied())
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                Err(RuleError::undeclared(
                    field_col,
                    format!("{kind} has no output '{field}'{hint}; outputs: {}", outputs.join(", ")),
                ))
            }
        }
    }
}
