#!/usr/bin/env bash
# Python tools the tests run on the host:
# - numpy and pandas (the sandbox image's versions): the codegen numeric checks run the
#   generated indicator helpers under the host's python3 against pandas' own rolling/ewm;
# - requests (pinned): tests/tests/guide_examples.rs runs the prototype guide's Python
#   client example unchanged, and it imports requests;
# - schemathesis (pinned), in a virtualenv of its own so its dependencies cannot disturb
#   the others: tests/tests/schemathesis.rs fuzzes the live coordinator against its OpenAPI
#   document with it. Its path is printed by `scripts/ensure-python-deps.sh --schemathesis`.
# Each is installed only when missing, so a second run costs about a second.
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
SCHEMATHESIS_VENV=${SCHEMATHESIS_VENV:-/var/cache/algoagent/schemathesis-$SCHEMATHESIS_VERSION}
if [ "${1:-}" = --schemathesis ]; then
  echo "$SCHEMATHESIS_VENV/bin/schemathesis"
  exit 0
fi

if ! python3 -c 'import numpy, pandas' 2>/dev/null; then
  pins=$(grep -E '^(numpy|pandas|python-dateutil|pytz|tzdata|six)==' deploy/sandbox/requirements.txt)
  echo "[python] installing: $pins" >&2
  # shellcheck disable=SC2086
  python3 -m pip install --quiet --disable-pip-version-check $pins
fi

if ! python3 -c 'import requests' 2>/dev/null; then
  echo "[python] installing: requests==2.34.2" >&2
  python3 -m pip install --quiet --disable-pip-version-check requests==2.34.2
fi

if ! "$SCHEMATHESIS_VENV/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
  echo "[python] installing schemathesis==$SCHEMATHESIS_VERSION into $SCHEMATHESIS_VENV" >&2
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$SCHEMATHESIS_VENV"
  mkdir -p "$(dirname "$SCHEMATHESIS_VENV")"
  python3 -m venv "$SCHEMATHESIS_VENV"
  "$SCHEMATHESIS_VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
