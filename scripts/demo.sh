#!/usr/bin/env bash
# The main job, end to end: start what is missing (services, Docker engine, sandbox image),
# build, run the coordinator and two workers, submit every spec in examples/specs/, wait,
# print a table per strategy, then stop what it started.
#
#   scripts/demo.sh [SPEC.json ...]     (default: examples/specs/*.json)
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$(dirname "$0")/.."
root=$(pwd)


step "services"
scripts/ensure-services.sh
step "docker engine"
scripts/ensure-docker.sh
step "sandbox image"
deploy/sandbox/build-image.sh
step "build"
cargo build --workspace --bins --locked

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/algoagent}
export AMQP_URL=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/}
export ALGOAGENT_NAMESPACE=${ALGOAGENT_NAMESPACE:-algoagent}
export STRATEGY_REPO=${STRATEGY_REPO:-$root/var/strategies.git}
export ALGOAGENT_CACHE_DIR=${ALGOAGENT_CACHE_DIR:-$root/var/cache}
export API_ADDR=${API_ADDR:-127.0.0.1:8000}
export ALGOAGENT_API_URL=${ALGOAGENT_API_URL:-http://$API_ADDR}
export RUST_LOG=${RUST_LOG:-info,lapin=warn,sqlx=warn}

db_name=${DATABASE_URL##*/}
db_name=${db_name%%\?*}
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1 from pg_database where datname = '$db_name'" | grep -q 1; then
  psql -h 127.0.0.1 -U postgres -d postgres -qc "create database \"$db_name\""
fi

bin=${CARGO_TARGET_DIR:-$root/target}/debug
logs=${DEMO_LOG_DIR:-$root/var/log}
mkdir -p "$logs"
pids=()
stop_all() {
  if [ ${#pids[@]} -gt 0 ]; then
    step "stopping coordinator and workers (SIGTERM)"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap stop_all EXIT

step "starting coordinator on $API_ADDR and 2 workers (logs in var/log/)"
"$bin/algoagent-coordinator" >"$logs/coordinator.log" 2>&1 &
pids+=($!)
for i in 1 2; do
  "$bin/algoagent-worker" --id "demo-worker-$i" >"$logs/worker-$i.log" 2>&1 &
  pids+=($!)
done
step_log "$logs/coordinator.log"
for _ in $(seq 1 100); do
  curl -fsS "$ALGOAGENT_API_URL/health" >/dev/null 2>&1 && break
  sleep 0.3
done
# Fails (and prints the coordinator's last log lines) when it never became healthy.
curl -fsS "$ALGOAGENT_API_URL/health" >/dev/null

# Once an API key exists the API is closed (API_AUTH=auto): without a key of its own, the
# demo uses a short-lived submitter key and revokes it on exit.
keys_exist=$(psql -h 127.0.0.1 -U postgres -d "$db_name" -Atc \
  "select exists (select 1 from api_keys where revoked_at is null)" 2>/dev/null || echo f)
if [ -z "${ALGOAGENT_API_KEY:-}" ] && [ "$keys_exist" = t ]; then
  demo_key="demo-$$"
  ALGOAGENT_API_KEY=$("$bin/algoagent-coordinator" keys create --name "$demo_key" --role submitter)
  export ALGOAGENT_API_KEY
  trap '"$bin/algoagent-coordinator" keys revoke "$demo_key" >/dev/null 2>&1 || true; stop_all' EXIT
fi

if [ $# -gt 0 ]; then specs=("$@"); else specs=(examples/specs/*.json); fi
step "submitting ${#specs[@]} spec(s)"
status=0
"$bin/algoagent" submit --wait "${specs[@]}" || status=$?

step "strategies repository $STRATEGY_REPO (main)"
git --git-dir "$STRATEGY_REPO" log --oneline -n 8 main || true
exit $status
