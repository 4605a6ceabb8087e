//! Iterative drop of a syntax tree. Rust's drop glue recurses once per nesting level, so a
//! tree deeper than the walker's limit is freed here instead of by drop glue: every node's
//! children are moved onto a heap work list before the node itself is dropped.

use ruff_python_ast::{
    self as ast, ExceptHandler, Expr, FStringPart, InterpolatedStringElement, Pattern, Stmt, TypeParam,
};

enum Node {
    Stmt(Stmt),
    Expr(Expr),
    Pattern(Pattern),
}

#[derive(Default)]
struct Pile(Vec<Node>);

impl Pile {
    fn s(&mut self, body: Vec<Stmt>) {
        self.0.extend(body.into_iter().map(Node::Stmt));
    }
    fn e(&mut self, e: Expr) {
        self.0.push(Node::Expr(e));
    }
    // Takes the box the AST holds so call sites stay short; unboxing is the point.
    #[allow(clippy::boxed_local)]
    fn b(&mut self, e: Box<Expr>) {
        self.e(*e);
    }
    fn o(&mut self, e: Option<Box<Expr>>) {
        if let Some(e) = e {
            self.b(e);
        }
    }
    fn v(&mut self, es: impl IntoIterator<Item = Expr>) {
        self.0.extend(es.into_iter().map(Node::Expr));
    }
    fn p(&mut self, p: Pattern) {
        self.0.push(Node::Pattern(p));
    }
    fn params(&mut self, p: ast::Parameters) {
        for param in p.posonlyargs.into_iter().chain(p.args).chain(p.kwonlyargs) {
            self.o(param.parameter.annotation);
            self.o(param.default);
        }
        for param in p.vararg.into_iter().chain(p.kwarg) {
            self.o(param.annotation);
        }
    }
    fn type_params(&mut self, params: Option<Box<ast::TypeParams>>) {
        for p in params.into_iter().flat_map(|p| p.type_params) {
            match p {
                TypeParam::TypeVar(t) => {
                    self.o(t.bound);
                    self.o(t.default);
                }
                TypeParam::ParamSpec(t) => self.o(t.default),
                TypeParam::TypeVarTuple(t) => self.o(t.default),
            }
        }
    }
    fn decorators(&mut self, ds: Vec<ast::Decorator>) {
        self.v(ds.into_iter().map(|d| d.expression));
    }
    fn arguments(&mut self, a: ast::Arguments) {
        self.v(a.args);
        self.v(a.keywords.into_iter().map(|k| k.value));
    }
    fn comps(&mut self, gens: Vec<ast::Comprehension>) {
        for g in gens {
            self.e(g.target);
            self.e(g.iter);
            self.v(g.ifs);
        }
    }
    fn interpolated(&mut self, elements: &mut ast::InterpolatedStringElements) {
        // The element list cannot be moved out of the tree, so each expression is swapped
        // for a leaf. Format specs nest no deeper than the pre-scan's f-string bracket
        // limit, so plain recursion here is bounded.
        for element in elements {
            if let InterpolatedStringElement::Interpolation(i) = element {
                self.e(std::mem::replace(&mut *i.expression, Expr::NoneLiteral(Default::default())));
                if let Some(mut spec) = i.format_spec.take() {
                    self.interpolated(&mut spec.elements);
                }
            }
        }
    }
}

/// Free a module body without recursion.
pub fn dismantle(body: Vec<Stmt>) {
    let mut pile = Pile::default();
    pile.s(body);
    while let Some(node) = pile.0.pop() {
        match node {
            Node::Stmt(s) => stmt(&mut pile, s),
            Node::Expr(e) => expr(&mut pile, e),
            Node::Pattern(p) => pattern(&mut pile, p),
        }
    }
}

fn stmt(pile: &mut Pile, s: Stmt) {
    match s {
        Stmt::FunctionDef(f) => {
            pile.params(*f.parameters);
            pile.s(f.body);
            pile.decorators(f.decorator_list);
            pile.o(f.returns);
            pile.type_params(f.type_params);
        }
        Stmt::ClassDef(c) => {
            if let Some(a) = c.arguments {
                pile.arguments(*a);
            }
            pile.s(c.body);
            pile.decorators(c.decorator_list);
            pile.type_params(c.type_params);
        }
        Stmt::Return(r) => pile.o(r.value),
        Stmt::Delete(d) => pile.v(d.targets),
        Stmt::Assign(a) => {
            pile.v(a.targets);
            pile.b(a.value);
        }
        Stmt::TypeAlias(t) => {
            pile.b(t.name);
            pile.type_params(t.type_params);
            pile.b(t.value);
        }
        Stmt::AugAssign(a) => {
            pile.b(a.target);
            pile.b(a.value);
        }
        Stmt::AnnAssign(a) => {
            pile.b(a.target);
            pile.b(a.annotation);
            pile.o(a.value);
        }
        Stmt::For(f) => {
            pile.b(f.target);
            pile.b(f.iter);
            pile.s(f.body);
            pile.s(f.orelse);
        }
        Stmt::While(w) => {
            pile.b(w.test);
            pile.s(w.body);
            pile.s(w.orelse);
        }
        Stmt::If(i) => {
            pile.b(i.test);
            pile.s(i.body);
            for clause in i.elif_else_clauses {
                pile.v(clause.test);
                pile.s(clause.body);
            }
        }
        Stmt::With(w) => {
            for item in w.items {
                pile.e(item.context_expr);
                pile.o(item.optional_vars);
            }
            pile.s(w.body);
        }
        Stmt::Match(m) => {
            pile.b(m.subject);
            for case in m.cases {
                pile.p(case.pattern);
                pile.o(case.guard);
                pile.s(case.body);
            }
        }
        Stmt::Raise(r) => {
            pile.o(r.exc);
            pile.o(r.cause);
        }
        Stmt::Try(t) => {
            pile.s(t.body);
            for ExceptHandler::ExceptHandler(h) in t.handlers {
                pile.o(h.type_);
                pile.s(h.body);
            }
            pile.s(t.orelse);
            pile.s(t.finalbody);
        }
        Stmt::Assert(a) => {
            pile.b(a.test);
            pile.o(a.msg);
        }
        Stmt::Expr(e) => pile.b(e.value),
        Stmt::Import(_)
        | Stmt::ImportFrom(_)
        | Stmt::Global(_)
        | Stmt::Nonlocal(_)
        | Stmt::Pass(_)
        | Stmt::Break(_)
        | Stmt::Continue(_)
        | Stmt::IpyEscapeCommand(_) => {}
    }
}

