//! Syntax tree of the rule language, as produced by the parser and before name resolution.
//!
//! Nodes carry 1-based character columns so every later error (unknown name, wrong type)
//! can point into the rule text.

use crate::IndicatorKind;
use std::fmt;

/// Where a node sits in the rule: 1-based first column and length, in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// 1-based column of the first character.
    pub col: usize,
    /// Number of characters covered.
    pub len: usize,
}

impl Span {
    /// The span from the start of `self` to the end of `other`.
    pub fn to(self, other: Span) -> Span {
        let end = (other.col + other.len).max(self.col + self.len);
        Span { col: self.col, len: end - self.col }
    }
}

/// A function the rule language knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Func {
    /// An inline indicator call such as `sma(close, 20)`.
    Indicator(IndicatorKind),
    /// `crossover(a, b)`: `a` crossed above `b` on this bar.
    Crossover,
    /// `crossunder(a, b)`: `a` crossed below `b` on this bar.
    Crossunder,
}

impl Func {
    /// Every function name, for lookups and suggestions.
    pub fn names() -> impl Iterator<Item = &'static str> {
        IndicatorKind::ALL.into_iter().map(IndicatorKind::name).chain([
            "crossover",
            "crossunder",
            "crosses_above",
            "crosses_below",
        ])
    }

    /// Looks a function up by name.
    pub fn from_name(s: &str) -> Option<Func> {
        match s {
            // `crosses_above` / `crosses_below` are the TA-Lib and pandas-ta spellings.
            "crossover" | "crosses_above" => Some(Func::Crossover),
            "crossunder" | "crosses_below" => Some(Func::Crossunder),
            _ => IndicatorKind::from_name(s).map(Func::Indicator),
        }
    }

    /// The function's name in rules.
    pub fn name(self) -> &'static str {
        match self {
            Func::Indicator(k) => k.name(),
            Func::Crossover => "crossover",
            Func::Crossunder => "crossunder",
        }
    }
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `and`
    And,
    /// `or`
    Or,
}

impl BinOp {
    /// The operator as written in rules (and in Python, which spells them the same).
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::And => "and",
            Self::Or => "or",
        }
    }

    /// Whether the operator compares two numbers.
    pub fn is_comparison(self) -> bool {
        matches!(self, Self::Lt | Self::Le | Self::Gt | Self::Ge | Self::Eq | Self::Ne)
    }

    /// Binding power (higher binds tighter); Python's precedence order.
    pub fn precedence(self) -> u8 {
        match self {
            Self::Or => 1,
            Self::And => 2,
            Self::Lt | Self::Le | Self::Gt | Self::Ge | Self::Eq | Self::Ne => 4,
            Self::Add | Self::Sub => 5,
            Self::Mul | Self::Div => 6,
        }
    }
}

/// Precedence of `not` (between `and` and comparisons, as in Python).
pub const NOT_PRECEDENCE: u8 = 3;
/// Precedence of unary minus.
pub const NEG_PRECEDENCE: u8 = 7;
/// Precedence of atoms and postfix forms (calls, `.output`, `[n]`).
pub const ATOM_PRECEDENCE: u8 = 8;

/// A parsed rule expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What the node is.
    pub kind: ExprKind,
    /// The text it was parsed from.
    pub span: Span,
}

/// The node types of the rule language.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A number literal; `text` is the literal as written (kept for exact integer checks).
    Number {
        /// The value.
        value: f64,
        /// Whether the literal was written without a fraction or exponent.
        integer: bool,
    },
    /// A bare identifier: column, parameter or declared indicator.
    Name(String),
    /// `base.field`: one output of a multi-output indicator.
    Member {
        /// The indicator (a name or an inline call).
        base: Box<Expr>,
        /// The output name.
        field: String,
        /// Where the output name is.
        field_span: Span,
    },
    /// `func(args...)`.
    Call {
        /// Which function.
        func: Func,
        /// Arguments in order.
        args: Vec<Expr>,
    },
    /// `base[bars]`: the value `bars` bars ago.
    Lookback {
        /// The series looked back on.
        base: Box<Expr>,
        /// How many bars back (0 = current bar).
        bars: u32,
    },
    /// `-operand`.
    Neg(Box<Expr>),
    /// `not operand`.
    Not(Box<Expr>),
    /// `lhs op rhs`.
    Binary {
        /// The operator.
        op: BinOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
}

impl Expr {
    fn precedence(&self) -> u8 {
        match &self.kind {
            ExprKind::Binary { op, .. } => op.precedence(),
            ExprKind::Not(_) => NOT_PRECEDENCE,
            ExprKind::Neg(_) => NEG_PRECEDENCE,
            _ => ATOM_PRECEDENCE,
        }
    }

    /// A fully parenthesized prefix form, e.g. `(and (< rsi 30) (> close (sma close 20)))`,
    /// to make precedence visible in tests and logs.
    pub fn sexp(&self) -> String {
        match &self.kind {
            ExprKind::Number { .. } | ExprKind::Name(_) => self.to_string(),
            ExprKind::Member { base, field, .. } => format!("(. {} {field})", base.sexp()),
            ExprKind::Call { func, args } => {
                let mut s = format!("({}", func.name());
                for a in args {
                    s.push(' ');
                    s.push_str(&a.sexp());
                }
                s.push(')');
                s
            }
            ExprKind::Lookback { base, bars } => format!("([] {} {bars})", base.sexp()),
            ExprKind::Neg(e) => format!("(neg {})", e.sexp()),
            ExprKind::Not(e) => format!("(not {})", e.sexp()),
            ExprKind::Binary { op, lhs, rhs } => {
                format!("({} {} {})", op.symbol(), lhs.sexp(), rhs.sexp())
            }
        }
    }
}

/// Formats a number literal in a form both the rule language and Python read back exactly.
pub fn format_number(value: f64, integer: bool) -> String {
    if integer && value.fract() == 0.0 && value.abs() < 1e16 {
        // Integral and exactly representable: print without a fraction.
        #[allow(clippy::cast_possible_truncation)]
        let i = value as i64;
        format!("{i}")
    } else {
        crate::codegen::python::float_literal(value)
    }
}

/// Canonical rule text with minimal parentheses; parses back to the same tree.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Number { value, integer } => f.write_str(&format_number(*value, *integer)),
            ExprKind::Name(n) => f.write_str(n),
            ExprKind::Member { base, field, .. } => write!(f, "{base}.{field}"),
            ExprKind::Call { func, args } => {
                write!(f, "{}(", func.name())?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            ExprKind::Lookback { base, bars } => write!(f, "{base}[{bars}]"),
            ExprKind::Neg(e) => {
                if e.precedence() < NEG_PRECEDENCE {
                    write!(f, "-({e})")
                } else {
                    write!(f, "-{e}")
                }
            }
            ExprKind::Not(e) => {
                if e.precedence() < NOT_PRECEDENCE {
                    write!(f, "not ({e})")
                } else {
                    write!(f, "not {e}")
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let p = op.precedence();
                // Left-associative: the left operand may share the precedence, the right
                // operand needs parentheses unless it binds tighter. Comparisons do not
                // chain, so both sides need strictly tighter operands.
                let lhs_paren = lhs.precedence() < p || (op.is_comparison() && lhs.precedence() == p);
                let rhs_paren = rhs.precedence() <= p;
                if lhs_paren {
                    write!(f, "({lhs})")?;
                } else {
                    write!(f, "{lhs}")?;
                }
                write!(f, " {} ", op.symbol())?;
                if rhs_paren { write!(f, "({rhs})") } else { write!(f, "{rhs}") }
            }
        }
    }
}
