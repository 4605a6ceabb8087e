//! Inline indicator calls and declared indicators: argument checking, defaults, and the
//! deterministic naming and deduplication of hidden indicators.

use super::RuleError;
use super::ast::{Expr, ExprKind, Func};
use super::ir::{Arg, IndicatorCall, Node, SeriesRef};
use super::resolve::Resolver;
use crate::limits::{MAX_PERIOD, MAX_STD_DEV, MIN_PERIOD};
use crate::{IndicatorKind, IntOrParam, NumOrParam, PriceColumn, SeriesSource};

/// What a parameter slot of an indicator call takes.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// A window (integer bars), required.
    Window(&'static str),
    /// A window with a default.
    WindowOr(&'static str, u32),
    /// A real value with a default (Bollinger width).
    RealOr(&'static str, f64),
}

/// How an indicator call takes its source column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceMode {
    Required,
    Optional,
    None,
}

fn signature(kind: IndicatorKind) -> (SourceMode, &'static [Slot], &'static str) {
    use IndicatorKind as K;
    match kind {
        K::Sma | K::Ema | K::Wma | K::Highest | K::Lowest | K::Roc | K::Std => {
            (SourceMode::Required, &[Slot::Window("period")], "(source, period), e.g. sma(close, 20)")
        }
        K::Rsi => (
            SourceMode::Optional,
            &[Slot::Window("period")],
            "([source,] period), e.g. rsi(14) or rsi(close, 14)",
        ),
        K::Macd => (
            SourceMode::Optional,
            &[Slot::Window("fast"), Slot::Window("slow"), Slot::Window("signal")],
            "([source,] fast, slow, signal), e.g. macd(12, 26, 9).signal",
        ),
        K::Bbands => (
            SourceMode::Optional,
            &[Slot::Window("period"), Slot::RealOr("std_dev", IndicatorKind::DEFAULT_STD_DEV)],
            "([source,] period[, std_dev]), e.g. bbands(close, 20, 2).lower",
        ),
        K::Atr => (SourceMode::None, &[Slot::Window("period")], "(period), e.g. atr(14)"),
        K::Stochastic => (
            SourceMode::None,
            &[Slot::Window("k_period"), Slot::WindowOr("d_period", 3)],
            "(k_period[, d_period]), e.g. stochastic(14, 3).k",
        ),
        K::Donchian => (SourceMode::None, &[Slot::Window("period")], "(period), e.g. donchian(20).upper"),
        K::WilliamsR => {
            (SourceMode::None, &[Slot::WindowOr("period", 14)], "([period]), e.g. williams_r(14)")
        }
        K::Cci => (SourceMode::None, &[Slot::WindowOr("period", 20)], "([period]), e.g. cci(20)"),
        K::Adx => (SourceMode::None, &[Slot::WindowOr("period", 14)], "([period]), e.g. adx(14).plus_di"),
        K::Mfi => (SourceMode::None, &[Slot::WindowOr("period", 14)], "([period]), e.g. mfi(14)"),
        K::Vwap => (SourceMode::None, &[Slot::WindowOr("period", 20)], "([period]), e.g. vwap(20)"),
        K::Obv => (SourceMode::None, &[], "(), e.g. obv()"),
        K::Keltner => (
            SourceMode::None,
            &[Slot::WindowOr("period", 20), Slot::RealOr("multiplier", IndicatorKind::DEFAULT_STD_DEV)],
            "([period[, multiplier]]), e.g. keltner(20, 2).upper",
        ),
        K::Psar => (
            SourceMode::None,
            &[Slot::RealOr("step", 0.02), Slot::RealOr("max_step", 0.2)],
            "([step[, max_step]]), e.g. psar(0.02, 0.2)",
        ),
        K::Ichimoku => (
            SourceMode::None,
            &[Slot::WindowOr("tenkan", 9), Slot::WindowOr("kijun", 26), Slot::WindowOr("senkou", 52)],
            "([tenkan[, kijun[, senkou]]]), e.g. ichimoku(9, 26, 52).tenkan",
        ),
    }
}

/// How to call `kind` inline, with an example, for error messages.
pub(super) fn usage(kind: IndicatorKind) -> &'static str {
    signature(kind).2
}

