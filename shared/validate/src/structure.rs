//! Structure rules: exactly one concrete `Strategy` subclass, named as the entrypoint, with
//! `init` and `next` and every required parameter as a class attribute; and nothing at the
//! top level but imports, constant assignments, definitions and docstrings.
//!
//! A strategy class is one whose base is `Strategy`, `SignalStrategy` or `TrailingStrategy`
//! (bare or dotted, e.g. `backtesting.Strategy`, `lib.SignalStrategy`) or another strategy
//! class of the module. Base classes extended in the module are abstract; the strategy is
//! the leaf. `SignalStrategy` and `TrailingStrategy` already define `init` and `next`.

use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::Ranged;

use super::checker::{Checker, off};
use super::rules::RuleId;

/// Deepest expression `is_constant` looks into; deeper is "not a constant".
const MAX_CONSTANT_DEPTH: u32 = 64;

struct StrategyClass<'a> {
    def: &'a ast::StmtClassDef,
    /// In-module strategy base, by index into the list.
    parent: Option<usize>,
    /// Derives from a backtesting.lib strategy that already has `init` and `next`.
    lib_base: bool,
}

/// Run the structure rules over the module's top-level statements.
pub(super) fn check(ck: &mut Checker<'_>, body: &[Stmt]) {
    for s in body {
        top_level(ck, s);
    }
    let strategies = strategy_classes(body);
    let leaves = leaves(&strategies);
    let entry = ck.opts.entrypoint.clone();
    let chosen = match leaves.as_slice() {
        [] => {
            ck.report(
                RuleId::StructureStrategyCount,
                0,
                "no Strategy subclass found; define exactly one `class X(Strategy)`".to_owned(),
            );
            return;
        }
        [only] => *only,
        many => {
            let names: Vec<&str> = many.iter().map(|&i| strategies[i].def.name.as_str()).collect();
            ck.report(
                RuleId::StructureStrategyCount,
                off(strategies[many[1]].def.start()),
                format!(
                    "found {} Strategy subclasses ({}); exactly one is required",
                    many.len(),
                    names.join(", ")
                ),
            );
            many.iter()
                .copied()
                .find(|&i| Some(strategies[i].def.name.as_str()) == entry.as_deref())
                .unwrap_or(many[0])
        }
    };
    let class = strategies[chosen].def;
    let at = off(class.start());
    if let Some(entry) = entry.as_deref()
        && class.name.as_str() != entry
    {
        ck.report(
            RuleId::StructureEntrypoint,
            at,
            format!("strategy class is '{}' but the entrypoint is '{entry}'", class.name),
        );
    }
    let chain = ancestry(&strategies, chosen);
    let inherits_methods = chain.iter().any(|&i| strategies[i].lib_base);
    for method in ["init", "next"] {
        let defined = chain.iter().any(|&i| defines_method(strategies[i].def, method));
        if !defined && !inherits_methods {
            ck.report(
                RuleId::StructureMethod,
                at,
                format!("strategy '{}' has no '{method}' method", class.name),
            );
        }
    }
    for param in &ck.opts.required_params.clone() {
        let present = chain.iter().any(|&i| has_class_attribute(strategies[i].def, param));
        if !present {
            ck.report(
                RuleId::StructureParam,
                at,
                format!("parameter '{param}' is not a class attribute of '{}'", class.name),
            );
        }
    }
}

/// The concrete strategy classes of a module (leaves of its strategy hierarchy), in order:
/// subclasses of `Strategy`, of `backtesting.lib`'s `SignalStrategy` and `TrailingStrategy`,
/// and of strategy classes defined earlier in the module.
pub(super) fn concrete_strategies(body: &[Stmt]) -> Vec<String> {
    let strategies = strategy_classes(body);
    leaves(&strategies).into_iter().map(|i| strategies[i].def.name.to_string()).collect()
}

