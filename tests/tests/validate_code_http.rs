//! `POST /api/production/strategies/validate-code/` answers the guide's question, whether the
//! code is dangerous: the guide's own harmless samples (no Strategy subclass, no `init` or
//! `next`) are `validated` and `safe`, their structure findings listed beside the answer, and
//! only safety findings make code `rejected` with severity `high`.
#![allow(clippy::unwrap_used)]

use algoagent_tests::TestEnv;
use serde_json::{Value, json};

const ROUTE: &str = "/api/production/strategies/validate-code/";

/// The guide's samples: its request example, its Python client's code and its cURL code.
const GUIDE_SAMPLES: [&str; 3] = [
    "class MyStrategy:\n    def on_bar(self):\n        pass",
    "\nclass MyStrategy:\n    def on_bar(self):\n        if self.rsi < 30:\n            self.buy()\n",
    "class Strategy: pass",
];

const STRATEGY: &str = "from backtesting import Strategy
from backtesting.lib import crossover
from backtesting.test import SMA


class SmaCross(Strategy):
    n1 = 10
    n2 = 20

    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.buy()
";

async fn check(env: &TestEnv, code: &str) -> Value {
    let (status, body) = env
        .post(ROUTE, serde_json::to_vec(&json!({ "code": code, "strict_mode": true })).unwrap())
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_harmless_samples_are_safe_and_only_safety_findings_are_dangerous() {
    // Arrange
    let env = TestEnv::start(0).await.unwrap();

    for sample in GUIDE_SAMPLES {
        // Act
        let body = check(&env, sample).await;

        // Assert: the guide's safe answer, with why it is not a strategy yet beside it.
        assert_eq!(body["status"], "validated", "{sample:?}: {body}");
        assert_eq!(body["safe"], true);
        assert_eq!(body["message"], "Code passed all safety checks");
        assert!(body["formatted_code"].is_string(), "{body}");
        let passed = body["checks_passed"].as_array().unwrap();
        for check in ["No dangerous imports", "No system commands", "No eval/exec usage", "Syntax valid"] {
            assert!(passed.contains(&json!(check)), "{check} missing: {body}");
        }
        assert!(!passed.contains(&json!("Strategy structure valid")), "{body}");
        assert_eq!(body["strategy_valid"], false);
        let structure = body["structure_issues"].as_array().unwrap();
        assert!(!structure.is_empty(), "{body}");
        assert!(structure.iter().all(|i| i.as_str().unwrap().contains("[structure-")), "{body}");
        assert!(body.get("severity").is_none() && body.get("issues").is_none(), "{body}");
    }

    // A real strategy: safe and a valid strategy.
    let body = check(&env, STRATEGY).await;
    assert_eq!(body["status"], "validated", "{body}");
    assert_eq!(body["strategy_valid"], true, "{body}");
    assert_eq!(body["structure_issues"], json!([]));
    assert!(body["checks_passed"].as_array().unwrap().contains(&json!("Strategy structure valid")));
    assert_eq!((&body["formatted_code"], &body["formatted"]), (&json!(STRATEGY), &json!(true)), "{body}");

    // `formatted_code` is the code formatted as Black would, not an echo.
    let messy =
        STRATEGY.replace("    n1 = 10", "    n1=10").replace("        if crossover", "        if  crossover");
    let body = check(&env, &messy.replace("\n\n\nclass", "\nclass")).await;
    assert_eq!(body["formatted_code"], STRATEGY, "{body}");
    assert_eq!(body["formatted"], true, "{body}");

    // Dangerous code: rejected, severity high, only the safety findings as issues.
    let hostile = "import os\nos.system('rm -rf /')\nx = eval('1')\n";
    let body = check(&env, hostile).await;
    assert_eq!(body["status"], "rejected", "{body}");
    assert_eq!(body["safe"], false);
    assert_eq!(body["message"], "Code contains dangerous patterns");
    assert_eq!(body["severity"], "high");
    let issues = body["issues"].as_array().unwrap();
    assert!(issues.iter().any(|i| i.as_str().unwrap().contains("[import-not-allowed]")), "{body}");
    assert!(issues.iter().any(|i| i.as_str().unwrap().contains("eval")), "{body}");
    assert!(issues.iter().all(|i| !i.as_str().unwrap().contains("[structure-")), "{body}");
    assert!(!body["structure_issues"].as_array().unwrap().is_empty(), "{body}");

    // Bad input: the guide's error body, naming the field.
    let (status, body) = env.post(ROUTE, r#"{"code": "x = 1", "strict_mode": "yes"}"#).await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "INVALID_REQUEST");
    assert_eq!(body["details"][0]["loc"], json!(["strict_mode"]));
    assert!(body["error"].is_string() && body["timestamp"].is_string(), "{body}");
    env.shutdown().await.unwrap();
}
