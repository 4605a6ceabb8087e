//! Constant-expression size estimates (`10**10**10`, `'a' * 10**9`, `1 << 10**9`) and the
//! scan of `str.format` replacement fields for attribute traversal (`'{0.__class__}'`).
//!
//! Sizes are estimated bottom-up while the walker returns from each expression, so a
//! 100k-term chain costs one pass, never a re-evaluation per node.

use ruff_python_ast::{Int, Operator, UnaryOp};

use super::limits::{MAX_INT_BITS, MAX_SEQUENCE_LEN};
use super::tables::{frame_attribute, is_dunder, system_attribute};

/// What is known about the value of an expression made only of constants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mag {
    /// Not a constant expression, or not one we size.
    Unknown,
    /// An integer with `log2(|value|)` about this (0 for 0 and ±1).
    Int(f64),
    /// A string, bytes, list or tuple of about this many items.
    Seq(f64),
}

impl Mag {
    /// True when the value is over [`MAX_INT_BITS`] or [`MAX_SEQUENCE_LEN`].
    pub fn too_large(self) -> bool {
        match self {
            Self::Int(bits) => bits >= MAX_INT_BITS,
            Self::Seq(len) => len > MAX_SEQUENCE_LEN,
            Self::Unknown => false,
        }
    }

    fn int_value(self) -> Option<f64> {
        match self {
            Self::Int(l) => Some(l.exp2()),
            _ => None,
        }
    }
}

/// `log2(|n|)`: exact enough for values that fit in 64 bits; for larger ones (which the
/// parser keeps as their source text, e.g. `0x_FFFF...`) an estimate from the digit count.
pub fn int_log2(n: &Int) -> f64 {
    if let Some(v) = n.as_u64() {
        return if v <= 1 { 0.0 } else { (v as f64).log2() };
    }
    let text = n.to_string();
    let lower = text.to_ascii_lowercase();
    let (radix, digits) = match lower.get(..2) {
        Some("0x") => (16.0f64, &lower[2..]),
        Some("0o") => (8.0, &lower[2..]),
        Some("0b") => (2.0, &lower[2..]),
        _ => (10.0, lower.as_str()),
    };
    let significant = digits.trim_start_matches(['0', '_']).bytes().filter(|&b| b != b'_').count();
    significant as f64 * radix.log2()
}

/// The size of `left op right` from the sizes of its operands.
pub fn binop(left: Mag, op: Operator, right: Mag) -> Mag {
    use Mag::{Int, Seq};
    match (left, op, right) {
        (Int(a), Operator::Add | Operator::Sub | Operator::BitOr | Operator::BitXor, Int(b)) => {
            Int(a.max(b) + 1.0)
        }
        (Int(a), Operator::BitAnd, Int(b)) => Int(a.min(b)),
        (Int(a), Operator::Mult, Int(b)) => Int(a + b),
        (Int(a), Operator::Pow, r @ Int(_)) => {
            let exp = r.int_value().unwrap_or(f64::INFINITY);
            if a == 0.0 { Int(0.0) } else { Int(a * exp) }
        }
        (Int(a), Operator::LShift, r @ Int(_)) => Int(a + r.int_value().unwrap_or(f64::INFINITY)),
        (Int(a), Operator::RShift | Operator::FloorDiv | Operator::Mod, Int(_)) => Int(a),
        (Seq(n), Operator::Mult, r @ Int(_)) | (r @ Int(_), Operator::Mult, Seq(n)) => {
            Seq(n * r.int_value().unwrap_or(f64::INFINITY))
        }
        (Seq(a), Operator::Add, Seq(b)) => Seq(a + b),
        _ => Mag::Unknown,
    }
}

/// The size of `op operand`.
pub fn unaryop(op: UnaryOp, operand: Mag) -> Mag {
    match (op, operand) {
        (UnaryOp::USub | UnaryOp::UAdd, m @ Mag::Int(_)) => m,
        (UnaryOp::Invert, Mag::Int(a)) => Mag::Int(a + 1.0),
        _ => Mag::Unknown,
    }
}

/// The first replacement field of a format template that traverses a dangerous attribute or
/// key (`{0.__class__}`, `{x.gi_frame}`, `{0[__builtins__]}`), as `(field, name)`.
pub fn format_traversal(template: &str) -> Option<(String, String)> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        if let Some(stripped) = after.strip_prefix('{') {
            rest = stripped;
            continue;
        }
        let end = after.find(['}', '!', ':', '{']).unwrap_or(after.len());
        let field = &after[..end];
        if let Some(name) = dangerous_part(field) {
            return Some((field.to_owned(), name));
        }
        rest = &after[end..];
    }
    None
}

fn dangerous_part(field: &str) -> Option<String> {
    // After the argument name, a field is a chain of `.name` and `[key]` parts.
    let start = field.find(['.', '['])?;
    let mut parts = &field[start..];
    while !parts.is_empty() {
        let (name, next) = if let Some(p) = parts.strip_prefix('.') {
            let end = p.find(['.', '[']).unwrap_or(p.len());
            (&p[..end], &p[end..])
        } else if let Some(p) = parts.strip_prefix('[') {
            let end = p.find(']').unwrap_or(p.len());
            (&p[..end], p.get(end + 1..).unwrap_or(""))
        } else {
            return None;
        };
        let name = super::names::nfkc(name);
        if is_dunder(&name) || frame_attribute(&name) || system_attribute(&name) {
            return Some(name.into_owned());
        }
        parts = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_towers_and_repeated_strings_are_too_large() {
        let ten = Mag::Int(10f64.log2());
        let tower = binop(ten, Operator::Pow, binop(ten, Operator::Pow, ten));
        assert!(tower.too_large());
        assert!(!binop(ten, Operator::Pow, Mag::Int(6f64.log2())).too_large());
        let billion = binop(ten, Operator::Pow, Mag::Int(9f64.log2()));
        assert!(binop(Mag::Seq(1.0), Operator::Mult, billion).too_large());
        assert!(!binop(Mag::Seq(80.0), Operator::Mult, Mag::Int(0.0)).too_large());
    }

    #[test]
    fn format_fields_that_walk_dunders_are_found() {
        assert_eq!(format_traversal("{0.__class__}").map(|f| f.1), Some("__class__".to_owned()));
        assert!(format_traversal("{{0.__class__}}").is_none());
        assert!(format_traversal("{0[__builtins__]}").is_some());
        assert!(format_traversal("{x.gi_frame.f_back}").is_some());
        assert!(format_traversal("{:.2f} {0.close} {name!r:>10}").is_none());
    }
}
