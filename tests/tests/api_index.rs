//! The original API kept: the API root lists every resource, every `/api/` route answers
//! with and without its trailing slash (routed, not redirected), and backtests are listed
//! newest first with a metrics summary, paginated, and shown one by one in full.
#![allow(clippy::unwrap_used)]

use algoagent_tests::{TestEnv, seed};
use serde_json::{Value, json};

/// A client that does not follow redirects, so a redirect cannot pass for a route.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let resp = http.get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_root_lists_every_resource_with_a_url_that_answers() {
    // Arrange
    let env = TestEnv::start(0).await.unwrap();
    let http = no_redirects();

    // Act
    let (status, index) = get(&http, &format!("{}/api/", env.api)).await;
    let (bare_status, bare_index) = get(&http, &format!("{}/api", env.api)).await;

    // Assert
    assert_eq!(status, 200, "{index}");
    assert_eq!(bare_status, 200, "{bare_index}");
    assert_eq!(index, bare_index);
    for key in ["strategies", "runs", "backtests", "jobs", "workers", "dlq", "openapi"] {
        let url = index[key].as_str().unwrap_or_else(|| panic!("no `{key}` in {index}"));
        assert!(url.starts_with(&env.api), "{key}: {url} is not absolute");
        let (status, body) = get(&http, url).await;
        assert_eq!(status, 200, "GET {url} ({key}): {body}");
    }
    let production = &index["production"];
    for (group, key) in [("strategies", "health"), ("backtests", "health")] {
        let url = production[group][key].as_str().unwrap();
        let (status, body) = get(&http, url).await;
        assert!(status == 200 || status == 503, "GET {url}: {status} {body}");
        assert!(body["overall"].is_string(), "GET {url}: {body}");
    }
    for templated in
        [&production["strategies"]["lifecycle"], &production["backtests"]["status"], &index["strategy"]]
    {
        assert!(templated.as_str().unwrap().contains("{id}"), "{templated}");
    }
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_answers_with_and_without_the_trailing_slash_without_a_redirect() {
    // Arrange: one strategy with a run, a version and a backtest, so item routes find rows.
    let env = TestEnv::start(0).await.unwrap();
    let (status, run) = env.post("/api/runs/", seed::spec("Slash_Both")).await.unwrap();
    assert_eq!(status, 202, "POST with the slash submits too: {run}");
    let run_id = run["run_id"].as_str().unwrap();
    let strategy = run["strategy_id"].as_i64().unwrap();
    let version = seed::version(&env.pool, run_id, 1, "x = 1\n").await.unwrap();
    let backtest = seed::backtest(&env.pool, version, json!({"trades": 3}), 0).await.unwrap();
    let http = no_redirects();
    let paths = [
        "/api/runs".to_owned(),
        format!("/api/runs/{run_id}"),
        "/api/strategies".to_owned(),
        format!("/api/strategies/{strategy}"),
        format!("/api/strategies/{strategy}/audit"),
        format!("/api/strategies/{strategy}/versions/1"),
        "/api/backtests".to_owned(),
        format!("/api/backtests/{backtest}"),
        "/api/jobs".to_owned(),
        "/api/workers".to_owned(),
        "/api/dlq".to_owned(),
        format!("/api/production/strategies/{strategy}/lifecycle/"),
        format!("/api/production/backtests/{backtest}/status/"),
    ];

    for path in paths {
        let twin = match path.strip_suffix('/') {
            Some(bare) => bare.to_owned(),
            None => format!("{path}/"),
        };

        // Act
        let (status, body) = get(&http, &format!("{}{path}", env.api)).await;
        let (twin_status, twin_body) = get(&http, &format!("{}{twin}", env.api)).await;

        // Assert
        assert_eq!(status, 200, "GET {path}: {body}");
        assert_eq!(twin_status, 200, "GET {twin}: {twin_body}");
        assert_eq!(
            body.as_object().map(|o| o.keys().collect::<Vec<_>>()),
            twin_body.as_object().map(|o| o.keys().collect::<Vec<_>>()),
            "{path} and {twin} differ"
        );
    }
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtests_are_listed_newest_first_with_a_metrics_summary_and_paginated() {
    // Arrange: three backtests of one run, created 30, 20 and 10 minutes ago.
    let env = TestEnv::start(0).await.unwrap();
    let (_, run) = env.post("/api/runs", seed::spec("Listed")).await.unwrap();
    let run_id = run["run_id"].as_str().unwrap();
    let mut ids = Vec::new();
    for (n, minutes_ago) in [(1, 30), (2, 20), (3, 10)] {
        let version = seed::version(&env.pool, run_id, n, &format!("x = {n}\n")).await.unwrap();
        let metrics = json!({"trades": n, "return_pct": 1.5 * f64::from(n), "sharpe": 0.5, "max_drawdown_pct": -10.0,
                             "win_rate_pct": 50.0, "exposure_pct": 77.0});
        ids.push(seed::backtest(&env.pool, version, metrics, minutes_ago).await.unwrap());
    }

    // Act
    let (status, first_page) = env.get("/api/backtests/?limit=2").await.unwrap();
    let (_, second_page) = env.get("/api/backtests?limit=2&offset=2").await.unwrap();
    let (_, by_strategy) = env.get(&format!("/api/backtests?strategy={}", run["strategy_id"])).await.unwrap();
    let (_, none) = env.get("/api/backtests?strategy=999999").await.unwrap();
    let (one_status, one) = env.get(&format!("/api/backtests/{}/", ids[0])).await.unwrap();

    // Assert: newest first, two a page, the count of all.
    assert_eq!(status, 200, "{first_page}");
    assert_eq!(first_page["count"], 3);
    let listed: Vec<i64> =
        first_page["backtests"].as_array().unwrap().iter().map(|b| b["id"].as_i64().unwrap()).collect();
    assert_eq!(listed, [ids[2], ids[1]]);
    assert_eq!(second_page["backtests"].as_array().unwrap().len(), 1);
    assert_eq!(second_page["backtests"][0]["id"], ids[0]);
    assert_eq!(by_strategy["count"], 3);
    assert_eq!(none["count"], 0);
    // A listing carries the run, strategy, version, dataset and a metrics summary.
    let newest = &first_page["backtests"][0];
    assert_eq!(newest["run_id"], run_id);
    assert_eq!(newest["strategy"], "Listed");
    assert_eq!(newest["strategy_id"], run["strategy_id"]);
    assert_eq!(newest["version"], 3);
    assert_eq!(newest["dataset"], "GOOG");
    assert_eq!(newest["metrics"]["trades"], 3);
    assert!(newest["metrics"].get("exposure_pct").is_none(), "a summary, not every metric: {newest}");
    assert!(newest.get("equity_curve").is_none());
    assert!(newest["created_at"].is_string());
    // One backtest has every metric and its equity curve.
    assert_eq!(one_status, 200, "{one}");
    assert_eq!(one["id"], ids[0]);
    assert_eq!(one["metrics"]["exposure_pct"], 77.0);
    assert_eq!(one["equity_curve"], json!([[0, 10000.0], [1, 10100.5]]));
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pagination_and_unknown_backtests_get_the_error_body_naming_what_is_wrong() {
    // Arrange
    let env = TestEnv::start(0).await.unwrap();

    for (url, param) in [
        ("/api/backtests?limit=0", "limit"),
        ("/api/backtests?limit=501", "limit"),
        ("/api/backtests?limit=ten", "limit"),
        ("/api/backtests?offset=-1", "offset"),
        ("/api/backtests?sort=asc", "sort"),
        ("/api/strategies?limit=1000", "limit"),
        ("/api/jobs?status=sleeping", "status"),
        ("/api/jobs?kind=dance", "kind"),
    ] {
        // Act
        let (status, body) = env.get(url).await.unwrap();

        // Assert
        assert_eq!(status, 400, "GET {url}: {body}");
        assert_eq!(body["code"], "BAD_QUERY", "GET {url}: {body}");
        assert_eq!(body["details"][0]["loc"][0], param, "GET {url}: {body}");
    }
    let (status, body) = env.get("/api/backtests/999999/").await.unwrap();
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "NOT_FOUND");
    let (status, body) = env.get("/api/backtests/abc").await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "BAD_ID");
    let (status, body) = env.get("/api/backtests?limit=500").await.unwrap();
    assert_eq!(status, 200, "the largest page is allowed: {body}");
    assert_eq!(body["limit"], 500);
    env.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_spelling_of_a_path_needs_the_same_api_key_role() {
    // Arrange: keys exist, so the API is closed; one viewer key.
    let env = TestEnv::start(0).await.unwrap();
    let out =
        env.coordinator_command(&["keys", "create", "--name", "reader", "--role", "viewer"]).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let viewer = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let http = no_redirects();
    let send = |method: reqwest::Method, path: &str, key: Option<&str>| {
        let mut req =
            http.request(method, format!("{}{path}", env.api)).header("content-type", "application/json");
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        req.body(seed::spec("Sneaky")).send()
    };

    for (method, path, key, expected) in [
        (reqwest::Method::POST, "/api/runs/", None, 401),
        (reqwest::Method::POST, "/api/runs/", Some(viewer.as_str()), 403),
        (reqwest::Method::GET, "/api/", None, 401),
        (reqwest::Method::GET, "/api/dlq/", Some(viewer.as_str()), 403),
        (reqwest::Method::POST, "/api/production/strategies/1/deploy", Some(viewer.as_str()), 403),
        (reqwest::Method::POST, "/api/production/strategies/1/rollback", Some(viewer.as_str()), 403),
        (reqwest::Method::GET, "/api/production/strategies/health", None, 503),
        (reqwest::Method::GET, "/api/backtests/", Some(viewer.as_str()), 200),
    ] {
        // Act
        let resp = send(method.clone(), path, key).await.unwrap();

        // Assert
        assert_eq!(resp.status().as_u16(), expected, "{method} {path} with {key:?}");
    }
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM runs").fetch_one(&env.pool).await.unwrap();
    assert_eq!(runs, 0, "no refused submission stored a run");
    env.shutdown().await.unwrap();
}
