//! Runs the validator corpus: every `hostile/*.py` snippet must be refused with the rule named
//! on its first line (`# expect: <rule-id>`), and every `legit/*.py` strategy must be
//! accepted with no error, in strict and in lenient mode.

use std::path::{Path, PathBuf};

use algoagent_validate::{RuleId, Severity, ValidateOptions, validate};

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validator_corpus").join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[test]
fn every_hostile_snippet_is_refused_with_its_expected_rule() {
    let files = corpus("hostile");
    assert!(files.len() >= 60, "only {} hostile snippets", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let code = read(path);
        let expected = code
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .map(str::trim)
            .unwrap_or_else(|| panic!("{} lacks '# expect: <rule>'", path.display()));
        assert!(RuleId::parse(expected).is_some(), "{}: unknown rule '{expected}'", path.display());
        let report = validate(&code, &ValidateOptions::default());
        let hit = report.findings.iter().any(|f| f.rule == expected && f.severity == Severity::Error);
        if report.accepted() || !hit {
            failures.push(format!(
                "{}: expected [{expected}], got: {}",
                path.file_name().unwrap_or_default().to_string_lossy(),
                report.issues().join(" | ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_legit_strategy_is_accepted_without_errors() {
    let files = corpus("legit");
    assert!(files.len() >= 20, "only {} legit strategies", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let code = read(path);
        for strict in [true, false] {
            let opts = ValidateOptions { strict, ..ValidateOptions::default() };
            let report = validate(&code, &opts);
            let errors: Vec<String> = report.errors().map(|f| f.render()).collect();
            if !errors.is_empty() {
                failures.push(format!(
                    "{} (strict={strict}): {}",
                    path.file_name().unwrap_or_default().to_string_lossy(),
                    errors.join(" | ")
                ));
            }
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if report.metadata.classes.is_empty() || report.metadata.functions.is_empty() {
                failures.push(format!("{name}: metadata is empty: {:?}", report.metadata));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn hostile_snippets_stay_refused_in_lenient_mode_when_the_rule_is_a_safety_rule() {
    for path in corpus("hostile") {
        let code = read(&path);
        let report = validate(&code, &ValidateOptions { strict: false, ..ValidateOptions::default() });
        let expected = code
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .and_then(|r| RuleId::parse(r.trim()));
        if expected.is_some_and(|r| r.kind() == algoagent_validate::RuleKind::Safety) {
            assert!(!report.accepted(), "{} accepted in lenient mode", path.display());
        }
    }
}
