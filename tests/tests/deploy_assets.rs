//! `deploy/` only uses metrics that exist: every `algoagent_*` metric in the Prometheus alert
//! rules and in every query of the Grafana dashboard is emitted by a live coordinator's or a
//! live worker's `GET /metrics` (after a run that went through the LLM, a refusal, a fix, a
//! rate-limit wait and a merge, plus a dead letter), every label they match on or aggregate
//! by is a label of that metric, and every label value they match is one the code can write.
//! The dashboard shows every metric family there is. The alert rules, the dashboard and the
//! provisioning files are well-formed.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use algoagent_core::{JobKind, JobStatus, RunStatus};
use algoagent_tests::TestEnv;
use algoagent_tests::fake_llm::{FakeLlm, Reply, valid_strategy};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

/// Outcomes a finished job is counted with (`algoagent_jobs_finished_total`).
const JOB_OUTCOMES: [&str; 4] = ["succeeded", "failed", "transient", "poison"];

/// How a sandbox run can end (`SandboxRun::exit_reason`, `SandboxError::exit_reason`).
const EXIT_REASONS: [&str; 10] = [
    "ok",
    "timeout",
    "oom",
    "code_error",
    "invalid_request",
    "output_limit",
    "no_result",
    "cancelled",
    "image_missing",
    "engine_error",
];

/// Outcomes an LLM request is recorded with (`algoagent_core::LlmCall::outcome`).
const LLM_OUTCOMES: [&str; 9] =
    ["ok", "invalid_output", "refused", "http_429", "http_4xx", "http_5xx", "timeout", "connection", "error"];

/// Metric name -> label names seen on its samples.
type Catalog = BTreeMap<String, BTreeSet<String>>;

fn deploy_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(rel)
}

fn read_yaml(rel: &str) -> Yaml {
    let text = std::fs::read_to_string(deploy_path(rel)).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("deploy/{rel} is not YAML: {e}"))
}

fn read_dashboard() -> Json {
    let text = std::fs::read_to_string(deploy_path("grafana/dashboards/algoagent.json")).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("the dashboard is not JSON: {e}"))
}

fn seq<'a>(value: &'a Yaml, key: &str, what: &str) -> &'a Vec<Yaml> {
    let items = value[key].as_sequence().unwrap_or_else(|| panic!("{what}: '{key}' is not a list"));
    assert!(!items.is_empty(), "{what}: '{key}' is empty");
    items
}

fn text<'a>(value: &'a Yaml, what: &str) -> &'a str {
    let s = value.as_str().unwrap_or_else(|| panic!("{what} is missing or not a string"));
    assert!(!s.trim().is_empty(), "{what} is empty");
    s
}

/// `(where, expr)` of every alert rule.
fn alert_expressions() -> Vec<(String, String)> {
    let doc = read_yaml("prometheus/alerts.yml");
    let mut out = Vec::new();
    for group in seq(&doc, "groups", "alerts.yml") {
        for rule in seq(group, "rules", "alerts.yml group") {
            let name = rule["alert"].as_str().unwrap_or("?");
            out.push((format!("alerts.yml {name}"), text(&rule["expr"], name).to_owned()));
        }
    }
    out
}

/// Every `expr` string anywhere in a JSON value, with a path to it.
fn json_exprs(value: &Json, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Json::Object(map) => {
            let here = map.get("title").and_then(Json::as_str).map_or(at.to_owned(), |t| format!("{at}/{t}"));
            for (key, child) in map {
                if key == "expr"
                    && let Some(expr) = child.as_str()
                {
                    out.push((here.clone(), expr.to_owned()));
                } else {
                    json_exprs(child, &here, out);
                }
            }
        }
        Json::Array(items) => items.iter().for_each(|item| json_exprs(item, at, out)),
        _ => {}
    }
}

/// `(where, expr)` of every query of the dashboard.
fn dashboard_expressions() -> Vec<(String, String)> {
    let mut out = Vec::new();
    json_exprs(&read_dashboard(), "algoagent.json", &mut out);
    out
}

