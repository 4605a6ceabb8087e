//! `validate`: pre-scan the limits, parse, walk every node with the safety rules, check the
//! structure, and assemble the report.

use std::panic::{AssertUnwindSafe, catch_unwind};

use ruff_python_ast::token::{TokenKind, Tokens};
use ruff_python_ast::{Mod, PythonVersion};
use ruff_python_parser::{Mode, ParseError, ParseOptions, Parsed, parse_unchecked};
use ruff_text_size::Ranged;

use super::checker::{Checker, off};
use super::dismantle::dismantle;
use super::limits::{LimitViolation, prescan};
use super::lines::{LineIndex, count_loc};
use super::names::nfkc;
use super::report::{Metadata, Report, ValidateOptions};
use super::rules::RuleId;
use super::{structure, tamper};

/// Longest syntax-error message kept (the parser quotes tokens, which can be huge).
const MAX_MESSAGE_CHARS: usize = 200;
/// The Python the sandbox image runs; newer syntax is refused.
const SANDBOX_PYTHON: PythonVersion = PythonVersion::PY311;

/// Validate Python strategy code. Never panics; time and stack are bounded on any input
/// (the pre-scan refuses oversized and over-nested code before the parser sees it).
pub fn validate(code: &str, opts: &ValidateOptions) -> Report {
    let lines = LineIndex::new(code);
    let mut ck = Checker::new(opts, &lines);
    let mut metadata = Metadata { loc: count_loc(code), ..Metadata::default() };
    if let Err(v) = prescan(code) {
        let (rule, offset, message) = limit_refusal(v);
        ck.report(rule, offset, message);
        return Report { findings: ck.finish_findings(), metadata };
    }
    tamper::check_encoding(&mut ck, code);
    let Some(parsed) = parse(code) else {
        ck.report(RuleId::Syntax, 0, PARSER_FAILED.to_owned());
        return Report { findings: ck.finish_findings(), metadata };
    };
    if let Some(e) = parsed.errors().first() {
        ck.report(RuleId::Syntax, off(e.location.start()), syntax_message(e));
    }
    // Syntax newer than the sandbox's Python would fail there; it is refused here, and the
    // (complete) tree is still checked so the report names everything at once.
    for e in parsed.unsupported_syntax_errors() {
        // "Cannot use type parameter lists on Python 3.11 (syntax was added in Python 3.12)"
        ck.report(RuleId::Syntax, off(e.range.start()), e.to_string());
    }
    // The lexer has already NFKC-normalised identifiers (`ｅｖａｌ` is `eval` in the tree,
    // as in Python); the look-alike spelling is reported from the tokens.
    if !code.is_ascii() {
        report_normalized(&mut ck, code, parsed.tokens());
    }
    let has_errors = parsed.has_invalid_syntax();
    let Some(module) = parsed.into_syntax().module() else {
        return Report { findings: ck.finish_findings(), metadata };
    };
    let body = module.body;
    if !has_errors {
        ck.body(&body);
        ck.resolve_private();
        ck.resolve_dispatch();
        if !ck.too_deep {
            structure::check(&mut ck, &body);
        }
        metadata.functions = std::mem::take(&mut ck.functions);
        metadata.classes = std::mem::take(&mut ck.classes);
        metadata.imports = std::mem::take(&mut ck.imports);
        metadata.indicators = std::mem::take(&mut ck.indicators);
    }
    // A tree the walk could not finish (or did not start) may be deeper than drop glue's
    // recursion can afford on a small stack.
    if has_errors || ck.too_deep {
        dismantle(body);
    }
    Report { findings: ck.finish_findings(), metadata }
}

/// Why a module's entry point could not be chosen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntrypointError {
    /// The code does not get past the size limits or the parser.
    #[error("the code does not parse: {0}")]
    Unparsable(String),
    /// No class derives from `Strategy` (directly, through `backtesting.lib` or the module).
    #[error(
        "no Strategy subclass found (directly, through backtesting.lib's SignalStrategy or TrailingStrategy, or through a class of the file)"
    )]
    NoStrategy,
    /// Several concrete strategy classes; the caller must name one.
    #[error("several Strategy subclasses ({})", .0.join(", "))]
    Several(Vec<String>),
}

/// The one concrete strategy class of `code`, resolved through the class hierarchy (the
/// file's own classes and backtesting.lib's documented bases), for callers that run user
/// code without being told its entry point.
pub fn find_entrypoint(code: &str) -> Result<String, EntrypointError> {
    if let Err(v) = prescan(code) {
        return Err(EntrypointError::Unparsable(limit_refusal(v).2));
    }
    let Some(parsed) = parse(code) else {
        return Err(EntrypointError::Unparsable(PARSER_FAILED.to_owned()));
    };
    if let Some(e) = parsed.errors().first() {
        let message = syntax_message(e);
        let body = parsed.into_syntax().module().map(|m| m.body).unwrap_or_default();
        dismantle(body);
        return Err(EntrypointError::Unparsable(message));
    }
    let Some(module) = parsed.into_syntax().module() else {
        return Err(EntrypointError::Unparsable("not a module".to_owned()));
    };
    let mut found = structure::concrete_strategies(&module.body);
    // A tree near the pre-scan's depth bound is freed iteratively, as in `validate`.
    dismantle(module.body);
    match found.len() {
        0 => Err(EntrypointError::NoStrategy),
        1 => Ok(found.remove(0)),
        _ => Err(EntrypointError::Several(found)),
    }
}

/// What a parser panic is reported as.
const PARSER_FAILED: &str = "the parser failed on this input";

/// The rule, offset and message a pre-scan violation is refused with.
fn limit_refusal(v: LimitViolation) -> (RuleId, usize, String) {
    match v {
        LimitViolation::TooLarge { offset, message } => (RuleId::CodeTooLarge, offset, message),
        LimitViolation::TooDeep { offset, message } => (RuleId::NestingTooDeep, offset, message),
        LimitViolation::NulByte { offset } => {
            (RuleId::Syntax, offset, "source code cannot contain a NUL byte".to_owned())
        }
    }
}

/// ruff's parser on pre-scanned code, for the sandbox's Python. The parser is third-party
/// code fed hostile input: a panic in it is `None`, never a crash.
fn parse(code: &str) -> Option<Parsed<Mod>> {
    let options = ParseOptions::from(Mode::Module).with_target_version(SANDBOX_PYTHON);
    catch_unwind(AssertUnwindSafe(|| parse_unchecked(code, options))).ok()
}

/// A syntax error's message, bounded (the parser quotes tokens, which can be huge).
fn syntax_message(e: &ParseError) -> String {
    e.error.to_string().chars().take(MAX_MESSAGE_CHARS).collect()
}

/// Report identifiers spelled with characters that NFKC folds (full-width letters,
/// ligatures): Python reads them as their ASCII look-alikes.
fn report_normalized(ck: &mut Checker<'_>, code: &str, tokens: &Tokens) {
    for token in tokens.iter().filter(|t| t.kind() == TokenKind::Name) {
        let Some(raw) = code.get(token.range().to_std_range()) else { continue };
        if raw.is_ascii() {
            continue;
        }
        if let std::borrow::Cow::Owned(normalized) = nfkc(raw) {
            ck.report(
                RuleId::IdentifierNormalized,
                off(token.start()),
                format!("identifier '{raw}' is read by Python as '{normalized}'"),
            );
        }
    }
}
