#!/usr/bin/env bash
# Runs every check and test of AlgoAgent against real services: starts whatever is missing
# (PostgreSQL, Redis, RabbitMQ, the Docker engine, the sandbox image), then formatting,
# lints, the build and the whole test suite. `.ci/run` calls exactly this.
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$(dirname "$0")/.."


step "services"
scripts/ensure-services.sh
step "docker engine"
scripts/ensure-docker.sh
step "sandbox image"
deploy/sandbox/build-image.sh
step "python packages for the numeric checks"
scripts/ensure-python-deps.sh

step "leftovers of interrupted test runs"
scripts/clean-test-leftovers.sh

command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

step "format"
cargo fmt --all --check
step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "build"
cargo build --workspace --bins --locked
step "tests"
# The restart test stops and starts the shared PostgreSQL, RabbitMQ and Redis, so it runs
# alone, after everything else.
cargo nextest run --workspace --locked --no-fail-fast -E 'not binary(restarts) and not binary(first_run)' "$@"
# The first-run checks build a sandbox image and run the demo from scratch; alone, so their
# CPU does not disturb the timing-sensitive sandbox tests. `--workspace` (not `-p`) keeps
# the feature set of the build above, so nothing is compiled again.
# The engine benchmark in its short form: its correctness (4 jobs per pipeline, each once),
# never its speed.
step "engine benchmark, smoke (correctness only)"
scripts/bench-pipeline.sh --smoke >/dev/null
step "first-run paths: image build under a new name, demo on a new database (alone)"
cargo nextest run --workspace --locked --no-fail-fast -E 'binary(first_run) and not test(compose)'
# The compose deployment (scripts/compose-smoke.sh: both images built under names that never
# existed, coordinator + 3 worker replicas through compose, every example spec); about 2
# minutes once the binaries above are built.
step "compose deployment: images, 3 worker replicas, every example (alone)"
cargo nextest run --workspace --locked --no-fail-fast -E 'binary(first_run) and test(compose)'
step "dependency restarts (alone)"
cargo nextest run --workspace --locked --no-fail-fast -E 'binary(restarts)'
