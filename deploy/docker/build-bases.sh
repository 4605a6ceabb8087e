#!/usr/bin/env bash
# Build the two base images of deploy/docker/Dockerfile WITHOUT a container registry.
#
# With internet access the Dockerfile starts FROM debian:bookworm-slim (runtime) and
# rust:1.95-bookworm (builder). Where no registry is reachable, this script makes local
# stand-ins the same way deploy/sandbox/build-image.sh makes the sandbox image:
#
#   runtime  $RUNTIME_BASE (default algoagent-base:bookworm): debootstrap --variant=minbase
#            of Debian bookworm plus ca-certificates and git (the strategies repository
#            over https, shared/gitflow/src/transport.rs), docs and apt lists stripped;
#   builder  $BUILDER_BASE (default algoagent-rust:<rustc version>-bookworm): the same plus
#            gcc, g++, make, cmake, pkg-config, zlib1g-dev, with this machine's Rust toolchain
#            (the active rustup toolchain's bin/, lib/, libexec/; no docs) in /usr/local/rust,
#            cargo-chef (installed from crates.io, cached) in /usr/local/cargo/bin, and this
#            machine's local CAs (/usr/local/share/ca-certificates) so cargo can download.
#
# Then pass them as build arguments:
#   docker build --build-arg BASE_IMAGE=algoagent-base:bookworm \
#                --build-arg BUILDER_IMAGE=algoagent-rust:1.95.0-bookworm ...
#
# Idempotent: each image is tagged <repo>:<hash12> (a content hash of this script, and for
# the builder the rustc and cargo-chef versions); when that tag exists only the plain tag is
# (re)made. Debootstrap trees are cached under $CACHE_DIR, so a rebuild downloads nothing.
#
#   deploy/docker/build-bases.sh [runtime|builder|all]      (default all)
#
# Environment: RUNTIME_BASE, BUILDER_BASE, CACHE_DIR (default /var/cache/algoagent),
# DEBIAN_MIRROR (default: this machine's apt source), CARGO_CHEF_VERSION, FORCE_REBUILD=1.
# Prints the tags it produced on stdout, one per line (`runtime=...`, `builder=...`).

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../../scripts/lib/common.sh
. "$REPO_ROOT/scripts/lib/common.sh"
CACHE_DIR="${CACHE_DIR:-/var/cache/algoagent}"
CARGO_CHEF_VERSION="${CARGO_CHEF_VERSION:-0.1.78}"
SUITE=bookworm
WHAT="${1:-all}"
START=$SECONDS

log() { printf '[build-bases %3ds] %s\n' "$((SECONDS - START))" "$*" >&2; AA_STEP="$*"; AA_STEP_LOG=""; }
die() { printf '[build-bases] ERROR: %s\n' "$*" >&2; exit 1; }

case "$WHAT" in runtime | builder | all) ;; *) die "usage: $0 [runtime|builder|all]" ;; esac

if ! docker info >/dev/null 2>&1; then
    "$REPO_ROOT/scripts/ensure-docker.sh"
fi

# The one Debian mirror this machine's apt uses (same rule as deploy/sandbox/build-image.sh).
debian_mirror() {
    local uri
    uri="$(awk '
        /^[[:space:]]*$/ { if (u != "" && s ~ /(^| )bookworm( |$)/) { print u; exit } u=""; s=""; next }
        /^URIs:/   { u=$2 }
        /^Suites:/ { $1=""; s=$0 }
        END { if (u != "" && s ~ /(^| )bookworm( |$)/) print u }
    ' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)"
    if [[ -z "$uri" ]]; then
        uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | sed -E 's/\[[^]]*\]//' \
            | awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' || true)"
    fi
    printf '%s' "${uri:-http://deb.debian.org/debian}"
}

image_repo() {
    local ref="$1" last="${1##*/}"
    if [[ "$last" == *:* ]]; then printf '%s' "${ref%:*}"; else printf '%s' "$ref"; fi
}

# The tag is there with the right content hash: just (re)tag it.
up_to_date() {
    local hash_tag="$1" hash="$2" tag="$3"
    [[ "${FORCE_REBUILD:-0}" != 1 ]] || return 1
    [[ "$(docker image inspect --format '{{ index .Config.Labels "algoagent.content-hash" }}' "$hash_tag" 2>/dev/null)" == "$hash" ]] \
        || return 1
    docker tag "$hash_tag" "$tag"
}

