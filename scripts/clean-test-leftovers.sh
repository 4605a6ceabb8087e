#!/usr/bin/env bash
# Removes what interrupted test runs left behind: their databases (algoagent_t<hex>), their
# RabbitMQ queues (t<hex>.*; empty exchanges are left, they hold nothing), their Redis keys and their sandbox containers.
# Each test cleans up after itself; this catches tests killed half-way. Do not run it while
# another test run is in progress on the same machine.
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

for db in $(psql -h 127.0.0.1 -U postgres -d postgres -Atc "select datname from pg_database where datname ~ '^algoagent_t[0-9a-f]{10}$'"); do
  psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists \"$db\" with (force)" || true
done
for q in $(rabbitmqctl -q list_queues name 2>/dev/null | grep -E '^t[0-9a-f]{10}\.' || true); do
  rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true
done
redis-cli --scan --pattern 't??????????:*' 2>/dev/null | xargs -r redis-cli del >/dev/null 2>&1 || true
if docker info >/dev/null 2>&1; then
  docker ps -aq --filter label=algoagent.sandbox=1 | xargs -r docker rm -f >/dev/null 2>&1 || true
fi
echo "[clean] test leftovers removed" >&2