impl Resolver<'_> {
    /// Whether an argument denotes a series (so it is the source of an indicator call).
    pub(super) fn is_series_arg(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Name(n) => PriceColumn::from_name(n).is_some() || self.scope.indicators.contains_key(n),
            ExprKind::Member { .. } | ExprKind::Lookback { .. } => true,
            ExprKind::Call { func, .. } => matches!(func, Func::Indicator(_)),
            _ => false,
        }
    }

    /// Resolves an inline indicator call to the attribute holding it; also reports whether
    /// the kind has several outputs.
    pub(super) fn indicator_call(
        &mut self,
        kind: IndicatorKind,
        args: &[Expr],
        col: usize,
    ) -> Result<(String, bool), RuleError> {
        let (mode, slots, usage) = signature(kind);
        let arity_error = |got: usize| {
            RuleError::type_error(
                col,
                format!("{kind} expects {usage}; got {got} argument{}", if got == 1 { "" } else { "s" }),
            )
        };
        let takes_source = match mode {
            SourceMode::Required => true,
            SourceMode::Optional => args.first().is_some_and(|a| self.is_series_arg(a)),
            SourceMode::None => false,
        };
        if takes_source && args.is_empty() {
            return Err(arity_error(0));
        }
        let source = if takes_source {
            Some(self.source_arg(kind, &args[0])?)
        } else if mode == SourceMode::Optional {
            Some(SeriesRef::Column(PriceColumn::Close))
        } else {
            None
        };
        let rest = if takes_source { &args[1..] } else { args };
        let required = slots.iter().filter(|s| matches!(s, Slot::Window(_))).count();
        if rest.len() < required || rest.len() > slots.len() {
            return Err(arity_error(args.len()));
        }
        let mut resolved = Vec::with_capacity(slots.len());
        for (i, slot) in slots.iter().enumerate() {
            let arg = match (slot, rest.get(i)) {
                (Slot::Window(what) | Slot::WindowOr(what, _), Some(e)) => self.window_arg(e, what)?,
                (Slot::WindowOr(_, d), None) => Arg::Int(*d),
                (Slot::RealOr(what, _), Some(e)) => self.real_arg(e, what)?,
                (Slot::RealOr(_, d), None) => Arg::Float(*d),
                (Slot::Window(_), None) => return Err(arity_error(args.len())),
            };
            resolved.push(arg);
        }
        if kind == IndicatorKind::Macd
            && let (Some(fast), Some(slow)) = (self.arg_value(&resolved[0]), self.arg_value(&resolved[1]))
            && fast >= slow
        {
            return Err(RuleError::type_error(
                col,
                format!("macd fast ({fast}) must be less than slow ({slow})"),
            ));
        }
        Ok((self.intern(kind, source, resolved), !kind.outputs().is_empty()))
    }

    fn arg_value(&self, a: &Arg) -> Option<f64> {
        match a {
            Arg::Int(i) => Some(f64::from(*i)),
            Arg::Float(f) => Some(*f),
            Arg::Param(p) => self.scope.parameters.get(p).cloned().flatten().and_then(|v| v.as_f64()),
        }
    }

    fn source_arg(&mut self, kind: IndicatorKind, e: &Expr) -> Result<SeriesRef, RuleError> {
        let (node, _) = self.value(e)?;
        match node {
            Node::Series { series, bars_ago: 0 } => Ok(series),
            Node::Series { .. } => Err(RuleError::type_error(
                e.span.col,
                format!("the source of {kind} is a whole series; remove the lookback [n]"),
            )),
            // Placeholder for a name whose declaration is already in error.
            Node::Param(p) if p.is_empty() => Ok(SeriesRef::Column(PriceColumn::Close)),
            _ => Err(RuleError::type_error(
                e.span.col,
                format!(
                    "the first argument of {kind} must be a column or an indicator, e.g. {kind}(close, 20)"
                ),
            )),
        }
    }

    fn window_arg(&mut self, e: &Expr, what: &str) -> Result<Arg, RuleError> {
        let col = e.span.col;
        match &e.kind {
            ExprKind::Number { value, integer: true }
                if *value >= f64::from(MIN_PERIOD) && *value <= f64::from(MAX_PERIOD) =>
            {
                // Integral and within 1..=5000, checked by the guard.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(Arg::Int(*value as u32))
            }
            ExprKind::Name(n) if self.scope.parameters.contains_key(n) => {
                match self.scope.parameters.get(n).cloned().flatten() {
                    Some(v) if v.as_window(MIN_PERIOD, MAX_PERIOD).is_none() => Err(RuleError::type_error(
                        col,
                        format!(
                            "parameter '{n}' is {v}; {what} must be an integer between {MIN_PERIOD} and {MAX_PERIOD}"
                        ),
                    )),
                    _ => Ok(Arg::Param(n.clone())),
                }
            }
            ExprKind::Name(n) if !self.is_series_arg(e) && PriceColumn::from_name(n).is_none() => {
                if self.scope.lenient { Ok(Arg::Int(MIN_PERIOD)) } else { Err(self.unknown_name(n, col)) }
            }
            _ => Err(RuleError::type_error(
                col,
                format!(
                    "{what} must be a window: an integer between {MIN_PERIOD} and {MAX_PERIOD} or an integer parameter"
                ),
            )),
        }
    }

    fn real_arg(&mut self, e: &Expr, what: &str) -> Result<Arg, RuleError> {
        let col = e.span.col;
        let range_msg = format!("must be greater than 0 and at most {MAX_STD_DEV}");
        match &e.kind {
            ExprKind::Number { value, .. } if *value > 0.0 && *value <= MAX_STD_DEV => Ok(Arg::Float(*value)),
            ExprKind::Number { .. } => Err(RuleError::type_error(col, format!("{what} {range_msg}"))),
            ExprKind::Name(n) if self.scope.parameters.contains_key(n) => {
                match self.scope.parameters.get(n).cloned().flatten() {
                    Some(v) if !v.as_f64().is_some_and(|x| x > 0.0 && x <= MAX_STD_DEV) => {
                        Err(RuleError::type_error(col, format!("parameter '{n}' is {v}; {what} {range_msg}")))
                    }
                    _ => Ok(Arg::Param(n.clone())),
                }
            }
            ExprKind::Name(n) if self.scope.lenient => {
                let _ = n;
                Ok(Arg::Float(IndicatorKind::DEFAULT_STD_DEV))
            }
            ExprKind::Name(n) => Err(self.unknown_name(n, col)),
            _ => Err(RuleError::type_error(col, format!("expected a number or a parameter for {what}"))),
        }
    }

    /// Registers a hidden indicator (or finds the identical one) and returns its attribute.
    fn intern(&mut self, kind: IndicatorKind, source: Option<SeriesRef>, args: Vec<Arg>) -> String {
        let key = format!("{kind}|{source:?}|{args:?}");
        if let Some(i) = self.keys.iter().position(|k| *k == key) {
            return self.hidden[i].attr.clone();
        }
        let mut base = format!("_{kind}");
        let mut label_args = Vec::new();
        if let Some(src) = &source {
            base.push('_');
            base.push_str(&self.series_slug(src));
            label_args.push(self.series_label(src));
        }
        for a in &args {
            let (slug, label) = match a {
                Arg::Int(i) => (i.to_string(), i.to_string()),
                Arg::Float(f) => {
                    let text = super::ast::format_number(*f, f.fract() == 0.0);
                    (text.replace(['.', '-', '+'], "_"), text)
                }
                Arg::Param(p) => (p.clone(), p.clone()),
            };
            base.push('_');
            base.push_str(&slug);
            label_args.push(label);
        }
        let mut attr = base.clone();
        let mut n = 2;
        while self.hidden.iter().any(|h| h.attr == attr) {
            attr = format!("{base}_{n}");
            n += 1;
        }
        self.keys.push(key);
        self.hidden.push(IndicatorCall {
            attr: attr.clone(),
            kind,
            source,
            args,
            label: format!("{kind}({})", label_args.join(", ")),
        });
        attr
    }

    fn series_slug(&self, s: &SeriesRef) -> String {
        match s {
            SeriesRef::Column(c) => c.name().to_owned(),
            SeriesRef::Indicator { attr, output } => {
                let mut slug = attr.trim_start_matches('_').to_owned();
                if let Some(o) = output {
                    slug.push('_');
                    slug.push_str(self.output_name(attr, *o));
                }
                slug
            }
        }
    }

    fn series_label(&self, s: &SeriesRef) -> String {
        match s {
            SeriesRef::Column(c) => c.name().to_owned(),
            SeriesRef::Indicator { attr, output } => {
                let mut label = self
                    .hidden
                    .iter()
                    .find(|h| h.attr == *attr)
                    .map_or_else(|| attr.clone(), |h| h.label.clone());
                if let Some(o) = output {
                    label.push('.');
                    label.push_str(self.output_name(attr, *o));
                }
                label
            }
        }
    }

    fn output_name(&self, attr: &str, output: usize) -> &'static str {
        let kind = self
            .hidden
            .iter()
            .find(|h| h.attr == attr)
            .map(|h| h.kind)
            .or_else(|| self.scope.indicators.get(attr).copied().flatten());
        kind.and_then(|k| k.outputs().get(output).copied()).unwrap_or("out")
    }
}

