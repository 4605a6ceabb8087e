//! `algoagent sandbox run FILE` against the real Docker engine and sandbox image: it finds
//! the entry point through the class hierarchy, leaves no container behind on any path
//! (answer, code error, timeout, Ctrl-C), runs every legitimate strategy of the validator
//! corpus, and the harness refuses results that a strategy faked by writing the backtest's
//! internals (the validator refuses those strategies too; this proves the backstop).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use algoagent_tests::bin_path;

/// The label `algoagent sandbox run` puts on its containers.
const CLI_LABEL: &str = "label=algoagent.cli=sandbox-run";

fn corpus_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/validate/tests/validator_corpus/legit")
        .join(name)
}

fn sandbox_run(file: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(bin_path("algoagent"))
        .args(["sandbox", "run"])
        .arg(file)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn report(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn cli_containers() -> usize {
    let out = Command::new("docker").args(["ps", "-aq", "--filter", CLI_LABEL]).output().unwrap();
    assert!(out.status.success(), "docker ps: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn write(dir: &Path, name: &str, code: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, code).unwrap();
    path
}

const ZERO_DIVISION: &str = "from backtesting import Strategy\n\n\nclass Boom(Strategy):\n    def init(self):\n        pass\n\n    def next(self):\n        zero = 0\n        self.ratio = 1 / zero\n";
const SPIN: &str = "from backtesting import Strategy\n\n\nclass Spin(Strategy):\n    def init(self):\n        pass\n\n    def next(self):\n        n = 0\n        while n >= 0:\n            n += 1\n";

#[test]
fn sandbox_run_removes_its_container_on_answer_error_timeout_and_ctrl_c() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let boom = write(dir.path(), "boom.py", ZERO_DIVISION);
    let spin = write(dir.path(), "spin.py", SPIN);
    let before = cli_containers();

    // Act + Assert: an answer, a code error, a timeout.
    let ok = sandbox_run(&corpus_file("01_sma_cross.py"), &[]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stdout));
    let failed = sandbox_run(&boom, &[]);
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(report(&failed)["result"]["error_type"], "ZeroDivisionError");
    let timed_out = sandbox_run(&spin, &[("SANDBOX_TIMEOUT_SECS", "3")]);
    assert_eq!(timed_out.status.code(), Some(1));
    assert_eq!(report(&timed_out)["timed_out"], true);
    assert_eq!(cli_containers(), before, "a container was left behind");

    // Ctrl-C while the container runs.
    let child = Command::new(bin_path("algoagent"))
        .args(["sandbox", "run"])
        .arg(&spin)
        .env("SANDBOX_TIMEOUT_SECS", "60")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while cli_containers() == before {
        assert!(started.elapsed() < Duration::from_secs(30), "no container appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "Ctrl-C ended the run with success");
    assert_eq!(cli_containers(), before, "Ctrl-C left its container behind");
}

#[test]
fn the_entry_point_is_found_through_backtesting_lib_and_the_files_own_bases() {
    for file in
        ["06_signal_strategy.py", "20_abstract_base.py", "27_trailing_via_own_base.py", "05_trailing_atr.py"]
    {
        let out = sandbox_run(&corpus_file(file), &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(report(&out)["result"]["status"], "ok", "{file}");
    }
}

#[test]
fn every_legitimate_corpus_strategy_backtests_without_an_integrity_error() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/validate/tests/validator_corpus/legit");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    for file in &files {
        let out = sandbox_run(file, &[]);
        let r = report(&out);
        if out.status.code() != Some(0) || r["result"]["status"] != "ok" {
            failures.push(format!("{}: {}", file.display(), r["result"]));
        }
    }
    assert!(failures.is_empty(), "legitimate strategies refused:\n{}", failures.join("\n"));
}

/// Strategies that fake their results through backtesting.py's internals (each one is also
/// refused by the validator's `framework-internal` rule).
const TAMPERED: &[(&str, &str)] = &[
    (
        "cash",
        "from backtesting import Strategy\nfrom backtesting.test import SMA\nfrom backtesting.lib import crossover\n\n\nclass Cash(Strategy):\n    def init(self):\n        self.a = self.I(SMA, self.data.Close, 10)\n        self.b = self.I(SMA, self.data.Close, 20)\n\n    def next(self):\n        if crossover(self.a, self.b):\n            self.buy()\n        elif crossover(self.b, self.a):\n            self.position.close()\n        if len(self.data) == 1000:\n            self._broker._cash += 1_000_000\n",
    ),
    (
        "equity_history",
        "from backtesting import Strategy\nfrom backtesting.test import SMA\nfrom backtesting.lib import crossover\n\n\nclass Eq(Strategy):\n    def init(self):\n        self.a = self.I(SMA, self.data.Close, 10)\n        self.b = self.I(SMA, self.data.Close, 20)\n\n    def next(self):\n        if crossover(self.a, self.b):\n            self.buy()\n        elif crossover(self.b, self.a):\n            self.position.close()\n        eq = self._broker._equity\n        i = len(self.data) - 1\n        if i > 0 and eq[i - 1] < 10000:\n            eq[i - 1] = 10000\n",
    ),
    (
        "entry_price",
        "from backtesting import Strategy\n\n\nclass Prices(Strategy):\n    def init(self):\n        pass\n\n    def next(self):\n        if len(self.data) == 100:\n            self.buy()\n        if len(self.data) == 101:\n            for t in self.trades:\n                t._Trade__entry_price = 1.0\n        if len(self.data) == 500:\n            self.position.close()\n",
    ),
];

#[test]
fn results_faked_through_framework_internals_are_refused_by_the_harness() {
    let dir = tempfile::tempdir().unwrap();
    for (name, code) in TAMPERED {
        let file = write(dir.path(), &format!("{name}.py"), code);

        let report_of_validator =
            algoagent_validate::validate(code, &algoagent_validate::ValidateOptions::default());
        let out = sandbox_run(&file, &[]);

        assert!(
            report_of_validator.findings.iter().any(|f| f.rule == "framework-internal"),
            "{name}: the validator let it through"
        );
        let r = report(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {r}");
        assert_eq!(r["result"]["error_type"], "ResultIntegrityError", "{name}: {r}");
    }
}
