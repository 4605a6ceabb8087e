//! Tokenizer of the rule language.
//!
//! Positions are 1-based character columns, matching what an editor shows. Common
//! spellings from other languages (`&&`, `||`, `!`, `=`) are refused with the right word.

use super::RuleError;

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A number literal and whether it was written as an integer.
    Num(f64, bool),
    /// An identifier or keyword (`and`, `or`, `not` are identifiers to the lexer).
    Ident(String),
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    EqEq,
    /// `!=`
    Ne,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `,`
    Comma,
    /// `.`
    Dot,
    /// End of the rule.
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Num(v, int) => format!("number {}", super::ast::format_number(*v, *int)),
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Eof => "end of rule".to_owned(),
            other => format!("'{}'", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::EqEq => "==",
            Tok::Ne => "!=",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Dot => ".",
            Tok::Num(..) | Tok::Ident(_) | Tok::Eof => "",
        }
    }
}

/// A token and where it starts (1-based column) and how many characters it spans.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// 1-based column of its first character.
    pub col: usize,
    /// Length in characters.
    pub len: usize,
}

/// Splits a rule into tokens, ending with [`Tok::Eof`].
pub fn tokenize(src: &str) -> Result<Vec<Token>, RuleError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c == ' ' || c == '\t' {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let (tok, len) = number(&chars[i..], col)?;
            out.push(Token { tok, col, len });
            i += len;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push(Token { tok: Tok::Ident(word), col, len: i - start });
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (tok, len) = match (c, next) {
            ('<', Some('=')) => (Tok::Le, 2),
            ('>', Some('=')) => (Tok::Ge, 2),
            ('=', Some('=')) => (Tok::EqEq, 2),
            ('!', Some('=')) => (Tok::Ne, 2),
            ('<', _) => (Tok::Lt, 1),
            ('>', _) => (Tok::Gt, 1),
            ('*', Some('*')) => {
                return Err(RuleError::syntax(col, "'**' (power) is not supported"));
            }
            ('+', _) => (Tok::Plus, 1),
            ('-', _) => (Tok::Minus, 1),
            ('*', _) => (Tok::Star, 1),
            ('/', _) => (Tok::Slash, 1),
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            ('[', _) => (Tok::LBracket, 1),
            (']', _) => (Tok::RBracket, 1),
            (',', _) => (Tok::Comma, 1),
            ('.', _) => (Tok::Dot, 1),
            ('&', Some('&')) => return Err(RuleError::syntax(col, "use 'and' instead of '&&'")),
            ('|', Some('|')) => return Err(RuleError::syntax(col, "use 'or' instead of '||'")),
            ('!', _) => return Err(RuleError::syntax(col, "use 'not' instead of '!'")),
            ('=', _) => {
                return Err(RuleError::syntax(col, "'=' is not an operator; use '==' to compare"));
            }
            _ => {
                return Err(RuleError::syntax(col, format!("unexpected character '{}'", c.escape_default())));
            }
        };
        out.push(Token { tok, col, len });
        i += len;
    }
    out.push(Token { tok: Tok::Eof, col: chars.len() + 1, len: 0 });
    Ok(out)
}

/// Lexes `digits [. digits] [e [+-] digits]` (or `.digits ...`) at the start of `chars`.
fn number(chars: &[char], col: usize) -> Result<(Tok, usize), RuleError> {
    let mut i = 0;
    let mut integer = true;
    while i < chars.len() && chars[i].is_ascii_digit() {
        i += 1;
    }
    if i < chars.len() && chars[i] == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
        integer = false;
        i += 1;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
        let mut j = i + 1;
        if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
            j += 1;
        }
        if j < chars.len() && chars[j].is_ascii_digit() {
            integer = false;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    if i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.') {
        return Err(RuleError::syntax(col, "invalid number: a number must not run into letters, '_' or '.'"));
    }
    let text: String = chars[..i].iter().collect();
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok((Tok::Num(v, integer), i)),
        _ => Err(RuleError::syntax(col, format!("number {text} is out of range"))),
    }
}