/// Indexes of the strategy classes no other strategy class of the module extends.
fn leaves(strategies: &[StrategyClass<'_>]) -> Vec<usize> {
    (0..strategies.len()).filter(|&i| !strategies.iter().any(|s| s.parent == Some(i))).collect()
}

fn top_level(ck: &mut Checker<'_>, s: &Stmt) {
    let at = off(s.start());
    let what = match s {
        Stmt::Import(_)
        | Stmt::ImportFrom(_)
        | Stmt::FunctionDef(_)
        | Stmt::ClassDef(_)
        | Stmt::TypeAlias(_)
        | Stmt::Pass(_) => return,
        Stmt::Expr(e) if e.value.is_string_literal_expr() => return,
        Stmt::Assign(a) => {
            if a.targets.iter().all(is_name_target) && is_constant(&a.value, 0) {
                return;
            }
            "assignment of a non-constant value"
        }
        Stmt::AnnAssign(a) => {
            if is_name_target(&a.target) && a.value.as_deref().is_none_or(|v| is_constant(v, 0)) {
                return;
            }
            "assignment of a non-constant value"
        }
        Stmt::Expr(_) => "expression statement",
        Stmt::If(_) => "'if' block",
        Stmt::For(_) => "'for' loop",
        Stmt::While(_) => "'while' loop",
        Stmt::With(_) => "'with' block",
        Stmt::Try(_) => "'try' block",
        Stmt::Match(_) => "'match' block",
        Stmt::AugAssign(_) => "augmented assignment",
        Stmt::Delete(_) => "'del' statement",
        Stmt::Raise(_) => "'raise' statement",
        Stmt::Assert(_) => "'assert' statement",
        Stmt::Global(_) | Stmt::Nonlocal(_) => "'global' statement",
        Stmt::Return(_) | Stmt::Break(_) | Stmt::Continue(_) => "control-flow statement",
        Stmt::IpyEscapeCommand(_) => "IPython escape command",
    };
    ck.report(
        RuleId::StructureTopLevel,
        at,
        format!("top-level {what} is not allowed; only imports, constants, functions and classes"),
    );
}

fn is_name_target(e: &Expr) -> bool {
    match e {
        Expr::Name(_) => true,
        Expr::Tuple(t) => t.elts.iter().all(|e| matches!(e, Expr::Name(_))),
        _ => false,
    }
}

/// A value computed from literals, names, attribute reads and known value constructors
/// only: no other call, no lambda, comprehension, walrus, await or yield.
fn is_constant(e: &Expr, depth: u32) -> bool {
    if depth > MAX_CONSTANT_DEPTH {
        return false;
    }
    let d = depth + 1;
    let all = |es: &[Expr]| es.iter().all(|e| is_constant(e, d));
    match e {
        e if e.is_literal_expr() => true,
        Expr::Name(_) => true,
        Expr::Attribute(a) => is_constant(&a.value, d),
        Expr::UnaryOp(u) => is_constant(&u.operand, d),
        Expr::BinOp(b) => is_constant(&b.left, d) && is_constant(&b.right, d),
        Expr::BoolOp(b) => all(&b.values),
        Expr::Compare(c) => is_constant(&c.left, d) && all(&c.comparators),
        Expr::If(i) => is_constant(&i.test, d) && is_constant(&i.body, d) && is_constant(&i.orelse, d),
        Expr::Tuple(t) => all(&t.elts),
        Expr::List(l) => all(&l.elts),
        Expr::Set(s) => all(&s.elts),
        Expr::Dict(dict) => dict
            .items
            .iter()
            .all(|i| i.key.as_ref().is_none_or(|k| is_constant(k, d)) && is_constant(&i.value, d)),
        Expr::Subscript(s) => is_constant(&s.value, d) && is_constant(&s.slice, d),
        Expr::Slice(s) => {
            [&s.lower, &s.upper, &s.step].iter().all(|p| p.as_deref().is_none_or(|e| is_constant(e, d)))
        }
        Expr::Starred(s) => is_constant(&s.value, d),
        Expr::Call(c) => {
            is_known_constructor(&c.func)
                && all(&c.arguments.args)
                && c.arguments.keywords.iter().all(|k| is_constant(&k.value, d))
        }
        _ => false,
    }
}

/// Value constructors of builtins and allowlisted modules that run no user code, so
/// `RISK = Fraction(1, 4)` or `WEIGHTS = OrderedDict(...)` still count as constants.
fn is_known_constructor(func: &Expr) -> bool {
    let name = match func {
        Expr::Name(n) => n.id.as_str(),
        Expr::Attribute(a) => a.attr.as_str(),
        _ => return false,
    };
    matches!(
        name,
        "int"
            | "float"
            | "str"
            | "bool"
            | "bytes"
            | "complex"
            | "tuple"
            | "list"
            | "dict"
            | "set"
            | "frozenset"
            | "range"
            | "slice"
            | "Decimal"
            | "Fraction"
            | "OrderedDict"
            | "namedtuple"
            | "deque"
            | "Counter"
            | "TypeVar"
            | "NewType"
            | "timedelta"
            | "date"
            | "datetime"
            | "time"
            | "timezone"
            | "Timedelta"
            | "Timestamp"
    )
}

/// Top-level classes deriving (directly or through the module's own classes) from a
/// backtesting strategy base.
fn strategy_classes(body: &[Stmt]) -> Vec<StrategyClass<'_>> {
    let mut found: Vec<StrategyClass<'_>> = Vec::new();
    for s in body {
        let Stmt::ClassDef(c) = s else { continue };
        let mut parent = None;
        let mut lib_base = false;
        let mut is_strategy = false;
        for base in c.bases() {
            match base_name(base) {
                Some("Strategy") => is_strategy = true,
                Some("SignalStrategy" | "TrailingStrategy") => {
                    is_strategy = true;
                    lib_base = true;
                }
                _ => {
                    if let Expr::Name(n) = base
                        && let Some(i) = found.iter().rposition(|f| f.def.name.as_str() == n.id.as_str())
                    {
                        is_strategy = true;
                        parent = Some(i);
                    }
                }
            }
        }
        if is_strategy {
            found.push(StrategyClass { def: c, parent, lib_base });
        }
    }
    found
}

