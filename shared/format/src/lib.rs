//! Python source formatted the way Black formats it, by ruff's formatter in process: what
//! `validate-code` answers as `formatted_code`, and what the worker commits of a model's
//! answer, so every stored strategy reads the same whoever wrote it.
//!
//! The formatter is third-party code fed hostile input. Its input is first bounded by the
//! validator's pre-scan (size, lines, nesting), and it runs on its own thread with a large
//! stack, where a panic is an error, never a crash.

use std::panic::{AssertUnwindSafe, catch_unwind};

use ruff_python_formatter::{PyFormatOptions, format_module_source};

/// Stack of the formatting thread: the pre-scan admits expressions about a thousand deep,
/// and the formatter recurses per level (reserved, not committed, until used).
const STACK_BYTES: usize = 256 * 1024 * 1024;
/// Longest error message kept (the parser quotes tokens, which can be huge).
const MAX_MESSAGE_CHARS: usize = 200;

/// Why code could not be formatted; the code is then used as it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Over the validator's size or nesting limits: not handed to the formatter at all.
    #[error("not formatted: {0}")]
    Limits(#[from] algoagent_validate::LimitViolation),
    /// Not valid Python.
    #[error("line {line}: {message}")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// The formatter failed (or panicked) on code it parsed.
    #[error("the formatter failed: {0}")]
    Formatter(String),
}

/// `source` formatted as Black would (88 columns, double quotes, 4-space indents).
/// Formatting formatted code changes nothing.
pub fn format_python(source: &str) -> Result<String, FormatError> {
    algoagent_validate::prescan(source)?;
    let owned = source.to_owned();
    let thread = std::thread::Builder::new()
        .name("python-format".to_owned())
        .stack_size(STACK_BYTES)
        .spawn(move || catch_unwind(AssertUnwindSafe(|| format_on_this_thread(&owned))))
        .map_err(|e| FormatError::Formatter(format!("cannot start the formatting thread: {e}")))?;
    match thread.join() {
        Ok(Ok(result)) => result,
        Ok(Err(_)) | Err(_) => Err(FormatError::Formatter("it panicked".to_owned())),
    }
}

/// The formatter itself, on pre-scanned code.
fn format_on_this_thread(source: &str) -> Result<String, FormatError> {
    match format_module_source(source, PyFormatOptions::default()) {
        Ok(printed) => Ok(printed.into_code()),
        Err(err) => {
            let message: String = err.to_string().chars().take(MAX_MESSAGE_CHARS).collect();
            match (&err, err.range()) {
                (ruff_python_formatter::FormatModuleError::ParseError(_), Some(range)) => {
                    let offset = range.start().to_usize().min(source.len());
                    let line = source.as_bytes()[..offset].iter().filter(|b| **b == b'\n').count() + 1;
                    Err(FormatError::Syntax { line, message })
                }
                _ => Err(FormatError::Formatter(message)),
            }
        }
    }
}
