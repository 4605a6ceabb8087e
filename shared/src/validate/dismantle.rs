//! Iterative drop of a syntax tree. Rust's drop glue recurses once per nesting level, so a
//! 100k-deep chain (`- - - ... 1`, `a.b.b.b...`) would overflow the stack when freed. When
//! the walker reports a tree deeper than its limit, the validator frees it here instead:
//! every node's children are moved onto a heap work list before the node itself is dropped.

use rustpython_parser::ast::{self, ExceptHandler, Expr, Pattern, Stmt, TypeParam};

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
    fn v(&mut self, es: Vec<Expr>) {
        self.0.extend(es.into_iter().map(Node::Expr));
    }
    fn p(&mut self, p: Pattern) {
        self.0.push(Node::Pattern(p));
    }
    fn args(&mut self, a: ast::Arguments) {
        for arg in a.posonlyargs.into_iter().chain(a.args).chain(a.kwonlyargs) {
            self.o(arg.def.annotation);
            self.o(arg.default);
        }
        for arg in a.vararg.into_iter().chain(a.kwarg) {
            self.o(arg.annotation);
        }
    }
    fn type_params(&mut self, params: Vec<TypeParam>) {
        for p in params {
            if let TypeParam::TypeVar(t) = p {
                self.o(t.bound);
            }
        }
    }
    fn comps(&mut self, gens: Vec<ast::Comprehension>) {
        for g in gens {
            self.e(g.target);
            self.e(g.iter);
            self.v(g.ifs);
        }
    }
    fn handlers(&mut self, hs: Vec<ExceptHandler>) {
        for ExceptHandler::ExceptHandler(h) in hs {
            self.o(h.type_);
            self.s(h.body);
        }
    }
    fn keywords(&mut self, kws: Vec<ast::Keyword>) {
        for k in kws {
            self.e(k.value);
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
            pile.args(*f.args);
            pile.s(f.body);
            pile.v(f.decorator_list);
            pile.o(f.returns);
            pile.type_params(f.type_params);
        }
        Stmt::AsyncFunctionDef(f) => {
            pile.args(*f.args);
            pile.s(f.body);
            pile.v(f.decorator_list);
            pile.o(f.returns);
            pile.type_params(f.type_params);
        }
        Stmt::ClassDef(c) => {
            pile.v(c.bases);
            pile.keywords(c.keywords);
            pile.s(c.body);
            pile.v(c.decorator_list);
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
        Stmt::AsyncFor(f) => {
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
            pile.s(i.orelse);
        }
        Stmt::With(w) => {
            for item in w.items {
                pile.e(item.context_expr);
                pile.o(item.optional_vars);
            }
            pile.s(w.body);
        }
        Stmt::AsyncWith(w) => {
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
            pile.handlers(t.handlers);
            pile.s(t.orelse);
            pile.s(t.finalbody);
        }
        Stmt::TryStar(t) => {
            pile.s(t.body);
            pile.handlers(t.handlers);
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
        | Stmt::Continue(_) => {}
    }
}

fn expr(pile: &mut Pile, e: Expr) {
    match e {
        Expr::BoolOp(b) => pile.v(b.values),
        Expr::NamedExpr(n) => {
            pile.b(n.target);
            pile.b(n.value);
        }
        Expr::BinOp(b) => {
            pile.b(b.left);
            pile.b(b.right);
        }
        Expr::UnaryOp(u) => pile.b(u.operand),
        Expr::Lambda(l) => {
            pile.args(*l.args);
            pile.b(l.body);
        }
        Expr::IfExp(i) => {
            pile.b(i.test);
            pile.b(i.body);
            pile.b(i.orelse);
        }
        Expr::Dict(d) => {
            pile.v(d.keys.into_iter().flatten().collect());
            pile.v(d.values);
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
        Expr::GeneratorExp(c) => {
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
            pile.v(c.comparators);
        }
        Expr::Call(c) => {
            pile.b(c.func);
            pile.v(c.args);
            pile.keywords(c.keywords);
        }
        Expr::FormattedValue(f) => {
            pile.b(f.value);
            pile.o(f.format_spec);
        }
        Expr::JoinedStr(j) => pile.v(j.values),
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
        Expr::Constant(_) | Expr::Name(_) => {}
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
            c.patterns.into_iter().chain(c.kwd_patterns).for_each(|p| pile.p(p));
        }
        Pattern::MatchAs(a) => {
            if let Some(p) = a.pattern {
                pile.p(*p);
            }
        }
        Pattern::MatchOr(o) => o.patterns.into_iter().for_each(|p| pile.p(p)),
    }
}
