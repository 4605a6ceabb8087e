//! Rules against code that fakes its own results or never ends, and against source whose
//! bytes CPython would read differently from the validator.
//!
//! - `framework-internal`: backtesting.py keeps cash, equity, trades and positions in private
//!   attributes (`self._broker._cash`, `trade._sl_order`); a strategy that writes them
//!   reports a profitable backtest that never happened. A `_name` attribute is allowed only
//!   when the module itself assigns that attribute or defines a method of that name (its own
//!   state) and the name is not one of the framework's. The check is by name, not by
//!   receiver: the framework's names are refused everywhere, and the harness's replay of
//!   the trades is the backstop for whatever slips through.
//! - `endless-loop`: `while True:` with no way out of its body.
//! - `encoding-declaration`: a PEP 263 coding cookie other than UTF-8 or ASCII makes
//!   CPython decode the file with another codec (utf-7, unicode_escape), so a comment here
//!   can be a line of code there.

use ruff_python_ast::name::Name;
use ruff_python_ast::{self as ast, Expr, Number, Stmt};
use rustc_hash::FxHashSet;

use super::checker::{Checker, off};
use super::rules::RuleId;

/// Every single-underscore attribute that backtesting.py 0.6.6 (the pinned version) uses on
/// its own objects: `Strategy`, `_Broker`, `Order`, `Trade`, `Position`, `_Data`, `_Array`,
/// `Backtest` and the `backtesting.lib` strategies. Sorted for the binary search.
const FRAMEWORK_PRIVATE: &[&str] = &[
    "_adjusted_price",
    "_broker",
    "_bt_kwargs",
    "_cash",
    "_check_params",
    "_close_trade",
    "_commission",
    "_commission_fixed",
    "_commission_func",
    "_commission_relative",
    "_commissions",
    "_copy",
    "_create",
    "_current_value",
    "_data",
    "_dfs",
    "_equity",
    "_equity_curve",
    "_exclusive_orders",
    "_finalize_trades",
    "_fractional_unit",
    "_hedging",
    "_i",
    "_indicators",
    "_leverage",
    "_mp_task",
    "_mp_task_run",
    "_name",
    "_open_trade",
    "_opts",
    "_params",
    "_plotting",
    "_position_initial_value",
    "_position_size",
    "_position_unrealized_pl",
    "_process_orders",
    "_reduce_trade",
    "_replace",
    "_results",
    "_set_length",
    "_shms",
    "_sl_order",
    "_spread",
    "_stats",
    "_strategy",
    "_tp_order",
    "_track",
    "_trade_on_close",
    "_trades",
    "_trades_cache_clear",
    "_update",
];

/// A private attribute of the framework: one of its own names, or a name-mangled private
/// (`_Strategy__params`, `_Data__arrays`, `_TrailingStrategy__atr`).
pub(super) fn framework_private(name: &str) -> bool {
    FRAMEWORK_PRIVATE.binary_search(&name).is_ok() || is_mangled(name)
}

/// `_Class__name`: what Python makes of `self.__name` inside `class Class`.
fn is_mangled(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('_') else { return false };
    if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return false;
    }
    rest.find("__").is_some_and(|i| rest.len() > i + 2)
}

impl Checker<'_> {
    /// A `_name` attribute read or written at `at`: the framework's own are refused now; the
    /// others wait for the end of the walk, when every attribute the module assigns is known.
    pub(super) fn private_attribute(&mut self, name: &str, at: usize, how: &str) {
        if framework_private(name) {
            self.report(
                RuleId::FrameworkInternal,
                at,
                format!("{how} backtesting.py internal '{name}' is not allowed (it would fake the backtest's results)"),
            );
        } else {
            self.private_uses.push((Name::new(name), at));
        }
    }

    /// After the walk: refuse private attributes that the module never assigns (they belong
    /// to objects it did not create).
    pub(super) fn resolve_private(&mut self) {
        if self.private_uses.is_empty() {
            return;
        }
        let uses = std::mem::take(&mut self.private_uses);
        let foreign: Vec<(Name, usize)> = {
            // The module's own: attributes it assigns and methods or classes it defines.
            let stored: FxHashSet<&str> =
                self.stored_attrs.iter().chain(self.defined.iter()).map(Name::as_str).collect();
            uses.into_iter().filter(|(name, _)| !stored.contains(name.as_str())).collect()
        };
        for (name, at) in foreign {
            self.report(
                RuleId::FrameworkInternal,
                at,
                format!(
                    "private attribute '{name}' is never assigned by this module: private state of objects the strategy did not create is off limits"
                ),
            );
        }
    }

    /// `while <constant true>:` whose body cannot leave the loop.
    pub(super) fn check_while(&mut self, w: &ast::StmtWhile) {
        if constant_true(&w.test) && !w.body.iter().any(|s| exits(s, true)) {
            self.report(
                RuleId::EndlessLoop,
                off(w.range.start()),
                "this loop never ends: its condition is always true and its body has no break, return or raise".to_owned(),
            );
        }
    }
}

/// `True`, a non-zero number, a non-empty string, or `not` of a constant false.
fn constant_true(e: &Expr) -> bool {
    match e {
        Expr::BooleanLiteral(b) => b.value,
        Expr::NumberLiteral(n) => match &n.value {
            Number::Int(i) => i.as_u64() != Some(0),
            Number::Float(f) => *f != 0.0,
            Number::Complex { real, imag } => *real != 0.0 || *imag != 0.0,
        },
        Expr::StringLiteral(s) => !s.value.is_empty(),
        Expr::BytesLiteral(b) => !b.value.is_empty(),
        Expr::UnaryOp(u) if u.op == ast::UnaryOp::Not => constant_false(&u.operand),
        _ => false,
    }
}

