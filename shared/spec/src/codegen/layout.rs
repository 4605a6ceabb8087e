//! Line layout of the entry and exit conditions, following black's rules for the shapes
//! the generator emits.
//!
//! black splits a too-long line at its loosest delimiters (`and`/`or`, then comparisons,
//! then `+ -`, then `* /`), recursively, and splits at the last bracket instead when the
//! condition has a single delimiter and ends with a bracket (`... and crossover(`). `and` and
//! `or` share one priority in black, so mixed chains are parenthesized by the emitter and
//! every chain here is homogeneous.

use super::emit::{prec, py, wrap};
use super::ir::Node;
use super::python::{LINE_LENGTH, width};

/// A condition prepared for layout.
#[derive(Debug, Clone)]
pub(crate) enum Py {
    /// Fixed text that is never split (`not self.position`).
    Text(String),
    /// A rule expression (not `and`/`or`, not a crossover), split at its operators.
    Expr(Node),
    /// `a and b and c` or `a or b`.
    Chain(&'static str, Vec<Py>),
    /// `( ... )` written with explicit parentheses.
    Paren(Box<Py>),
    /// `crossover(a, b)`.
    Call(String, Vec<String>),
    /// `not <operand>`.
    Not(Box<Py>),
}

impl Py {
    fn text(&self) -> String {
        match self {
            Py::Text(s) => s.clone(),
            Py::Expr(n) => py(n, false),
            Py::Chain(op, items) => items.iter().map(Py::text).collect::<Vec<_>>().join(&format!(" {op} ")),
            Py::Paren(inner) => format!("({})", inner.text()),
            Py::Call(f, args) => format!("{f}({})", args.join(", ")),
            Py::Not(inner) => format!("not {}", inner.text()),
        }
    }
}

/// Operands of `node` under `and` (or `or`), flattened: both operators are associative
/// and rules are side-effect free.
fn operands<'n>(node: &'n Node, and: bool, out: &mut Vec<&'n Node>) {
    match node {
        Node::And(l, r) if and => {
            operands(l, and, out);
            operands(r, and, out);
        }
        Node::Or(l, r) if !and => {
            operands(l, and, out);
            operands(r, and, out);
        }
        other => out.push(other),
    }
}

/// The layout form of any node.
fn to_py(node: &Node) -> Py {
    match node {
        Node::Cross(a, b) => Py::Call("crossover".to_owned(), vec![py(a, true), py(b, true)]),
        Node::And(..) => chain(node, true),
        Node::Or(..) => chain(node, false),
        Node::Not(inner) => Py::Not(Box::new(sub(inner, 3))),
        other => Py::Expr(other.clone()),
    }
}

/// A chain operand: nested chains of the other operator get explicit parentheses, as do
/// operands looser than `not` (none today, kept for safety).
fn chain_item(node: &Node) -> Py {
    match node {
        Node::And(..) | Node::Or(..) => Py::Paren(Box::new(to_py(node))),
        other if prec(other) < 3 => Py::Paren(Box::new(to_py(other))),
        other => to_py(other),
    }
}

fn chain(node: &Node, and: bool) -> Py {
    let mut ops = Vec::new();
    operands(node, and, &mut ops);
    Py::Chain(if and { "and" } else { "or" }, ops.into_iter().map(chain_item).collect())
}

/// An operand of a comparison or arithmetic chain that must bind at least as tight as
/// `min` (as the emitter parenthesizes it).
fn sub(node: &Node, min: u8) -> Py {
    if prec(node) < min { Py::Paren(Box::new(to_py(node))) } else { to_py(node) }
}

/// The delimiter split of an expression: its first operand and `(operator, operand)` pairs.
fn expr_items(node: &Node) -> Option<Vec<(String, Py)>> {
    match node {
        Node::Cmp(op, l, r) => Some(vec![(String::new(), sub(l, 4)), (op.symbol().to_owned(), sub(r, 5))]),
        Node::Arith(op, ..) => {
            let p = op.precedence();
            let mut rev = Vec::new();
            let mut cur = node;
            while let Node::Arith(o, l, r) = cur {
                if o.precedence() != p {
                    break;
                }
                rev.push((o.symbol().to_owned(), sub(r, p + 1)));
                cur = l;
            }
            rev.push((String::new(), sub(cur, p)));
            rev.reverse();
            Some(rev)
        }
        _ => None,
    }
}

/// `not self.position and <every entry rule>`.
pub(crate) fn entry_condition(rules: &[&Node]) -> Py {
    let mut items = vec![Py::Text("not self.position".to_owned())];
    for rule in rules {
        let mut ops = Vec::new();
        operands(rule, true, &mut ops);
        items.extend(ops.into_iter().map(chain_item));
    }
    Py::Chain("and", items)
}

/// `self.position and (<any exit rule>)`, or `None` without exit rules.
pub(crate) fn exit_condition(rules: &[&Node]) -> Option<Py> {
    let mut any = Vec::new();
    for rule in rules {
        operands(rule, false, &mut any);
    }
    let mut items = vec![Py::Text("self.position".to_owned())];
    match any.as_slice() {
        [] => return None,
        [only] => {
            let mut ops = Vec::new();
            operands(only, true, &mut ops);
            items.extend(ops.into_iter().map(chain_item));
        }
        many => {
            let ors = many.iter().map(|n| chain_item(n)).collect();
            items.push(Py::Paren(Box::new(Py::Chain("or", ors))));
        }
    }
    Some(Py::Chain("and", items))
}

