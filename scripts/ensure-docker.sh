#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine (developer box or CI; root, no systemd,
# no stdin). Idempotent: when `docker info` already works it exits 0 at once.
#
# - installs docker.io (and debootstrap, used by deploy/sandbox/build-image.sh) from apt
#   when missing;
# - starts `dockerd` in the background (log: $DOCKERD_LOG, default /var/log/dockerd.log)
#   when the engine does not answer, then waits up to $DOCKER_WAIT_SECONDS (default 60).
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
DOCKER_WAIT_SECONDS="${DOCKER_WAIT_SECONDS:-60}"
export DEBIAN_FRONTEND=noninteractive

log() { printf 'ensure-docker: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

engine_answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
    log "engine already answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
    exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
    die "the Docker engine does not answer and starting it needs root (run as root or start dockerd yourself)"
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if ((${#missing[@]} > 0)); then
    # de-duplicate (docker.io may be listed twice)
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    log "installing ${missing[*]} with apt"
    apt-get update -qq </dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi

if engine_answers; then
    log "engine answers"
    exit 0
fi

if pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd is already running but not answering yet; waiting for it"
else
    # A stale pid file from a killed daemon makes dockerd refuse to start.
    if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    log "starting dockerd (log: $DOCKERD_LOG)"
    # setsid + nohup: the daemon must outlive this script and the CI step that ran it.
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
fi

step_log "$DOCKERD_LOG"
deadline=$((SECONDS + DOCKER_WAIT_SECONDS))
until engine_answers; do
    if ((SECONDS >= deadline)); then
        log "last lines of $DOCKERD_LOG:"
        tail -n 30 "$DOCKERD_LOG" >&2 || true
        die "the Docker engine did not answer within ${DOCKER_WAIT_SECONDS} s"
    fi
    sleep 0.5
done
log "engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