/// The indicator a declared entry computes, with defaults filled in: one argument per
/// field of the kind (its source aside), in the order of [`IndicatorKind::fields`], which is
/// the helper's argument order. `all` is every declared entry, for a source that is another
/// indicator (its bare reference reads that indicator's default output).
pub fn declared_call(
    name: &str,
    spec: &crate::IndicatorSpec,
    all: &std::collections::BTreeMap<String, crate::IndicatorSpec>,
) -> IndicatorCall {
    let kind = spec.kind;
    let args = kind
        .fields()
        .iter()
        .filter(|f| **f != crate::IndicatorField::Source)
        .map(|&field| {
            if field.is_real() {
                match spec.real(field) {
                    Some(NumOrParam::Value(v)) => Arg::Float(*v),
                    Some(NumOrParam::Param(p)) => Arg::Param(p.clone()),
                    None => Arg::Float(kind.default_real(field)),
                }
            } else {
                match spec.window(field) {
                    Some(IntOrParam::Value(n)) => Arg::Int(*n),
                    Some(IntOrParam::Param(p)) => Arg::Param(p.clone()),
                    None => Arg::Int(kind.default_window(field)),
                }
            }
        })
        .collect();
    let source = kind.takes_source().then(|| match &spec.source {
        Some(src @ SeriesSource::Indicator(_)) => {
            let (attr, output) = src.indicator().unwrap_or(("", None));
            let target = all.get(attr);
            let output = match output {
                Some(o) => target.and_then(|t| t.kind.output_index(o)),
                None => target.and_then(crate::IndicatorSpec::default_output),
            };
            SeriesRef::Indicator { attr: attr.to_owned(), output }
        }
        Some(SeriesSource::Column(c)) => SeriesRef::Column(*c),
        None => SeriesRef::Column(PriceColumn::Close),
    });
    IndicatorCall { attr: name.to_owned(), kind, source, args, label: name.to_owned() }
}
