//! One run is one trace. An OTLP receiver (HTTP/protobuf, `POST /v1/traces`) runs inside the
//! test; `algoagent submit`, the coordinator and two workers (one serving generate and
//! validate, the other test and merge, so the run must cross both) export to it. The run's
//! spans share one trace id, form one tree rooted at the CLI command, and each sits under the
//! span that caused it; the workers' log lines carry that trace id. A collector that does not
//! answer costs each process one warning and no job.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use algoagent_tests::{TestEnv, examples_dir};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;

/// One exported span, as the receiver decoded it.
#[derive(Debug, Clone)]
struct Recorded {
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    service: String,
    instance: String,
}

type Spans = Arc<Mutex<Vec<Recorded>>>;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(attributes: &[KeyValue], key: &str) -> String {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            AnyValue::StringValue(s) => s.clone(),
            other => format!("{other:?}"),
        })
        .unwrap_or_default()
}

async fn export(
    State(spans): State<Spans>,
    body: Bytes,
) -> ([(axum::http::HeaderName, &'static str); 1], Vec<u8>) {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
    let mut out = spans.lock().unwrap();
    for resource_spans in request.resource_spans {
        let resource = resource_spans.resource.unwrap_or_default();
        let service = attribute(&resource.attributes, "service.name");
        let instance = attribute(&resource.attributes, "service.instance.id");
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                out.push(Recorded {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    name: span.name,
                    service: service.clone(),
                    instance: instance.clone(),
                });
            }
        }
    }
    ([(CONTENT_TYPE, "application/x-protobuf")], ExportTraceServiceResponse::default().encode_to_vec())
}

/// Starts the receiver; returns its base URL (the `OTEL_EXPORTER_OTLP_ENDPOINT`) and what it
/// has received.
async fn receiver() -> (String, Spans) {
    let spans: Spans = Arc::default();
    let app = axum::Router::new().route("/v1/traces", post(export)).with_state(spans.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), spans)
}

fn snapshot(spans: &Spans) -> Vec<Recorded> {
    spans.lock().unwrap().clone()
}

