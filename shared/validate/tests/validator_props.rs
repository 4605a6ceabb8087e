//! Robustness of `validate`: it never panics on arbitrary text, random token soup or mutated
//! strategies, and pathological inputs (100k nested brackets, 5 MB, 10k-deep lists, long
//! lines, 100k-term chains) come back as findings quickly instead of crashing or hanging.
//!
//! Tests run on the test harness's threads (2 MiB stacks), so a stack overflow anywhere in
//! the parser, the walker or the tree's drop would abort this test binary.

use std::time::{Duration, Instant};

use algoagent_validate::{Report, ValidateOptions, validate};
use proptest::prelude::*;

const LEGIT: &str = include_str!("validator_corpus/legit/21_multi_indicator_200.py");

/// Generous bound for a debug build on a shared 2-core machine; a hang takes far longer.
const SLOW: Duration = Duration::from_secs(10);

fn timed(code: &str) -> Report {
    let start = Instant::now();
    let report = validate(code, &ValidateOptions::default());
    let took = start.elapsed();
    assert!(took < SLOW, "validate took {took:?} on {} bytes", code.len());
    report
}

fn has_rule(report: &Report, rule: &str) -> bool {
    report.findings.iter().any(|f| f.rule == rule)
}

fn assert_refused_with(code: &str, rule: &str) {
    let report = timed(code);
    assert!(!report.accepted() && has_rule(&report, rule), "expected [{rule}], got {}", report.summary());
}

const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ":",
    ",",
    ".",
    ";",
    "=",
    "==",
    "+",
    "-",
    "*",
    "**",
    "/",
    "//",
    "%",
    "@",
    "<<",
    ">>",
    "&",
    "|",
    "^",
    "~",
    "<",
    ">",
    "!=",
    "->",
    ":=",
    "...",
    "\n",
    "\n    ",
    "\n        ",
    "\t",
    " ",
    "\\\n",
    "#c\n",
    "def",
    "class",
    "lambda",
    "if",
    "else",
    "elif",
    "for",
    "in",
    "while",
    "return",
    "yield",
    "await",
    "async",
    "with",
    "as",
    "import",
    "from",
    "try",
    "except",
    "finally",
    "raise",
    "not",
    "and",
    "or",
    "is",
    "None",
    "True",
    "global",
    "nonlocal",
    "match",
    "case",
    "type",
    "del",
    "pass",
    "self",
    "x",
    "Strategy",
    "init",
    "next",
    "eval",
    "getattr",
    "__class__",
    "__import__",
    "gi_frame",
    "np",
    "pd",
    "read_csv",
    "format",
    "0",
    "1",
    "10",
    "0x1F",
    "1e9",
    "1_000",
    "3.14",
    "2j",
    "'s'",
    "\"t\"",
    "'''doc'''",
    "f'{x}'",
    "f'{x:{y}}'",
    "b'\\x00'",
    "r'\\d'",
    "'{0.__class__}'",
    "'",
    "\"",
    "f'{",
    "ｅｖａｌ",
    "é",
    "\u{feff}",
    "\r\n",
];

// 256 cases each by default; `PROPTEST_CASES=5000` for a longer run.
proptest! {
    #[test]
    fn validate_never_panics_on_arbitrary_text(code in any::<String>()) {
        let _ = validate(&code, &ValidateOptions::default());
    }

    #[test]
    fn validate_never_panics_on_printable_python_like_text(code in "[ -~\n\t]{0,600}") {
        let _ = validate(&code, &ValidateOptions { strict: false, ..ValidateOptions::default() });
    }

    #[test]
    fn validate_never_panics_on_token_soup(
        tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..400)
    ) {
        let code: String = tokens.concat();
        let report = validate(&code, &ValidateOptions::default());
        // Every finding is positioned inside the text.
        let lines = code.split('\n').count().max(1);
        for f in &report.findings {
            prop_assert!(f.line >= 1 && (f.line as usize) <= lines + 1, "{:?}", f);
            prop_assert!(f.col >= 1);
        }
    }

    #[test]
    fn validate_never_panics_on_mutated_strategies(
        cut in 0usize..LEGIT.len(),
        len in 0usize..200,
        insert in prop::sample::select(TOKENS),
    ) {
        let mut code = LEGIT.to_owned();
        let start = (0..=cut).rev().find(|&i| code.is_char_boundary(i)).unwrap_or(0);
        let end = (start + len).min(code.len());
        let end = (end..=code.len()).find(|&i| code.is_char_boundary(i)).unwrap_or(code.len());
        code.replace_range(start..end, insert);
        let _ = validate(&code, &ValidateOptions::default());
    }
}

#[test]
fn a_hundred_thousand_nested_parentheses_are_refused_without_parsing() {
    let k = 100_000;
    let code = format!("x = {}1{}\n", "(".repeat(k), ")".repeat(k));
    assert_refused_with(&code, "nesting-too-deep");
    // Twice as many no longer fits the byte limit.
    let code = format!("x = {}1{}\n", "(".repeat(2 * k), ")".repeat(2 * k));
    assert_refused_with(&code, "code-too-large");
}

