//! Byte offset to line/column conversion. The parser reports byte offsets (`TextSize`);
//! findings carry 1-based lines and 1-based character columns.

use std::cell::OnceCell;

/// Start offsets of every line of one source text, computed on the first lookup (accepted
/// code has no findings, so it never pays for the index).
#[derive(Debug)]
pub struct LineIndex<'a> {
    source: &'a str,
    starts: OnceCell<Vec<usize>>,
}

impl<'a> LineIndex<'a> {
    /// Index `source`; lines end at `\n`, `\r\n` or a lone `\r`, as Python's tokenizer sees them.
    pub fn new(source: &'a str) -> Self {
        Self { source, starts: OnceCell::new() }
    }

    fn starts(&self) -> &[usize] {
        self.starts.get_or_init(|| {
            let bytes = self.source.as_bytes();
            let mut starts = Vec::with_capacity(bytes.len() / 32 + 1);
            starts.push(0);
            for (i, &b) in bytes.iter().enumerate() {
                match b {
                    b'\n' => starts.push(i + 1),
                    b'\r' if bytes.get(i + 1) != Some(&b'\n') => starts.push(i + 1),
                    _ => {}
                }
            }
            starts
        })
    }

    /// 1-based line and 1-based character column of a byte offset (clamped to the text).
    pub fn locate(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.source.len());
        let starts = self.starts();
        let line = match starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = starts.get(line).copied().unwrap_or(0);
        let prefix = self.source.get(start..offset);
        // An offset inside a multi-byte character falls back to counting bytes.
        let col = prefix.map_or(offset - start, |p| p.chars().count());
        (to_u32(line + 1), to_u32(col + 1))
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Lines that are neither blank nor only a comment.
pub fn count_loc(source: &str) -> usize {
    source
        .as_bytes()
        .split(|&b| b == b'\n')
        .filter(|line| {
            line.iter()
                .find(|&&b| !matches!(b, b' ' | b'\t' | b'\r' | b'\x0c' | b'\x0b'))
                .is_some_and(|&b| b != b'#')
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_lines_and_character_columns() {
        let idx = LineIndex::new("ab\nçd\r\nx");
        assert_eq!(idx.locate(0), (1, 1));
        assert_eq!(idx.locate(3), (2, 1));
        assert_eq!(idx.locate(5), (2, 2));
        assert_eq!(idx.locate(8), (3, 1));
        assert_eq!(idx.locate(99), (3, 2));
    }

    #[test]
    fn blank_and_comment_lines_are_not_code() {
        assert_eq!(count_loc("x = 1\n\n   # note\r\n\t\n  y = 2  # why\r\n"), 2);
        assert_eq!(count_loc(""), 0);
    }
}
