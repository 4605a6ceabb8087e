//! `deploy/k8s/base`, the kustomize base for Kubernetes, is valid and says what it means:
//! `scripts/check-k8s.sh` validates every manifest strictly against the Kubernetes schemas
//! and KEDA's, and fails (naming the file) on an unknown field, a wrong trigger field or a
//! file kustomize would not apply; every KEDA ScaledObject scales its Deployment on the
//! queues of exactly the kinds that Deployment's `--kinds` serves; every container but the
//! Docker-in-Docker engine runs non-root, hardened, with requests and limits.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use algoagent_core::JobKind;
use serde::Deserialize as _;
use serde_yaml::Value as Yaml;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn base_dir() -> PathBuf {
    repo_root().join("deploy/k8s/base")
}

/// Runs `scripts/check-k8s.sh [dir]`; returns its output and stdout+stderr as text.
fn check_k8s(dir: Option<&Path>) -> (Output, String) {
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join("scripts/check-k8s.sh"));
    if let Some(dir) = dir {
        cmd.arg(dir);
    }
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, text)
}

/// A copy of the base in a temporary directory.
fn copy_of_base() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(base_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    dir
}

/// Replaces the first `from` in `file` of `dir` with `to`; the text must be there.
fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no '{from}'");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// Every document of every resource the kustomization lists, by file.
fn base_documents() -> Vec<(String, Yaml)> {
    let base = base_dir();
    let kustomization: Yaml =
        serde_yaml::from_str(&std::fs::read_to_string(base.join("kustomization.yaml")).unwrap()).unwrap();
    let mut docs = Vec::new();
    for file in kustomization["resources"].as_sequence().unwrap() {
        let file = file.as_str().unwrap();
        let text = std::fs::read_to_string(base.join(file)).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = Yaml::deserialize(doc).unwrap_or_else(|e| panic!("{file} is not YAML: {e}"));
            if !value.is_null() {
                docs.push((file.to_owned(), value));
            }
        }
    }
    docs
}

fn of_kind<'a>(docs: &'a [(String, Yaml)], kind: &str) -> Vec<&'a Yaml> {
    docs.iter().filter(|(_, d)| d["kind"].as_str() == Some(kind)).map(|(_, d)| d).collect()
}

fn name(doc: &Yaml) -> &str {
    doc["metadata"]["name"].as_str().unwrap()
}

/// The job kinds a worker Deployment's container passes as `--kinds` (`--kinds=a,b` or
/// `--kinds a,b`), or `None` for a Deployment that runs no worker.
fn served_kinds(deployment: &Yaml) -> Option<BTreeSet<String>> {
    for container in deployment["spec"]["template"]["spec"]["containers"].as_sequence().unwrap() {
        let args: Vec<&str> =
            container["args"].as_sequence().into_iter().flatten().map(|a| a.as_str().unwrap()).collect();
        for (i, arg) in args.iter().enumerate() {
            let value = match arg.strip_prefix("--kinds") {
                Some(rest) if rest.starts_with('=') => &rest[1..],
                Some("") => args.get(i + 1).copied().unwrap_or_default(),
                _ => continue,
            };
            return Some(value.split(',').map(str::to_owned).collect());
        }
    }
    None
}

#[test]
fn the_kubernetes_base_passes_the_strict_schema_check() {
    // Arrange: the base as committed.

    // Act
    let (out, text) = check_k8s(None);

    // Assert
    assert!(out.status.success(), "scripts/check-k8s.sh failed:\n{text}");
    assert!(text.contains("valid (Kubernetes"), "no summary line:\n{text}");
}

