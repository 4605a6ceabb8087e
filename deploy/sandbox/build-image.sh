#!/usr/bin/env bash
# Build the AlgoAgent sandbox image WITHOUT a container registry.
#
# Produces the same image as deploy/sandbox/Dockerfile (CPython 3.11, the pinned packages of
# requirements.txt, /opt/algoagent/harness.py, user 65534, WORKDIR /tmp, the same
# ENTRYPOINT) from Debian packages and PyPI wheels:
#
#   1. debootstrap a minimal Debian bookworm with python3 (cached under $CACHE_DIR),
#   2. pip install the pinned wheels into <rootfs>/opt/algoagent/site-packages,
#   3. strip docs/man/apt lists, byte-compile inside the rootfs,
#   4. `docker import` the tree with ENV/ENTRYPOINT/USER/WORKDIR/LABEL changes,
#   5. smoke-test a backtest in the hardened container, then tag it.
#
# Idempotent: the image is tagged <repo>:<hash12> where hash12 is a content hash of this
# script, requirements.txt, harness.py and the Dockerfile. If that tag exists the script
# only (re)tags it as $SANDBOX_IMAGE and exits.
#
# Environment:
#   SANDBOX_IMAGE   tag to produce (default algoagent-sandbox:latest)
#   CACHE_DIR       caches (default /var/cache/algoagent)
#   DEBIAN_MIRROR   Debian mirror (default: the one in this machine's apt sources)
#   FORCE_REBUILD=1 ignore the content-hash shortcut
#
# First run and later runs take different paths (no cache, no image of this name, no older
# image to clean up); tests/tests/first_run.rs runs it under a never-used image name.

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../../scripts/lib/common.sh
. "$REPO_ROOT/scripts/lib/common.sh"
SANDBOX_IMAGE="${SANDBOX_IMAGE:-algoagent-sandbox:latest}"
CACHE_DIR="${CACHE_DIR:-/var/cache/algoagent}"
SUITE=bookworm
PY_VERSION=3.11
START=$SECONDS

log() { printf '[build-image %3ds] %s\n' "$((SECONDS - START))" "$*"; AA_STEP="$*"; AA_STEP_LOG=""; }
die() { printf '[build-image] ERROR: %s\n' "$*" >&2; exit 1; }

# repo part of the tag: "name:tag" -> "name" (keeps a registry host with a port intact)
image_repo() {
    local ref="$1" last="${1##*/}"
    if [[ "$last" == *:* ]]; then printf '%s' "${ref%:*}"; else printf '%s' "$ref"; fi
}

content_hash() {
    (cd "$HERE" && cat build-image.sh requirements.txt harness.py Dockerfile) | sha256sum | cut -c1-64
}

HASH="$(content_hash)"
HASH12="${HASH:0:12}"
REPO="$(image_repo "$SANDBOX_IMAGE")"
HASH_TAG="$REPO:$HASH12"

# --- the engine ----------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
    if [[ -x "$REPO_ROOT/scripts/ensure-docker.sh" ]]; then
        "$REPO_ROOT/scripts/ensure-docker.sh"
    else
        die "the Docker engine does not answer (start it, e.g. scripts/ensure-docker.sh)"
    fi
fi

# --- fast path: this exact content is already built ------------------------------------------
if [[ "${FORCE_REBUILD:-0}" != 1 ]] \
    && [[ "$(docker image inspect --format '{{ index .Config.Labels "algoagent.content-hash" }}' "$HASH_TAG" 2>/dev/null)" == "$HASH" ]]; then
    docker tag "$HASH_TAG" "$SANDBOX_IMAGE"
    log "up to date: $SANDBOX_IMAGE = $HASH_TAG"
    exit 0
fi

[[ "$(id -u)" -eq 0 ]] || die "building needs root (debootstrap, chroot)"
mkdir -p "$CACHE_DIR"
# One build at a time per machine (CI jobs may race); the second waits, then takes the fast path.
exec 9>"$CACHE_DIR/build.lock"
log "waiting for the build lock" ; flock 9
if [[ "${FORCE_REBUILD:-0}" != 1 ]] && docker image inspect "$HASH_TAG" >/dev/null 2>&1; then
    docker tag "$HASH_TAG" "$SANDBOX_IMAGE"
    log "built meanwhile by another run: $SANDBOX_IMAGE = $HASH_TAG"
    exit 0
