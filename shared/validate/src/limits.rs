//! Size and nesting limits, and the linear pre-scan that enforces them before the parser
//! sees the code.
//!
//! Why a pre-scan: ruff's parser is recursive descent with no depth limit of its own, so
//! 100k nested brackets or a 100k-term unary chain (`- - - ... 1`, `not not ... x`) would
//! overflow the thread's stack and abort the process, and so would dropping such a tree.
//! The pre-scan bounds every source of depth first: bracket depth, indentation depth, and an
//! upper estimate of expression depth (operators, dots and depth-adding keywords between
//! commas, per bracket level).

/// Largest accepted source, in bytes.
pub const MAX_BYTES: usize = 200 * 1024;
/// Largest accepted source, in lines.
pub const MAX_LINES: usize = 5_000;
/// Deepest bracket nesting and deepest indentation, each.
pub const MAX_NESTING: usize = 50;
/// Upper estimate of expression depth accepted by the pre-scan; the walker then enforces
/// [`MAX_AST_DEPTH`] on the real tree.
pub const MAX_EXPR_ESTIMATE: usize = 1_000;
/// Deepest statement + expression nesting the checker descends into.
pub const MAX_AST_DEPTH: u32 = 150;
/// Integers of this many bits or more (about 10**100) are refused, literal or computed.
pub const MAX_INT_BITS: f64 = 333.0;
/// Longest string, bytes, list or tuple a constant expression may build (`'a' * n`).
pub const MAX_SEQUENCE_LEN: f64 = 10_000_000.0;
/// Most findings a report keeps.
pub const MAX_FINDINGS: usize = 500;

/// Why the pre-scan refused the code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitViolation {
    /// Over [`MAX_BYTES`] or [`MAX_LINES`].
    #[error("{message}")]
    TooLarge {
        /// Byte offset to report.
        offset: usize,
        /// What is over the limit.
        message: String,
    },
    /// Brackets, indentation or an expression nest too deep.
    #[error("{message}")]
    TooDeep {
        /// Byte offset where the limit was crossed.
        offset: usize,
        /// What nests too deep.
        message: String,
    },
    /// A NUL byte, which Python refuses in source code.
    #[error("source code cannot contain a NUL byte")]
    NulByte {
        /// Byte offset of the NUL.
        offset: usize,
    },
}

/// Check size, line count, NUL bytes and nesting in one linear pass.
pub fn prescan(src: &str) -> Result<(), LimitViolation> {
    if src.len() > MAX_BYTES {
        return Err(LimitViolation::TooLarge {
            offset: 0,
            message: format!("code is {} bytes; the limit is {MAX_BYTES} bytes", src.len()),
        });
    }
    let bytes = src.as_bytes();
    // Both whole-text checks are written so they vectorise (memchr, a counting loop); the
    // offsets are only searched for when a limit is crossed.
    if bytes.contains(&0) {
        let offset = bytes.iter().position(|&b| b == 0).unwrap_or(0);
        return Err(LimitViolation::NulByte { offset });
    }
    if bytes.len() >= MAX_LINES && count_newlines(bytes) >= MAX_LINES {
        let mut newlines = 0usize;
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' {
                newlines += 1;
                if newlines >= MAX_LINES && i + 1 < bytes.len() {
                    return Err(LimitViolation::TooLarge {
                        offset: i + 1,
                        message: format!("code has more than {MAX_LINES} lines"),
                    });
                }
            }
        }
    }
    Scanner::new(bytes).run()
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    /// Depth-adding tokens since the last comma, one counter per open bracket.
    levels: Vec<usize>,
    /// Counter of the innermost level.
    cur: usize,
    /// Sum of `levels`, kept so the estimate is O(1).
    outer: usize,
    indents: Vec<usize>,
}

impl<'a> Scanner<'a> {
    fn new(b: &'a [u8]) -> Self {
        Self { b, i: 0, levels: Vec::new(), cur: 0, outer: 0, indents: vec![0] }
    }

    fn too_deep(&self, offset: usize, what: &str) -> LimitViolation {
        LimitViolation::TooDeep { offset, message: what.to_owned() }
    }

