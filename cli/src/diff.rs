//! A unified diff of two texts, line by line, from their longest common subsequence (the
//! `similar` crate is not a dependency; strategy files are a few hundred lines, so the
//! quadratic table costs little). Output follows `diff -u`: `---`/`+++` headers, `@@` hunks
//! with three lines of context.

/// Lines of context around each change.
const CONTEXT: usize = 3;
/// Above this many table cells the texts are shown as one replacement instead.
const MAX_CELLS: usize = 16_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Line `old` of the old text equals line `new` of the new one.
    Equal(usize, usize),
    /// Line of the old text removed.
    Delete(usize),
    /// Line of the new text added.
    Insert(usize),
}

/// The edit script turning `old` into `new`.
fn script(old: &[&str], new: &[&str]) -> Vec<Op> {
    let (n, m) = (old.len(), new.len());
    if n.saturating_mul(m) > MAX_CELLS {
        return (0..n).map(Op::Delete).chain((0..m).map(Op::Insert)).collect();
    }
    // lcs[i][j]: length of the LCS of old[i..] and new[j..].
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] =
                if old[i] == new[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops = Vec::with_capacity(n + m);
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            ops.push(Op::Equal(i, j));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(Op::Insert(j));
            j += 1;
        } else {
            ops.push(Op::Delete(i));
            i += 1;
        }
    }
    // Deletions before insertions within a change, as diff -u prints them.
    let mut k = 0;
    while k < ops.len() {
        let start = k;
        while k < ops.len() && !matches!(ops[k], Op::Equal(..)) {
            k += 1;
        }
        ops[start..k].sort_by_key(|op| matches!(op, Op::Insert(_)));
        k += 1;
    }
    ops
}

/// `diff -u` of `old` and `new` under the given file labels; empty when they are equal.
pub fn unified(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let ops = script(&a, &b);
    let changes: Vec<usize> =
        ops.iter().enumerate().filter(|(_, op)| !matches!(op, Op::Equal(..))).map(|(k, _)| k).collect();
    if changes.is_empty() {
        return String::new();
    }
    // Hunks: ranges of `ops` around changes, merged when their context would touch.
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &k in &changes {
        let (lo, hi) = (k.saturating_sub(CONTEXT), (k + CONTEXT + 1).min(ops.len()));
        match hunks.last_mut() {
            Some(last) if lo <= last.1 => last.1 = hi,
            _ => hunks.push((lo, hi)),
        }
    }
    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    for (lo, hi) in hunks {
        let slice = &ops[lo..hi];
        // Where the hunk starts in each text: the first line it shows, or the line before
        // the insertion point when it shows none (as diff -u numbers an empty range).
        let (mut old_start, mut new_start) = position(&ops[..lo]);
        let old_len = slice.iter().filter(|op| !matches!(op, Op::Insert(_))).count();
        let new_len = slice.iter().filter(|op| !matches!(op, Op::Delete(_))).count();
        if old_len > 0 {
            old_start += 1;
        }
        if new_len > 0 {
            new_start += 1;
        }
        out.push_str(&format!("@@ -{} +{} @@\n", range(old_start, old_len), range(new_start, new_len)));
        for op in slice {
            match *op {
                Op::Equal(i, _) => out.push_str(&format!(" {}\n", a[i])),
                Op::Delete(i) => out.push_str(&format!("-{}\n", a[i])),
                Op::Insert(j) => out.push_str(&format!("+{}\n", b[j])),
            }
        }
    }
    out
}

/// Lines of the old and new texts consumed by `ops`.
fn position(ops: &[Op]) -> (usize, usize) {
    ops.iter().fold((0, 0), |(o, n), op| match op {
        Op::Equal(..) => (o + 1, n + 1),
        Op::Delete(_) => (o + 1, n),
        Op::Insert(_) => (o, n + 1),
    })
}

fn range(start: usize, len: usize) -> String {
    if len == 1 { start.to_string() } else { format!("{start},{len}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_an_empty_diff() {
        assert_eq!(unified("a\nb\n", "a\nb\n", "x", "y"), "");
    }

    #[test]
    fn a_changed_line_is_a_deletion_then_an_insertion_in_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        assert_eq!(
            unified(old, new, "a", "b"),
            "--- a\n+++ b\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn distant_changes_make_two_hunks_and_pure_insertions_number_like_diff_u() {
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let mut lines: Vec<String> = (1..=20).map(|i| i.to_string()).collect();
        lines.insert(2, "two and a half".into());
        lines.retain(|l| l != "19");
        let new: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let diff = unified(&old, &new, "a", "b");
        assert!(diff.contains("@@ -1,5 +1,6 @@\n 1\n 2\n+two and a half\n 3\n"), "{diff}");
        assert!(diff.contains("@@ -16,5 +17,4 @@\n 16\n 17\n 18\n-19\n 20\n"), "{diff}");
        assert_eq!(unified("", "x\n", "a", "b"), "--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n");
    }
}
