//! Pratt parser of the rule language.
//!
//! Precedence follows Python (loosest first): `or`, `and`, `not`, comparisons (which do not
//! chain), `+ -`, `* /`, unary `-`, then postfix forms: calls, `.output` and `[n]` lookback.
//! Only syntax is checked here; names are resolved against a spec in `resolve`.

use super::RuleError;
use super::ast::{BinOp, Expr, ExprKind, Func, NEG_PRECEDENCE, NOT_PRECEDENCE, Span};
use super::lexer::{Tok, Token, tokenize};
use super::suggest;
use crate::limits::MAX_LOOKBACK;

/// Deepest nesting of sub-expressions; keeps recursion bounded on hostile input.
pub const MAX_DEPTH: usize = 64;

/// Parses one rule into a syntax tree.
pub fn parse_rule(src: &str) -> Result<Expr, RuleError> {
    let tokens = tokenize(src)?;
    let mut p = Parser { tokens, pos: 0, depth: 0 };
    if p.peek().tok == Tok::Eof {
        return Err(RuleError::syntax(1, "rule is empty"));
    }
    let expr = p.expr(0)?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        let msg = match &t.tok {
            Tok::RParen => "unmatched ')'".to_owned(),
            Tok::Ident(w) if w == "then" || w == "if" => {
                format!("unexpected '{w}': a rule is one condition")
            }
            other => format!("expected an operator or end of rule, found {}", other.describe()),
        };
        return Err(RuleError::syntax(t.col, msg));
    }
    Ok(expr)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

/// Left binding power of an infix operator token, if it is one.
fn infix_op(tok: &Tok) -> Option<BinOp> {
    Some(match tok {
        Tok::Plus => BinOp::Add,
        Tok::Minus => BinOp::Sub,
        Tok::Star => BinOp::Mul,
        Tok::Slash => BinOp::Div,
        Tok::Lt => BinOp::Lt,
        Tok::Le => BinOp::Le,
        Tok::Gt => BinOp::Gt,
        Tok::Ge => BinOp::Ge,
        Tok::EqEq => BinOp::Eq,
        Tok::Ne => BinOp::Ne,
        Tok::Ident(w) if w == "and" => BinOp::And,
        Tok::Ident(w) if w == "or" => BinOp::Or,
        _ => return None,
    })
}

