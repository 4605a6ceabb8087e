//! Rows for read-path tests that need versions and backtests without running the pipeline
//! (no worker, no Docker): a submitted run gets versions, test jobs and backtests inserted
//! as the workers would have written them.

use sqlx::PgPool;

/// A strategy that trades on any OHLC data and prints one line from `init` (the sandbox
/// routes answer its output).
pub const SMA_CODE: &str = r#"import backtesting
import pandas as pd


class Strategy(backtesting.Strategy):
    def init(self):
        print("hello from the strategy")
        close = pd.Series(self.data.Close)
        self.fast = self.I(lambda: close.rolling(10).mean().to_numpy())
        self.slow = self.I(lambda: close.rolling(30).mean().to_numpy())

    def next(self):
        if self.fast[-1] > self.slow[-1] and not self.position:
            self.buy()
        elif self.fast[-1] < self.slow[-1] and self.position:
            self.position.close()
"#;

/// A spec the rule compiler accepts, named `name`.
pub fn spec(name: &str) -> String {
    format!(
        r#"{{"name":"{name}","entry_rules":["close > sma(close, 20)"],"exit_rules":["close < sma(close, 20)"]}}"#
    )
}

/// Inserts version `version` of `run_id` with `code`; returns its id.
pub async fn version(pool: &PgPool, run_id: &str, version: i32, code: &str) -> anyhow::Result<i64> {
    let run_id: uuid::Uuid = run_id.parse()?;
    Ok(sqlx::query_scalar(
        "INSERT INTO strategy_versions (strategy_id, run_id, version, code, entrypoint, sha256, origin, provider)
         SELECT strategy_id, id, $2, $3, 'Strategy', md5($3) || md5($3), CASE WHEN $2 = 1 THEN 'generated' ELSE 'fixed' END, 'builtin'
           FROM runs WHERE id = $1
         RETURNING id",
    )
    .bind(run_id)
    .bind(version)
    .bind(code)
    .fetch_one(pool)
    .await?)
}

/// Inserts a succeeded test job and its backtest of `version_id`, created `minutes_ago`;
/// returns the backtest's id.
pub async fn backtest(
    pool: &PgPool,
    version_id: i64,
    metrics: serde_json::Value,
    minutes_ago: i32,
) -> anyhow::Result<i64> {
    let job_id = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO jobs (id, run_id, strategy_id, kind, status, attempt, max_attempts, idempotency_key, payload)
         SELECT $1, run_id, strategy_id, 'test', 'succeeded', 1, 5, $1::text, '{}'::jsonb
           FROM strategy_versions WHERE id = $2",
    )
    .bind(job_id)
    .bind(version_id)
    .execute(pool)
    .await?;
    Ok(sqlx::query_scalar(
        "INSERT INTO backtests (run_id, version_id, job_id, dataset, status, passed, metrics, equity_curve, duration_ms, created_at)
         SELECT run_id, id, $2, 'GOOG', 'ok', true, $3, '[[0, 10000.0], [1, 10100.5]]'::jsonb, 1234,
                now() - make_interval(mins => $4)
           FROM strategy_versions WHERE id = $1
         RETURNING id",
    )
    .bind(version_id)
    .bind(job_id)
    .bind(metrics)
    .bind(minutes_ago)
    .fetch_one(pool)
    .await?)
}