# debootstrap a minbase tree with extra packages into the cache (once).
rootfs() {
    local dest="$1" include="$2"
    if [[ -f "$dest/.algoagent-complete" ]]; then
        log "reusing cached rootfs $dest"
        return 0
    fi
    [[ "$(id -u)" -eq 0 ]] || die "building needs root (debootstrap)"
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap with apt"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap </dev/null
    fi
    local mirror keyring=() logf
    mirror="${DEBIAN_MIRROR:-$(debian_mirror)}"
    [[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] \
        && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    logf="$dest.debootstrap.log"
    log "debootstrap $SUITE (minbase + $include) from $mirror into $dest"
    rm -rf "$dest" "$dest.partial"
    mkdir -p "$CACHE_DIR/debs"
    step_log "$logf"
    debootstrap --variant=minbase --include="$include" "${keyring[@]}" \
        --cache-dir="$CACHE_DIR/debs" "$SUITE" "$dest.partial" "$mirror" >"$logf" 2>&1
    echo "$SUITE $mirror $(date -u +%FT%TZ)" >"$dest.partial/.algoagent-complete"
    mv "$dest.partial" "$dest"
}

# Drop what no container needs (documentation, apt lists, logs).
strip_tree() {
    local root="$1"
    rm -rf "${root:?}"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
        "$root"/usr/share/locale/* "$root"/var/log/* "$root"/tmp/* "$root"/root/.cache \
        "$root"/.algoagent-complete
}

import_tree() {
    local root="$1" hash_tag="$2" hash="$3" title="$4"
    shift 4
    local changes=()
    for c in "$@"; do changes+=(--change "$c"); done
    log "docker import as $hash_tag ($(du -sh "$root" | cut -f1) rootfs)"
    tar --numeric-owner -C "$root" -c . | docker import \
        --change 'ENV LANG=C.UTF-8' \
        --change "LABEL algoagent.content-hash=$hash" \
        --change "LABEL org.opencontainers.image.title=$title" \
        "${changes[@]}" \
        --change 'CMD ["/bin/bash"]' \
        - "$hash_tag" >/dev/null
}

drop_old_tags() {
    local repo="$1" keep="$2" old_tags
    old_tags="$(docker image ls --format '{{.Repository}}:{{.Tag}}' "$repo" \
        | awk -v keep="$keep" '$0 ~ /:[0-9a-f]{12}$/ && $0 != keep')"
    for old in $old_tags; do
        if docker image rm "$old" >/dev/null 2>&1; then log "removed old $old"; fi
    done
}

BASE_PATH='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

build_runtime() {
    local tag="${RUNTIME_BASE:-algoagent-base:$SUITE}" hash repo hash_tag work
    hash="$( (cat "$HERE/build-bases.sh"; echo runtime) | sha256sum | cut -c1-64)"
    repo="$(image_repo "$tag")"
    hash_tag="$repo:${hash:0:12}"
    if up_to_date "$hash_tag" "$hash" "$tag"; then
        log "up to date: $tag = $hash_tag"
        echo "runtime=$tag"
        return 0
    fi
    rootfs "$CACHE_DIR/rootfs-$SUITE-minbase-ca-git" ca-certificates,git
    work="$(mktemp -d "$CACHE_DIR/build-runtime-base.XXXXXX")"
    cp -a "$CACHE_DIR/rootfs-$SUITE-minbase-ca-git" "$work/rootfs"
    strip_tree "$work/rootfs"
    import_tree "$work/rootfs" "$hash_tag" "$hash" algoagent-base "ENV $BASE_PATH"
    rm -rf "$work"
    docker run --rm "$hash_tag" test -s /etc/ssl/certs/ca-certificates.crt \
        || die "$hash_tag has no CA bundle"
    docker run --rm "$hash_tag" git --version >/dev/null || die "$hash_tag has no git"
    docker tag "$hash_tag" "$tag"
    drop_old_tags "$repo" "$hash_tag"
    log "done: $tag = $hash_tag ($(docker image inspect --format '{{.Size}}' "$hash_tag" | awk '{printf "%.0f MB", $1/1e6}'))"
    echo "runtime=$tag"
}

build_builder() {
    local sysroot rustc_version tag hash repo hash_tag work chef_root
    command -v rustc >/dev/null 2>&1 || die "no Rust toolchain on this machine (rustup) to copy into the builder"
    sysroot="$(rustc --print sysroot)"
    rustc_version="$(rustc --version | awk '{print $2}')"
    tag="${BUILDER_BASE:-algoagent-rust:$rustc_version-$SUITE}"
    hash="$( (cat "$HERE/build-bases.sh"; rustc --version --verbose; echo "cargo-chef $CARGO_CHEF_VERSION") | sha256sum | cut -c1-64)"
    repo="$(image_repo "$tag")"
    hash_tag="$repo:${hash:0:12}"
    if up_to_date "$hash_tag" "$hash" "$tag"; then
        log "up to date: $tag = $hash_tag"
        echo "builder=$tag"
        return 0
    fi
    # cargo-chef from crates.io, built once on this machine and kept in the cache.
    chef_root="$CACHE_DIR/cargo-chef-$CARGO_CHEF_VERSION"
    if [[ ! -x "$chef_root/bin/cargo-chef" ]]; then
        log "cargo install cargo-chef $CARGO_CHEF_VERSION (once; cached in $chef_root)"
        step_log "$CACHE_DIR/cargo-chef-install.log"
        cargo install --locked --quiet cargo-chef --version "$CARGO_CHEF_VERSION" --root "$chef_root.partial" \
            >"$CACHE_DIR/cargo-chef-install.log" 2>&1
        rm -rf "$chef_root"
        mv "$chef_root.partial" "$chef_root"
    fi
    rootfs "$CACHE_DIR/rootfs-$SUITE-minbase-rustbuild" ca-certificates,gcc,g++,libc6-dev,make,cmake,pkg-config,zlib1g-dev
    work="$(mktemp -d "$CACHE_DIR/build-builder-base.XXXXXX")"
    log "copying rootfs, the Rust $rustc_version toolchain ($sysroot) and cargo-chef"
    cp -a "$CACHE_DIR/rootfs-$SUITE-minbase-rustbuild" "$work/rootfs"
    strip_tree "$work/rootfs"
    mkdir -p "$work/rootfs/usr/local/rust" "$work/rootfs/usr/local/cargo/bin"
    for d in bin lib libexec; do
        [[ -d "$sysroot/$d" ]] && cp -a "$sysroot/$d" "$work/rootfs/usr/local/rust/"
    done
    cp "$chef_root/bin/cargo-chef" "$work/rootfs/usr/local/cargo/bin/"
    # cargo inside `docker build` downloads crates: trust what this machine trusts (its local
    # CAs, e.g. a TLS-intercepting proxy's, sit in /usr/local/share/ca-certificates).
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$work/rootfs/usr/local/share/ca-certificates/"
        chroot "$work/rootfs" update-ca-certificates >/dev/null
    fi
    import_tree "$work/rootfs" "$hash_tag" "$hash" algoagent-rust \
        'ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        'ENV CARGO_HOME=/usr/local/cargo' \
        "LABEL algoagent.rustc=$rustc_version"
    rm -rf "$work"
    local got
    got="$(docker run --rm "$hash_tag" sh -c 'rustc --version && cargo --version && cargo chef --version && cc --version | head -n1')" \
        || die "the toolchain does not run inside $hash_tag"
    log "inside: $(echo "$got" | tr '\n' ';')"
    docker tag "$hash_tag" "$tag"
    drop_old_tags "$repo" "$hash_tag"
    log "done: $tag = $hash_tag ($(docker image inspect --format '{{.Size}}' "$hash_tag" | awk '{printf "%.0f MB", $1/1e6}'))"
    echo "builder=$tag"
}

mkdir -p "$CACHE_DIR"
# One build per machine at a time (CI jobs may race); the second waits, then finds the tags.
exec 9>"$CACHE_DIR/build-bases.lock"
flock 9
case "$WHAT" in
    runtime) build_runtime ;;
    builder) build_builder ;;
    all) build_runtime; build_builder ;;
esac