/// Metric names of a Prometheus text exposition with the label names of their samples. A
/// metric announced by `# TYPE` without samples is present with no labels.
fn parse_exposition(text: &str) -> Catalog {
    let mut catalog = Catalog::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            catalog.entry(rest.split_whitespace().next().unwrap().to_owned()).or_default();
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let end = line.find(|c: char| c == '{' || c.is_whitespace()).unwrap();
        let labels = catalog.entry(line[..end].to_owned()).or_default();
        if !line[end..].starts_with('{') {
            continue;
        }
        let mut chars = line[end + 1..].chars().peekable();
        loop {
            while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
            if matches!(chars.peek(), Some('}') | None) {
                break;
            }
            let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
            labels.insert(name.trim().to_owned());
            assert_eq!(chars.next(), Some('"'), "label {name} has no quoted value: {line}");
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => break,
                    _ => {}
                }
            }
        }
    }
    catalog
}

/// A token of a PromQL expression; ranges (`[5m]`, `[$__rate_interval]`) and numbers are
/// opaque.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Punct(char),
    Other,
}

fn tokenize(expr: &str) -> Vec<Tok> {
    let chars: Vec<char> = expr.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if matches!(c, '"' | '\'' | '`') {
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && c != '`' {
                    i += 1;
                }
                if let Some(&ch) = chars.get(i) {
                    s.push(ch);
                }
                i += 1;
            }
            i += 1;
            toks.push(Tok::Str(s));
        } else if c == '[' {
            while i < chars.len() && chars[i] != ']' {
                i += 1;
            }
            i += 1;
            toks.push(Tok::Other);
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (word(chars[i]) || chars[i] == '.') {
                i += 1;
            }
            toks.push(Tok::Other);
        } else if word(c) {
            let start = i;
            while i < chars.len() && word(chars[i]) {
                i += 1;
            }
            toks.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            toks.push(Tok::Punct(c));
            i += 1;
        }
    }
    toks
}

fn is_ours(name: &str) -> bool {
    name.starts_with("algoagent_")
}