fn is_keyword(w: &str) -> bool {
    matches!(w, "and" | "or" | "not")
}

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with Eof and `pos` never passes it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn expect(&mut self, want: &Tok, what: &str) -> Result<Token, RuleError> {
        let t = self.peek();
        if &t.tok == want {
            Ok(self.bump())
        } else {
            Err(RuleError::syntax(t.col, format!("expected {what}, found {}", t.tok.describe())))
        }
    }

    /// Parses an expression whose operators all bind tighter than `min_prec`.
    fn expr(&mut self, min_prec: u8) -> Result<Expr, RuleError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let col = self.peek().col;
            return Err(RuleError::syntax(col, "expression is nested too deeply"));
        }
        let result = self.expr_inner(min_prec);
        self.depth -= 1;
        result
    }

    fn expr_inner(&mut self, min_prec: u8) -> Result<Expr, RuleError> {
        let mut lhs = self.prefix()?;
        let mut lhs_is_comparison = false;
        loop {
            let t = self.peek().clone();
            let Some(op) = infix_op(&t.tok) else { break };
            let prec = op.precedence();
            if prec <= min_prec {
                break;
            }
            if op.is_comparison() && lhs_is_comparison {
                return Err(RuleError::syntax(
                    t.col,
                    "comparisons cannot be chained; combine them with 'and'",
                ));
            }
            self.bump();
            let rhs = self.expr(prec)?;
            let span = lhs.span.to(rhs.span);
            lhs = Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span };
            lhs_is_comparison = op.is_comparison();
        }
        Ok(lhs)
    }

    fn prefix(&mut self) -> Result<Expr, RuleError> {
        let t = self.bump();
        let start = Span { col: t.col, len: t.len };
        match t.tok {
            Tok::Num(value, integer) => {
                self.postfix(Expr { kind: ExprKind::Number { value, integer }, span: start })
            }
            Tok::Minus => {
                let operand = self.expr(NEG_PRECEDENCE - 1)?;
                let span = start.to(operand.span);
                Ok(Expr { kind: ExprKind::Neg(Box::new(operand)), span })
            }
            Tok::Ident(w) if w == "not" => {
                let operand = self.expr(NOT_PRECEDENCE - 1)?;
                let span = start.to(operand.span);
                Ok(Expr { kind: ExprKind::Not(Box::new(operand)), span })
            }
            Tok::Ident(w) if is_keyword(&w) => {
                Err(RuleError::syntax(t.col, format!("expected a value before '{w}'")))
            }
            Tok::Ident(w) => {
                if self.peek().tok == Tok::LParen {
                    self.call(w, start)
                } else {
                    self.postfix(Expr { kind: ExprKind::Name(w), span: start })
                }
            }
            Tok::LParen => {
                let inner = self.expr(0)?;
                let close = self.expect(&Tok::RParen, "')'")?;
                let span = start.to(Span { col: close.col, len: close.len });
                // Parentheses only group; the node keeps its kind but covers them.
                let grouped = Expr { kind: inner.kind, span };
                self.postfix(grouped)
            }
            Tok::Eof => Err(RuleError::syntax(t.col, "rule ends where a value is expected")),
            other => Err(RuleError::syntax(t.col, format!("expected a value, found {}", other.describe()))),
        }
    }

    fn call(&mut self, name: String, name_span: Span) -> Result<Expr, RuleError> {
        let Some(func) = Func::from_name(&name) else {
            let hint = suggest::closest(&name, Func::names())
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            return Err(RuleError::undeclared(name_span.col, format!("unknown function '{name}'{hint}")));
        };
        self.bump(); // '('
        let mut args = Vec::new();
        if self.peek().tok != Tok::RParen {
            loop {
                args.push(self.expr(0)?);
                if self.peek().tok == Tok::Comma {
                    self.bump();
                    continue;
                }
                break;
            }
        }
        let close = self.expect(&Tok::RParen, "',' or ')' in the argument list")?;
        let span = name_span.to(Span { col: close.col, len: close.len });
        self.postfix(Expr { kind: ExprKind::Call { func, args }, span })
    }

    /// Applies `.output` and `[n]` suffixes.
    fn postfix(&mut self, mut base: Expr) -> Result<Expr, RuleError> {
        loop {
            let t = self.peek().clone();
            match t.tok {
                Tok::Dot => {
                    if !matches!(base.kind, ExprKind::Name(_) | ExprKind::Call { .. }) {
                        return Err(RuleError::syntax(
                            t.col,
                            "'.output' follows an indicator name or call, e.g. macd.signal",
                        ));
                    }
                    self.bump();
                    let f = self.bump();
                    let Tok::Ident(field) = f.tok else {
                        return Err(RuleError::syntax(
                            f.col,
                            format!("expected an output name after '.', found {}", f.tok.describe()),
                        ));
                    };
                    let field_span = Span { col: f.col, len: f.len };
                    let span = base.span.to(field_span);
                    base = Expr { kind: ExprKind::Member { base: Box::new(base), field, field_span }, span };
                }
                Tok::LBracket => {
                    if !matches!(
                        base.kind,
                        ExprKind::Name(_) | ExprKind::Member { .. } | ExprKind::Call { .. }
                    ) {
                        return Err(RuleError::syntax(
                            t.col,
                            "lookback [n] follows a column or indicator, e.g. close[1]",
                        ));
                    }
                    self.bump();
                    let n = self.bump();
                    let bars = match n.tok {
                        Tok::Num(v, true) if v <= f64::from(MAX_LOOKBACK) => {
                            // Integral and within 0..=1000, checked above.
                            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                            let b = v as u32;
                            b
                        }
                        Tok::Num(..) => {
                            return Err(RuleError::syntax(
                                n.col,
                                format!("lookback must be an integer between 0 and {MAX_LOOKBACK}"),
                            ));
                        }
                        other => {
                            return Err(RuleError::syntax(
                                n.col,
                                format!("lookback must be an integer literal, found {}", other.describe()),
                            ));
                        }
                    };
                    let close = self.expect(&Tok::RBracket, "']'")?;
                    let span = base.span.to(Span { col: close.col, len: close.len });
                    base = Expr { kind: ExprKind::Lookback { base: Box::new(base), bars }, span };
                }
                _ => return Ok(base),
            }
        }
    }
}
