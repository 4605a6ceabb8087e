//! The first run of the project's scripts, which takes paths a second run never does.
//!
//! A script that only works when an earlier run left something behind (an image, a database,
//! a repository, a cache) passes on every developer machine and fails for every new user: the
//! sandbox image build once did exactly that. These tests run the scripts against names that
//! have never existed: a never-used image name for `deploy/sandbox/build-image.sh`, and a
//! database, namespace, strategies repository and cache that do not exist yet for
//! `scripts/demo.sh` (the README's main command), and never-used image names (base,
//! coordinator, worker) for `scripts/compose-smoke.sh`.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use algoagent_sandbox::{BacktestParams, HarnessRequest, HarnessResponse, Sandbox, SandboxSettings};
use tokio_util::sync::CancellationToken;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `bash <script>` with the environment a user's shell would give it: without the variables
/// cargo sets for this test's package (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, ...). A script
/// that runs `cargo build` would otherwise pass them on, and build scripts that watch them
/// (ring's does) would run again, rebuilding every crate above them twice: once here, and
/// once more in the next `cargo nextest run` of `scripts/test.sh`.
fn script(relative: &str) -> Command {
    let mut command = Command::new("bash");
    command.arg(repo_root().join(relative));
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let per_package = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CRATE_", "CARGO_BIN_", "CARGO_CFG_"]
            .iter()
            .any(|prefix| key.starts_with(prefix))
            || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "CARGO_RUSTC_CURRENT_DIR", "OUT_DIR"]
                .contains(&key);
        if per_package {
            command.env_remove(key);
        }
    }
    command
}

fn fresh_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

fn image_exists(reference: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", reference])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Removes every tag of one image repository when the test ends, passed or not.
struct ImageRepoGuard {
    repo: String,
}

impl Drop for ImageRepoGuard {
    fn drop(&mut self) {
        let Ok(out) = Command::new("docker")
            .args(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}", &self.repo])
            .output()
        else {
            return;
        };
        for tag in String::from_utf8_lossy(&out.stdout).lines() {
            let _ = Command::new("docker").args(["image", "rm", "-f", tag]).output();
        }
    }
}

const SMA_CROSS: &str = "from backtesting import Strategy\nfrom backtesting.lib import crossover\nfrom backtesting.test import SMA\n\n\nclass SmaCross(Strategy):\n    def init(self):\n        self.fast = self.I(SMA, self.data.Close, 10)\n        self.slow = self.I(SMA, self.data.Close, 20)\n\n    def next(self):\n        if crossover(self.fast, self.slow):\n            self.position.close()\n            self.buy()\n        elif crossover(self.slow, self.fast):\n            self.position.close()\n            self.sell()\n";

#[tokio::test]
async fn the_sandbox_image_builds_under_a_name_that_never_existed_and_runs_a_backtest() {
    // Arrange: an image repository nobody has built, so the script finds no image of that
    // content and no older image to clean up.
    let repo = format!("algoagent-sandbox-firstrun-{}", fresh_suffix());
    let image = format!("{repo}:latest");
    let _guard = ImageRepoGuard { repo: repo.clone() };
    assert!(!image_exists(&image), "{image} exists before the test");

    // Act
    let out =
        script("deploy/sandbox/build-image.sh").env("SANDBOX_IMAGE", &image).output().expect("bash runs");

    // Assert: exit 0, and the image serves a backtest through the worker's sandbox.
    let log = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "build-image.sh failed on its first run ({}):\n{log}", out.status);
    assert!(image_exists(&image), "build-image.sh exited 0 but {image} is missing:\n{log}");

    let sandbox =
        Sandbox::connect(SandboxSettings { image: image.clone(), ..SandboxSettings::default() }).unwrap();
    sandbox.check_image().await.expect("the new image is usable by the sandbox");
    let request = HarnessRequest {
        code: SMA_CROSS.to_owned(),
        entrypoint: "SmaCross".to_owned(),
        dataset: "GOOG".to_owned(),
        config: BacktestParams { cash: 10_000.0, commission: 0.002, ..Default::default() },
    };
    let run = sandbox
        .run(&request, &HashMap::new(), &CancellationToken::new())
        .await
        .expect("the sandbox run completes");
    let Some(HarnessResponse::Ok(report)) = &run.response else {
        panic!("the backtest did not run in {image}: {run:?}")
    };
    assert!(report.metrics.trades > 0, "no trade: {report:?}");
}

