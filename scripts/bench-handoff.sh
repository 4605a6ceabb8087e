#!/usr/bin/env bash
# Benchmark of the queue and state machinery on an idle system: the time a job waits
# between the commit that queued it (job row + outbox, one transaction) and a worker
# claiming it, which covers the outbox relay, RabbitMQ and the worker's claim. Runs are
# submitted one at a time, so no job ever waits behind another; the numbers are the
# hand-off latency, not backlog. Also reports the resident memory of the idle workers.
#
#   scripts/bench-handoff.sh [RUNS]      (default 20; uses its own database and namespace)
#
# Prints p50/p95/max queue wait per job kind (attempt 1 only) and each worker's RSS.
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$(dirname "$0")/.."
root=$(pwd)
runs=${1:-20}

scripts/ensure-services.sh >/dev/null
scripts/ensure-docker.sh >/dev/null
deploy/sandbox/build-image.sh >/dev/null
cargo build --workspace --bins --locked --release >&2

db=algoagent_bench_handoff
ns=benchhandoff
psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists $db" >/dev/null
psql -h 127.0.0.1 -U postgres -d postgres -qc "create database $db" >/dev/null
work=$(mktemp -d)
export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$db
export ALGOAGENT_NAMESPACE=$ns
export STRATEGY_REPO=$work/strategies.git
export ALGOAGENT_CACHE_DIR=$work/cache
export API_ADDR=127.0.0.1:18431
export ALGOAGENT_API_URL=http://$API_ADDR
export RUST_LOG=warn

bin=${CARGO_TARGET_DIR:-$root/target}/release
pids=()
cleanup() {
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
"$bin/algoagent-coordinator" 2>"$work/coordinator.log" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fsS "$ALGOAGENT_API_URL/health" >/dev/null 2>&1 && break
  sleep 0.2
done
workers=()
for i in 1 2; do
  "$bin/algoagent-worker" --id "bench-$i" 2>"$work/worker-$i.log" &
  pids+=($!)
  workers+=($!)
done
sleep 5 # workers connect and fill their warm sandbox pools

for i in $(seq 1 "$runs"); do
  "$bin/algoagent" submit --wait examples/specs/sma_crossover.json >/dev/null
done
sleep 5 # idle again

echo "queue wait (job committed as queued -> claimed by a worker), $runs sequential runs, attempt 1:"
psql -h 127.0.0.1 -U postgres -d "$db" -P pager=off -c "
  SELECT kind, count(*) AS jobs,
         round((percentile_cont(0.5) WITHIN GROUP (ORDER BY w) * 1000)::numeric, 2) AS p50_ms,
         round((percentile_cont(0.95) WITHIN GROUP (ORDER BY w) * 1000)::numeric, 2) AS p95_ms,
         round((max(w) * 1000)::numeric, 2) AS max_ms
    FROM (SELECT kind, extract(epoch FROM started_at - enqueued_at) AS w
            FROM jobs WHERE attempt = 1 AND started_at IS NOT NULL) t
   GROUP BY ROLLUP (kind) ORDER BY kind NULLS LAST"
echo "idle worker resident memory (after the runs; the warm sandbox containers are separate processes):"
for pid in "${workers[@]}"; do
  grep -E '^VmRSS' "/proc/$pid/status" | sed "s/^/  worker pid $pid: /"
done
