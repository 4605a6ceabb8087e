//! The prototype guide's usage examples, run unchanged against a live coordinator on the
//! guide's address (`localhost:8000`) with a real worker and Docker: its Python client
//! (`tests/guide/client.py`), its cURL examples (`tests/guide/curl_examples.sh`) and its
//! testing commands (`tests/guide/curl_testing.sh`), copied verbatim from the guide. Each
//! answer is checked against the response the guide documents for that route.
//!
//! The examples name strategy 123; the test makes the guide's RSI strategy that id by
//! moving the strategies sequence, then runs it through the real pipeline first.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use algoagent_tests::TestEnv;
use serde_json::{Value, json};

/// The guide's address: its examples hard-code it.
const GUIDE_ADDR: &str = "127.0.0.1:8000";

/// The guide's strategy (its Python client's validate-schema body), submitted as a run.
const GUIDE_SPEC: &str = r#"{
    "name": "RSI_Reversal",
    "description": "RSI reversal strategy",
    "parameters": {"rsi_period": 14},
    "indicators": {"rsi": {"period": 14}},
    "entry_rules": ["rsi < 30"],
    "exit_rules": ["rsi > 70"]
}"#;

fn guide_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("guide")
}

/// Runs a command to completion; panics with its output when it fails.
fn run(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{cmd:?} failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The Python client's output, one `Label: {python dict}` line per step, as JSON by label.
fn client_answers(stdout: &str) -> Vec<(String, Value)> {
    let mut parse = std::process::Command::new("python3");
    parse.args([
        "-c",
        "import ast, json, sys\nfor line in sys.stdin.read().splitlines():\n    label, _, body = line.partition(': ')\n    print(json.dumps([label, ast.literal_eval(body)]))",
    ]);
    let mut child =
        parse.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(stdout.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "unparsable client output:\n{stdout}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let pair: (String, Value) = serde_json::from_str(line).unwrap();
            pair
        })
        .collect()
}