fi
log "building $SANDBOX_IMAGE (content hash $HASH12)"

# --- tools ---------------------------------------------------------------------------------
need_apt=()
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
if ((${#need_apt[@]} > 0)); then
    log "installing ${need_apt[*]} with apt"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" </dev/null
fi
PIP=()
for py in python3 python3.11; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -m pip --version >/dev/null 2>&1; then
        PIP=("$py" -m pip); break
    fi
done
if ((${#PIP[@]} == 0)); then
    log "installing python3-pip with apt"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip </dev/null
    PIP=(python3 -m pip)
fi

# --- Debian mirror: the one this machine's apt uses -------------------------------------------
debian_mirror() {
    local uri
    # deb822 (.sources): a stanza whose URIs serve bookworm (not -security)
    uri="$(awk '
        /^[[:space:]]*$/ { if (u != "" && s ~ /(^| )bookworm( |$)/) { print u; exit } u=""; s=""; next }
        /^URIs:/   { u=$2 }
        /^Suites:/ { $1=""; s=$0 }
        END { if (u != "" && s ~ /(^| )bookworm( |$)/) print u }
    ' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)"
    if [[ -z "$uri" ]]; then
        # one-line format: deb [opts] URI bookworm main
        uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | sed -E 's/\[[^]]*\]//' \
            | awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' || true)"
    fi
    printf '%s' "${uri:-http://deb.debian.org/debian}"
}
MIRROR="${DEBIAN_MIRROR:-$(debian_mirror)}"

# --- 1. base rootfs (cached) -----------------------------------------------------------------
BASE="$CACHE_DIR/rootfs-$SUITE-minbase-python3"
if [[ ! -f "$BASE/.algoagent-complete" ]]; then
    log "debootstrap $SUITE (minbase + python3) from $MIRROR into $BASE"
    rm -rf "$BASE" "$BASE.partial"
    keyring=()
    [[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] \
        && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    mkdir -p "$CACHE_DIR/debs"
    step_log "$CACHE_DIR/debootstrap.log"
    debootstrap --variant=minbase --include=python3 "${keyring[@]}" \
        --cache-dir="$CACHE_DIR/debs" "$SUITE" "$BASE.partial" "$MIRROR" \
        >"$CACHE_DIR/debootstrap.log" 2>&1
    echo "$SUITE $MIRROR $(date -u +%FT%TZ)" >"$BASE.partial/.algoagent-complete"
    mv "$BASE.partial" "$BASE"
else
    log "reusing cached base rootfs $BASE"
fi
base_py="$(chroot "$BASE" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[[ "$base_py" == "$PY_VERSION" ]] || die "base rootfs has Python $base_py, expected $PY_VERSION"

# --- 2. working copy + packages ---------------------------------------------------------------
WORK="$CACHE_DIR/build-$HASH12"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
rm -rf "$WORK"
mkdir -p "$WORK"
ROOTFS="$WORK/rootfs"
log "copying base rootfs"
cp -a "$BASE" "$ROOTFS"
rm -f "$ROOTFS/.algoagent-complete"

SITE="$ROOTFS/opt/algoagent/site-packages"
log "pip install -r requirements.txt (CPython $PY_VERSION, manylinux x86_64 wheels)"
PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore "${PIP[@]}" install --quiet --no-input \
    --cache-dir "$CACHE_DIR/pip" \
    --target "$SITE" --no-compile \
    --only-binary=:all: --implementation cp --python-version "$PY_VERSION" --abi cp311 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 \
    --platform manylinux1_x86_64 \
    -r "$HERE/requirements.txt"
rm -rf "${SITE:?}/bin"   # console scripts with the host's interpreter path: unused

install -D -m 0644 "$HERE/harness.py" "$ROOTFS/opt/algoagent/harness.py"
install -D -m 0644 "$HERE/requirements.txt" "$ROOTFS/opt/algoagent/requirements.txt"
# `python3 -I` ignores PYTHONPATH; a .pth file in Debian's system site dir is still honoured.
echo /opt/algoagent/site-packages >"$ROOTFS/usr/lib/python3/dist-packages/algoagent.pth"

# --- 3. strip and byte-compile ----------------------------------------------------------------
log "stripping docs, man pages, apt lists, test suites"
rm -rf "${ROOTFS:?}"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/cache/debconf/*-old \
    "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
    "$ROOTFS"/usr/share/locale/* "$ROOTFS"/var/log/* "$ROOTFS"/tmp/* "$ROOTFS"/root/.cache
find "$SITE/numpy" "$SITE/pandas" "$SITE/pyarrow" -type d -name tests -prune -exec rm -rf {} +
# pyarrow: Flight RPC (no network in the sandbox; nothing else links it), the C++ headers,
# sources and Cython files, and the unversioned copies of libarrow_python used only to build
# extensions. `import pyarrow.flight` then fails; reading Parquet does not need it.
rm -rf "${SITE:?}"/pyarrow/include "$SITE"/pyarrow/src "$SITE"/pyarrow/*flight* \
    "$SITE"/pyarrow/libarrow_python.so "$SITE"/pyarrow/libarrow_python.so.*.*.*
find "$SITE/pyarrow" \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' \) -delete
# Byte-compile with the image's own interpreter, so code objects carry in-image paths and the
# read-only container never has to compile (python3 -B would not cache it anyway).
log "byte-compiling site-packages"
chroot "$ROOTFS" python3 -m compileall -q -j 0 /opt/algoagent/site-packages >/dev/null \
    || die "byte-compiling failed"
chroot "$ROOTFS" python3 -I -c 'import numpy, pandas, backtesting, backtesting.test, pyarrow.parquet' \
    || die "the packages do not import inside the rootfs"

# --- 4. import ---------------------------------------------------------------------------------
log "docker import as $HASH_TAG ($(du -sh "$ROOTFS" | cut -f1) rootfs)"
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV PYTHONPATH=/opt/algoagent/site-packages' \
    --change 'ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 LANG=C.UTF-8' \
    --change 'ENV HOME=/tmp MPLCONFIGDIR=/tmp OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1' \
    --change "LABEL algoagent.content-hash=$HASH" \
    --change 'LABEL org.opencontainers.image.title=algoagent-sandbox' \
    --change 'USER 65534:65534' \
    --change 'WORKDIR /tmp' \
    --change 'ENTRYPOINT ["python3", "-I", "-B", "/opt/algoagent/harness.py"]' \
    - "$HASH_TAG" >/dev/null

# --- 5. smoke test in the same hardened shape the worker uses, then tag ------------------------
log "smoke test: SMA cross on GOOG in a hardened container"
request='{"code":"from backtesting import Strategy\nfrom backtesting.lib import crossover\nfrom backtesting.test import SMA\n\nclass SmaCross(Strategy):\n    def init(self):\n        self.fast = self.I(SMA, self.data.Close, 10)\n        self.slow = self.I(SMA, self.data.Close, 20)\n\n    def next(self):\n        if crossover(self.fast, self.slow):\n            self.position.close()\n            self.buy()\n        elif crossover(self.slow, self.fast):\n            self.position.close()\n            self.sell()\n","entrypoint":"SmaCross","dataset":"GOOG","config":{"cash":10000,"commission":0.002}}'
if ! result="$(printf '%s\n' "$request" | docker run -i --rm --network none --read-only \
    --tmpfs /tmp:size=64m,noexec,nosuid,nodev --cap-drop ALL \
    --security-opt no-new-privileges --user 65534:65534 --memory 512m --memory-swap 512m \
    --pids-limit 128 "$HASH_TAG")"; then
    docker image rm "$HASH_TAG" >/dev/null 2>&1 || true
    die "smoke test failed: $result"
fi
if ! python3 -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r["status"]=="ok" and r["metrics"]["trades"]>0 else 1)' "$result"; then
    docker image rm "$HASH_TAG" >/dev/null 2>&1 || true
    die "smoke test gave an unexpected result: $result"
fi
docker tag "$HASH_TAG" "$SANDBOX_IMAGE"
# Drop images of earlier contents (same repo, 12-hex tag); one still in use stays. On a first
# run there is none: awk (unlike `grep -v`) succeeds when nothing is left to print.
old_tags="$(docker image ls --format '{{.Repository}}:{{.Tag}}' "$REPO" \
    | awk -v keep="$HASH_TAG" '$0 ~ /:[0-9a-f]{12}$/ && $0 != keep')"
for old in $old_tags; do
    if docker image rm "$old" >/dev/null 2>&1; then log "removed old $old"; fi
done
log "done: $SANDBOX_IMAGE = $HASH_TAG ($(docker image inspect --format '{{.Size}}' "$HASH_TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
