//! The compose deployment and its runbook stay in step with the code: the top-level
//! docker-compose.yml has the services, healthchecks and start order docs/OPERATIONS.md
//! describes, passes only `*_FILE` variables the binaries read, lets the worker scale, and
//! mounts only files that exist; docs/OPERATIONS.md explains every alert of
//! deploy/prometheus/alerts.yml. (scripts/compose-smoke.sh runs the stack itself.)
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_yaml::Value;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn yaml(path: &Path) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// docker-compose.yml with its `<<: *anchor` merge keys applied, as compose reads it.
fn compose() -> Value {
    let mut doc = yaml(&repo_root().join("docker-compose.yml"));
    doc.apply_merge().unwrap();
    doc
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    let s = &compose["services"][name];
    assert!(s.is_mapping(), "docker-compose.yml has no service {name}");
    s
}

/// Every Rust source file of the binaries and the shared crates (not their tests), concatenated.
fn rust_sources() -> String {
    let root = repo_root();
    let mut out = String::new();
    let mut dirs: Vec<PathBuf> =
        ["shared", "coordinator/src", "worker/src"].iter().map(|d| root.join(d)).collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.components().any(|c| c.as_os_str() == "src")
            {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

/// `${VAR:-default}` -> `default` (what compose uses when VAR is unset).
fn with_defaults(raw: &str) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let inner = &rest[start + 2..end];
        out.push_str(inner.split_once(":-").map_or("", |(_, d)| d));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_compose_file_has_every_service_with_health_and_start_order() {
    let c = compose();
    for name in [
        "postgres",
        "rabbitmq",
        "redis",
        "coordinator",
        "worker",
        "prometheus",
        "grafana",
        "jaeger",
        "sandbox-image",
    ] {
        service(&c, name);
    }
    for name in ["postgres", "rabbitmq", "redis", "coordinator", "worker", "prometheus", "grafana"] {
        assert!(service(&c, name)["healthcheck"]["test"].is_sequence(), "{name} has no healthcheck");
    }
    for name in ["postgres", "rabbitmq", "redis", "coordinator", "worker", "prometheus", "grafana", "jaeger"]
    {
        assert_eq!(service(&c, name)["restart"].as_str(), Some("unless-stopped"), "{name}: restart policy");
    }
    let coordinator = service(&c, "coordinator");
    for dep in ["postgres", "rabbitmq", "redis"] {
        assert_eq!(
            coordinator["depends_on"][dep]["condition"].as_str(),
            Some("service_healthy"),
            "the coordinator must wait for {dep} to be healthy"
        );
    }
    let worker = service(&c, "worker");
    assert_eq!(worker["depends_on"]["coordinator"]["condition"].as_str(), Some("service_healthy"));
    assert_eq!(
        worker["depends_on"]["sandbox-image"]["condition"].as_str(),
        Some("service_completed_successfully")
    );
    // `--scale worker=N` needs no fixed container name and no host port.
    assert!(worker["container_name"].is_null(), "a container_name forbids --scale");
    assert!(worker["ports"].is_null(), "a published port forbids --scale");
    // Both share the strategies repository volume.
    for svc in [coordinator, worker] {
        let mounts: Vec<&str> =
            svc["volumes"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(mounts.contains(&"strategies:/srv/strategies"), "{mounts:?}");
        assert!(svc["stop_grace_period"].as_str().is_some(), "a stop grace period longer than the drain");
    }
    assert!(
        c["volumes"]["strategies"].is_null() && c["volumes"].as_mapping().unwrap().contains_key("strategies")
    );
}

#[test]
fn secrets_reach_the_binaries_through_file_variables_they_read() {
    let c = compose();
    let sources = rust_sources();
    for name in ["coordinator", "worker"] {
        let env = service(&c, name)["environment"].as_mapping().unwrap();
        let secrets: Vec<&str> =
            service(&c, name)["secrets"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
        let mut file_vars = 0;
        for (key, value) in env {
            let key = key.as_str().unwrap();
            assert!(
                !matches!(key, "DATABASE_URL" | "AMQP_URL" | "REDIS_URL" | "OPENAI_API_KEY"),
                "{name}: {key} holds a password; pass {key}_FILE instead"
            );
            if let Some(plain) = key.strip_suffix("_FILE") {
                file_vars += 1;
                assert!(sources.contains(&format!("\"{key}\"")), "{name}: {key} is read by no binary");
                assert!(sources.contains(&format!("\"{plain}\"")), "{name}: {plain} is read by no binary");
                let path = value.as_str().unwrap();
                let secret = path.strip_prefix("/run/secrets/").unwrap();
                assert!(
                    secrets.contains(&secret),
                    "{name}: {key} names secret {secret}, not given to the service"
                );
            }
        }
        assert_eq!(file_vars, 3, "{name}: DATABASE_URL_FILE, AMQP_URL_FILE, REDIS_URL_FILE");
    }
    // Every secret file and every mounted repository file exists.
    let root = repo_root();
    for (name, secret) in c["secrets"].as_mapping().unwrap() {
        let file = with_defaults(secret["file"].as_str().unwrap());
        assert!(root.join(&file).is_file(), "secret {name:?}: {file} is missing");
    }
    for (name, svc) in c["services"].as_mapping().unwrap() {
        for mount in svc["volumes"].as_sequence().into_iter().flatten().filter_map(Value::as_str) {
            let mount = with_defaults(mount);
            let source = mount.split(':').next().unwrap();
            if source.starts_with("./") {
                assert!(root.join(source).exists(), "service {name:?} mounts {source}, which is missing");
            }
        }
    }
}

#[test]
fn the_runbook_explains_every_alert() {
    let root = repo_root();
    let alerts = yaml(&root.join("deploy/prometheus/alerts.yml"));
    let runbook = std::fs::read_to_string(root.join("docs/OPERATIONS.md")).unwrap();
    let mut names = Vec::new();
    for group in alerts["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            if let Some(name) = rule["alert"].as_str() {
                names.push(name.to_owned());
            }
        }
    }
    assert!(!names.is_empty(), "no alert in alerts.yml");
    for name in &names {
        assert!(
            runbook.lines().any(|l| l.starts_with(&format!("| `{name}` |"))),
            "docs/OPERATIONS.md has no table row for the alert {name}"
        );
    }
}
