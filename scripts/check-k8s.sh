#!/usr/bin/env bash
# Validates the Kubernetes manifests under deploy/k8s (or under the directory given as the
# only argument) and exits non-zero, naming the file, on any problem:
#
#   - every built-in resource against the Kubernetes $K8S_VERSION JSON schemas, strictly
#     (an unknown field is an error), with kubernetes-validate (PyPI), which ships the
#     schemas inside its wheel, so no network is needed beyond installing it;
#   - a kind or apiVersion it has no schema for is an error, not a skipped file;
#   - the KEDA ScaledObject and TriggerAuthentication against deploy/k8s/schemas/*.json,
#     JSON Schemas written for this project from KEDA's documented spec (no package registry
#     ships KEDA's CRD schema), also strict;
#   - in every directory with a kustomization.yaml, every manifest file is listed in its
#     `resources` and every listed resource exists.
#
#   scripts/check-k8s.sh [DIR]
#
# Installs kubernetes-validate $KV_VERSION with pip when it is missing (idempotent; a lock
# serialises concurrent first runs).
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$(dirname "$0")/.."

K8S_VERSION=1.31.0
KV_VERSION=1.37.0
target=${1:-deploy/k8s}
schemas=$PWD/deploy/k8s/schemas

step "kubernetes-validate $KV_VERSION"
installed() {
  python3 -c 'import sys, kubernetes_validate.version as v; sys.exit(v.__version__ != sys.argv[1])' \
    "$KV_VERSION" 2>/dev/null
}
if ! installed; then
  lock=${TMPDIR:-/tmp}/algoagent-check-k8s.lock
  exec 9>"$lock"
  flock 9
  if ! installed; then
    echo "[k8s] installing kubernetes-validate==$KV_VERSION" >&2
    python3 -m pip install --quiet --disable-pip-version-check "kubernetes-validate==$KV_VERSION"
  fi
  flock -u 9
  exec 9>&-
fi

step "validate $target against Kubernetes $K8S_VERSION (strict) and KEDA's schemas"
[ -d "$target" ] || { echo "check-k8s: $target is not a directory" >&2; exit 2; }
checker=$(cat <<'PY'
import json
import os
import sys

import jsonschema
import yaml
from kubernetes_validate import utils as kv

root, k8s_version, schemas_dir = sys.argv[1:4]
problems = []


def problem(path, what):
    problems.append(f"{path}: {what}")


def keda_validator(kind):
    with open(os.path.join(schemas_dir, f"keda-{kind.lower()}-v1alpha1.json")) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


keda = {kind: keda_validator(kind) for kind in ("ScaledObject", "TriggerAuthentication")}
manifests = []
for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    for name in sorted(filenames):
        if name.endswith((".yaml", ".yml")):
            manifests.append(os.path.join(dirpath, name))
if not manifests:
    problem(root, "no manifest (*.yaml, *.yml) found")

checked = 0
for path in manifests:
    try:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except yaml.YAMLError as e:
        problem(path, f"not YAML: {e}")
        continue
    if os.path.basename(path) in ("kustomization.yaml", "kustomization.yml"):
        doc = docs[0] if len(docs) == 1 and isinstance(docs[0], dict) else {}
        if doc.get("kind") != "Kustomization":
            problem(path, "not a single Kustomization document")
            continue
        here = os.path.dirname(path)
        listed = doc.get("resources") or []
        for res in listed:
            if not os.path.exists(os.path.join(here, res)):
                problem(path, f"lists '{res}', which does not exist")
        if len(set(listed)) != len(listed):
            problem(path, "lists a resource twice")
        for name in sorted(os.listdir(here)):
            full = os.path.join(here, name)
            if (os.path.isfile(full) and name.endswith((".yaml", ".yml"))
                    and name not in ("kustomization.yaml", "kustomization.yml") and name not in listed):
                problem(full, f"is not listed in the resources of {path}")
        continue
    if not docs:
        problem(path, "holds no document")
    for doc in docs:
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            problem(path, "a document without apiVersion and kind")
            continue
        kind, api = doc["kind"], doc["apiVersion"]
        name = (doc.get("metadata") or {}).get("name", "?")
        what = f"{kind}/{name}"
        checked += 1
        if api.startswith("keda.sh/"):
            if api != "keda.sh/v1alpha1" or kind not in keda:
                problem(path, f"{what}: no schema for {api} {kind}")
                continue
            for e in sorted(keda[kind].iter_errors(doc), key=lambda e: list(e.path)):
                at = ".".join(str(p) for p in e.path) or "(root)"
                problem(path, f"{what}: {at}: {e.message}")
            continue
        try:
            kv.validate(doc, k8s_version, strict=True)
        except kv.ValidationError as e:
            at = ".".join(str(p) for p in e.path) or "(root)"
            problem(path, f"{what}: {at}: {e.message}")
        except kv.SchemaNotFoundError:
            problem(path, f"{what}: Kubernetes {k8s_version} has no {api} {kind}")
        except Exception as e:  # an unreadable document must fail the check, not pass it
            problem(path, f"{what}: cannot be validated: {e}")

for p in problems:
    print(f"ERROR {p}")
if problems:
    print(f"check-k8s: {len(problems)} problem(s) in {root}", file=sys.stderr)
    sys.exit(1)
print(f"check-k8s: {checked} resources in {len(manifests)} files valid "
      f"(Kubernetes {k8s_version} strict, KEDA keda.sh/v1alpha1)")
PY
)
python3 -c "$checker" "$target" "$K8S_VERSION" "$schemas"