#[tokio::test]
async fn the_demo_runs_against_a_database_namespace_and_repository_that_do_not_exist_yet() {
    // Arrange: names nothing has used; the demo must create the database, the queues, the
    // strategies repository and its caches itself.
    let suffix = fresh_suffix();
    let db_name = format!("algoagent_firstrun_{suffix}");
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("strategies.git");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let admin = sqlx::PgPool::connect(&format!("{}/postgres", algoagent_tests::PG_BASE)).await.unwrap();
    let exists: bool = sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
        .bind(&db_name)
        .fetch_one(&admin)
        .await
        .unwrap();
    assert!(!exists && !repo.exists());

    // Act: the README's main command, on two examples.
    let out = script("scripts/demo.sh")
        .arg(repo_root().join("examples/specs/sma_crossover.json"))
        .arg(repo_root().join("examples/specs/rsi_reversal.json"))
        .env("DATABASE_URL", format!("{}/{db_name}", algoagent_tests::PG_BASE))
        .env("ALGOAGENT_NAMESPACE", format!("fr{suffix}"))
        .env("STRATEGY_REPO", &repo)
        .env("ALGOAGENT_CACHE_DIR", dir.path().join("cache"))
        .env("DEMO_LOG_DIR", dir.path().join("log"))
        .env("API_ADDR", format!("127.0.0.1:{port}"))
        .env_remove("ALGOAGENT_API_URL")
        .env_remove("ALGOAGENT_API_KEY")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();

    // Clean up before asserting, so a failure leaves nothing behind either.
    let _ = sqlx::query(&format!("drop database if exists \"{db_name}\" with (force)")).execute(&admin).await;

    // Assert: exit 0, both strategies merged, and their merges on main.
    assert!(
        out.status.success(),
        "demo.sh failed on a first run ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for name in ["sma_crossover", "RSI_Reversal"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line:\n{stdout}"));
        assert!(line.contains("merged"), "{name} not merged: {line}");
    }
    let log = Command::new("git")
        .args(["--git-dir", repo.to_str().unwrap(), "log", "--oneline", "main"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(log.lines().filter(|l| l.contains("Merge")).count() >= 2, "main has no two merges:\n{log}");
}

#[test]
fn the_compose_smoke_builds_images_that_never_existed_and_passes() {
    // Arrange: image names nobody has built (the runtime base too), so the script takes the
    // paths of a machine that never ran it: the base is imported, both images are built.
    let suffix = fresh_suffix();
    let repos = [
        format!("algoagent-base-firstrun-{suffix}"),
        format!("algoagent-coordinator-firstrun-{suffix}"),
        format!("algoagent-worker-firstrun-{suffix}"),
    ];
    // Dropped in order: the images first, then the base they were built on.
    let _guards: Vec<ImageRepoGuard> =
        repos.iter().rev().map(|r| ImageRepoGuard { repo: r.clone() }).collect();
    for repo in &repos {
        assert!(!image_exists(&format!("{repo}:latest")), "{repo} exists before the test");
    }
    let logs = tempfile::tempdir().unwrap();

    // Act: the whole smoke, every example spec, 3 replicas.
    let out = script("scripts/compose-smoke.sh")
        .env("RUNTIME_BASE", format!("{}:latest", repos[0]))
        .env("COORDINATOR_IMAGE", format!("{}:latest", repos[1]))
        .env("WORKER_IMAGE", format!("{}:latest", repos[2]))
        .env("SMOKE_LOG_DIR", logs.path())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();

    // Assert: exit 0 and a PASS summary as the very last line, naming every spec merged and
    // at least two replicas with jobs.
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        out.status.success() && last.starts_with("compose-smoke: PASS"),
        "compose-smoke.sh failed on a first run ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let specs = std::fs::read_dir(repo_root().join("examples/specs")).unwrap().count();
    assert!(last.contains(&format!("{specs}/{specs} specs merged")), "{last}");
    let per_replica = last
        .split("jobs per replica ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no jobs per replica in: {last}"));
    let busy = per_replica.split('/').filter(|n| n.parse::<u32>().unwrap_or(0) > 0).count();
    assert!(busy >= 2, "fewer than 2 replicas did jobs: {last}");
    for repo in &repos {
        assert!(image_exists(&format!("{repo}:latest")), "{repo}:latest was not built:\n{stderr}");
    }
}
