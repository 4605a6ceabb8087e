//! Byte offset to line/column conversion. The parser reports byte offsets (`TextSize`);
//! findings carry 1-based lines and 1-based character columns.

/// Start offsets of every line of one source text.
#[derive(Debug)]
pub struct LineIndex<'a> {
    source: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Index `source`; lines end at `\n`, `\r\n` or a lone `\r`, as Python's tokenizer sees them.
    pub fn new(source: &'a str) -> Self {
        let bytes = source.as_bytes();
        let mut starts = Vec::with_capacity(source.len() / 32 + 1);
        starts.push(0);
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => starts.push(i + 1),
                b'\r' if bytes.get(i + 1) != Some(&b'\n') => starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        Self { source, starts }
    }

    /// 1-based line and 1-based character column of a byte offset (clamped to the text).
    pub fn locate(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.source.len());
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.starts.get(line).copied().unwrap_or(0);
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
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !t.is_empty() && !t.starts_with('#')
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
}
