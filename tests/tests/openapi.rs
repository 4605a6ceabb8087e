//! The served OpenAPI document (`coordinator/openapi.json`) describes exactly the routes the
//! coordinator declares: every `.route(..)` and `.api_route(..)` in `coordinator/src/api/*.rs`
//! is documented, every documented operation reaches a handler of the running coordinator
//! (an `/api/` path in both spellings, with and without the trailing slash), and the
//! statuses it answers are among those documented. Adding a route without documenting it
//! fails here.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use algoagent_tests::TestEnv;
use serde_json::Value;

/// HTTP methods the route scanner understands (axum's `MethodRouter` constructors).
const METHODS: [&str; 8] = ["get", "post", "put", "delete", "patch", "head", "options", "trace"];

/// (path, method) pairs, method lower-case.
type Operations = BTreeSet<(String, String)>;

fn api_sources() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../coordinator/src/api")
}

/// Every `.route("PATH", get(..).post(..))` in `source`, comments skipped; `.api_route(..)`
/// (the path and its trailing-slash twin) counts as its declared path. Panics on a
/// method-router call it does not know, so an unusual declaration is noticed, not missed.
fn scan_routes(source: &str) -> Vec<(String, String)> {
    let code: String = source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| format!("{}\n", l.replace(".api_route(", ".route(")))
        .collect();
    for unsupported in [".nest(", ".route_service(", ".nest_service("] {
        assert!(!code.contains(unsupported), "the route scanner does not follow {unsupported}");
    }
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find(".route(") {
        rest = rest[at + ".route(".len()..].trim_start();
        let literal = rest.strip_prefix('"').expect("route path is a string literal");
        let end = literal.find('"').unwrap();
        let path = literal[..end].to_owned();
        rest = literal[end + 1..].trim_start().strip_prefix(',').expect("`,` after the route path");
        let (mut depth, mut ident, mut methods) = (0usize, String::new(), Vec::new());
        for (i, c) in rest.char_indices() {
            match c {
                '(' => {
                    if depth == 0 {
                        assert!(
                            METHODS.contains(&ident.as_str()),
                            "unknown method router `{ident}` on {path}"
                        );
                        methods.push(ident.clone());
                    }
                    depth += 1;
                    ident.clear();
                }
                ')' if depth == 0 => {
                    rest = &rest[i..];
                    break;
                }
                ')' => depth -= 1,
                c if c.is_alphanumeric() || c == '_' => ident.push(c),
                _ => ident.clear(),
            }
        }
        assert!(!methods.is_empty(), "no method found for {path}");
        found.extend(methods.into_iter().map(|m| (path.clone(), m)));
    }
    found
}

/// Every (path, method) routed by the coordinator's API modules.
fn routed() -> Operations {
    let mut ops = Operations::new();
    for entry in std::fs::read_dir(api_sources()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            for op in scan_routes(&std::fs::read_to_string(&path).unwrap()) {
                assert!(ops.insert(op.clone()), "{op:?} routed twice");
            }
        }
    }
    ops
}

/// Every (path, method) the document describes.
fn documented(doc: &Value) -> Operations {
    let mut ops = Operations::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|k| METHODS.contains(&k.as_str())) {
            ops.insert((path.clone(), method.clone()));
        }
    }
    ops
}

/// Follows a local `$ref` (`#/components/...`), or returns the value itself.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.strip_prefix('#').unwrap()).unwrap_or(&Value::Null),
        None => value,
    }
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                out.push(r);
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// A request URL for `path`: path parameters replaced by an id that exists nowhere (a random
/// UUID or 999999, per the parameter's schema), required query parameters filled from their
/// example.
fn request_url(doc: &Value, path: &str, op: &Value) -> String {
    let params: Vec<&Value> =
        op["parameters"].as_array().into_iter().flatten().map(|p| resolve(doc, p)).collect();
    let mut url = path.to_owned();
    let mut query = Vec::new();
    for p in params {
        let name = p["name"].as_str().unwrap();
        match p["in"].as_str().unwrap() {
            "path" => {
                let value = if p["schema"]["format"] == "uuid" {
                    uuid::Uuid::new_v4().to_string()
                } else {
                    assert_eq!(p["schema"]["type"], "integer", "{path}: path parameter {name} type");
                    "999999".to_owned()
                };
                url = url.replace(&format!("{{{name}}}"), &value);
            }
            "query" if p["required"] == true => {
                let example = p["example"].as_str().unwrap_or("x");
                query.push(format!("{name}={}", example.replace(' ', "%20")));
            }
            _ => {}
        }
    }
    assert!(!url.contains('{'), "{path}: a path parameter is not documented");
    if query.is_empty() { url } else { format!("{url}?{}", query.join("&")) }
}