#[test]
fn unclosed_brackets_and_deep_assignment_targets_are_refused() {
    assert_refused_with(&format!("x = {}", "(".repeat(90_000)), "nesting-too-deep");
    assert_refused_with(&format!("{}a{} = 1", "[".repeat(5_000), "]".repeat(5_000)), "nesting-too-deep");
}

#[test]
fn ten_thousand_deep_nested_lists_are_refused() {
    let code = format!("x = {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    assert_refused_with(&code, "nesting-too-deep");
}

#[test]
fn a_five_megabyte_file_is_refused_as_too_large() {
    let line = "x = 1\n";
    let code = line.repeat(5 * 1024 * 1024 / line.len());
    assert_refused_with(&code, "code-too-large");
}

#[test]
fn more_lines_than_the_limit_are_refused() {
    let code = "\n".repeat(6_000) + "x = 1\n";
    assert_refused_with(&code, "code-too-large");
}

#[test]
fn long_operator_chains_are_refused_before_the_parser_can_recurse() {
    // Each of these builds a 60k-deep tree without a single bracket; dropping it, or
    // failing on the trailing ')', recurses once per level inside the parser.
    for chain in [
        format!("x = {}1 )", "-".repeat(60_000)),
        format!("x = 1{} )", "+1".repeat(60_000)),
        format!("x = a{}", ".b".repeat(60_000)),
        format!("x = {}1", "not ".repeat(40_000)),
        format!("x = {}1", "lambda:".repeat(20_000)),
        format!("x = 1{}", " if 1 else 1".repeat(10_000)),
        format!("x = f'{{{}1}}'", "-".repeat(60_000)),
    ] {
        assert_refused_with(&chain, "nesting-too-deep");
    }
}

#[test]
fn trees_deeper_than_the_walk_limit_are_reported_and_freed_without_recursion() {
    // Under the pre-scan estimate but over the walker's depth limit: the tree is parsed,
    // the walk stops at the limit, and the tree is dismantled iteratively.
    for code in [
        format!("x = {}1\n", "-".repeat(900)),
        format!("x = 1{}\n", "+1".repeat(900)),
        format!("x = y{}\n", "()".repeat(300)),
    ] {
        assert_refused_with(&code, "nesting-too-deep");
    }
}

#[test]
fn every_kind_of_chain_just_under_the_pre_scan_estimate_is_safe_on_a_small_stack() {
    // The pre-scan lets an expression estimate of up to 1,000 through to ruff's
    // recursive-descent parser. These are the constructs that recurse once per level without
    // brackets, each as deep as the estimate allows, parsed, walked and freed on a 1 MiB
    // stack (half the test harness's and tokio's default) in whatever profile the tests run.
    let chains = [
        format!("x = {}1\n", "-".repeat(990)),
        format!("x = {}1\n", "~".repeat(990)),
        format!("x = {}1\n", "not ".repeat(990)),
        format!("x = {}1\n", "lambda:".repeat(495)),
        format!("x = 1{}\n", " if 1 else 1".repeat(495)),
        format!("x = 2{}\n", "**2".repeat(495)),
        format!("x = a{}\n", ".b".repeat(990)),
        format!("x = a{}\n", "()".repeat(495)),
        format!("async def f():\n    return {}1\n", "await ".repeat(990)),
        format!("x = {}1 )\n", "-".repeat(990)),
    ];
    for code in chains {
        let handle = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || validate(&code, &ValidateOptions::default()).accepted())
            .expect("spawn");
        assert!(!handle.join().expect("validate overflowed or panicked on a deep chain"));
    }
}

#[test]
fn deep_indentation_is_refused() {
    let code: String = (0..100).map(|i| format!("{}if x:\n", " ".repeat(i))).collect::<String>()
        + &" ".repeat(100)
        + "pass\n";
    assert_refused_with(&code, "nesting-too-deep");
}

#[test]
fn long_lines_return_findings_without_crashing() {
    // A 150 KB list literal on one line parses; the report has structure findings.
    let items: Vec<String> = (0..25_000).map(|i| i.to_string()).collect();
    let code = format!("DATA = [{}]\n", items.join(", "));
    let report = timed(&code);
    assert!(has_rule(&report, "structure-strategy-count"), "{}", report.summary());
    // A 150 KB string literal on one line.
    let code = format!("TEXT = '{}'\n", "a".repeat(150_000));
    let report = timed(&code);
    assert!(!report.findings.is_empty());
    // A 150 KB comment line.
    let code = format!("#{}\nx = 1\n", "c".repeat(150_000));
    let report = timed(&code);
    assert!(!report.findings.is_empty());
}

#[test]
fn nul_bytes_are_a_syntax_finding() {
    assert_refused_with("x = 1\0\n", "syntax");
}

#[test]
fn thousands_of_findings_are_capped() {
    let code = "eval(1)\n".repeat(4_000);
    let report = timed(&code);
    assert!(report.findings.len() <= algoagent_validate::MAX_FINDINGS + 1);
    assert!(has_rule(&report, "findings-truncated"));
}
