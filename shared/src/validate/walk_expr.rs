//! The expression half of the AST walk. Every expression returns the size estimate of its
//! constant value, computed bottom-up for `literal-too-large`, so a long chain is sized in
//! one pass.

use rustpython_parser::ast::{self, Constant, Expr, Ranged, bigint::BigInt};

use super::checker::{Checker, off};
use super::limits::MAX_INT_BITS;
use super::literals::{self, Mag};
use super::rules::RuleId;

impl Checker<'_> {
    /// Walk an expression and return the size estimate of its value.
    pub(super) fn expr(&mut self, e: &Expr) -> Mag {
        let mag = if self.enter(off(e.start())) { self.expr_inner(e) } else { Mag::Unknown };
        self.leave();
        mag
    }

    fn expr_inner(&mut self, e: &Expr) -> Mag {
        let at = off(e.start());
        match e {
            Expr::BoolOp(b) => {
                self.exprs(&b.values);
                Mag::Unknown
            }
            Expr::NamedExpr(n) => {
                self.expr(&n.target);
                self.expr(&n.value)
            }
            Expr::BinOp(b) => {
                let l = self.expr(&b.left);
                let r = self.expr(&b.right);
                let m = literals::binop(l, &b.op, r);
                self.size_check(m, &[l, r], at);
                m
            }
            Expr::UnaryOp(u) => {
                let o = self.expr(&u.operand);
                let m = literals::unaryop(&u.op, o);
                self.size_check(m, &[o], at);
                m
            }
            Expr::Lambda(l) => {
                self.arguments(&l.args);
                self.expr(&l.body);
                Mag::Unknown
            }
            Expr::IfExp(i) => {
                self.expr(&i.test);
                self.expr(&i.body);
                self.expr(&i.orelse);
                Mag::Unknown
            }
            Expr::Dict(d) => {
                for k in d.keys.iter().flatten() {
                    self.expr(k);
                }
                self.exprs(&d.values);
                Mag::Unknown
            }
            Expr::Set(s) => {
                self.exprs(&s.elts);
                Mag::Unknown
            }
            Expr::List(l) => {
                self.exprs(&l.elts);
                Mag::Seq(l.elts.len() as f64)
            }
            Expr::Tuple(t) => {
                self.exprs(&t.elts);
                Mag::Seq(t.elts.len() as f64)
            }
            Expr::ListComp(c) => {
                self.comprehensions(&c.generators, at);
                self.expr(&c.elt);
                Mag::Unknown
            }
            Expr::SetComp(c) => {
                self.comprehensions(&c.generators, at);
                self.expr(&c.elt);
                Mag::Unknown
            }
            Expr::GeneratorExp(c) => {
                self.comprehensions(&c.generators, at);
                self.expr(&c.elt);
                Mag::Unknown
            }
            Expr::DictComp(c) => {
                self.comprehensions(&c.generators, at);
                self.expr(&c.key);
                self.expr(&c.value);
                Mag::Unknown
            }
            Expr::Await(a) => {
                self.report(RuleId::AsyncCode, at, "'await' is not allowed".to_owned());
                self.expr(&a.value);
                Mag::Unknown
            }
            Expr::Yield(y) => {
                self.opt(y.value.as_deref());
                Mag::Unknown
            }
            Expr::YieldFrom(y) => {
                self.expr(&y.value);
                Mag::Unknown
            }
            Expr::Compare(c) => {
                self.expr(&c.left);
                self.exprs(&c.comparators);
                Mag::Unknown
            }
            Expr::Call(c) => self.call(c, at),
            Expr::FormattedValue(f) => {
                self.expr(&f.value);
                self.opt(f.format_spec.as_deref());
                Mag::Unknown
            }
            Expr::JoinedStr(j) => {
                // The literal parts are plain text; an f-string is never a format template
                // for `.format` (the checker refuses non-literal receivers).
                let annotation = std::mem::take(&mut self.annotation);
                self.exprs(&j.values);
                self.annotation = annotation;
                Mag::Unknown
            }
            Expr::Constant(c) => self.constant(&c.value, at),
            Expr::Attribute(a) => {
                self.expr(&a.value);
                if !matches!(a.ctx, ast::ExprContext::Load) {
                    self.stored_attrs.insert(a.attr.to_string());
                }
                self.check_attr(a.attr.as_str(), Some(&a.value), attr_at(a), "access to");
                Mag::Unknown
            }
            Expr::Subscript(s) => {
                self.expr(&s.value);
                if self.annotation > 0 && is_literal_type(&s.value) {
                    // `Literal['a b']` holds values, not forward references.
                    let annotation = std::mem::take(&mut self.annotation);
                    self.expr(&s.slice);
                    self.annotation = annotation;
                } else {
                    self.expr(&s.slice);
                }
                Mag::Unknown
            }
            Expr::Starred(s) => {
                self.expr(&s.value);
                Mag::Unknown
            }
            Expr::Name(n) => {
                self.check_name(n.id.as_str(), &n.ctx, at, false);
                Mag::Unknown
            }
            Expr::Slice(s) => {
                self.opt(s.lower.as_deref());
                self.opt(s.upper.as_deref());
                self.opt(s.step.as_deref());
                Mag::Unknown
            }
        }
    }

    fn call(&mut self, c: &ast::ExprCall, at: usize) -> Mag {
        match c.func.as_ref() {
            Expr::Name(n) => self.check_name(n.id.as_str(), &n.ctx, off(n.range.start()), true),
            Expr::Attribute(a) => {
                if self.enter(off(a.range.start())) {
                    self.expr(&a.value);
                    self.check_attr(a.attr.as_str(), Some(&a.value), attr_at(a), "access to");
                }
                self.leave();
            }
            other => {
                self.expr(other);
            }
        }
        let mut mags = Vec::new();
        for a in &c.args {
            mags.push(self.expr(a));
        }
        for kw in &c.keywords {
            self.expr(&kw.value);
        }
        self.check_call(c);
        let is_pow = matches!(c.func.as_ref(), Expr::Name(n) if n.id.as_str() == "pow");
        if is_pow && mags.len() == 2 {
            let m = literals::binop(mags[0], &ast::Operator::Pow, mags[1]);
            self.size_check(m, &mags, at);
            return m;
        }
        Mag::Unknown
    }

    fn constant(&mut self, c: &Constant, at: usize) -> Mag {
        match c {
            Constant::Str(s) => {
                self.check_str(s, at);
                if self.annotation > 0 {
                    self.string_annotation(s, at);
                }
            }
            Constant::Int(n) => self.int_literal(n, at),
            Constant::Tuple(items) => {
                for item in items {
                    self.constant(item, at);
                }
            }
            _ => {}
        }
        literals::constant(c)
    }

    fn int_literal(&mut self, n: &BigInt, at: usize) {
        if literals::int_log2(n) >= MAX_INT_BITS {
            self.report(
                RuleId::LiteralTooLarge,
                at,
                format!("integer literal has {} bits; the limit is about 10**100", n.bits()),
            );
        }
    }

    /// Report a constant expression that crosses a size limit here (not in an operand).
    fn size_check(&mut self, m: Mag, operands: &[Mag], at: usize) {
        if m.too_large() && !operands.iter().any(|o| o.too_large()) {
            let what = match m {
                Mag::Seq(_) => "a sequence of more than 10,000,000 items",
                _ => "an integer larger than about 10**100",
            };
            self.report(RuleId::LiteralTooLarge, at, format!("constant expression builds {what}"));
        }
    }
}

fn is_literal_type(e: &Expr) -> bool {
    match e {
        Expr::Name(n) => n.id.as_str() == "Literal",
        Expr::Attribute(a) => a.attr.as_str() == "Literal",
        _ => false,
    }
}

/// Offset of the attribute name of `x.name` (the node's range ends with the name).
fn attr_at(a: &ast::ExprAttribute) -> usize {
    off(a.range.end()).saturating_sub(a.attr.as_str().len())
}