/// Lines of `p`, prefixed by `lead` (an operator and a space, or nothing), inside brackets
/// at `indent`: one line if it fits, else split at its loosest delimiters, recursively.
fn lines(p: &Py, indent: usize, lead: &str) -> Vec<String> {
    let pad = " ".repeat(indent);
    let text = p.text();
    if indent + width(lead) + width(&text) <= LINE_LENGTH {
        return vec![format!("{pad}{lead}{text}")];
    }
    match p {
        Py::Chain(op, items) => {
            let mut out = Vec::new();
            for (i, it) in items.iter().enumerate() {
                let l = if i == 0 { lead.to_owned() } else { format!("{op} ") };
                out.extend(lines(it, indent, &l));
            }
            out
        }
        Py::Expr(n) => match expr_items(n) {
            Some(items) => {
                let mut out = Vec::new();
                for (i, (op, it)) in items.iter().enumerate() {
                    let l = if i == 0 { lead.to_owned() } else { format!("{op} ") };
                    out.extend(lines(it, indent, &l));
                }
                out
            }
            // A lone subscript (`self.x[-1]`) too long for the line: black splits at
            // its bracket.
            None => match text.rfind('[') {
                Some(i) if text.ends_with(']') => vec![
                    format!("{pad}{lead}{}", &text[..=i]),
                    format!("{pad}    {}", &text[i + 1..text.len() - 1]),
                    format!("{pad}]"),
                ],
                _ => vec![format!("{pad}{lead}{text}")],
            },
        },
        Py::Paren(inner) => {
            let mut out = vec![format!("{pad}{lead}(")];
            out.extend(lines(inner, indent + 4, ""));
            out.push(format!("{pad})"));
            out
        }
        Py::Call(f, args) => {
            let mut out = vec![format!("{pad}{lead}{f}(")];
            out.extend(arg_lines(args, indent + 4));
            out.push(format!("{pad})"));
            out
        }
        Py::Not(inner) => lines(inner, indent, &format!("{lead}not ")),
        Py::Text(_) => vec![format!("{pad}{lead}{text}")],
    }
}

/// Call arguments split at the call's brackets: on one line when they fit, else one per
/// line with black's trailing comma.
fn arg_lines(args: &[String], indent: usize) -> Vec<String> {
    let pad = " ".repeat(indent);
    let joined = args.join(", ");
    if indent + width(&joined) <= LINE_LENGTH {
        vec![format!("{pad}{joined}")]
    } else {
        args.iter().map(|a| format!("{pad}{a},")).collect()
    }
}

/// When `p` ends with a bracket pair black can split at: the text up to and including the
/// opening bracket, and the bracketed node (a call or a parenthesized group).
fn trailing_bracket(p: &Py) -> Option<(String, Py)> {
    match p {
        Py::Call(f, _) => Some((format!("{f}("), p.clone())),
        Py::Paren(_) => Some(("(".to_owned(), p.clone())),
        Py::Not(inner) => trailing_bracket(inner).map(|(o, n)| (format!("not {o}"), n)),
        Py::Expr(node) => {
            let (left, sym, right) = match node {
                Node::Cmp(op, l, r) => (wrap(l, 4, false), op.symbol(), sub(r, 5)),
                Node::Arith(op, l, r) => {
                    (wrap(l, op.precedence(), false), op.symbol(), sub(r, op.precedence() + 1))
                }
                Node::Neg(inner) => {
                    return trailing_bracket(&sub(inner, 7)).map(|(o, n)| (format!("-{o}"), n));
                }
                _ => return None,
            };
            trailing_bracket(&right).map(|(o, n)| (format!("{left} {sym} {o}"), n))
        }
        Py::Text(_) | Py::Chain(..) => None,
    }
}

/// `head <condition>:` at `indent`, laid out as black would.
pub(crate) fn condition_lines(indent: usize, head: &str, cond: &Py) -> Vec<String> {
    let pad = " ".repeat(indent);
    let one = format!("{pad}{head} {}:", cond.text());
    if width(&one) <= LINE_LENGTH {
        return vec![one];
    }
    // A single delimiter and a trailing bracket: black splits at that bracket.
    if let Py::Chain(op, items) = cond
        && let [first, last] = items.as_slice()
        && let Some((opener, inner)) = trailing_bracket(last)
    {
        let head_line = format!("{pad}{head} {} {op} {opener}", first.text());
        if width(&head_line) <= LINE_LENGTH {
            let mut out = vec![head_line];
            match &inner {
                Py::Call(_, args) => out.extend(arg_lines(args, indent + 4)),
                Py::Paren(body) => out.extend(lines(body, indent + 4, "")),
                _ => {}
            }
            out.push(format!("{pad}):"));
            return out;
        }
    }
    let mut out = vec![format!("{pad}{head} (")];
    out.extend(lines(cond, indent + 4, ""));
    out.push(format!("{pad}):"));
    out
}