/// Waits until a span named `name` has arrived in `trace`.
async fn wait_for_span(spans: &Spans, trace: &str, name: &str) -> Recorded {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(span) = snapshot(spans).into_iter().find(|s| s.trace_id == trace && s.name == name) {
            return span;
        }
        assert!(Instant::now() < deadline, "no span {name:?} in trace {trace}: {:#?}", snapshot(spans));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn one_run_is_one_trace_from_the_cli_through_the_coordinator_and_two_workers() {
    let (endpoint, spans) = receiver().await;
    let mut env = TestEnv::new().await.unwrap();
    env.extra_env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".into(), endpoint.clone()));
    // Export every 100 ms instead of every 5 s.
    env.extra_env.push(("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()));
    env.start_coordinator().await.unwrap();
    env.start_worker_with(
        &["generate", "validate"],
        &[("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=w0")],
    )
    .await
    .unwrap();
    env.start_worker_with(
        &["test", "merge", "fix"],
        &[("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=w1")],
    )
    .await
    .unwrap();

    let spec = examples_dir().join("rsi_reversal.json");
    let out = env
        .cli_with_env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)], &["submit", spec.to_str().unwrap()])
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "submit failed: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    let run_id = stdout.split("as run ").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    let run = env.wait_for_run(&run_id, Duration::from_secs(180)).await.unwrap();
    assert_eq!(run["status"], "merged", "{run}");

    // The CLI exported its command span when it exited: that is the trace's root.
    let root = snapshot(&spans).into_iter().find(|s| s.name == "algoagent submit").expect("the CLI's span");
    assert_eq!(root.service, "algoagent-cli");
    assert!(root.parent.is_empty(), "the command is the root: {root:?}");
    let trace = root.trace_id.clone();
    let merge = wait_for_span(&spans, &trace, "git.merge").await;

    // Log lines inside the trace carry its id, on both workers.
    for index in 0..2 {
        let log = env.worker_log(index);
        let started: Vec<&str> = log.lines().filter(|l| l.contains("\"message\":\"job started\"")).collect();
        assert!(!started.is_empty(), "worker {index} started no job:\n{log}");
        for line in started {
            assert!(line.contains(&format!("\"trace_id\":\"{trace}\"")), "worker {index}: {line}");
        }
    }

    // SIGTERM flushes what every process still holds.
    env.shutdown().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = snapshot(&spans);
    let in_trace: Vec<&Recorded> = all.iter().filter(|s| s.trace_id == trace).collect();
    let by_id: BTreeMap<&str, &Recorded> = in_trace.iter().map(|s| (s.span_id.as_str(), *s)).collect();

    // Every job of the run is in this trace, and nothing of it is anywhere else.
    for span in all.iter().filter(|s| s.name.starts_with("job ")) {
        assert_eq!(span.trace_id, trace, "a job span outside the run's trace: {span:?}");
    }
    // One tree: a single root, and every other span's parent was exported in the trace.
    let roots: Vec<&&Recorded> = in_trace.iter().filter(|s| s.parent.is_empty()).collect();
    assert_eq!(roots.len(), 1, "roots: {roots:#?}");
    for span in &in_trace {
        assert!(span.parent.is_empty() || by_id.contains_key(span.parent.as_str()), "orphan: {span:?}");
    }

    let find = |name: &str| -> &Recorded {
        in_trace.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no {name:?} in {in_trace:#?}"))
    };
    let parent_of = |span: &Recorded| -> &Recorded { by_id[span.parent.as_str()] };
    let ancestors = |span: &Recorded| -> Vec<String> {
        let mut names = Vec::new();
        let mut at = span;
        while let Some(parent) = by_id.get(at.parent.as_str()) {
            names.push(parent.name.clone());
            at = parent;
        }
        names
    };

    let post = find("POST /api/runs");
    assert_eq!(post.service, "algoagent-coordinator");
    assert_eq!(parent_of(post).name, "algoagent submit", "the request continues the CLI's span");

    let generate = find("job generate");
    assert_eq!((generate.service.as_str(), generate.instance.as_str()), ("algoagent-worker", "w0"));
    assert!(ancestors(generate).contains(&"POST /api/runs".to_owned()), "{:?}", ancestors(generate));
    assert_eq!(parent_of(find("rules.generate")).name, "job generate");

    let validate = find("job validate");
    assert_eq!(validate.instance, "w0");
    assert!(ancestors(validate).contains(&"job generate".to_owned()), "{:?}", ancestors(validate));
    assert_eq!(parent_of(find("validate")).name, "job validate");

    let test = find("job test");
    assert_eq!(test.instance, "w1");
    assert!(ancestors(test).contains(&"job validate".to_owned()), "{:?}", ancestors(test));
    assert!(ancestors(find("sandbox_run")).contains(&"job test".to_owned()));

    let merge_job = find("job merge");
    assert_eq!(merge_job.instance, "w1");
    assert!(ancestors(merge_job).contains(&"job test".to_owned()), "{:?}", ancestors(merge_job));
    assert_eq!(parent_of(&merge).name, "job merge");

    // The coordinator handled each job's event inside the trace, and enqueued the next job
    // from there.
    let events: BTreeSet<&str> =
        in_trace.iter().filter(|s| s.name.starts_with("event ")).map(|s| s.name.as_str()).collect();
    assert!(events.len() >= 4, "events: {events:?}");
    for span in in_trace.iter().filter(|s| s.name.starts_with("event ")) {
        assert_eq!(span.service, "algoagent-coordinator");
        assert!(parent_of(span).name.starts_with("job "), "{span:?} under {:?}", parent_of(span));
    }
}

#[tokio::test]
async fn an_unreachable_collector_costs_one_warning_per_process_and_no_job() {
    // A port that nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut env = TestEnv::new().await.unwrap();
    env.extra_env.push(("OTEL_EXPORTER_OTLP_ENDPOINT".into(), format!("http://{closed}")));
    env.extra_env.push(("OTEL_BSP_SCHEDULE_DELAY".into(), "50".into()));
    env.start_coordinator().await.unwrap();
    env.start_worker(&[]).await.unwrap();

    let mut runs = Vec::new();
    for spec in ["rsi_reversal.json", "sma_crossover.json"] {
        runs.push(env.submit_example(spec).await.unwrap());
    }
    for run_id in &runs {
        let run = env.wait_for_run(run_id, Duration::from_secs(180)).await.unwrap();
        assert_eq!(run["status"], "merged", "{run}");
    }
    // Several export rounds (every 50 ms) have failed by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = env.worker_log(0);
    let warnings = log.lines().filter(|l| l.contains("trace export failed")).count();
    assert_eq!(warnings, 1, "one warning, not one per batch:\n{log}");
    let coordinator_log = std::fs::read_to_string(env.dir.path().join("coordinator.log")).unwrap();
    let warnings = coordinator_log.lines().filter(|l| l.contains("trace export failed")).count();
    assert_eq!(warnings, 1, "{coordinator_log}");
    env.shutdown().await.unwrap();
}
