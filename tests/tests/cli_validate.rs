//! `algoagent validate-code`: exit codes and machine-readable findings (issue 4).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use algoagent_tests::bin_path;

fn corpus(kind: &str) -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/validate/tests/validator_corpus")
        .join(kind);
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    files
}

fn validate_code(args: &[String]) -> std::process::Output {
    std::process::Command::new(bin_path("algoagent")).arg("validate-code").args(args).output().unwrap()
}

#[test]
fn legitimate_strategies_pass_and_exit_zero() {
    let out = validate_code(&corpus("legit"));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn each_hostile_snippet_is_rejected_with_exit_one_and_json_findings() {
    for file in corpus("hostile").iter().take(10) {
        let out = validate_code(&["--json".to_owned(), file.clone()]);
        assert_eq!(out.status.code(), Some(1), "{file}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report[0]["status"], "rejected", "{file}");
        assert!(report[0]["findings"].as_array().unwrap().iter().any(|f| f["severity"] == "error"), "{file}");
    }
}

#[test]
fn a_missing_file_is_a_usage_error() {
    let out = validate_code(&["/nonexistent/strategy.py".to_owned()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/strategy.py"));
}