/// The API's error shape (`error`, `details`, `code`, `timestamp`).
fn is_api_error(body: &Value) -> bool {
    ["error", "details", "code", "timestamp"].iter().all(|k| body.get(k).is_some())
}

#[test]
fn the_route_scanner_reads_chained_methods_and_skips_comments() {
    let source = r#"
        // .route("/commented", get(nothing))
        Router::new()
            .route("/a/{id}", post(submit).get(list_runs))
            .route(
                "/b/",
                get(show),
            )
    "#;
    assert_eq!(
        scan_routes(source),
        [("/a/{id}", "post"), ("/a/{id}", "get"), ("/b/", "get")]
            .map(|(p, m)| (p.to_owned(), m.to_owned()))
            .to_vec()
    );
}

#[tokio::test]
async fn the_openapi_document_covers_every_route_and_every_documented_operation_is_served() {
    // Arrange
    let env = TestEnv::start(0).await.unwrap();
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(api_sources().join("../../openapi.json")).unwrap())
            .unwrap();

    // Act
    let resp = reqwest::get(format!("{}/openapi.json", env.api)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let doc: Value = resp.json().await.unwrap();

    // Assert (a): a 3.1 document, the one in the tree, every operation summarised and answered.
    assert_eq!(doc, on_disk, "the coordinator serves a stale openapi.json: rebuild it");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "openapi: {}", doc["openapi"]);
    let documented = documented(&doc);
    for (path, method) in &documented {
        let op = &doc["paths"][path][method];
        assert!(op["summary"].as_str().is_some_and(|s| !s.trim().is_empty()), "{method} {path}: no summary");
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}: no responses");
    }
    let mut all_refs = Vec::new();
    refs(&doc, &mut all_refs);
    for r in all_refs {
        assert!(doc.pointer(r.strip_prefix('#').unwrap()).is_some(), "dangling $ref {r}");
    }

    // Assert (b): documented operations are exactly the routed ones.
    let routed = routed();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(undocumented.is_empty(), "routed but not in openapi.json: {undocumented:?}");
    assert!(unrouted.is_empty(), "in openapi.json but not routed: {unrouted:?}");

    // Assert (c): the router's own 404 and 405 have the error shape and codes of their own...
    let (status, body) = env.get("/api/nope").await.unwrap();
    assert_eq!(status, 404);
    assert!(is_api_error(&body) && body["code"] == "NO_ROUTE", "an unknown path: {body}");
    let (status, body) = env.post("/health", "{}").await.unwrap();
    assert_eq!(status, 405, "a wrong method is a 405");
    assert!(is_api_error(&body) && body["code"] == "METHOD_NOT_ALLOWED", "a wrong method: {body}");
    // ...and every documented operation reaches its handler, with a documented status.
    for (path, method) in &documented {
        let op = &doc["paths"][path][method];
        let url = request_url(&doc, path, op);
        let (status, body) = match method.as_str() {
            "get" => env.get(&url).await.unwrap(),
            "post" => env.post(&url, "{}").await.unwrap(),
            other => panic!("{other} {path}: add this method to the test"),
        };
        assert_ne!(status, 405, "{method} {url}: method not routed");
        if status == 404 {
            assert!(is_api_error(&body) && body["code"] == "NOT_FOUND", "{method} {url}: no route ({body})");
        }
        assert!(
            op["responses"].get(status.to_string()).is_some(),
            "{method} {url}: answered {status}, which openapi.json does not document ({body})"
        );
        // The other spelling of an API path reaches the same handler.
        if path.starts_with("/api/") {
            let (bare, query) = url.split_once('?').map_or((url.as_str(), None), |(b, q)| (b, Some(q)));
            let twin = if let Some(b) = bare.strip_suffix('/') { b.to_owned() } else { format!("{bare}/") };
            let twin = query.map_or(twin.clone(), |q| format!("{twin}?{q}"));
            let (twin_status, twin_body) = match method.as_str() {
                "get" => env.get(&twin).await.unwrap(),
                _ => env.post(&twin, "{}").await.unwrap(),
            };
            assert_eq!(twin_status, status, "{method} {twin}: {twin_body}");
            assert_eq!(twin_body.get("code"), body.get("code"), "{method} {twin}: {twin_body}");
        }
    }
    env.shutdown().await.unwrap();
}
