#!/usr/bin/env bash
# The compose deployment, proven on this machine: builds the coordinator and worker images
# locally (no pull), runs the coordinator and 3 worker replicas as containers through the
# top-level docker-compose.yml (`--scale worker=3`), submits every spec of examples/specs/,
# SIGTERMs one replica while jobs run and starts it again, waits until every run is merged,
# checks that at least 2 replicas did jobs, that every container's /metrics answers, that the
# merge commits are on main of the shared strategies repository, then stops the stack and
# checks that every container drained and exited 0 and that no job was lost. Exits 0 only if
# all of that held; the last line it prints is a one-line summary.
#
#   scripts/compose-smoke.sh
#
# PostgreSQL, RabbitMQ and Redis images cannot be pulled here, so an override file (written
# per run, beside the secrets it points to) keeps only `coordinator` and `worker` of the
# compose file and points them at this machine's services (127.0.0.1: PostgreSQL 5432 as
# postgres, RabbitMQ 5672 guest/guest, Redis 6379) through `network_mode: host`, with a fresh
# database and namespace per run (algoagent_t<hex>, t<hex>: what
# scripts/clean-test-leftovers.sh removes if a run is killed). The connection URLs reach the
# containers as secret files (DATABASE_URL_FILE, ...), as in the compose file.
#
# Images: deploy/docker/Dockerfile.prebuilt packages the debug binaries built on the host
# (`cargo build --workspace --bins`, shared with scripts/test.sh) onto the local Debian base
# of deploy/docker/build-bases.sh. The full in-image release build (deploy/docker/Dockerfile)
# is not run here: it takes far longer than CI allows (docs/OPERATIONS.md has the numbers).
#
# Environment:
#   COORDINATOR_IMAGE, WORKER_IMAGE   tags to build (default algoagent-{coordinator,worker}:latest)
#   SMOKE_REPLICAS                    worker replicas (default 3)
#   SMOKE_SPECS                       spec files, space-separated (default examples/specs/*.json)
#   SMOKE_TIMEOUT_SECS                how long the runs may take (default 900)
#   SMOKE_KEEP=1                      leave the stack, database and logs in place
#   SMOKE_LOG_DIR                     container logs (default var/log/compose-smoke)
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$(dirname "$0")/.."
root=$(pwd)
started=$SECONDS