/// `Strategy` for `Strategy`, `backtesting.Strategy`, `lib.SignalStrategy`, ...
fn base_name(e: &Expr) -> Option<&str> {
    let name = match e {
        Expr::Name(n) => n.id.as_str(),
        Expr::Attribute(a) => a.attr.as_str(),
        _ => return None,
    };
    matches!(name, "Strategy" | "SignalStrategy" | "TrailingStrategy").then_some(name)
}

/// The class and its in-module strategy ancestors.
fn ancestry(strategies: &[StrategyClass<'_>], start: usize) -> Vec<usize> {
    let mut chain = vec![start];
    let mut cur = start;
    while let Some(p) = strategies[cur].parent {
        if chain.contains(&p) {
            break;
        }
        chain.push(p);
        cur = p;
    }
    chain
}

fn defines_method(class: &ast::StmtClassDef, name: &str) -> bool {
    class.body.iter().any(|s| match s {
        Stmt::FunctionDef(f) => f.name.as_str() == name,
        _ => false,
    })
}

fn has_class_attribute(class: &ast::StmtClassDef, name: &str) -> bool {
    class.body.iter().any(|s| match s {
        Stmt::Assign(a) => a.targets.iter().any(|t| binds(t, name)),
        Stmt::AnnAssign(a) => binds(&a.target, name),
        _ => false,
    })
}

fn binds(target: &Expr, name: &str) -> bool {
    match target {
        Expr::Name(n) => n.id.as_str() == name,
        Expr::Tuple(t) => t.elts.iter().any(|e| matches!(e, Expr::Name(n) if n.id.as_str() == name)),
        _ => false,
    }
}
