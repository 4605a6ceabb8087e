//! The exhaustive AST walk over statements, definitions, arguments, patterns and
//! annotations; expressions are in `walk_expr.rs`. Calls the checker's rule hooks.
//!
//! The walk counts its depth and stops descending at `MAX_AST_DEPTH` (reporting
//! `nesting-too-deep` once), so it can never overflow the stack.

use ruff_python_ast::{self as ast, ExceptHandler, Expr, Pattern, Stmt, TypeParam};
use ruff_python_parser::parse_expression;
use ruff_text_size::Ranged;

use super::checker::{Checker, off};
use super::limits::{LimitViolation, MAX_AST_DEPTH, prescan};
use super::rules::RuleId;

/// String annotations nested in string annotations are parsed this deep, no deeper.
const MAX_ANNOTATION_NESTING: u8 = 3;

impl Checker<'_> {
    /// Count one more level of nesting at `node`; false when past [`MAX_AST_DEPTH`] (the
    /// caller must not descend, and still calls [`Self::leave`]).
    pub(super) fn enter(&mut self, node: &impl Ranged) -> bool {
        self.depth += 1;
        if self.depth > MAX_AST_DEPTH {
            if !self.too_deep {
                self.too_deep = true;
                self.report(
                    RuleId::NestingTooDeep,
                    off(node.start()),
                    format!("code nests deeper than {MAX_AST_DEPTH} levels"),
                );
            }
            return false;
        }
        true
    }

    pub(super) fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Walk a block of statements.
    pub(super) fn body(&mut self, body: &[Stmt]) {
        for s in body {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        if self.enter(s) {
            self.stmt_inner(s);
        }
        self.leave();
    }

    pub(super) fn exprs(&mut self, es: &[Expr]) {
        for e in es {
            self.expr(e);
        }
    }

    pub(super) fn opt(&mut self, e: Option<&Expr>) {
        if let Some(e) = e {
            self.expr(e);
        }
    }

    fn stmt_inner(&mut self, s: &Stmt) {
        let at = off(s.start());
        match s {
            Stmt::FunctionDef(f) => {
                if f.is_async {
                    self.report(RuleId::AsyncCode, at, format!("async function '{}' is not allowed", f.name));
                }
                self.function(f);
            }
            Stmt::ClassDef(c) => self.class(c),
            Stmt::Return(r) => self.opt(r.value.as_deref()),
            Stmt::Delete(d) => self.exprs(&d.targets),
            Stmt::Assign(a) => {
                self.exprs(&a.targets);
                self.expr(&a.value);
            }
            Stmt::TypeAlias(t) => {
                self.expr(&t.name);
                self.type_params(t.type_params.as_deref());
                self.annotation(&t.value);
            }
            Stmt::AugAssign(a) => {
                self.expr(&a.target);
                self.expr(&a.value);
            }
            Stmt::AnnAssign(a) => {
                self.expr(&a.target);
                self.annotation(&a.annotation);
                self.opt(a.value.as_deref());
            }
            Stmt::For(f) => {
                if f.is_async {
                    self.report(RuleId::AsyncCode, at, "'async for' is not allowed".to_owned());
                }
                self.expr(&f.target);
                self.expr(&f.iter);
                self.body(&f.body);
                self.body(&f.orelse);
            }
            Stmt::While(w) => {
                self.check_while(w);
                self.expr(&w.test);
                self.body(&w.body);
                self.body(&w.orelse);
            }
            Stmt::If(i) => {
                self.expr(&i.test);
                self.body(&i.body);
                for clause in &i.elif_else_clauses {
                    self.opt(clause.test.as_ref());
                    self.body(&clause.body);
                }
            }
            Stmt::With(w) => {
                if w.is_async {
                    self.report(RuleId::AsyncCode, at, "'async with' is not allowed".to_owned());
                }
                for item in &w.items {
                    self.expr(&item.context_expr);
                    self.opt(item.optional_vars.as_deref());
                }
                self.body(&w.body);
            }
            Stmt::Match(m) => {
                self.expr(&m.subject);
                for case in &m.cases {
                    self.pattern(&case.pattern);
                    self.opt(case.guard.as_deref());
                    self.body(&case.body);
                }
            }
            Stmt::Raise(r) => {
                self.opt(r.exc.as_deref());
                self.opt(r.cause.as_deref());
            }
            Stmt::Try(t) => self.try_parts(t),
            Stmt::Assert(a) => {
                self.expr(&a.test);
                self.opt(a.msg.as_deref());
            }
            Stmt::Import(i) => self.check_import(i),
            Stmt::ImportFrom(i) => self.check_import_from(i),
            Stmt::Global(g) => self.global("global", &g.names, at),
            Stmt::Nonlocal(n) => self.global("nonlocal", &n.names, at),
            // A docstring is never a format template or a method name (reaching it needs
            // `__doc__`), so its text is not checked; everything else is an expression.
            Stmt::Expr(e) if e.value.is_string_literal_expr() => {}
            Stmt::Expr(e) => {
                self.expr(&e.value);
            }
            Stmt::Pass(_) | Stmt::Break(_) | Stmt::Continue(_) => {}
            // Only parsed in IPython mode, never in a module; refused should that change.
            Stmt::IpyEscapeCommand(_) => {
                self.report(RuleId::Syntax, at, "IPython escape commands are not Python".to_owned());
            }
        }
    }

    fn global(&mut self, keyword: &str, names: &[ast::Identifier], at: usize) {
        self.report(
            RuleId::GlobalStatement,
            at,
            format!("'{keyword}' statements are not allowed; keep state on the strategy"),
        );
        for n in names {
            self.check_binding(n.as_str(), at, false);
        }
    }

    fn function(&mut self, f: &ast::StmtFunctionDef) {
        for d in &f.decorator_list {
            self.expr(&d.expression);
        }
        self.parameters(&f.parameters);
        if let Some(r) = &f.returns {
            self.annotation(r);
        }
        self.type_params(f.type_params.as_deref());
        let name = f.name.as_str();
        let q = self.qualified(name);
        self.functions.push(q);
        self.defined.push(f.name.id.clone());
        self.scope.push(name.to_owned());
        self.body(&f.body);
        self.scope.pop();
    }

    fn class(&mut self, c: &ast::StmtClassDef) {
        for d in &c.decorator_list {
            self.expr(&d.expression);
        }
        self.exprs(c.bases());
        for kw in c.keywords() {
            if kw.arg.as_ref().is_some_and(|a| a.as_str() == "metaclass") {
                self.report(
                    RuleId::ForbiddenName,
                    off(kw.start()),
                    format!("metaclass= on class '{}' is not allowed", c.name),
                );
            }
            self.expr(&kw.value);
        }
        self.type_params(c.type_params.as_deref());
        let q = self.qualified(c.name.as_str());
        self.classes.push(q);
        self.defined.push(c.name.id.clone());
        self.scope.push(c.name.to_string());
        self.body(&c.body);
        self.scope.pop();
    }

    pub(super) fn parameters(&mut self, p: &ast::Parameters) {
        for param in p.posonlyargs.iter().chain(&p.args).chain(&p.kwonlyargs) {
            self.parameter(&param.parameter);
            self.opt(param.default.as_deref());
        }
        if let Some(v) = &p.vararg {
            self.parameter(v);
        }
        if let Some(k) = &p.kwarg {
            self.parameter(k);
        }
    }

    fn parameter(&mut self, p: &ast::Parameter) {
        self.check_binding(p.name.as_str(), off(p.start()), true);
        if let Some(ann) = &p.annotation {
            self.annotation(ann);
        }
    }

    /// Bounds and defaults of PEP 695 type parameters are evaluated like annotations.
    fn type_params(&mut self, params: Option<&ast::TypeParams>) {
        for p in params.iter().flat_map(|p| &p.type_params) {
            let (bound, default) = match p {
                TypeParam::TypeVar(t) => (t.bound.as_deref(), t.default.as_deref()),
                TypeParam::ParamSpec(t) => (None, t.default.as_deref()),
                TypeParam::TypeVarTuple(t) => (None, t.default.as_deref()),
            };
            for e in bound.into_iter().chain(default) {
                self.annotation(e);
            }
        }
    }

    fn try_parts(&mut self, t: &ast::StmtTry) {
        self.body(&t.body);
        for ExceptHandler::ExceptHandler(h) in &t.handlers {
            self.opt(h.type_.as_deref());
            if let Some(name) = &h.name {
                self.check_binding(name.as_str(), off(h.start()), true);
            }
            self.body(&h.body);
        }
        self.body(&t.orelse);
        self.body(&t.finalbody);
    }

    pub(super) fn comprehensions(&mut self, generators: &[ast::Comprehension], at: usize) {
        for g in generators {
            if g.is_async {
                self.report(RuleId::AsyncCode, at, "asynchronous comprehensions are not allowed".to_owned());
            }
            self.expr(&g.target);
            self.expr(&g.iter);
            self.exprs(&g.ifs);
        }
    }

    /// An annotation: string constants inside are parsed and checked as code, because
    /// `typing.get_type_hints` (reachable through `functools.singledispatch`) evaluates them.
    fn annotation(&mut self, e: &Expr) {
        self.annotation += 1;
        self.expr(e);
        self.annotation -= 1;
    }

    pub(super) fn string_annotation(&mut self, text: &str, at: usize) {
        if self.annotation > MAX_ANNOTATION_NESTING {
            self.report(RuleId::NestingTooDeep, at, "string annotations nest too deeply".to_owned());
            return;
        }
        if let Err(v) = prescan(text) {
            let message = match v {
                LimitViolation::TooLarge { message, .. } | LimitViolation::TooDeep { message, .. } => message,
                LimitViolation::NulByte { .. } => "string annotation contains a NUL byte".to_owned(),
            };
            self.report(RuleId::NestingTooDeep, at, format!("string annotation: {message}"));
            return;
        }
        // Text that does not parse cannot be evaluated into anything, so it is harmless.
        if let Ok(parsed) = parse_expression(text.trim()) {
            let pinned = self.pinned.replace(self.pinned.unwrap_or(at));
            self.expr(&parsed.syntax().body);
            self.pinned = pinned;
        }
    }

    fn pattern(&mut self, p: &Pattern) {
        let at = off(p.start());
        if !self.enter(p) {
            self.leave();
            return;
        }
        match p {
            Pattern::MatchValue(v) => {
                self.expr(&v.value);
            }
            Pattern::MatchSingleton(_) => {}
            Pattern::MatchSequence(s) => {
                for p in &s.patterns {
                    self.pattern(p);
                }
            }
            Pattern::MatchMapping(m) => {
                self.exprs(&m.keys);
                for p in &m.patterns {
                    self.pattern(p);
                }
                if let Some(rest) = &m.rest {
                    self.check_binding(rest.as_str(), at, true);
                }
            }
            Pattern::MatchClass(c) => {
                self.expr(&c.cls);
                for p in &c.arguments.patterns {
                    self.pattern(p);
                }
                for kw in &c.arguments.keywords {
                    // `case C(attr=...)` reads `subject.attr`.
                    self.check_attr(kw.attr.as_str(), None, at, "matching on");
                    self.pattern(&kw.pattern);
                }
            }
            Pattern::MatchStar(s) => {
                if let Some(name) = &s.name {
                    self.check_binding(name.as_str(), at, true);
                }
            }
            Pattern::MatchAs(a) => {
                if let Some(p) = &a.pattern {
                    self.pattern(p);
                }
                if let Some(name) = &a.name {
                    self.check_binding(name.as_str(), at, true);
                }
            }
            Pattern::MatchOr(o) => {
                for p in &o.patterns {
                    self.pattern(p);
                }
            }
        }
        self.leave();
    }
}