#[test]
fn an_unknown_field_in_a_deployment_fails_the_check_naming_the_file() {
    // Arrange: a misspelt field in the pod spec of one Deployment.
    let dir = copy_of_base();
    edit(
        dir.path(),
        "worker-test-deployment.yaml",
        "      automountServiceAccountToken: false\n",
        "      automountServiceAccountToken: false\n      terminationGracePeriod: 60\n",
    );

    // Act
    let (out, text) = check_k8s(Some(dir.path()));

    // Assert
    assert!(!out.status.success(), "the check passed an unknown field:\n{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("ERROR") && l.contains("worker-test-deployment.yaml"))
        .unwrap_or_else(|| panic!("no error names worker-test-deployment.yaml:\n{text}"));
    assert!(line.contains("terminationGracePeriod"), "the error does not name the field: {line}");
    assert_eq!(text.lines().filter(|l| l.starts_with("ERROR")).count(), 1, "other files blamed:\n{text}");
}

#[test]
fn a_scaled_object_with_a_wrong_trigger_field_fails_the_check_naming_the_file() {
    // Arrange: the rabbitmq trigger's queue named by a parameter the scaler does not have.
    let dir = copy_of_base();
    edit(
        dir.path(),
        "keda-scaledobjects.yaml",
        "queueName: algoagent.jobs.test",
        "queue: algoagent.jobs.test",
    );

    // Act
    let (out, text) = check_k8s(Some(dir.path()));

    // Assert
    assert!(!out.status.success(), "the check passed a wrong trigger field:\n{text}");
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("ERROR")).collect();
    assert!(!errors.is_empty(), "no ERROR line:\n{text}");
    assert!(
        errors
            .iter()
            .all(|l| l.contains("keda-scaledobjects.yaml") && l.contains("ScaledObject/worker-test")),
        "errors do not name the file and object:\n{text}"
    );
    assert!(errors.iter().any(|l| l.contains("'queue'")), "no error names the field:\n{text}");
}