/// The `algoagent_*` metrics an expression names.
fn metrics_in(toks: &[Tok]) -> BTreeSet<String> {
    toks.iter()
        .filter_map(|t| match t {
            Tok::Ident(n) if is_ours(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

/// Index of the bracket closing the `open` one at `from`.
fn closing(toks: &[Tok], from: usize, open: char, close: char) -> Option<usize> {
    let mut depth = 0;
    for (j, tok) in toks.iter().enumerate().skip(from) {
        match tok {
            Tok::Punct(c) if *c == open => depth += 1,
            Tok::Punct(c) if *c == close => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// Index of the `(` matching the `)` at `to`.
fn opening(toks: &[Tok], to: usize) -> Option<usize> {
    let mut depth = 0;
    for j in (0..=to).rev() {
        match &toks[j] {
            Tok::Punct(')') => depth += 1,
            Tok::Punct('(') => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// Label names inside the parenthesised list opened at `open`.
fn label_list(toks: &[Tok], open: usize) -> (Vec<String>, usize) {
    let close = closing(toks, open, '(', ')').unwrap_or(toks.len() - 1);
    let labels = toks[open + 1..close]
        .iter()
        .filter_map(|t| match t {
            Tok::Ident(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    (labels, close)
}

/// The values the code can write for `label` of `metric`, where they are a closed set.
fn known_values(metric: &str, label: &str, value: &str) -> Option<bool> {
    let llm = metric.starts_with("algoagent_llm_");
    match (metric, label) {
        ("algoagent_runs", "status") => Some(value.parse::<RunStatus>().is_ok()),
        ("algoagent_run_transitions_total", "to") => Some(value.parse::<RunStatus>().is_ok()),
        ("algoagent_jobs", "status") => Some(value.parse::<JobStatus>().is_ok()),
        ("algoagent_dead_letters_total", "kind") => {
            Some(value == "unknown" || JobKind::ALL.iter().any(|k| k.as_str() == value))
        }
        (_, "kind") => Some(JobKind::ALL.iter().any(|k| k.as_str() == value)),
        ("algoagent_jobs_finished_total", "outcome") => Some(JOB_OUTCOMES.contains(&value)),
        ("algoagent_sandbox_runs_total", "exit_reason") => Some(EXIT_REASONS.contains(&value)),
        (_, "outcome") if llm => Some(LLM_OUTCOMES.contains(&value)),
        ("algoagent_llm_tokens_total", "type") => Some(["prompt", "completion"].contains(&value)),
        ("algoagent_git_merge_conflicts_total", "type") => {
            Some(["ref_race", "ref_locked", "push_rejected", "content"].contains(&value))
        }
        (_, "budget") => Some(["llm_requests", "llm_tokens", "submissions"].contains(&value)),
        (_, "role") => Some(["consumer", "control", "relay"].contains(&value)),
        _ => None,
    }
}

/// The metric family a sample name belongs to: a histogram's `_bucket`, `_sum` and `_count`
/// series are one family with the name its `# TYPE` line announces.
fn family<'a>(name: &'a str, catalog: &Catalog) -> &'a str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix).filter(|base| catalog.contains_key(*base)))
        .unwrap_or(name)
}

/// An unsafe module (imports `os`): the validator refuses it.
fn unsafe_strategy(class: &str) -> String {
    valid_strategy(class)
        .replace("from backtesting import Strategy\n", "import os\nfrom backtesting import Strategy\n")
}

/// What is wrong with `expr` against the metrics of `catalog`: unknown `algoagent_*`
/// metrics, labels they lack in selectors and in `by`/`without`/`on`/`ignoring`/`group_*`
/// clauses, and matched label values the code never writes.
fn check_expr(expr: &str, catalog: &Catalog) -> Vec<String> {
    let toks = tokenize(expr);
    let mut problems = Vec::new();
    let labels_of = |metric: &str| catalog.get(metric).cloned().unwrap_or_default();
    for (i, tok) in toks.iter().enumerate() {
        let next_is_paren = matches!(toks.get(i + 1), Some(Tok::Punct('(')));
        match tok {
            Tok::Ident(name) if is_ours(name) && !catalog.contains_key(name) => {
                problems.push(format!("metric {name} is not emitted by /metrics"));
            }
            Tok::Punct('{') => {
                let metric = match i.checked_sub(1).map(|j| &toks[j]) {
                    Some(Tok::Ident(m)) => m.clone(),
                    _ => {
                        problems.push("a selector without a metric name".into());
                        continue;
                    }
                };
                let close = closing(&toks, i, '{', '}').unwrap_or(toks.len());
                let mut j = i + 1;
                while j < close {
                    let Tok::Ident(label) = &toks[j] else {
                        j += 1;
                        continue;
                    };
                    let mut op = String::new();
                    j += 1;
                    while let Some(Tok::Punct(c)) = toks.get(j).filter(|_| j < close) {
                        op.push(*c);
                        j += 1;
                    }
                    let value = match toks.get(j) {
                        Some(Tok::Str(v)) => v.clone(),
                        _ => String::new(),
                    };
                    if label == "__name__" {
                        problems.push("__name__ matchers hide metric names from this check".into());
                    }
                    if !is_ours(&metric) || !catalog.contains_key(&metric) {
                        continue;
                    }
                    if !labels_of(&metric).contains(label) {
                        problems.push(format!("{metric} has no label '{label}'"));
                        continue;
                    }
                    let alternatives: Vec<&str> = if op.contains('~') {
                        if value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '|') {
                            value.split('|').collect()
                        } else {
                            Vec::new() // a real regex: not checked
                        }
                    } else {
                        vec![value.as_str()]
                    };
                    for v in alternatives.into_iter().filter(|v| !v.is_empty()) {
                        if known_values(&metric, label, v) == Some(false) {
                            problems.push(format!("{metric}{{{label}}} is never '{v}'"));
                        }
                    }
                }
            }
            Tok::Ident(kw) if (kw == "by" || kw == "without") && next_is_paren => {
                let (labels, close) = label_list(&toks, i + 1);
                // `sum by (l) (ARG)` or `sum (ARG) by (l)`.
                let arg = match i.checked_sub(1).map(|j| &toks[j]) {
                    Some(Tok::Ident(_)) if matches!(toks.get(close + 1), Some(Tok::Punct('('))) => {
                        closing(&toks, close + 1, '(', ')').map(|end| &toks[close + 1..=end])
                    }
                    Some(Tok::Punct(')')) => opening(&toks, i - 1).map(|start| &toks[start..i]),
                    _ => None,
                };
                let Some(arg) = arg else {
                    problems.push(format!("cannot tell what '{kw} (...)' aggregates"));
                    continue;
                };
                for metric in metrics_in(arg).iter().filter(|m| catalog.contains_key(*m)) {
                    for label in labels.iter().filter(|l| !labels_of(metric).contains(*l)) {
                        problems.push(format!("{kw} ({label}) over {metric}, which has no label '{label}'"));
                    }
                }
            }
            Tok::Ident(kw)
                if ["on", "ignoring", "group_left", "group_right"].contains(&kw.as_str())
                    && next_is_paren =>
            {
                let (labels, _) = label_list(&toks, i + 1);
                let all: BTreeSet<String> = metrics_in(&toks).iter().flat_map(|m| labels_of(m)).collect();
                for label in labels.iter().filter(|l| !all.contains(*l)) {
                    problems.push(format!("{kw} ({label}): no metric of the expression has '{label}'"));
                }
            }
            _ => {}
        }
    }
    problems
}

#[test]
fn the_checker_accepts_real_usage_and_rejects_misspelled_metrics_labels_and_values() {
    let catalog: Catalog = [
        ("algoagent_jobs", &["kind", "status"][..]),
        ("algoagent_runs", &["status"][..]),
        ("algoagent_llm_requests_total", &["provider", "model", "outcome"][..]),
    ]
    .into_iter()
    .map(|(m, ls)| (m.to_owned(), ls.iter().map(|l| (*l).to_owned()).collect()))
    .collect();
    for good in [
        r#"sum by (kind) (algoagent_jobs{status="queued"})"#,
        r#"sum(max by (kind, status) (algoagent_jobs{status=~"queued|running"})) > 0"#,
        "max(algoagent_runs) by (status)",
        r#"sum by (provider) (rate(algoagent_llm_requests_total{outcome!="ok"}[$__rate_interval]))"#,
        r#"up{job="x"} == 0 and on() max(algoagent_runs{status=~"fail.*"}) > 0"#,
    ] {
        assert_eq!(check_expr(good, &catalog), Vec::<String>::new(), "{good}");
    }
    for (bad, problem) in [
        ("max(algoagent_job)", "metric algoagent_job is not emitted"),
        ("sum by (knd) (algoagent_jobs)", "no label 'knd'"),
        ("sum(algoagent_runs) by (kind)", "no label 'kind'"),
        (r#"algoagent_jobs{stauts="queued"}"#, "no label 'stauts'"),
        (r#"algoagent_jobs{status="runing"}"#, "never 'runing'"),
        (r#"algoagent_jobs{kind=~"test|deploy"}"#, "never 'deploy'"),
        (r#"rate(algoagent_llm_requests_total{outcome="429"}[5m])"#, "never '429'"),
        (r#"{__name__="algoagent_typo"}"#, "without a metric name"),
        ("algoagent_runs * on (kind) algoagent_runs", "no metric of the expression has 'kind'"),
    ] {
        let problems = check_expr(bad, &catalog);
        assert!(problems.iter().any(|p| p.contains(problem)), "{bad}: {problems:?}");
    }
}

#[test]
fn alert_rules_each_have_an_expression_a_duration_a_severity_and_annotations() {
    let doc = read_yaml("prometheus/alerts.yml");
    let mut names = BTreeSet::new();
    for group in seq(&doc, "groups", "alerts.yml") {
        text(&group["name"], "a group's name");
        for rule in seq(group, "rules", "alerts.yml group") {
            let name = text(&rule["alert"], "a rule's 'alert'");
            assert!(names.insert(name.to_owned()), "alert {name} is defined twice");
            text(&rule["expr"], &format!("{name}: expr"));
            let duration = text(&rule["for"], &format!("{name}: for"));
            let (num, unit) = duration.split_at(duration.len() - 1);
            assert!(
                num.parse::<u32>().is_ok() && ["s", "m", "h", "d"].contains(&unit),
                "{name}: 'for: {duration}' is not a duration"
            );
            let severity = text(&rule["labels"]["severity"], &format!("{name}: labels.severity"));
            assert!(["critical", "warning", "info"].contains(&severity), "{name}: severity {severity}");
            text(&rule["annotations"]["summary"], &format!("{name}: annotations.summary"));
            text(&rule["annotations"]["description"], &format!("{name}: annotations.description"));
        }
    }

    // prometheus.yml loads this file, and `up{job=...}` names a job it scrapes.
    let config = read_yaml("prometheus/prometheus.yml");
    let rule_files: Vec<&str> =
        seq(&config, "rule_files", "prometheus.yml").iter().filter_map(Yaml::as_str).collect();
    assert!(rule_files.contains(&"alerts.yml"), "{rule_files:?}");
    for file in rule_files {
        assert!(deploy_path("prometheus").join(file).exists(), "rule file {file} is missing");
    }
    let jobs: Vec<&str> = seq(&config, "scrape_configs", "prometheus.yml")
        .iter()
        .inspect(|job| assert_eq!(job["metrics_path"].as_str(), Some("/metrics")))
        .map(|job| text(&job["job_name"], "job_name"))
        .collect();
    for (source, expr) in alert_expressions().into_iter().chain(dashboard_expressions()) {
        let toks = tokenize(&expr);
        for (i, window) in toks.windows(5).enumerate() {
            if let [Tok::Ident(m), Tok::Punct('{'), Tok::Ident(l), Tok::Punct('='), Tok::Str(job)] = window
                && m == "up"
                && l == "job"
            {
                assert!(jobs.contains(&job.as_str()), "{source}: job '{job}' is not scraped (token {i})");
            }
        }
    }
}

#[test]
fn the_dashboard_is_grafana_json_whose_panels_have_titles_and_queries_on_the_provisioned_source() {
    let datasources = read_yaml("grafana/provisioning/datasources/prometheus.yml");
    let source = &seq(&datasources, "datasources", "datasources")[0];
    assert_eq!(source["type"].as_str(), Some("prometheus"));
    let uid = text(&source["uid"], "the data source uid");
    let providers = read_yaml("grafana/provisioning/dashboards/algoagent.yml");
    for provider in seq(&providers, "providers", "dashboard providers") {
        assert_eq!(provider["type"].as_str(), Some("file"));
        text(&provider["options"]["path"], "the provider's options.path");
    }

    let dashboard = read_dashboard();
    assert!(dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()), "the dashboard has no uid");
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()), "the dashboard has no title");
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "schemaVersion");
    let mut panels: Vec<&Json> = dashboard["panels"].as_array().unwrap().iter().collect();
    let mut ids = BTreeSet::new();
    let mut seen = 0;
    while let Some(panel) = panels.pop() {
        if panel["type"] == "row" {
            panels.extend(panel["panels"].as_array().into_iter().flatten());
            continue;
        }
        seen += 1;
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(!title.trim().is_empty(), "a panel has no title: {panel}");
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "panel id of '{title}' is not unique");
        assert!(["timeseries", "stat"].contains(&panel["type"].as_str().unwrap()), "'{title}': type");
        let targets = panel["targets"].as_array().unwrap_or_else(|| panic!("'{title}' has no targets"));
        assert!(!targets.is_empty(), "'{title}' has no targets");
        assert_eq!(panel["datasource"]["uid"].as_str(), Some(uid), "'{title}': data source");
        for target in targets {
            assert!(target["expr"].as_str().is_some_and(|e| !e.trim().is_empty()), "'{title}': {target}");
            assert_eq!(target["datasource"]["uid"].as_str(), Some(uid), "'{title}': target data source");
        }
    }
    assert!(seen > 0, "the dashboard has no panels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_and_label_the_alerts_and_the_dashboard_use_is_emitted_by_metrics() {
    // Arrange: a coordinator, a worker for the model steps and one for the rest, whose code
    // provider is a scripted OpenAI-compatible endpoint: broken JSON (retried at once, so it
    // waits for the budget of 6 requests a minute), unsafe code (refused), then a fix.
    let fake = FakeLlm::start(vec![
        Reply::Raw("this is not JSON".into()),
        Reply::json(unsafe_strategy("SmaCross"), "SmaCross"),
        Reply::json(valid_strategy("SmaCross"), "SmaCross"),
    ])
    .await;
    let mut env = TestEnv::new().await.unwrap();
    for (k, v) in [
        ("LLM_PROVIDER", "openai"),
        ("OPENAI_BASE_URL", fake.base_url.as_str()),
        ("OPENAI_API_KEY", "sk-test-deploy-assets"),
        ("LLM_MODEL", "fake-model"),
        ("LLM_PRICES", "fake-model=1/2"),
        ("LLM_RPM", "6"),
        ("LLM_RATE_WAIT_SECS", "30"),
    ] {
        env.extra_env.push((k.into(), v.into()));
    }
    env.start_coordinator().await.unwrap();
    env.start_worker(&["generate", "fix"]).await.unwrap();
    env.start_worker(&["validate", "test", "merge"]).await.unwrap();
    let run_id = env.submit_example("sma_crossover.json").await.unwrap();
    let run = env.wait_for_run(&run_id, Duration::from_secs(300)).await.unwrap();
    assert_eq!(run["status"], "merged", "run {run_id} ended {}: {}", run["status"], run["error"]);
    // A message no worker can decode: one dead letter.
    let (_conn, channel) = env.amqp_channel().await.unwrap();
    algoagent_jobs::queue::publish_confirmed(
        &channel,
        &env.names().jobs_exchange(),
        "generate",
        b"not an envelope",
        &Default::default(),
    )
    .await
    .unwrap();
    // Worker 0 serves generate; it counts the dead letter once it is committed.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = reqwest::get(env.worker_metrics_url(0)).await.unwrap().text().await.unwrap();
        if text.contains(r#"algoagent_dead_letters_total{kind="unknown",reason="undecodable"} 1"#) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the poison message was never dead-lettered:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Act: scrape every process.
    let mut urls = vec![format!("{}/metrics", env.api)];
    urls.extend((0..env.worker_count()).map(|i| env.worker_metrics_url(i).to_owned()));
    let mut exposition = String::new();
    let mut catalog = Catalog::new();
    for url in &urls {
        let resp = reqwest::get(url).await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        let text = resp.text().await.unwrap();
        for (metric, labels) in parse_exposition(&text) {
            catalog.entry(metric).or_default().extend(labels);
        }
        exposition.push_str(&text);
    }

    // Assert: the labelled series exist, so label checks below are meaningful.
    for (metric, labels) in [
        ("algoagent_runs", &["status"][..]),
        ("algoagent_jobs", &["kind", "status"][..]),
        ("algoagent_llm_requests_total", &["provider", "model", "outcome"][..]),
        ("algoagent_llm_tokens_total", &["provider", "model", "outcome", "type"][..]),
        ("algoagent_llm_cost_usd_total", &["provider", "model", "outcome"][..]),
        ("algoagent_validator_refusals_total", &["rule"][..]),
        ("algoagent_dead_letters_total", &["kind", "reason"][..]),
        ("algoagent_ratelimit_wait_seconds_bucket", &["budget", "le"][..]),
        ("algoagent_http_requests_total", &["method", "route", "status"][..]),
    ] {
        let have = catalog.get(metric).unwrap_or_else(|| panic!("{metric} missing:\n{exposition}"));
        assert!(labels.iter().all(|l| have.contains(*l)), "{metric} has labels {have:?}:\n{exposition}");
    }

    let alerts = alert_expressions();
    let dashboard = dashboard_expressions();
    assert!(!alerts.is_empty() && !dashboard.is_empty());
    let mut problems = Vec::new();
    for (source, expr) in alerts.iter().chain(&dashboard) {
        for problem in check_expr(expr, &catalog) {
            problems.push(format!(
                "{source}: {problem}\n    in: {}",
                expr.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
    }
    assert!(problems.is_empty(), "deploy/ uses what /metrics does not emit:\n{}", problems.join("\n"));

    // The dashboard shows every metric family there is.
    let shown: BTreeSet<String> = dashboard
        .iter()
        .flat_map(|(_, e)| metrics_in(&tokenize(e)))
        .map(|m| family(&m, &catalog).to_owned())
        .collect();
    let missing: Vec<&str> = catalog
        .keys()
        .filter(|m| is_ours(m))
        .map(|m| family(m, &catalog))
        .filter(|m| !shown.contains(*m))
        .collect();
    assert!(missing.is_empty(), "no dashboard panel shows {missing:?}");
    env.shutdown().await.unwrap();
}