COORDINATOR_IMAGE=${COORDINATOR_IMAGE:-algoagent-coordinator:latest}
WORKER_IMAGE=${WORKER_IMAGE:-algoagent-worker:latest}
REPLICAS=${SMOKE_REPLICAS:-3}
TIMEOUT=${SMOKE_TIMEOUT_SECS:-900}
LOG_DIR=${SMOKE_LOG_DIR:-$root/var/log/compose-smoke}
SANDBOX_IMAGE=${SANDBOX_IMAGE:-algoagent-sandbox:latest}
export SANDBOX_IMAGE
if [ -n "${SMOKE_SPECS:-}" ]; then read -ra specs <<<"$SMOKE_SPECS"; else specs=(examples/specs/*.json); fi
bin=${CARGO_TARGET_DIR:-$root/target}/debug

# --- the outcome: every check appends here; the summary is printed last, whatever happens ---
failures=()
facts=()
fail() { failures+=("$*"); printf '!! FAILED: %s\n' "$*" >&2; }
project="" work="" db="" ns=""
# The compose file as users run it, less the coordinator's published port (Docker refuses
# port bindings under host networking, and a compose override can add but not remove them)
# and the worker's healthcheck on a fixed port, plus the override of this run.
compose() {
  "${COMPOSE[@]}" -p "$project" --project-directory "$root" -f "$work/compose.yml" -f "$work/override.yml" "$@"
}
psql_db() { psql -h 127.0.0.1 -U postgres -d "$db" -Atq -v ON_ERROR_STOP=1 "$@"; }

exec 3>&1 4>&2   # the summary goes to the script's own stdout, whatever was redirected
finish() {
  local status=$? summary
  trap - EXIT
  set +e
  exec 1>&3 2>&4
  if [ -n "$project" ] && [ -n "$work" ] && [ -f "$work/override.yml" ]; then
    mkdir -p "$LOG_DIR"
    for c in $(docker ps -aq --filter "label=com.docker.compose.project=$project"); do
      docker logs "$c" >"$LOG_DIR/$(docker inspect -f '{{.Name}}' "$c" | tr -d /).log" 2>&1
    done
    if [ "${SMOKE_KEEP:-0}" != 1 ]; then
      [ -f "$work/compose.yml" ] && compose down -v --remove-orphans >/dev/null 2>&1
      psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1
      for q in $(rabbitmqctl -q list_queues name 2>/dev/null | grep -E "^$ns\." || true); do
        rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1
      done
      redis-cli --scan --pattern "$ns:*" 2>/dev/null | xargs -r redis-cli del >/dev/null 2>&1
      rm -rf "$work"
    fi
  fi
  if [ "$status" -ne 0 ] && [ ${#failures[@]} -eq 0 ]; then
    failures+=("stopped during step: $AA_STEP (exit $status)")
  fi
  summary="$(IFS=';'; echo "${facts[*]}")"
  if [ ${#failures[@]} -eq 0 ] && [ "$status" -eq 0 ]; then
    printf 'compose-smoke: PASS in %ds: %s\n' "$((SECONDS - started))" "${summary# }"
    exit 0
  fi
  printf 'compose-smoke: FAIL in %ds (%s): %s; logs in %s\n' "$((SECONDS - started))" \
    "$(IFS=';'; echo "${failures[*]}")" "${summary# }" "$LOG_DIR"
  exit 1
}
trap finish EXIT

step "services (PostgreSQL, RabbitMQ, Redis on 127.0.0.1)"
scripts/ensure-services.sh
step "docker engine"
scripts/ensure-docker.sh
step "compose"
read -ra COMPOSE <<<"$(scripts/ensure-compose.sh)"
if ! python3 -c 'import yaml' 2>/dev/null; then   # to derive this run's compose file
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-yaml </dev/null >&2
fi
# The legacy builder when the engine's client has no buildx plugin (as here): BuildKit would
# refuse to start without it.
if ! docker buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=0; fi

step "sandbox image ($SANDBOX_IMAGE)"
deploy/sandbox/build-image.sh
step "runtime base image (no pull)"
base=$(deploy/docker/build-bases.sh runtime | sed -n 's/^runtime=//p')
step "build the binaries on the host"
cargo build --workspace --bins --locked

step "images $COORDINATOR_IMAGE and $WORKER_IMAGE (from $bin)"
image_started=$SECONDS
stage=$(mktemp -d)
for b in algoagent-coordinator algoagent-worker algoagent; do
  # Debug symbols are for the host; the image needs the code (about a third of the size).
  objcopy --strip-debug "$bin/$b" "$stage/$b"
done
mkdir -p "$LOG_DIR"
step_log "$LOG_DIR/image-build.log"
for target in coordinator worker; do
  tag=$COORDINATOR_IMAGE; [ "$target" = worker ] && tag=$WORKER_IMAGE
  docker build -q -f deploy/docker/Dockerfile.prebuilt --target "$target" \
    --build-arg "BASE_IMAGE=$base" -t "$tag" "$stage" >"$LOG_DIR/image-build.log" 2>&1
done
rm -rf "$stage"
size() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1/1e6}'; }
facts+=(" images built in $((SECONDS - image_started)) s (coordinator $(size "$COORDINATOR_IMAGE"), worker $(size "$WORKER_IMAGE"))")
[ "$(docker image inspect -f '{{.Config.User}}' "$WORKER_IMAGE")" = 65532:65532 ] || fail "the worker image does not run as 65532"

step "fresh database, namespace, secrets and override file"
id=$(python3 -c 'import uuid; print(uuid.uuid4().hex[:10])')
db=algoagent_t$id
ns=t$id
project=aasmoke$id
work=$(mktemp -d /tmp/compose-smoke.XXXXXX)
chmod 755 "$work"
psql -h 127.0.0.1 -U postgres -d postgres -qc "create database \"$db\""
api_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
api=http://127.0.0.1:$api_port
# Secrets as files, read by the binaries through *_FILE (mode 644: the containers run as 65532).
printf 'postgres://postgres@127.0.0.1:5432/%s\n' "$db" >"$work/database_url"
printf 'amqp://guest:guest@127.0.0.1:5672/%%2f\n' >"$work/amqp_url"
printf 'redis://127.0.0.1:6379/\n' >"$work/redis_url"
chmod 644 "$work"/*_url
docker_gid=$(stat -c %g /var/run/docker.sock)
cat >"$work/override.yml" <<EOF
# Written by scripts/compose-smoke.sh for one run: this machine's services, a fresh
# database and namespace, host networking (the services listen on 127.0.0.1 only).
services:
  coordinator:
    image: $COORDINATOR_IMAGE
    network_mode: host
    environment:
      ALGOAGENT_NAMESPACE: $ns
      API_ADDR: 127.0.0.1:$api_port
      ALGOAGENT_API_URL: $api
      OTEL_EXPORTER_OTLP_ENDPOINT: ""
    healthcheck:
      test: ["CMD", "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/$api_port && printf 'GET /health HTTP/1.0\\\\r\\\\n\\\\r\\\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
  worker:
    image: $WORKER_IMAGE
    network_mode: host
    environment:
      ALGOAGENT_NAMESPACE: $ns
      SANDBOX_IMAGE: $SANDBOX_IMAGE
      # Replicas share the host's network: each binds its own free port for /metrics.
      METRICS_ADDR: 127.0.0.1:0
      OTEL_EXPORTER_OTLP_ENDPOINT: ""
    group_add:
      - "$docker_gid"
secrets:
  database_url:
    file: $work/database_url
  amqp_url:
    file: $work/amqp_url
  redis_url:
    file: $work/redis_url
EOF
python3 - "$root/docker-compose.yml" "$work/compose.yml" <<'PY'
import sys, yaml
with open(sys.argv[1]) as f:
    doc = yaml.safe_load(f)
doc["services"]["coordinator"].pop("ports", None)
# The worker's healthcheck probes port 9100; under host networking each replica binds a port
# of its own instead (METRICS_ADDR=127.0.0.1:0), which this script checks itself.
doc["services"]["worker"].pop("healthcheck", None)
with open(sys.argv[2], "w") as f:
    yaml.safe_dump(doc, f, sort_keys=False)
PY
compose config -q

step "compose up: coordinator, then $REPLICAS worker replicas"
step_log "$work/up.log"
if ! compose up -d --no-deps --no-build coordinator >"$work/up.log" 2>&1; then
  tail -n 5 "$work/up.log" >&2
  fail "compose up coordinator failed"
  exit 1
fi
coordinator=$(compose ps -q coordinator)
for _ in $(seq 1 120); do
  [ "$(docker inspect -f '{{.State.Health.Status}}' "$coordinator")" = healthy ] && break
  [ "$(docker inspect -f '{{.State.Running}}' "$coordinator")" = true ] || break
  sleep 1
done
if [ "$(docker inspect -f '{{.State.Health.Status}}' "$coordinator")" != healthy ]; then
  docker logs --tail 30 "$coordinator" >&2 || true
  fail "the coordinator container never became healthy"
  exit 1
fi
if ! compose up -d --no-deps --no-build --scale "worker=$REPLICAS" worker >>"$work/up.log" 2>&1; then
  tail -n 5 "$work/up.log" >&2
  fail "compose up --scale worker=$REPLICAS failed"
  exit 1
fi
mapfile -t workers < <(compose ps -q worker)
[ "${#workers[@]}" -eq "$REPLICAS" ] || fail "compose started ${#workers[@]} worker containers, not $REPLICAS"

# A replica's worker ids (one per start), from its "worker started" log lines.
log_field() { # container, message, field: that field of every line with that message
  docker logs "$1" 2>&1 | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if d.get("message") == sys.argv[1] and sys.argv[2] in d:
        print(d[sys.argv[2]])' "$2" "$3"
}
declare -A wid=()
for _ in $(seq 1 60); do
  missing=0
  for c in "${workers[@]}"; do
    [ -n "${wid[$c]:-}" ] || wid[$c]=$(log_field "$c" "worker started" worker | head -n1)
    [ -n "${wid[$c]}" ] || missing=1
  done
  [ "$missing" = 0 ] && break
  sleep 1
done
for c in "${workers[@]}"; do
  [ -n "${wid[$c]}" ] || fail "worker container ${c:0:12} never logged 'worker started'"
done

step "submitting ${#specs[@]} specs to $api"
export ALGOAGENT_API_URL=$api
submit_log=$work/submit.log
# The first through the CLI inside the coordinator's image (as docs/OPERATIONS.md shows),
# the others through the host's CLI, which follows them to the end.
if ! compose exec -T coordinator algoagent submit /dev/stdin <"${specs[0]}" >"$submit_log" 2>&1; then
  cat "$submit_log" >&2
  fail "algoagent submit inside the coordinator container failed"
fi
"$bin/algoagent" submit --wait --timeout "$TIMEOUT" "${specs[@]:1}" >>"$submit_log" 2>&1 &
submit_pid=$!

# A replica is stopped (SIGTERM, drain) while jobs run, and started again: its jobs must not
# be lost. The one stopped is the first replica that holds a running job.
step "SIGTERM to one replica while jobs run, then start it again"
victim=""
for _ in $(seq 1 600); do
  owners=$(psql_db -c "select distinct lease_owner from jobs where status = 'running' and lease_owner is not null" 2>/dev/null || true)
  for c in "${workers[@]}"; do
    if grep -qxF "${wid[$c]}" <<<"$owners"; then victim=$c; break; fi
  done
  [ -n "$victim" ] && break
  kill -0 "$submit_pid" 2>/dev/null || break
  sleep 0.2
done
if [ -n "$victim" ]; then
  stop_started=$SECONDS
  docker stop -t 45 "$victim" >/dev/null
  code=$(docker inspect -f '{{.State.ExitCode}}' "$victim")
  [ "$code" = 0 ] || fail "replica ${victim:0:12} exited $code after SIGTERM mid-run (expected a drain and 0)"
  facts+=(" replica stopped mid-run drained in $((SECONDS - stop_started)) s (exit $code)")
  docker start "$victim" >/dev/null
else
  fail "no job was ever seen running on a replica (nothing to interrupt)"
fi

step "waiting for every run to end (at most $TIMEOUT s)"
step_log "$submit_log"
submit_status=0
wait "$submit_pid" || submit_status=$?
cp "$submit_log" "$LOG_DIR/submit.log"
[ "$submit_status" = 0 ] || fail "algoagent submit --wait exited $submit_status (see $LOG_DIR/submit.log)"
for _ in $(seq 1 120); do   # the run submitted inside the container is not followed above
  open_runs=$(psql_db -c "select count(*) from runs where status not in ('merged', 'deployed', 'rolled_back', 'failed', 'dead', 'cancelled')")
  [ "$open_runs" = 0 ] && break
  sleep 1
done
merged=$(psql_db -c "select count(*) from runs where status = 'merged'")
total=$(psql_db -c "select count(*) from runs")
facts+=(" $merged/${#specs[@]} specs merged")
[ "$merged" = "${#specs[@]}" ] && [ "$total" = "${#specs[@]}" ] || fail "$merged of $total runs merged, ${#specs[@]} specs submitted"

step "jobs per replica (job claims in the audit trail)"
per=()
busy=0
for c in "${workers[@]}"; do
  n=0
  # The replica stopped mid-run logged a second id when it started again.
  for w in $(log_field "$c" "worker started" worker | sort -u); do
    k=$(psql_db -c "select count(*) from transitions where entity_type = 'job' and to_state = 'running' and actor = 'worker:$w'")
    n=$((n + k))
  done
  per+=("$n")
  [ "$n" -gt 0 ] && busy=$((busy + 1))
done
all_claims=$(psql_db -c "select count(*) from transitions where entity_type = 'job' and to_state = 'running'")
facts+=(" jobs per replica $(IFS=/; echo "${per[*]}") of $all_claims claims")
[ "$busy" -ge 2 ] || fail "only $busy replica(s) did jobs (claims per replica: ${per[*]})"

step "every container's /metrics"
metrics_ok=0
ready_ok=0
series=0
metrics_total=$((1 + ${#workers[@]}))
body=$(curl -fsS --max-time 10 "$api/metrics" 2>&1 || true)
if grep -q '^algoagent_' <<<"$body"; then
  metrics_ok=$((metrics_ok + 1))
else
  fail "the coordinator's /metrics did not answer with algoagent_* metrics"
fi
for c in "${workers[@]}"; do
  # Host networking: each replica bound its own free port (METRICS_ADDR=127.0.0.1:0) and
  # logged it ("metrics listening", addr).
  # A replica that finished no job since its start has recorded nothing yet: an empty 200
  # answer counts (the series come with the first job).
  addr=$(log_field "$c" "metrics listening" addr | tail -n1)
  code=none
  [ -z "$addr" ] || code=$(curl -sS --max-time 10 -o "$work/metrics.txt" -w '%{http_code}' "http://$addr/metrics" 2>&1 || true)
  if [ "$code" = 200 ]; then
    metrics_ok=$((metrics_ok + 1))
    series=$((series + $(grep -c '^algoagent_' "$work/metrics.txt" || true)))
  else
    fail "worker ${c:0:12} (${wid[$c]}) answered no /metrics (address: ${addr:-none logged}, HTTP $code)"
  fi
  # The probe Kubernetes' readiness uses: 200 while Postgres accepts the replica's heartbeats.
  ready=none
  [ -z "$addr" ] || ready=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://$addr/health/ready" 2>&1 || true)
  if [ "$ready" = 200 ]; then
    ready_ok=$((ready_ok + 1))
  else
    fail "worker ${c:0:12} (${wid[$c]}) is not ready (GET /health/ready: HTTP $ready)"
  fi
done
facts+=(" ready ${ready_ok}/${#workers[@]}")
facts+=(" /metrics answered $metrics_ok/$metrics_total ($series algoagent_* series from the workers)")
[ "$series" -gt 0 ] || fail "no worker reported a single algoagent_* series after all those jobs"

step "the merges are on main of the shared strategies repository (named volume)"
volume=$(docker volume ls -q --filter "label=com.docker.compose.project=$project" | grep 'strategies$' || true)
repo=""
[ -n "$volume" ] && repo="$(docker volume inspect -f '{{.Mountpoint}}' "$volume")/strategies.git"
if [ -n "$repo" ] && [ -d "$repo" ]; then
  commits=$(psql_db -c "select distinct v.git_commit from strategy_versions v join runs r on r.id = v.run_id where r.status = 'merged' and v.git_commit is not null")
  n_commits=0 missing=0
  for sha in $commits; do
    n_commits=$((n_commits + 1))
    git --git-dir "$repo" merge-base --is-ancestor "$sha" main 2>/dev/null || missing=$((missing + 1))
  done
  [ "$n_commits" -ge "${#specs[@]}" ] || fail "only $n_commits version commits recorded for ${#specs[@]} merged runs"
  [ "$missing" = 0 ] || fail "$missing recorded commits are not on main of $repo"
  facts+=(" $((n_commits - missing)) version commits on main")
else
  fail "no strategies repository in the compose volume (${volume:-none})"
fi

step "stop the stack (SIGTERM, drain) and check nothing was lost"
compose stop -t 45 >>"$work/up.log" 2>&1 || fail "compose stop failed"
clean=0
for c in "$coordinator" "${workers[@]}"; do
  code=$(docker inspect -f '{{.State.ExitCode}} {{.State.OOMKilled}}' "$c")
  if [ "$code" = "0 false" ]; then clean=$((clean + 1)); else fail "container ${c:0:12} stopped with exit/oom '$code'"; fi
done
facts+=(" clean stop $clean/$metrics_total")
left=$(psql_db -c "select count(*) from jobs where status in ('queued', 'running')")
dead=$(psql_db -c "select count(*) from jobs where status = 'dead'")
dlq=$(psql_db -c "select count(*) from dead_letters")
unsent=$(psql_db -c "select count(*) from outbox where sent_at is null")
[ "$left" = 0 ] || fail "$left jobs still queued or running after the stop"
[ "$dead" = 0 ] && [ "$dlq" = 0 ] || fail "$dead dead jobs, $dlq dead letters"
[ "$unsent" = 0 ] || fail "$unsent outbox rows never published"
facts+=(" jobs lost 0: open $left, dead $dead, unpublished $unsent")