fn expr(pile: &mut Pile, e: Expr) {
    match e {
        Expr::BoolOp(b) => pile.v(b.values),
        Expr::Named(n) => {
            pile.b(n.target);
            pile.b(n.value);
        }
        Expr::BinOp(b) => {
            pile.b(b.left);
            pile.b(b.right);
        }
        Expr::UnaryOp(u) => pile.b(u.operand),
        Expr::Lambda(l) => {
            if let Some(p) = l.parameters {
                pile.params(*p);
            }
            pile.b(l.body);
        }
        Expr::If(i) => {
            pile.b(i.test);
            pile.b(i.body);
            pile.b(i.orelse);
        }
        Expr::Dict(d) => {
            for item in d.items {
                pile.v(item.key);
                pile.e(item.value);
            }
        }
        Expr::Set(s) => pile.v(s.elts),
        Expr::ListComp(c) => {
            pile.b(c.elt);
            pile.comps(c.generators);
        }
        Expr::SetComp(c) => {
            pile.b(c.elt);
            pile.comps(c.generators);
        }
        Expr::Generator(c) => {
            pile.b(c.elt);
            pile.comps(c.generators);
        }
        Expr::DictComp(c) => {
            pile.b(c.key);
            pile.b(c.value);
            pile.comps(c.generators);
        }
        Expr::Await(a) => pile.b(a.value),
        Expr::Yield(y) => pile.o(y.value),
        Expr::YieldFrom(y) => pile.b(y.value),
        Expr::Compare(c) => {
            pile.b(c.left);
            pile.v(c.comparators.into_vec());
        }
        Expr::Call(c) => {
            pile.b(c.func);
            pile.arguments(c.arguments);
        }
        Expr::FString(mut f) => {
            for part in f.value.iter_mut() {
                if let FStringPart::FString(f) = part {
                    pile.interpolated(&mut f.elements);
                }
            }
        }
        Expr::TString(mut t) => {
            for part in t.value.iter_mut() {
                pile.interpolated(&mut part.elements);
            }
        }
        Expr::Attribute(a) => pile.b(a.value),
        Expr::Subscript(s) => {
            pile.b(s.value);
            pile.b(s.slice);
        }
        Expr::Starred(s) => pile.b(s.value),
        Expr::List(l) => pile.v(l.elts),
        Expr::Tuple(t) => pile.v(t.elts),
        Expr::Slice(s) => {
            pile.o(s.lower);
            pile.o(s.upper);
            pile.o(s.step);
        }
        Expr::StringLiteral(_)
        | Expr::BytesLiteral(_)
        | Expr::NumberLiteral(_)
        | Expr::BooleanLiteral(_)
        | Expr::NoneLiteral(_)
        | Expr::EllipsisLiteral(_)
        | Expr::Name(_)
        | Expr::IpyEscapeCommand(_) => {}
    }
}

fn pattern(pile: &mut Pile, p: Pattern) {
    match p {
        Pattern::MatchValue(v) => pile.b(v.value),
        Pattern::MatchSingleton(_) | Pattern::MatchStar(_) => {}
        Pattern::MatchSequence(s) => s.patterns.into_iter().for_each(|p| pile.p(p)),
        Pattern::MatchMapping(m) => {
            pile.v(m.keys);
            m.patterns.into_iter().for_each(|p| pile.p(p));
        }
        Pattern::MatchClass(c) => {
            pile.b(c.cls);
            c.arguments.patterns.into_iter().for_each(|p| pile.p(p));
            c.arguments.keywords.into_iter().for_each(|k| pile.p(k.pattern));
        }
        Pattern::MatchAs(a) => {
            if let Some(p) = a.pattern {
                pile.p(*p);
            }
        }
        Pattern::MatchOr(o) => o.patterns.into_iter().for_each(|p| pile.p(p)),
    }
}