/// A `curl` first on `PATH` that runs the real one with each answer's status on a line of
/// its own after the body, so a script's answers can be told apart; the scripts themselves
/// are run unchanged.
fn curl_wrapper(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("guide-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = run(std::process::Command::new("sh").args(["-c", "command -v curl"])).trim().to_owned();
    let script = format!(
        "#!/bin/sh\nexec {real} --silent --show-error --max-time 120 --write-out '\\n%{{http_code}}\\n' \"$@\"\n"
    );
    let path = bin.join("curl");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

/// Runs a guide shell script through the wrapper; its answers as (status, body) in order.
fn curl_answers(script: &str, path: &str) -> Vec<(u16, Value)> {
    let stdout = run(std::process::Command::new("bash").arg(guide_dir().join(script)).env("PATH", path));
    let lines: Vec<&str> = stdout.lines().collect();
    lines
        .chunks(2)
        .map(|pair| {
            let body = serde_json::from_str(pair[0]).unwrap_or_else(|e| panic!("{e}: {}", pair[0]));
            (pair[1].parse().unwrap(), body)
        })
        .collect()
}

/// The guide's sandbox-test answer: completed, successful, with output and resource usage.
fn assert_sandbox_answer(answer: &Value) {
    assert_eq!(answer["status"], "completed", "{answer}");
    assert_eq!(answer["success"], true, "{answer}");
    assert_eq!(answer["exit_code"], 0, "{answer}");
    assert_eq!(answer["timed_out"], false, "{answer}");
    assert_eq!(answer["errors"], "", "{answer}");
    assert!(answer["output"].as_str().unwrap().contains("Strategy executed successfully"), "{answer}");
    assert!(answer["execution_time"].as_f64().unwrap() > 0.0, "{answer}");
    assert!(answer["resource_usage"]["max_memory_mb"].as_f64().unwrap() > 0.0, "{answer}");
    assert!(answer["resource_usage"]["cpu_percent"].as_f64().is_some(), "{answer}");
}

/// The guide's safe validate-code answer, with its five checks.
fn assert_safe_code(answer: &Value) {
    assert_eq!(answer["status"], "validated", "{answer}");
    assert_eq!(answer["safe"], true, "{answer}");
    assert_eq!(answer["message"], "Code passed all safety checks", "{answer}");
    assert!(answer["formatted_code"].is_string(), "{answer}");
    let passed = answer["checks_passed"].as_array().unwrap();
    for check in [
        "No dangerous imports",
        "No system commands",
        "No eval/exec usage",
        "Syntax valid",
        "AST analysis passed",
    ] {
        assert!(passed.contains(&json!(check)), "{check} missing: {answer}");
    }
}

/// The guide's strategy health answer: every component available.
fn assert_strategy_health(answer: &Value) {
    assert_eq!(answer["overall"], "healthy", "{answer}");
    for component in ["state_manager", "safe_tools", "output_validator", "sandbox_runner", "git_manager"] {
        assert_eq!(answer["components"][component]["available"], true, "{component}: {answer}");
    }
    assert_eq!(answer["components"]["sandbox_runner"]["docker_available"], true, "{answer}");
    assert!(answer["components"]["state_manager"]["strategies_tracked"].as_u64().unwrap() >= 1, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_python_client_and_curl_examples_get_the_documented_answers() {
    // Arrange: the coordinator on the guide's address, a worker, and strategy 123 passed.
    let mut env = TestEnv::new().await.unwrap();
    env.extra_env.push(("API_ADDR".into(), GUIDE_ADDR.into()));
    env.start_coordinator().await.unwrap();
    env.start_worker(&[]).await.unwrap();
    sqlx::query("SELECT setval('strategies_id_seq', 122)").execute(&env.pool).await.unwrap();
    let (status, submitted) = env.post("/api/runs", GUIDE_SPEC).await.unwrap();
    assert_eq!(status, 202, "{submitted}");
    assert_eq!(submitted["strategy_id"], 123, "{submitted}");
    let merged =
        env.wait_for_run(submitted["run_id"].as_str().unwrap(), Duration::from_secs(240)).await.unwrap();
    assert_eq!(merged["status"], "merged", "{merged}");

    // Act: the Python client, unchanged.
    let stdout = tokio::task::spawn_blocking(|| {
        run(std::process::Command::new("python3").arg(guide_dir().join("client.py")))
    })
    .await
    .unwrap();

    // Assert: its four answers, as documented.
    let answers = client_answers(&stdout);
    let labels: Vec<&str> = answers.iter().map(|(label, _)| label.as_str()).collect();
    assert_eq!(labels, ["Schema validation", "Code safety", "Sandbox test", "Health"], "{stdout}");
    let schema = &answers[0].1;
    assert_eq!(schema["status"], "valid", "{schema}");
    assert_eq!(schema["message"], "Strategy schema is valid", "{schema}");
    assert_eq!(schema["schema_version"], "2.0", "{schema}");
    assert_eq!(schema["validated_data"]["name"], "RSI_Reversal", "{schema}");
    assert_safe_code(&answers[1].1);
    assert_sandbox_answer(&answers[2].1);
    assert_strategy_health(&answers[3].1);

    // Act: the cURL examples, unchanged.
    let path = curl_wrapper(env.dir.path());
    let curl_path = path.clone();
    let answers =
        tokio::task::spawn_blocking(move || curl_answers("curl_examples.sh", &curl_path)).await.unwrap();

    // Assert: six answers, as documented.
    assert_eq!(answers.len(), 6, "{answers:?}");
    let (status, schema) = &answers[0];
    assert_eq!((*status, &schema["status"]), (200, &json!("valid")), "{schema}");
    assert_eq!(schema["validated_data"]["name"], "RSI", "{schema}");
    let (status, code) = &answers[1];
    assert_eq!(*status, 200, "{code}");
    assert_safe_code(code);
    assert_eq!(code["formatted_code"], "class Strategy:\n    pass\n", "formatted for real: {code}");
    assert_eq!(code["formatted"], true, "{code}");
    let (status, sandbox) = &answers[2];
    assert_eq!(*status, 200, "{sandbox}");
    assert_sandbox_answer(sandbox);
    let (status, life) = &answers[3];
    assert_eq!(*status, 200, "{life}");
    assert_eq!(life["strategy_id"], 123, "{life}");
    assert_eq!(life["name"], "RSI_Reversal", "{life}");
    assert_eq!(life["current_status"], "passed", "{life}");
    for field in ["generation_attempts", "test_attempts", "fix_attempts", "error_count"] {
        assert!(life["lifecycle_tracking"][field].is_u64(), "{field}: {life}");
    }
    for field in ["created_at", "last_generation", "last_test", "last_success"] {
        assert!(life["timestamps"][field].is_string(), "{field}: {life}");
    }
    let events: Vec<&str> =
        life["audit_log"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    // The guide's words, in its order (the run's submission comes between them here).
    assert_eq!(events[0], "created", "{life}");
    assert!(events.contains(&"generation"), "{life}");
    let (status, deployed) = &answers[4];
    assert_eq!(*status, 200, "{deployed}");
    assert_eq!(deployed["status"], "deployed", "{deployed}");
    assert_eq!(deployed["strategy_id"], 123, "{deployed}");
    assert_eq!(deployed["tag"], "v1.0.0", "{deployed}");
    assert_eq!(deployed["message"], "Strategy RSI_Reversal deployed successfully", "{deployed}");
    // The deploy made the guide's commit on main and tagged it (tags are repository-wide,
    // so the git ref carries the strategy's name: `git_tag`).
    let commit = deployed["commit"].as_str().unwrap();
    let repo = git2::Repository::open_bare(env.repo_path()).unwrap();
    let head = repo.find_reference("refs/heads/main").unwrap().peel_to_commit().unwrap();
    assert_eq!(head.id().to_string(), commit);
    assert_eq!(head.summary().unwrap(), "Deploy v1.0");
    assert_eq!(deployed["git_tag"], "RSI_Reversal/v1.0.0", "{deployed}");
    let tagged = repo.revparse_single("refs/tags/RSI_Reversal/v1.0.0").unwrap().peel_to_commit().unwrap();
    assert_eq!(tagged.id().to_string(), commit);
    let (status, health) = &answers[5];
    assert_eq!(*status, 200, "{health}");
    assert_strategy_health(health);

    // Act + Assert: the guide's testing commands: both health routes and the API root.
    let answers = tokio::task::spawn_blocking(move || curl_answers("curl_testing.sh", &path)).await.unwrap();
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert_eq!(answers[0].0, 200);
    assert_strategy_health(&answers[0].1);
    assert_eq!(answers[1].0, 200, "{:?}", answers[1]);
    assert_eq!(answers[1].1["overall"], "healthy", "{:?}", answers[1]);
    assert_eq!(answers[2].0, 200, "{:?}", answers[2]);
    assert!(answers[2].1.is_object(), "{:?}", answers[2]);

    env.shutdown().await.unwrap();
}
