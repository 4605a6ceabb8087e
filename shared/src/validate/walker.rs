//! The exhaustive AST walk over statements, definitions, arguments, patterns and
//! annotations; expressions are in `walk_expr.rs`. Calls the checker's rule hooks.
//!
//! The walk counts its depth and stops descending at `MAX_AST_DEPTH` (reporting
//! `nesting-too-deep` once), so it can never overflow the stack.

use rustpython_parser::ast::{self, ExceptHandler, Expr, Pattern, Ranged, Stmt, TypeParam};
use rustpython_parser::{Mode, parse};

use super::checker::{Checker, off};
use super::limits::{LimitViolation, MAX_AST_DEPTH, prescan};
use super::rules::RuleId;

/// String annotations nested in string annotations are parsed this deep, no deeper.
const MAX_ANNOTATION_NESTING: u8 = 3;

impl Checker<'_> {
    pub(super) fn enter(&mut self, at: usize) -> bool {
        self.depth += 1;
        if self.depth > MAX_AST_DEPTH {
            if !self.too_deep {
                self.too_deep = true;
                self.report(
                    RuleId::NestingTooDeep,
                    at,
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
        if self.enter(off(s.start())) {
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
            Stmt::FunctionDef(f) => self.function(
                f.name.as_str(),
                &f.args,
                &f.body,
                &f.decorator_list,
                f.returns.as_deref(),
                &f.type_params,
            ),
            Stmt::AsyncFunctionDef(f) => {
                self.report(RuleId::AsyncCode, at, format!("async function '{}' is not allowed", f.name));
                self.function(
                    f.name.as_str(),
                    &f.args,
                    &f.body,
                    &f.decorator_list,
                    f.returns.as_deref(),
                    &f.type_params,
                );
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
                self.type_params(&t.type_params);
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
                self.expr(&f.target);
                self.expr(&f.iter);
                self.body(&f.body);
                self.body(&f.orelse);
            }
            Stmt::AsyncFor(f) => {
                self.report(RuleId::AsyncCode, at, "'async for' is not allowed".to_owned());
                self.expr(&f.target);
                self.expr(&f.iter);
                self.body(&f.body);
                self.body(&f.orelse);
            }
            Stmt::While(w) => {
                self.expr(&w.test);
                self.body(&w.body);
                self.body(&w.orelse);
            }
            Stmt::If(i) => {
                self.expr(&i.test);
                self.body(&i.body);
                self.body(&i.orelse);
            }
            Stmt::With(w) => {
                self.with_items(&w.items);
                self.body(&w.body);
            }
            Stmt::AsyncWith(w) => {
                self.report(RuleId::AsyncCode, at, "'async with' is not allowed".to_owned());
                self.with_items(&w.items);
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
            Stmt::Try(t) => self.try_parts(&t.body, &t.handlers, &t.orelse, &t.finalbody),
            Stmt::TryStar(t) => self.try_parts(&t.body, &t.handlers, &t.orelse, &t.finalbody),
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
            Stmt::Expr(e) if is_docstring(&e.value) => {}
            Stmt::Expr(e) => {
                self.expr(&e.value);
            }
            Stmt::Pass(_) | Stmt::Break(_) | Stmt::Continue(_) => {}
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

    fn function(
        &mut self,
        name: &str,
        args: &ast::Arguments,
        body: &[Stmt],
        decorators: &[Expr],
        returns: Option<&Expr>,
        type_params: &[TypeParam],
    ) {
        self.exprs(decorators);
        self.arguments(args);
        if let Some(r) = returns {
            self.annotation(r);
        }
        self.type_params(type_params);
        let q = self.qualified(name);
        self.functions.push(q);
        self.defined.insert(name.to_owned());
        self.scope.push(name.to_owned());
        self.body(body);
        self.scope.pop();
    }

    fn class(&mut self, c: &ast::StmtClassDef) {
        self.exprs(&c.decorator_list);
        self.exprs(&c.bases);
        for kw in &c.keywords {
            if kw.arg.as_ref().is_some_and(|a| a.as_str() == "metaclass") {
                self.report(
                    RuleId::ForbiddenName,
                    off(kw.range.start()),
                    format!("metaclass= on class '{}' is not allowed", c.name),
                );
            }
            self.expr(&kw.value);
        }
        self.type_params(&c.type_params);
        let q = self.qualified(c.name.as_str());
        self.classes.push(q);
        self.defined.insert(c.name.to_string());
        self.scope.push(c.name.to_string());
        self.body(&c.body);
        self.scope.pop();
    }

    pub(super) fn arguments(&mut self, a: &ast::Arguments) {
        for arg in a.posonlyargs.iter().chain(&a.args).chain(&a.kwonlyargs) {
            self.arg(&arg.def);
            self.opt(arg.default.as_deref());
        }
        if let Some(v) = &a.vararg {
            self.arg(v);
        }
        if let Some(k) = &a.kwarg {
            self.arg(k);
        }
    }

    fn arg(&mut self, a: &ast::Arg) {
        self.check_binding(a.arg.as_str(), off(a.range.start()), true);
        if let Some(ann) = &a.annotation {
            self.annotation(ann);
        }
    }

    fn type_params(&mut self, params: &[TypeParam]) {
        for p in params {
            match p {
                TypeParam::TypeVar(t) => {
                    if let Some(b) = &t.bound {
                        self.annotation(b);
                    }
                }
                TypeParam::ParamSpec(_) | TypeParam::TypeVarTuple(_) => {}
            }
        }
    }

    fn with_items(&mut self, items: &[ast::WithItem]) {
        for item in items {
            self.expr(&item.context_expr);
            self.opt(item.optional_vars.as_deref());
        }
    }

    fn try_parts(&mut self, body: &[Stmt], handlers: &[ExceptHandler], orelse: &[Stmt], finalbody: &[Stmt]) {
        self.body(body);
        for ExceptHandler::ExceptHandler(h) in handlers {
            self.opt(h.type_.as_deref());
            if let Some(name) = &h.name {
                self.check_binding(name.as_str(), off(h.range.start()), true);
            }
            self.body(&h.body);
        }
        self.body(orelse);
        self.body(finalbody);
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
        if let Ok(ast::Mod::Expression(m)) = parse(text.trim(), Mode::Expression, "<annotation>") {
            let pinned = self.pinned.replace(self.pinned.unwrap_or(at));
            self.expr(&m.body);
            self.pinned = pinned;
        }
    }

    fn pattern(&mut self, p: &Pattern) {
        let at = off(p.start());
        if !self.enter(at) {
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
                for p in &c.patterns {
                    self.pattern(p);
                }
                for attr in &c.kwd_attrs {
                    // `case C(attr=...)` reads `subject.attr`.
                    self.check_attr(attr.as_str(), None, at, "matching on");
                }
                for p in &c.kwd_patterns {
                    self.pattern(p);
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

fn is_docstring(e: &Expr) -> bool {
    matches!(e, Expr::Constant(c) if matches!(c.value, ast::Constant::Str(_)))
}
