//! The expression half of the AST walk. Every expression returns the size estimate of its
//! constant value, computed bottom-up for `literal-too-large`, so a long chain is sized in
//! one pass.

use ruff_python_ast::{self as ast, Expr, InterpolatedStringElement, InterpolatedStringElements, Number};
use ruff_text_size::Ranged;

use super::checker::{Checker, off};
use super::limits::MAX_INT_BITS;
use super::literals::{self, Mag};
use super::rules::RuleId;

impl Checker<'_> {
    /// Walk an expression and return the size estimate of its value.
    pub(super) fn expr(&mut self, e: &Expr) -> Mag {
        let mag = if self.enter(e) { self.expr_inner(e) } else { Mag::Unknown };
        self.leave();
        mag
    }

    // Positions are read from each variant's own range (a field) rather than `e.start()`
    // (a dispatch over every variant), since most nodes never report anything.
    fn expr_inner(&mut self, e: &Expr) -> Mag {
        match e {
            Expr::BoolOp(b) => {
                self.exprs(&b.values);
                Mag::Unknown
            }
            Expr::Named(n) => {
                self.expr(&n.target);
                self.expr(&n.value)
            }
            Expr::BinOp(b) => {
                let l = self.expr(&b.left);
                let r = self.expr(&b.right);
                let m = literals::binop(l, b.op, r);
                self.size_check(m, &[l, r], off(b.range.start()));
                m
            }
            Expr::UnaryOp(u) => {
                let o = self.expr(&u.operand);
                let m = literals::unaryop(u.op, o);
                self.size_check(m, &[o], off(u.range.start()));
                m
            }
            Expr::Lambda(l) => {
                if let Some(p) = &l.parameters {
                    self.parameters(p);
                }
                self.expr(&l.body);
                Mag::Unknown
            }
            Expr::If(i) => {
                self.expr(&i.test);
                self.expr(&i.body);
                self.expr(&i.orelse);
                Mag::Unknown
            }
            Expr::Dict(d) => {
                for item in &d.items {
                    self.opt(item.key.as_ref());
                    self.expr(&item.value);
                }
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
                self.comprehensions(&c.generators, off(c.range.start()));
                self.expr(&c.elt);
                Mag::Unknown
            }
            Expr::SetComp(c) => {
                self.comprehensions(&c.generators, off(c.range.start()));
                self.expr(&c.elt);
                Mag::Unknown
            }
            Expr::Generator(c) => {
                self.comprehensions(&c.generators, off(c.range.start()));
                self.expr(&c.elt);
                Mag::Unknown
            }
            Expr::DictComp(c) => {
                self.comprehensions(&c.generators, off(c.range.start()));
                self.expr(&c.key);
                self.expr(&c.value);
                Mag::Unknown
            }
            Expr::Await(a) => {
                self.report(RuleId::AsyncCode, off(a.range.start()), "'await' is not allowed".to_owned());
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
            Expr::Call(c) => self.call(c),
            Expr::FString(f) => {
                // The literal parts are plain text; an f-string is never a format template
                // for `.format` (the checker refuses non-literal receivers).
                let annotation = std::mem::take(&mut self.annotation);
                for part in &f.value {
                    match part {
                        ast::FStringPart::Literal(l) => self.check_str(&l.value, off(l.start())),
                        ast::FStringPart::FString(f) => self.interpolated(&f.elements),
                    }
                }
                self.annotation = annotation;
                Mag::Unknown
            }
            Expr::TString(t) => {
                let annotation = std::mem::take(&mut self.annotation);
                for part in &t.value {
                    self.interpolated(&part.elements);
                }
                self.annotation = annotation;
                Mag::Unknown
            }
            Expr::StringLiteral(s) => {
                let at = off(s.range.start());
                let text = s.value.to_str();
                self.check_str(text, at);
                if self.annotation > 0 {
                    self.string_annotation(text, at);
                }
                Mag::Seq(text.len() as f64)
            }
            Expr::BytesLiteral(b) => Mag::Seq(b.value.len() as f64),
            Expr::NumberLiteral(n) => match &n.value {
                Number::Int(i) => {
                    let bits = literals::int_log2(i);
                    if bits >= MAX_INT_BITS {
                        self.report(
                            RuleId::LiteralTooLarge,
                            off(n.range.start()),
                            format!("integer literal has about {bits:.0} bits; the limit is about 10**100"),
                        );
                    }
                    Mag::Int(bits)
                }
                Number::Float(_) | Number::Complex { .. } => Mag::Unknown,
            },
            Expr::BooleanLiteral(_) => Mag::Int(0.0),
            Expr::NoneLiteral(_) | Expr::EllipsisLiteral(_) => Mag::Unknown,
            // Only parsed in IPython mode, never in a module; refused should that change.
            Expr::IpyEscapeCommand(i) => {
                self.report(
                    RuleId::Syntax,
                    off(i.range.start()),
                    "IPython escape commands are not Python".to_owned(),
                );
                Mag::Unknown
            }
            Expr::Attribute(a) => {
                self.expr(&a.value);
                if !matches!(a.ctx, ast::ExprContext::Load) {
                    self.stored_attrs.push(a.attr.id.clone());
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
                self.check_name(n.id.as_str(), &n.ctx, off(n.range.start()), false);
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

    fn call(&mut self, c: &ast::ExprCall) -> Mag {
        match c.func.as_ref() {
            Expr::Name(n) => self.check_name(n.id.as_str(), &n.ctx, off(n.start()), true),
            Expr::Attribute(a) => {
                if self.enter(a) {
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
        for a in &c.arguments.args {
            mags.push(self.expr(a));
        }
        for kw in &c.arguments.keywords {
            self.expr(&kw.value);
        }
        self.check_call(c);
        let is_pow = matches!(c.func.as_ref(), Expr::Name(n) if n.id.as_str() == "pow");
        if is_pow && mags.len() == 2 {
            let m = literals::binop(mags[0], ast::Operator::Pow, mags[1]);
            self.size_check(m, &mags, off(c.range.start()));
            return m;
        }
        Mag::Unknown
    }

    /// The literal text and the interpolations of an f-string or t-string (and of a format
    /// spec, which is itself a list of elements).
    fn interpolated(&mut self, elements: &InterpolatedStringElements) {
        for element in elements {
            match element {
                InterpolatedStringElement::Literal(l) => self.check_str(&l.value, off(l.start())),
                InterpolatedStringElement::Interpolation(i) => {
                    if self.enter(i) {
                        self.expr(&i.expression);
                        if let Some(spec) = &i.format_spec {
                            self.interpolated(&spec.elements);
                        }
                    }
                    self.leave();
                }
            }
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
    off(a.attr.start())
}
