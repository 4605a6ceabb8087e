#!/usr/bin/env bash
# Throughput of the job engine alone: N pipelines of no-op jobs (generate -> validate ->
# test -> merge) through the real path (submission + outbox -> relay with publisher
# confirms -> quorum queues -> Redis lease -> claim under the attempt fence -> settle with
# one durable `succeeded` transition per job and the next job in the same transaction ->
# ack; claims waiting at the same time are one statement, successes waiting at the same time
# one transaction), for 1 and 2 worker processes. The no-op handler queues the next job
# itself, so no job event is published (one broker message per job; `pipeline_bench run
# --events` adds the events a coordinator would consume). Each run has its own database and
# namespace, a warm-up, 20 pipelines one at a time (the idle hand-off), then a burst of N;
# it fails unless exactly 4 jobs per pipeline succeeded once. Then `pipeline_bench floor`:
# the same N pipelines' statements with the database alone (Postgres CPU per job).
#
#   scripts/bench-pipeline.sh [N] [WARM]      (defaults 2000 and 200; release build)
#   scripts/bench-pipeline.sh --smoke         (N=50, debug build: the correctness check CI runs)
#
# Prints one line per run on stderr and one JSON object per run on stdout; the last line is
# one JSON object: the faster run's `pipelines_per_s`, `jobs_per_s`, `queue_wait_p50_ms`,
# `queue_wait_p99_ms`, `e2e_p50_ms`, `e2e_p99_ms`, `idle_queue_wait_p50_ms`,
# `idle_queue_wait_p95_ms`, its two halves `idle_to_relay_p50_ms` and
# `idle_relay_to_claim_p50_ms`, `worker_idle_rss_mb`, `worker_peak_rss_mb`, the whole
# machine's CPU per job in the burst and how busy it was (`machine_cpu_ms_per_job`,
# `machine_busy_pct`: near 100 means the burst is CPU-bound), the sums of `lost` and
# `duplicated` over both runs, and `runs`.
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$(dirname "$0")/.."

profile=release
n=${1:-2000}
warm=${2:-200}
if [ "${1:-}" = "--smoke" ]; then
  profile=dev
  n=50
  warm=10
fi

step "services"
scripts/ensure-services.sh >/dev/null
step "build ($profile)"
if [ "$profile" = dev ]; then
  # The smoke runs in scripts/test.sh after the test suite, whose build (`cargo test
  # --no-run --workspace`) already made the example with the whole workspace's features:
  # the same command finds it fresh, where `-p algoagent-jobs` would compile again.
  cargo test --no-run --workspace --locked >&2
else
  cargo build --locked --profile "$profile" -p algoagent-jobs --example pipeline_bench >&2
fi
dir=release
[ "$profile" = dev ] && dir=debug
bench=${CARGO_TARGET_DIR:-target}/$dir/examples/pipeline_bench

results=()
for workers in 1 2; do
  step "$workers worker(s), N=$n"
  results+=("$("$bench" run --workers "$workers" --n "$n" --warm "$warm")")
  echo "${results[-1]}"
done
# The database's share alone (no broker, Redis or workers): on stderr, so the last line stays
# the runs' summary. It fails, like the runs, unless every job succeeded once.
step "the database alone, N=$n"
"$bench" floor --n "$n" >&2
printf '%s\n' "${results[@]}" | python3 -c '
import json, sys
runs = [json.loads(line) for line in sys.stdin]
best = max(runs, key=lambda r: r["pipelines_per_s"])
keys = ["pipelines_per_s", "jobs_per_s", "queue_wait_p50_ms", "queue_wait_p99_ms", "e2e_p50_ms",
        "e2e_p99_ms", "idle_queue_wait_p50_ms", "idle_queue_wait_p95_ms", "idle_to_relay_p50_ms",
        "idle_relay_to_claim_p50_ms", "worker_idle_rss_mb",
        "worker_peak_rss_mb", "machine_cpu_ms_per_job", "machine_busy_pct", "workers"]
out = {k: best[k] for k in keys}
out["lost"] = sum(r["lost"] for r in runs)
out["duplicated"] = sum(r["duplicated"] for r in runs)
out["runs"] = runs
print(json.dumps(out))'
