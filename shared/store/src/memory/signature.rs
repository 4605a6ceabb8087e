//! Error signatures: the shape of an error without the details that differ between two
//! occurrences of the same mistake (line numbers, addresses, numbers, paths, quoted names),
//! so a trigram comparison of signatures finds "the same kind of failure".

/// The longest signature kept, in characters.
const MAX_LEN: usize = 500;

/// Normalises an error (a Python traceback, validator findings, any message) into a
/// one-line signature: traceback frames become `in <function>`, source echo and caret
/// lines are dropped, and hex addresses, paths, quoted strings and numbers become
/// `<addr>`, `<path>`, `<str>` and `<n>`.
///
/// ```
/// let sig = algoagent_store::memory::signature(
///     "Traceback (most recent call last):\n  File \"/tmp/s.py\", line 12, in next\n    \
///      self.buy(size=x)\n    ^^^^^^^^\nNameError: name 'x' is not defined",
/// );
/// assert_eq!(sig, "in next ; NameError: name <str> is not defined");
/// ```
pub fn signature(error: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut after_frame = false;
    for raw in error.lines() {
        let line = raw.trim();
        let was_frame = std::mem::replace(&mut after_frame, false);
        if line.is_empty()
            || line.starts_with("Traceback (most recent call last)")
            || line.chars().all(|c| matches!(c, '^' | '~' | ' '))
        {
            continue;
        }
        if let Some(frame) = line.strip_prefix("File \"") {
            if let Some(at) = frame.find(", in ") {
                parts.push(format!("in {}", frame[at + 5..].trim()));
            }
            after_frame = true;
            continue;
        }
        // The source line Python echoes under a frame says nothing about the error kind.
        if was_frame && raw.starts_with(' ') {
            continue;
        }
        let normalised = normalise_line(line);
        if parts.last() != Some(&normalised) {
            parts.push(normalised);
        }
    }
    let joined = parts.join(" ; ");
    match joined.char_indices().nth(MAX_LEN) {
        Some((cut, _)) => joined[..cut].to_owned(),
        None => joined,
    }
}

/// Replaces the varying parts of one line with placeholders and collapses whitespace.
fn normalise_line(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev = if i > 0 { Some(chars[i - 1]) } else { None };
        let word_before = prev.is_some_and(|p| p.is_alphanumeric() || p == '_');
        if (c == '\'' || c == '"')
            && !word_before
            && let Some(len) = chars[i + 1..].iter().take(200).position(|&q| q == c)
        {
            out.push_str("<str>");
            i += len + 2;
            continue;
        }
        if c == '0' && !word_before && matches!(chars.get(i + 1), Some('x' | 'X')) {
            let len = chars[i + 2..].iter().take_while(|h| h.is_ascii_hexdigit()).count();
            if len > 0 {
                out.push_str("<addr>");
                i += len + 2;
                continue;
            }
        }
        if c == '/' && !word_before && prev.is_none_or(|p| p.is_whitespace() || "(<[=:,".contains(p)) {
            let len = chars[i..].iter().take_while(|p| !p.is_whitespace() && !",:)>]".contains(**p)).count();
            if len > 1 {
                out.push_str("<path>");
                i += len;
                continue;
            }
        }
        if c.is_ascii_digit() && !word_before {
            let len =
                chars[i..].iter().take_while(|d| d.is_ascii_digit() || **d == '.' || **d == '_').count();
            out.push_str("<n>");
            i += len;
            continue;
        }
        if c.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
        i += 1;
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn the_same_mistake_in_different_code_has_the_same_signature() {
        let a = "Traceback (most recent call last):\n  File \"/tmp/a/strategy.py\", line 31, in next\n    \
                 if self.rsi[-1] < 30:\nIndexError: index 31 is out of bounds for axis 0 with size 12";
        let b = "Traceback (most recent call last):\n  File \"/sandbox/x.py\", line 7, in next\n    \
                 v = self.sma[-2]\nIndexError: index 2 is out of bounds for axis 0 with size 1";
        assert_eq!(signature(a), signature(b));
        assert_eq!(
            signature(a),
            "in next ; IndexError: index <n> is out of bounds for axis <n> with size <n>"
        );
    }

    #[test]
    fn addresses_paths_and_identifiers_with_digits() {
        assert_eq!(
            signature("object at 0x7f3a2b1c has no attribute sma_50 in /usr/lib/python3/x.py:12"),
            "object at <addr> has no attribute sma_50 in <path>:<n>"
        );
        assert_eq!(signature("line 3, col 5: [imports] import of 'os' is not allowed"), {
            "line <n>, col <n>: [imports] import of <str> is not allowed"
        });
        assert_eq!(signature("it doesn't matter"), "it doesn't matter");
    }

    #[test]
    fn long_errors_are_cut_on_a_char_boundary() {
        let sig = signature(&"é".repeat(2_000));
        assert_eq!(sig.chars().count(), super::MAX_LEN);
    }
}