fn constant_false(e: &Expr) -> bool {
    match e {
        Expr::BooleanLiteral(b) => !b.value,
        Expr::NoneLiteral(_) => true,
        Expr::NumberLiteral(n) => match &n.value {
            Number::Int(i) => i.as_u64() == Some(0),
            Number::Float(f) => *f == 0.0,
            Number::Complex { real, imag } => *real == 0.0 && *imag == 0.0,
        },
        Expr::StringLiteral(s) => s.value.is_empty(),
        Expr::UnaryOp(u) if u.op == ast::UnaryOp::Not => constant_true(&u.operand),
        _ => false,
    }
}

/// Whether `s` can leave the enclosing loop: a `break` of that loop (`own` is false inside
/// a nested loop, whose breaks leave only itself), a `return` or a `raise` (nested function
/// and class bodies do not count). Bounded by the walk's own depth limit, which the caller
/// has already enforced on this tree.
fn exits(s: &Stmt, own: bool) -> bool {
    let any = |body: &[Stmt], own: bool| body.iter().any(|s| exits(s, own));
    match s {
        Stmt::Break(_) => own,
        Stmt::Return(_) | Stmt::Raise(_) => true,
        Stmt::If(i) => any(&i.body, own) || i.elif_else_clauses.iter().any(|c| any(&c.body, own)),
        Stmt::While(w) => any(&w.body, false) || any(&w.orelse, own),
        Stmt::For(f) => any(&f.body, false) || any(&f.orelse, own),
        Stmt::With(w) => any(&w.body, own),
        Stmt::Try(t) => {
            any(&t.body, own)
                || any(&t.orelse, own)
                || any(&t.finalbody, own)
                || t.handlers.iter().any(|h| match h {
                    ast::ExceptHandler::ExceptHandler(h) => any(&h.body, own),
                })
        }
        Stmt::Match(m) => m.cases.iter().any(|c| any(&c.body, own)),
        _ => false,
    }
}

/// The codec named by a PEP 263 coding cookie in the first two lines, if any (CPython reads
/// it from line 2 only when line 1 is a comment or blank; both are checked here, which is
/// stricter and never wrong).
fn coding_cookie(code: &str) -> Option<(&str, usize)> {
    // CPython drops a UTF-8 byte-order mark before it looks for the cookie.
    let (code, mut start) = match code.strip_prefix('\u{feff}') {
        Some(rest) => (rest, '\u{feff}'.len_utf8()),
        None => (code, 0),
    };
    for line in code.split_inclusive(['\n', '\r']).take(2) {
        let trimmed = line.trim_start_matches([' ', '\t', '\x0c']);
        if let Some(comment) = trimmed.strip_prefix('#') {
            if let Some(i) = comment.find("coding") {
                let after = &comment[i + "coding".len()..];
                if let Some(rest) = after.strip_prefix([':', '=']) {
                    let name = rest.trim_start_matches([' ', '\t']);
                    let end = name
                        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                        .unwrap_or(name.len());
                    if end > 0 {
                        return Some((&name[..end], start));
                    }
                }
            }
        } else if !trimmed.trim().is_empty() {
            return None;
        }
        start += line.len();
    }
    None
}

/// How CPython reads a codec name: as UTF-8, as ASCII, or as something else.
#[derive(PartialEq)]
enum Codec {
    Utf8,
    Ascii,
    Other,
}

fn codec_kind(codec: &str) -> Codec {
    let norm = codec.to_ascii_lowercase().replace('_', "-");
    match norm.as_str() {
        "utf-8" | "utf8" | "u8" | "utf" | "cp65001" => Codec::Utf8,
        // CPython's tokenizer also folds "utf-8-<anything>" to utf-8.
        n if n.starts_with("utf-8-") => Codec::Utf8,
        "ascii" | "us-ascii" | "646" | "us" | "iso646-us" => Codec::Ascii,
        _ => Codec::Other,
    }
}

/// Refuse a coding cookie CPython would decode differently, and one that contradicts a BOM.
pub(super) fn check_encoding(ck: &mut Checker<'_>, code: &str) {
    let Some((codec, at)) = coding_cookie(code) else { return };
    let kind = codec_kind(codec);
    if kind == Codec::Other {
        ck.report(
            RuleId::EncodingDeclaration,
            at,
            format!("coding declaration '{codec}' is not allowed: CPython would decode the file as {codec}, not as the UTF-8 text checked here; declare utf-8 or nothing"),
        );
    } else if code.starts_with('\u{feff}') && kind == Codec::Ascii {
        ck.report(
            RuleId::EncodingDeclaration,
            at,
            format!("coding declaration '{codec}' contradicts the UTF-8 byte-order mark"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_private_list_is_sorted_for_the_binary_search() {
        assert!(FRAMEWORK_PRIVATE.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn mangled_names_are_recognised() {
        assert!(is_mangled("_Strategy__params") && is_mangled("_Data__arrays"));
        assert!(!is_mangled("_my__") && !is_mangled("_fast") && !is_mangled("__x") && !is_mangled("_1__x"));
    }

    #[test]
    fn cookies_are_found_on_the_first_two_lines_only() {
        assert_eq!(coding_cookie("# -*- coding: utf-7 -*-\nx = 1\n").map(|c| c.0), Some("utf-7"));
        assert_eq!(
            coding_cookie("#!/usr/bin/python\n# vim: set fileencoding=latin-1 :\n").map(|c| c.0),
            Some("latin-1")
        );
        assert_eq!(coding_cookie("\u{feff}# coding=unicode_escape\r"), Some(("unicode_escape", 3)));
        assert_eq!(coding_cookie("x = 1\n# coding: utf-7\n"), None);
        assert_eq!(coding_cookie("\n\n# coding: utf-7\n"), None);
    }
}