    fn bump(&mut self, n: usize) -> Result<(), LimitViolation> {
        self.cur += n;
        if self.outer + self.cur > MAX_EXPR_ESTIMATE {
            return Err(self.too_deep(
                self.i,
                &format!("expression is too deeply nested (estimate over {MAX_EXPR_ESTIMATE})"),
            ));
        }
        Ok(())
    }

    fn open(&mut self) -> Result<(), LimitViolation> {
        self.bump(1)?;
        if self.levels.len() >= MAX_NESTING {
            return Err(self.too_deep(self.i, &format!("brackets nest deeper than {MAX_NESTING} levels")));
        }
        self.levels.push(self.cur);
        self.outer += self.cur;
        self.cur = 0;
        Ok(())
    }

    fn close(&mut self) {
        if let Some(prev) = self.levels.pop() {
            self.outer -= prev;
            self.cur = prev;
        }
    }

    fn run(mut self) -> Result<(), LimitViolation> {
        let mut line_start = true;
        while self.i < self.b.len() {
            if line_start && self.levels.is_empty() {
                line_start = false;
                self.indentation()?;
                continue;
            }
            let class = CLASS[usize::from(self.b[self.i])];
            // The common classes first, as plain branches, before the rarer ones' dispatch.
            if class == WORD {
                self.word()?;
                continue;
            }
            if class == OP {
                self.bump(1)?;
                self.i += 1;
                continue;
            }
            match class {
                SPACE => {
                    // Runs of spaces, digits' neighbours and other inert bytes are common:
                    // skip them without going back through the dispatch.
                    self.i += 1;
                    while self.b.get(self.i).is_some_and(|&c| CLASS[usize::from(c)] == SPACE) {
                        self.i += 1;
                    }
                }
                NEWLINE => {
                    self.i += 1;
                    line_start = true;
                    if self.levels.is_empty() {
                        self.cur = 0;
                    }
                }
                COMMENT => {
                    while self.i < self.b.len() && !matches!(self.b[self.i], b'\n' | b'\r') {
                        self.i += 1;
                    }
                }
                CONTINUATION => {
                    // A line continuation joins lines: the next line's indentation is not
                    // significant.
                    self.i += 1;
                    if self.b.get(self.i) == Some(&b'\r') {
                        self.i += 1;
                    }
                    if self.b.get(self.i) == Some(&b'\n') {
                        self.i += 1;
                    }
                }
                OPEN => {
                    self.open()?;
                    self.i += 1;
                }
                CLOSE => {
                    self.close();
                    self.i += 1;
                }
                SEPARATOR => {
                    self.cur = 0;
                    self.i += 1;
                }
                QUOTE => self.string(false)?,
                _ => self.i += 1,
            }
        }
        Ok(())
    }

