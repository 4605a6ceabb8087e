//! The offline CLI commands against the real `algoagent` binary: `spec validate` (exit codes,
//! field paths, `--json` shape), `generate` and `schema export|show`. No services needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use algoagent_tests::fixtures::{Case, malformed};
use algoagent_tests::{bin_path, examples_dir};
use serde_json::Value;

fn algoagent(args: &[&str]) -> Output {
    Command::new(bin_path("algoagent")).args(args).output().expect("algoagent runs")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn write_cases(dir: &Path) -> Vec<(Case, String)> {
    malformed()
        .into_iter()
        .enumerate()
        .map(|(i, case)| {
            let path = dir.join(format!("case{i}.json"));
            std::fs::write(&path, &case.body).unwrap();
            (case, path.display().to_string())
        })
        .collect()
}

#[test]
fn every_example_spec_validates_and_exits_0() {
    let files = examples();
    assert!(files.len() >= 20, "expected at least 20 examples, found {}", files.len());
    let mut args = vec!["spec", "validate"];
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));

    let out = algoagent(&args);

    assert_eq!(code(&out), 0, "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().filter(|l| l.starts_with("ok ")).count(), files.len());
}

#[test]
fn each_malformed_spec_exits_1_naming_its_field_path() {
    let dir = tempfile::tempdir().unwrap();
    for (case, path) in write_cases(dir.path()) {
        let out = algoagent(&["spec", "validate", &path]);
        let stdout = text(&out.stdout);
        assert_eq!(code(&out), 1, "{}: {stdout}{}", case.what, text(&out.stderr));
        assert!(
            stdout.contains(&format!("\n  {}: ", case.loc)),
            "{}: no '{}' in\n{stdout}",
            case.what,
            case.loc
        );

        let out = algoagent(&["spec", "validate", "--json", &path]);
        assert_eq!(code(&out), 1, "{}", case.what);
        let results: Value = serde_json::from_slice(&out.stdout).expect("--json output parses");
        let key = if case.schema_valid { "compile_errors" } else { "errors" };
        let errors = results[0][key].as_array().expect("errors list");
        let locs: Vec<String> = errors
            .iter()
            .map(|e| {
                e["loc"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect::<Vec<_>>().join(".")
            })
            .collect();
        assert!(locs.iter().any(|l| l == case.loc), "{}: {locs:?}", case.what);
        assert!(errors.iter().all(|e| e["msg"].is_string() && e["type"].is_string()), "{}", case.what);
    }
}

#[test]
fn json_output_keeps_the_validate_schema_shape_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"name":"../x","entry_rules":"x"}"#).unwrap();
    let good = examples_dir().join("sma_crossover.json");

    let out = algoagent(&["spec", "validate", "--json", good.to_str().unwrap(), bad.to_str().unwrap()]);

    assert_eq!(code(&out), 1, "one invalid file makes the exit code 1");
    let results: Value = serde_json::from_slice(&out.stdout).expect("--json output parses");
    let [ok, invalid] = results.as_array().unwrap().as_slice() else { panic!("two results: {results}") };
    assert_eq!(ok["file"], good.display().to_string());
    assert_eq!(ok["status"], "valid");
    assert_eq!(ok["message"], "Strategy schema is valid");
    assert_eq!(ok["validated_data"]["name"], "sma_crossover");
    assert_eq!(ok["validated_data"]["backtest"]["dataset"], "GOOG", "defaults are filled in");
    assert_eq!(ok["schema_version"], "2.0");
    assert_eq!(invalid["status"], "invalid");
    assert_eq!(invalid["schema_version"], "2.0");
    assert!(invalid.get("validated_data").is_none());
    let kinds: Vec<&str> =
        invalid["errors"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["pattern", "type"], "every error at once: {invalid}");
}

#[test]
fn a_missing_file_exits_2_even_next_to_valid_ones() {
    let good = examples_dir().join("sma_crossover.json");

    let out = algoagent(&["spec", "validate", good.to_str().unwrap(), "/nonexistent/spec.json"]);

    assert_eq!(code(&out), 2, "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stderr).contains("/nonexistent/spec.json"), "{}", text(&out.stderr));
    assert_eq!(code(&algoagent(&["spec", "validate"])), 2, "no file is a usage error");
    assert_eq!(code(&algoagent(&["generate", "/nonexistent/spec.json"])), 2);
}

#[test]
fn generate_prints_the_module_with_its_entrypoint_class() {
    let spec = examples_dir().join("rsi_reversal.json");

    let out = algoagent(&["generate", spec.to_str().unwrap()]);

    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let module = text(&out.stdout);
    assert!(module.contains("class RsiReversalStrategy(Strategy):\n"), "{module}");
    assert!(module.contains("    def next(self):\n"));
    assert_eq!(out.stdout, algoagent(&["generate", spec.to_str().unwrap()]).stdout, "deterministic");
}

#[test]
fn generate_refuses_an_invalid_spec_with_its_field_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, r#"{"name":"Bad","entry_rules":["rsx(close, 14) < 30"]}"#).unwrap();

    let out = algoagent(&["generate", path.to_str().unwrap()]);

    assert_eq!(code(&out), 1);
    assert!(out.stdout.is_empty(), "no code for an invalid spec");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("entry_rules.0: ") && stderr.contains("did you mean 'rsi'"), "{stderr}");
}

#[test]
fn schema_export_writes_three_parsable_schemas_that_describe_entry_rules() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("schemas");

    let out = algoagent(&["schema", "export", target.to_str().unwrap()]);

    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let mut files: Vec<String> =
        std::fs::read_dir(&target).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert_eq!(
        files,
        ["BacktestConfig.schema.json", "JobEnvelope.schema.json", "StrategyDefinition.schema.json"]
    );
    let mut parsed = Vec::new();
    for f in &files {
        let v: Value = serde_json::from_slice(&std::fs::read(target.join(f)).unwrap()).expect("parses");
        assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema", "{f}");
        parsed.push(v);
    }
    let strategy = &parsed[2];
    assert!(strategy["required"].as_array().unwrap().contains(&"entry_rules".into()));
    let rules = &strategy["properties"]["entry_rules"];
    assert_eq!(
        (&rules["type"], &rules["minItems"], &rules["items"]["type"]),
        (&"array".into(), &1.into(), &"string".into())
    );

    let shown = algoagent(&["schema", "show", "StrategyDefinition"]);
    assert_eq!(code(&shown), 0);
    assert_eq!(
        serde_json::from_slice::<Value>(&shown.stdout).unwrap(),
        *strategy,
        "show prints what export writes"
    );
    assert_eq!(code(&algoagent(&["schema", "show", "Nope"])), 2, "an unknown schema is a usage error");
}
