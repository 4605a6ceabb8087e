#!/usr/bin/env bash
# The codegen numeric checks run the generated indicator helpers under the host's python3
# against pandas' own rolling/ewm; install numpy and pandas (the sandbox image's versions)
# when they are missing.
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$(dirname "$0")/.."
if python3 -c 'import numpy, pandas' 2>/dev/null; then
  exit 0
fi
pins=$(grep -E '^(numpy|pandas|python-dateutil|pytz|tzdata|six)==' deploy/sandbox/requirements.txt)
echo "[python] installing: $pins" >&2
# shellcheck disable=SC2086
python3 -m pip install --quiet --disable-pip-version-check $pins
