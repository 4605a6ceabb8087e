//! Python text helpers: literals and black-compatible line layout.
//!
//! The generator lays out its own output the way black (line length 88) would for the
//! shapes it emits, so generated files are stable under `black --check` and diffs between
//! versions stay small.

/// Black's default line length.
pub const LINE_LENGTH: usize = 88;

/// A float literal Python reads back to the same value (`30.0`, `0.1`, `1e-07` style).
pub fn float_literal(v: f64) -> String {
    // Rust's Debug form is the shortest round-tripping representation and always has a
    // '.' or an exponent, both valid Python float syntax.
    format!("{v:?}")
}

/// Length of a line in characters, as black measures it.
pub fn width(s: &str) -> usize {
    s.chars().count()
}

/// Lays out `prefix(args...)suffix` at `indent` spaces like black's right-hand split: one
/// line if it fits, else the arguments on one indented line, else one argument per line
/// with a trailing comma. `prefix` ends with the opening bracket, `suffix` starts with the
/// closing one.
pub fn call_lines(indent: usize, prefix: &str, args: &[String], suffix: &str) -> Vec<String> {
    let pad = " ".repeat(indent);
    let joined = args.join(", ");
    let one = format!("{pad}{prefix}{joined}{suffix}");
    if width(&one) <= LINE_LENGTH || args.is_empty() {
        return vec![one];
    }
    let inner_pad = " ".repeat(indent + 4);
    let hugged = format!("{inner_pad}{joined}");
    let mut lines = vec![format!("{pad}{prefix}")];
    if width(&hugged) <= LINE_LENGTH {
        lines.push(hugged);
    } else {
        for a in args {
            lines.push(format!("{inner_pad}{a},"));
        }
    }
    lines.push(format!("{pad}{suffix}"));
    lines
}

/// Keeps only characters that are harmless inside a Python docstring or comment (no
/// quotes, no backslashes, no control characters), folds whitespace, and word-wraps the
/// result to `line_width` columns, at most `max_lines` lines: user text must never be able
/// to end a string or start a statement.
pub fn docstring_lines(s: &str, line_width: usize, max_lines: usize) -> Vec<String> {
    let mut cleaned = String::new();
    for c in s.chars() {
        let c = if c.is_whitespace() { ' ' } else { c };
        // Runs of underscores collapse to one, so no dunder name appears even in text.
        if c == '_' && cleaned.ends_with('_') {
            continue;
        }
        if c.is_ascii_alphanumeric() || " .,;:()-_%/+=<>'!?&#@*[]{}|~^$".contains(c) {
            cleaned.push(c);
        }
    }
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in cleaned.split_whitespace() {
        let word: String = word.chars().take(line_width).collect();
        if !cur.is_empty() && width(&cur) + 1 + width(&word) > line_width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(&word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            while width(last) + 4 > line_width {
                last.pop();
            }
            last.push_str(" ...");
        }
    }
    lines
}

/// Comment lines `# {label}: {text}` at `indent`, word-wrapped to the line length with
/// continuation lines indented under the text (black never wraps comments, so the
/// generator does).
pub fn comment_lines(indent: usize, label: &str, text: &str) -> Vec<String> {
    let pad = " ".repeat(indent);
    let first = format!("{pad}# {label}: ");
    let cont = format!("{pad}#   ");
    let mut out = Vec::new();
    let mut cur = first.clone();
    let mut cur_has_word = false;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if cur_has_word && width(&cur) + 1 + width(word) > LINE_LENGTH {
            out.push(std::mem::replace(&mut cur, cont.clone()));
            cur_has_word = false;
        }
        if cur_has_word {
            cur.push(' ');
        }
        cur.push_str(word);
        cur_has_word = true;
    }
    out.push(cur.trim_end().to_owned());
    out
}

/// A Python string literal for `s` that only ever holds printable ASCII: quotes and
/// backslashes are escaped and everything else is spelled `\xNN`, `\uNNNN` or
/// `\UNNNNNNNN`, so no user text can end the literal or change how the module reads.
/// Quoted as Black quotes (double quotes unless that needs more escapes), so the formatter
/// leaves generated code as it is.
pub fn string_literal(s: &str) -> String {
    let quote = if s.matches('"').count() > s.matches('\'').count() { '\'' } else { '"' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xff => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if u32::from(c) <= 0xffff => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push(quote);
    out
}
