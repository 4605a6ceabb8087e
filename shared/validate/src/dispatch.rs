//! String-named method dispatch. pandas resolves a string passed to `apply`, `agg`,
//! `aggregate`, `transform`, `pipe`, `map` or `applymap` as a method of the object (or of
//! numpy) and calls it: `s.agg('to_csv', '/tmp/x')` writes a file, `s.agg('__class__')`
//! reaches a dunder. So:
//!
//! - a string constant that *is* a forbidden attribute name (`'to_csv'`, `'__class__'`,
//!   `'gi_frame'`, `'system'`) is refused wherever it appears;
//! - the function argument of those methods must be a lambda, a literal, a function or
//!   class defined in the module, an imported name or a safe builtin (never rebound), an
//!   attribute of an imported module (`np.mean`), or `self.method` for a method of the
//!   module that is never assigned; anything computed is `dynamic-attribute`.
//!
//! Names are resolved after the walk, when every binding in the module is known.

use ruff_python_ast::{self as ast, Expr, name::Name};
use ruff_text_size::Ranged;
use rustc_hash::FxHashSet;

use super::checker::{Checker, Pending, off};
use super::names::nfkc;
use super::rules::RuleId;
use super::tables::{frame_attribute, io_attribute, is_dunder, system_attribute};

/// Methods that accept a method name as a string.
fn dispatches_by_name(method: &str) -> bool {
    matches!(method, "apply" | "agg" | "aggregate" | "transform" | "pipe" | "map" | "applymap")
}

/// Builtins that are safe to pass as functions (unless the module rebinds them).
fn safe_builtin(name: &str) -> bool {
    matches!(
        name,
        "abs"
            | "min"
            | "max"
            | "sum"
            | "len"
            | "round"
            | "float"
            | "int"
            | "str"
            | "bool"
            | "list"
            | "tuple"
            | "sorted"
            | "any"
            | "all"
    )
}

impl Checker<'_> {
    /// A string constant that exactly names a forbidden attribute.
    pub(super) fn check_string_name(&mut self, s: &str, at: usize) {
        let n = nfkc(s);
        let n = n.as_ref();
        let rule = if is_dunder(n) {
            RuleId::DunderAccess
        } else if frame_attribute(n) {
            RuleId::FrameAccess
        } else if system_attribute(n) {
            RuleId::ForbiddenAttribute
        } else if io_attribute(n) {
            RuleId::FileIo
        } else if matches!(n, "eval" | "exec" | "query") {
            RuleId::ForbiddenCall
        } else {
            return;
        };
        self.report(
            rule,
            at,
            format!(
                "string '{n}' names a forbidden attribute (pandas and getattr resolve names from strings)"
            ),
        );
    }

    /// The function argument of `x.apply(f)` and friends.
    pub(super) fn check_dispatch(&mut self, call: &ast::ExprCall, method: &str) {
        if !dispatches_by_name(method) {
            return;
        }
        if call.arguments.keywords.iter().any(|k| k.arg.is_none()) {
            // `s.agg(**{'func': name})` hides the function argument.
            self.dynamic_dispatch(method, off(call.start()));
            return;
        }
        let func = call.arguments.args.first().or_else(|| {
            call.arguments
                .keywords
                .iter()
                .find(|k| k.arg.as_ref().is_some_and(|a| matches!(a.as_str(), "func" | "arg")))
                .map(|k| &k.value)
        });
        if let Some(func) = func {
            self.dispatch_arg(func, method, 0);
        }
    }

    fn dispatch_arg(&mut self, e: &Expr, method: &str, depth: u32) {
        let at = off(e.start());
        match e {
            Expr::Lambda(_) => {}
            e if e.is_literal_expr() => {}
            Expr::Name(n) => self.pending.push(Pending {
                name: nfkc(n.id.as_str()).into_owned(),
                self_attr: false,
                method: method.to_owned(),
                at,
            }),
            Expr::Attribute(a) => match a.value.as_ref() {
                Expr::Name(root) if matches!(root.id.as_str(), "self" | "cls") => {
                    self.pending.push(Pending {
                        name: nfkc(a.attr.as_str()).into_owned(),
                        self_attr: true,
                        method: method.to_owned(),
                        at,
                    });
                }
                _ => match attribute_root(a) {
                    Some(root) => self.pending.push(Pending {
                        name: nfkc(root).into_owned(),
                        self_attr: false,
                        method: method.to_owned(),
                        at,
                    }),
                    None => self.dynamic_dispatch(method, at),
                },
            },
            Expr::List(l) if depth < 2 => {
                for e in &l.elts {
                    self.dispatch_arg(e, method, depth + 1);
                }
            }
            Expr::Tuple(t) if depth < 2 => {
                for e in &t.elts {
                    self.dispatch_arg(e, method, depth + 1);
                }
            }
            Expr::Dict(d) if depth < 2 => {
                for item in &d.items {
                    self.dispatch_arg(&item.value, method, depth + 1);
                }
            }
            _ => self.dynamic_dispatch(method, at),
        }
    }

    fn dynamic_dispatch(&mut self, method: &str, at: usize) {
        self.report(
            RuleId::DynamicAttribute,
            at,
            format!(
                "{method}() resolves strings as method names; pass a lambda, a literal or a function defined or imported in the module"
            ),
        );
    }

    /// After the walk: report dispatch arguments whose names may hold strings.
    pub(super) fn resolve_dispatch(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() {
            return;
        }
        let (defined, stored_names, stored_attrs) = (
            std::mem::take(&mut self.defined),
            std::mem::take(&mut self.stored_names),
            std::mem::take(&mut self.stored_attrs),
        );
        let (defined, stored_names, stored_attrs) =
            (index(&defined), index(&stored_names), index(&stored_attrs));
        for p in pending {
            let name = p.name.as_str();
            let safe = if p.self_attr {
                defined.contains(name) && !stored_attrs.contains(name)
            } else {
                (defined.contains(name) || safe_builtin(name)) && !stored_names.contains(name)
            };
            if !safe {
                let shown = if p.self_attr { format!("self.{}", p.name) } else { p.name.clone() };
                self.report(
                    RuleId::DynamicAttribute,
                    p.at,
                    format!(
                        "{}({shown}): '{shown}' is not a function defined or imported in the module, and a string there is resolved as a method name",
                        p.method
                    ),
                );
            }
        }
    }
}

fn index(names: &[Name]) -> FxHashSet<&str> {
    names.iter().map(Name::as_str).collect()
}

/// The root name of `a.b.c` when the chain is made of plain attribute reads.
fn attribute_root(a: &ast::ExprAttribute) -> Option<&str> {
    let mut cur = a.value.as_ref();
    for _ in 0..64 {
        match cur {
            Expr::Name(n) => return Some(n.id.as_str()),
            Expr::Attribute(inner) => cur = inner.value.as_ref(),
            _ => return None,
        }
    }
    None
}
