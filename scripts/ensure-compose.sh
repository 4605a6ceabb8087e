#!/usr/bin/env bash
# Make sure a Docker Compose command exists, and print it on stdout (`docker compose` for the
# v2 plugin, else `docker-compose`). Idempotent: prints at once when one is there; otherwise
# installs Debian's docker-compose package (1.29, which reads the top-level
# docker-compose.yml as well as v2 does) with apt. Needs a Docker engine for nothing here.
#
#   read -ra COMPOSE <<<"$(scripts/ensure-compose.sh)"; "${COMPOSE[@]}" ps
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

log() { printf 'ensure-compose: %s\n' "$*" >&2; }

if docker compose version >/dev/null 2>&1; then
    log "using the compose plugin ($(docker compose version --short 2>/dev/null || echo '?'))"
    echo "docker compose"
    exit 0
fi
if command -v docker-compose >/dev/null 2>&1 && docker-compose version >/dev/null 2>&1; then
    log "using $(docker-compose version --short 2>/dev/null || echo docker-compose)"
    echo "docker-compose"
    exit 0
fi
if [[ "$(id -u)" -ne 0 ]]; then
    log "ERROR: no docker compose plugin and no docker-compose; installing one needs root"
    exit 1
fi
step "installing docker-compose with apt"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq </dev/null
apt-get install -y -qq --no-install-recommends docker-compose </dev/null >&2
docker-compose version >&2
echo "docker-compose"