#[test]
fn a_manifest_the_kustomization_does_not_list_fails_the_check() {
    // Arrange: a valid manifest that `kubectl apply -k` would silently leave out.
    let dir = copy_of_base();
    std::fs::write(
        dir.path().join("extra-configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  A: b\n",
    )
    .unwrap();

    // Act
    let (out, text) = check_k8s(Some(dir.path()));

    // Assert
    assert!(!out.status.success(), "the check passed an unlisted file:\n{text}");
    assert!(
        text.lines().any(|l| l.starts_with("ERROR")
            && l.contains("extra-configmap.yaml")
            && l.contains("not listed")),
        "no error names the unlisted file:\n{text}"
    );
}

#[test]
fn every_scaled_object_scales_its_deployment_on_the_queues_of_the_kinds_it_serves() {
    // Arrange
    let docs = base_documents();
    let config = of_kind(&docs, "ConfigMap").into_iter().find(|c| name(c) == "algoagent-config").unwrap();
    let namespace = config["data"]["ALGOAGENT_NAMESPACE"].as_str().unwrap();
    let workers: BTreeMap<&str, BTreeSet<String>> =
        of_kind(&docs, "Deployment").into_iter().filter_map(|d| Some((name(d), served_kinds(d)?))).collect();
    let auths: Vec<&Yaml> = of_kind(&docs, "TriggerAuthentication");
    let secret = of_kind(&docs, "Secret").into_iter().find(|s| name(s) == "algoagent-secrets").unwrap();

    // Act
    let scaled: Vec<&Yaml> = of_kind(&docs, "ScaledObject");

    // Assert: the kinds are real and every kind is served by one worker group.
    assert_eq!(namespace, "algoagent");
    assert_eq!(workers.len(), 3, "worker Deployments: {workers:?}");
    let mut all = Vec::new();
    for (deployment, kinds) in &workers {
        for kind in kinds {
            assert!(kind.parse::<JobKind>().is_ok(), "{deployment} serves unknown kind '{kind}'");
            all.push(kind.clone());
        }
    }
    all.sort();
    let mut expected: Vec<String> = JobKind::ALL.iter().map(|k| k.as_str().to_owned()).collect();
    expected.sort();
    assert_eq!(all, expected, "each kind must be served by exactly one worker Deployment");

    // One ScaledObject per worker Deployment, one trigger per kind it serves.
    let targets: BTreeSet<&str> =
        scaled.iter().map(|s| s["spec"]["scaleTargetRef"]["name"].as_str().unwrap()).collect();
    assert_eq!(targets, workers.keys().copied().collect(), "ScaledObject targets");
    assert_eq!(scaled.len(), workers.len(), "one ScaledObject per worker Deployment");
    for so in &scaled {
        let spec = &so["spec"];
        let target = spec["scaleTargetRef"]["name"].as_str().unwrap();
        assert_eq!(spec["scaleTargetRef"]["kind"].as_str(), Some("Deployment"), "{}", name(so));
        assert_eq!(spec["minReplicaCount"].as_u64(), Some(1), "{}", name(so));
        let max = spec["maxReplicaCount"].as_u64().unwrap();
        assert!((1..=50).contains(&max), "{}: maxReplicaCount {max}", name(so));
        let mut queues = BTreeSet::new();
        for trigger in spec["triggers"].as_sequence().unwrap() {
            let meta = &trigger["metadata"];
            assert_eq!(trigger["type"].as_str(), Some("rabbitmq"), "{}", name(so));
            assert_eq!(meta["mode"].as_str(), Some("QueueLength"), "{}", name(so));
            let queue = meta["queueName"].as_str().unwrap();
            let kind = queue
                .strip_prefix(&format!("{namespace}.jobs."))
                .unwrap_or_else(|| panic!("{}: queue {queue} is not {namespace}.jobs.<kind>", name(so)));
            assert!(
                workers[target].contains(kind),
                "{}: {queue}, but {target} does not serve '{kind}'",
                name(so)
            );
            assert!(queues.insert(kind.to_owned()), "{}: two triggers on {queue}", name(so));

            // The broker URL comes from the Secret, through a TriggerAuthentication.
            let auth_name = trigger["authenticationRef"]["name"].as_str().unwrap();
            let auth =
                auths.iter().find(|a| name(a) == auth_name).unwrap_or_else(|| panic!("no {auth_name}"));
            let host = auth["spec"]["secretTargetRef"]
                .as_sequence()
                .unwrap()
                .iter()
                .find(|r| r["parameter"].as_str() == Some("host"))
                .unwrap_or_else(|| panic!("{auth_name} sets no 'host'"));
            assert_eq!(host["name"].as_str(), Some(name(secret)));
            let key = host["key"].as_str().unwrap();
            assert_eq!(key, "AMQP_URL");
            assert!(secret["stringData"][key].is_string(), "the Secret has no {key}");
        }
        assert_eq!(&queues, &workers[target], "{}: one trigger per kind {target} serves", name(so));
    }
}

#[test]
fn every_container_runs_non_root_with_resources_set_and_outlives_the_drain_timeout() {
    // Arrange
    let docs = base_documents();
    let config = of_kind(&docs, "ConfigMap").into_iter().find(|c| name(c) == "algoagent-config").unwrap();
    let drain: u64 = config["data"]["ALGOAGENT_DRAIN_SECS"].as_str().unwrap_or("30").parse().unwrap();
    let pdb_targets: BTreeSet<&str> = of_kind(&docs, "PodDisruptionBudget")
        .iter()
        .map(|p| p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"].as_str().unwrap())
        .collect();

    // Act
    let deployments = of_kind(&docs, "Deployment");

    // Assert
    assert_eq!(deployments.len(), 4, "coordinator and three worker groups");
    let mut privileged = Vec::new();
    for deployment in &deployments {
        let dname = name(deployment);
        let pod = &deployment["spec"]["template"]["spec"];
        let pod_sc = &pod["securityContext"];
        let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
        assert!(grace > drain, "{dname}: terminationGracePeriodSeconds {grace} <= drain {drain}");
        assert_eq!(
            deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"].as_str(),
            Some(dname)
        );
        assert!(pdb_targets.contains(dname), "{dname} has no PodDisruptionBudget");
        let containers = pod["containers"].as_sequence().unwrap().iter();
        let inits = pod["initContainers"].as_sequence().into_iter().flatten();
        for container in containers.chain(inits) {
            let cname = container["name"].as_str().unwrap();
            let at = format!("{dname}/{cname}");
            for (section, resource) in
                [("requests", "cpu"), ("requests", "memory"), ("limits", "cpu"), ("limits", "memory")]
            {
                assert!(
                    !container["resources"][section][resource].is_null(),
                    "{at}: resources.{section}.{resource} is not set"
                );
            }
            let sc = &container["securityContext"];
            if sc["privileged"].as_bool() == Some(true) {
                privileged.push(at);
                continue;
            }
            assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true), "{at}: runAsNonRoot");
            assert_eq!(sc["runAsUser"].as_u64(), Some(65532), "{at}: runAsUser");
            assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{at}: readOnlyRootFilesystem");
            assert_eq!(
                sc["allowPrivilegeEscalation"].as_bool(),
                Some(false),
                "{at}: allowPrivilegeEscalation"
            );
            let drops: Vec<&str> = sc["capabilities"]["drop"]
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(Yaml::as_str)
                .collect();
            assert_eq!(drops, ["ALL"], "{at}: capabilities.drop");
            assert!(sc["capabilities"]["add"].is_null(), "{at} adds capabilities");
            let seccomp = sc["seccompProfile"]["type"].as_str().or(pod_sc["seccompProfile"]["type"].as_str());
            assert_eq!(seccomp, Some("RuntimeDefault"), "{at}: seccompProfile");
        }
    }
    // The Docker-in-Docker engine of the sandbox workers is the one exception.
    assert_eq!(privileged, ["worker-test/dind"], "privileged containers");

    let coordinator = deployments.iter().find(|d| name(d) == "coordinator").unwrap();
    assert_eq!(coordinator["spec"]["replicas"].as_u64(), Some(2));
    let container = &coordinator["spec"]["template"]["spec"]["containers"][0];
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(container[probe]["httpGet"]["path"].as_str(), Some("/health"), "{probe}");
        assert_eq!(container[probe]["httpGet"]["port"].as_str(), Some("http"), "{probe}");
    }
    assert_eq!(container["ports"][0]["containerPort"].as_u64(), Some(8000));

    // Every worker serves /metrics and its probes on METRICS_ADDR, and is scraped there.
    for deployment in deployments.iter().filter(|d| name(d).starts_with("worker-")) {
        let at = name(deployment);
        let template = &deployment["spec"]["template"];
        let worker = template["spec"]["containers"]
            .as_sequence()
            .into_iter()
            .flatten()
            .find(|c| c["name"].as_str() == Some("worker"))
            .unwrap_or_else(|| panic!("{at}: no container named worker"));
        let metrics_addr = worker["env"]
            .as_sequence()
            .into_iter()
            .flatten()
            .find(|e| e["name"].as_str() == Some("METRICS_ADDR"))
            .and_then(|e| e["value"].as_str());
        assert_eq!(metrics_addr, Some("0.0.0.0:9100"), "{at}: METRICS_ADDR");
        assert_eq!(worker["ports"][0]["name"].as_str(), Some("metrics"), "{at}");
        assert_eq!(worker["ports"][0]["containerPort"].as_u64(), Some(9100), "{at}");
        for (probe, path) in [
            ("startupProbe", "/health/live"),
            ("livenessProbe", "/health/live"),
            ("readinessProbe", "/health/ready"),
        ] {
            assert_eq!(worker[probe]["httpGet"]["path"].as_str(), Some(path), "{at}: {probe}");
            assert_eq!(worker[probe]["httpGet"]["port"].as_str(), Some("metrics"), "{at}: {probe}");
        }
        let annotations = &template["metadata"]["annotations"];
        assert_eq!(annotations["prometheus.io/port"].as_str(), Some("9100"), "{at}");
        assert_eq!(annotations["prometheus.io/path"].as_str(), Some("/metrics"), "{at}");
    }
}
