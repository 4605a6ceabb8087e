# shellcheck shell=bash
# Sourced by every script of the project (scripts/, deploy/, .ci/): strict mode plus an ERR
# trap, so that no script ever fails silently. On any failing command it prints the script,
# the step that was running, the command and its line, and the last lines of the step's log,
# then exits with the command's status.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"   (path relative to the sourcing script)
#   step "build"                 # names the step (printed now, and on failure)
#   step_log /var/log/x.log      # a log whose tail explains a failure of this step
#
# A command whose failure is expected must say so where it runs (`|| true`, `if`, `!`):
# under `set -o pipefail` a `grep` that matches nothing fails its whole pipeline.

set -Eeuo pipefail

AA_SCRIPT=${AA_SCRIPT:-${0##*/}}
AA_STEP=${AA_STEP:-start}
AA_STEP_LOG=""
AA_LOG_LINES=${AA_LOG_LINES:-25}
# When the outermost script started (inherited by the scripts it runs), so that every step
# says how far into the run it began: a slow step shows in any CI log.
AA_T0=${AA_T0:-$(date +%s)}
export AA_T0

# Names the current step and prints it with the seconds since the run began (stderr, so
# stdout stays the script's result).
step() {
  AA_STEP="$*"
  AA_STEP_LOG=""
  printf '\n==> [%ss] %s\n' "$(($(date +%s) - AA_T0))" "$*" >&2
}

# Names a log file whose last lines are printed if the current step fails.
step_log() {
  AA_STEP_LOG=$1
}

# The ERR trap. Subshells (`$(...)`, pipelines) only pass their status up: the top-level
# shell reports once, naming the line that ran them.
aa_on_err() {
  local status=$1 line=$2 cmd=$3 src=$4
  if [ "${BASHPID:-$$}" != "$$" ]; then
    exit "$status"
  fi
  trap - ERR
  {
    printf '\n!! %s failed (exit %s) during step: %s\n' "$AA_SCRIPT" "$status" "$AA_STEP"
    printf '!!   %s:%s: %s\n' "$src" "$line" "$cmd"
    if [ -n "$AA_STEP_LOG" ] && [ -s "$AA_STEP_LOG" ]; then
      printf '!! last %s lines of %s:\n' "$AA_LOG_LINES" "$AA_STEP_LOG"
      tail -n "$AA_LOG_LINES" "$AA_STEP_LOG" | sed 's/^/!!   /'
    fi
  } >&2
  exit "$status"
}
trap 'aa_on_err "$?" "$LINENO" "$BASH_COMMAND" "${BASH_SOURCE[0]:-$0}"' ERR