    /// Measure a logical line's indentation and keep the indentation stack.
    fn indentation(&mut self) -> Result<(), LimitViolation> {
        let mut col = 0usize;
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b' ' => col += 1,
                b'\t' => col = (col / 8 + 1) * 8,
                b'\x0c' => col = 0,
                _ => break,
            }
            self.i += 1;
        }
        if matches!(self.b.get(self.i), None | Some(b'\n' | b'\r' | b'#')) {
            return Ok(());
        }
        let top = self.indents.last().copied().unwrap_or(0);
        if col > top {
            self.indents.push(col);
            if self.indents.len() > MAX_NESTING + 1 {
                return Err(
                    self.too_deep(self.i, &format!("indentation nests deeper than {MAX_NESTING} levels"))
                );
            }
        } else {
            while self.indents.len() > 1 && self.indents.last().is_some_and(|&t| col < t) {
                self.indents.pop();
            }
        }
        Ok(())
    }

    /// An identifier, keyword or number; a string prefix hands over to [`Self::string`].
    fn word(&mut self) -> Result<(), LimitViolation> {
        let start = self.i;
        while self.b.get(self.i).is_some_and(|&c| CLASS[usize::from(c)] == WORD) {
            self.i += 1;
        }
        let word = &self.b[start..self.i];
        if matches!(self.b.get(self.i), Some(b'\'' | b'"')) && word.len() <= 2 {
            let lower: Vec<u8> = word.iter().map(u8::to_ascii_lowercase).collect();
            match lower.as_slice() {
                b"f" | b"rf" | b"fr" => return self.string(true),
                b"r" | b"u" | b"b" | b"br" | b"rb" => return self.string(false),
                _ => {}
            }
        }
        if is_depth_keyword(word) {
            self.bump(1)?;
        }
        Ok(())
    }

    /// A string literal starting at the quote under the cursor. Plain strings are opaque;
    /// f-string contents are code, so their brackets and operators count.
    fn string(&mut self, formatted: bool) -> Result<(), LimitViolation> {
        let q = self.b[self.i];
        let triple = self.b.get(self.i + 1) == Some(&q) && self.b.get(self.i + 2) == Some(&q);
        self.i += if triple { 3 } else { 1 };
        let mut depth = self.levels.len();
        while self.i < self.b.len() {
            let c = self.b[self.i];
            if c == b'\\' {
                self.i += 2;
                continue;
            }
            if c == q {
                if !triple {
                    self.i += 1;
                    return Ok(());
                }
                if self.b.get(self.i + 1) == Some(&q) && self.b.get(self.i + 2) == Some(&q) {
                    self.i += 3;
                    return Ok(());
                }
            }
            if !triple && matches!(c, b'\n' | b'\r') {
                // Unterminated; the parser reports it.
                return Ok(());
            }
            if formatted {
                match c {
                    b'{' | b'(' | b'[' => {
                        depth += 1;
                        if depth > MAX_NESTING {
                            return Err(self.too_deep(
                                self.i,
                                &format!("f-string brackets nest deeper than {MAX_NESTING} levels"),
                            ));
                        }
                        self.bump(1)?;
                    }
                    b'}' | b')' | b']' => depth = depth.saturating_sub(1),
                    b'+' | b'-' | b'*' | b'/' | b'%' | b'@' | b'&' | b'|' | b'^' | b'~' | b'<' | b'>'
                    | b'.' | b':' | b'!' => self.bump(1)?,
                    c if c == b'_' || c.is_ascii_alphabetic() => {
                        // Literal text and expressions alike: counting both keeps the
                        // estimate an upper bound whatever the parser takes for code.
                        let start = self.i;
                        while self.b.get(self.i).is_some_and(|&c| c == b'_' || c.is_ascii_alphanumeric()) {
                            self.i += 1;
                        }
                        if is_depth_keyword(&self.b[start..self.i]) {
                            self.bump(1)?;
                        }
                        continue;
                    }
                    _ => {}
                }
            }
            self.i += 1;
        }
        Ok(())
    }
}

/// Newlines in `bytes`, summed in 255-byte chunks of `u8` counters so the loop vectorises.
fn count_newlines(bytes: &[u8]) -> usize {
    bytes.chunks(255).map(|chunk| usize::from(chunk.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n')))).sum()
}

// Byte classes of the pre-scan's main loop.
const SPACE: u8 = 0;
const WORD: u8 = 1;
const OP: u8 = 2;
const NEWLINE: u8 = 3;
const COMMENT: u8 = 4;
const CONTINUATION: u8 = 5;
const OPEN: u8 = 6;
const CLOSE: u8 = 7;
const SEPARATOR: u8 = 8;
const QUOTE: u8 = 9;

/// The class of every byte: one table load instead of a chain of comparisons per byte.
static CLASS: [u8; 256] = {
    let mut table = [SPACE; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        table[i] = match c {
            b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | 0x80..=0xff => WORD,
            b'+' | b'-' | b'*' | b'/' | b'%' | b'@' | b'&' | b'|' | b'^' | b'~' | b'<' | b'>' | b'.'
            | b':' | b'!' => OP,
            b'\n' | b'\r' => NEWLINE,
            b'#' => COMMENT,
            b'\\' => CONTINUATION,
            b'(' | b'[' | b'{' => OPEN,
            b')' | b']' | b'}' => CLOSE,
            b',' | b';' => SEPARATOR,
            b'\'' | b'"' => QUOTE,
            _ => SPACE,
        };
        i += 1;
    }
    table
};

/// Keywords that can add a level to an expression tree without brackets.
fn is_depth_keyword(word: &[u8]) -> bool {
    matches!(
        word,
        b"not" | b"and" | b"or" | b"if" | b"else" | b"lambda" | b"await" | b"yield" | b"in" | b"is"
    )
}
