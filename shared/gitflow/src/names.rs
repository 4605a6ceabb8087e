//! Defensive checks on every value that ends up in a ref name, a tree path or a commit message.
//!
//! The callers validate strategy names already (`StrategyName::parse`); these checks run again
//! here because a bad name would become a ref or a path inside the repository.

use super::error::GitError;

/// The longest reason kept in a commit message; longer text is cut (the database keeps it all).
const MAX_REASON_CHARS: usize = 4000;
/// The longest tag name accepted.
const MAX_TAG_LEN: usize = 128;

/// Checks a strategy name against `^[A-Za-z][A-Za-z0-9_-]{0,63}$`.
pub(crate) fn check_strategy_name(name: &str) -> Result<(), GitError> {
    let refuse = |reason| GitError::InvalidName { what: "strategy name", value: name.to_owned(), reason };
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(refuse("it is empty")),
        Some(c) if !c.is_ascii_alphabetic() => return Err(refuse("it must start with a letter")),
        Some(_) => {}
    }
    if name.len() > 64 {
        return Err(refuse("it is longer than 64 characters"));
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(refuse("only letters, digits, '_' and '-' are allowed"));
    }
    Ok(())
}

/// Checks a tag name: `git check-ref-format` rules for `refs/tags/<tag>`, plus no whitespace
/// or control characters, no `..`, no leading `-`, not `@`, at most 128 bytes.
pub(crate) fn check_tag_name(tag: &str) -> Result<(), GitError> {
    let refuse = |reason| GitError::InvalidName { what: "tag name", value: tag.to_owned(), reason };
    if tag.is_empty() {
        return Err(refuse("it is empty"));
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(refuse("it is longer than 128 bytes"));
    }
    // Checked before libgit2 sees the name: it cannot take NUL bytes.
    if tag.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refuse("it contains whitespace or control characters"));
    }
    if tag.contains("..") {
        return Err(refuse("it contains \"..\""));
    }
    if tag.starts_with('-') {
        return Err(refuse("it starts with '-'"));
    }
    if tag == "@" {
        return Err(refuse("\"@\" means HEAD to git"));
    }
    if !git2::Tag::is_valid_name(tag) || !git2::Reference::is_valid_name(&format!("refs/tags/{tag}")) {
        return Err(refuse("it breaks git's reference name rules (check-ref-format)"));
    }
    Ok(())
}

/// Checks a run id (a UUID in practice): 1 to 64 ASCII letters, digits or '-'.
pub(crate) fn check_run_id(run_id: &str) -> Result<(), GitError> {
    if run_id.is_empty()
        || run_id.len() > 64
        || !run_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(GitError::input("run id", format!("{run_id:?} is not 1 to 64 letters, digits or '-'")));
    }
    Ok(())
}

/// Checks the origin of a version: "generated" or "fixed".
pub(crate) fn check_origin(origin: &str) -> Result<(), GitError> {
    match origin {
        "generated" | "fixed" => Ok(()),
        other => Err(GitError::input("origin", format!("{other:?} is neither \"generated\" nor \"fixed\""))),
    }
}

/// Checks a file name inside a strategy directory: one path component, no hidden files.
pub(crate) fn check_file_name(file: &str) -> Result<(), GitError> {
    let ok = !file.is_empty()
        && file.len() <= 255
        && !file.starts_with('.')
        && file.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(GitError::input("file name", format!("{file:?} is not a plain file name like \"strategy.py\"")))
    }
}

/// Checks a commit id given by a user: 4 to 40 hexadecimal digits (no revision expressions).
pub(crate) fn check_commit_hex(commit: &str) -> Result<(), GitError> {
    if (4..=40).contains(&commit.len()) && commit.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(GitError::input("commit", format!("{commit:?} is not 4 to 40 hexadecimal digits")))
    }
}

/// Makes free text safe for a commit message body: no NUL or control characters other than
/// newlines and tabs, trimmed, capped in length, never empty.
pub(crate) fn clean_text(text: &str, empty: &str) -> String {
    let cleaned: String =
        text.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').take(MAX_REASON_CHARS).collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() { empty.to_owned() } else { trimmed.to_owned() }
}

/// The first line of free text, for commit subjects.
pub(crate) fn first_line(text: &str, max_chars: usize) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    if line.chars().count() > max_chars {
        let mut cut: String = line.chars().take(max_chars.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_names_follow_the_pattern() {
        assert!(check_strategy_name("RSI_Reversal-2").is_ok());
        for bad in ["", "1abc", "_a", "a/b", "a..b", "a b", &"a".repeat(65), "ä"] {
            assert!(check_strategy_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tag_names_follow_check_ref_format() {
        for good in ["v1.0.0", "RSI/v1", "deploy-2024_01"] {
            assert!(check_tag_name(good).is_ok(), "{good:?} refused");
        }
        for bad in [
            "", "a..b", "a b", "-x", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", "x.lock", "a/", "/a",
            "a@{1}", "a\0b", "@", "a//b",
        ] {
            assert!(check_tag_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn commit_ids_must_be_hex() {
        assert!(check_commit_hex("abc123").is_ok());
        for bad in ["abc", "main", "HEAD~1", "abc123^", &"a".repeat(41)] {
            assert!(check_commit_hex(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn text_is_cleaned_for_messages() {
        assert_eq!(clean_text(" a\0b\u{1b}c \n", "x"), "abc");
        assert_eq!(clean_text(" \n ", "none"), "none");
        assert_eq!(first_line("hello\nworld", 80), "hello");
        assert_eq!(first_line("abcdef", 4), "abc…");
    }
}
