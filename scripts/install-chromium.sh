#!/usr/bin/env bash
# Finds Debian's chromium for the dashboard's browser test, or installs it: CHROMIUM_BIN, then
# /usr/bin/chromium, then `chromium` on PATH; failing those, `apt-get install -y chromium` (as root,
# each step bounded in time). Prints the path of the binary; fails with what to do instead.
# Callers running at once take turns on a lock ($FN_HOME/chromium.lock), so apt-get runs once.
#
#   bash scripts/install-chromium.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
home=${FN_HOME:-$root/.fn}
step_timeout=${FN_FETCH_TIMEOUT:-300}

fail() {
  echo "install-chromium: $1" >&2
  echo "hint: install Debian's chromium yourself (apt-get install -y chromium) or set CHROMIUM_BIN=/path/to/chromium" >&2
  exit 1
}

runs() { [ -n "$1" ] && [ -x "$1" ] && timeout 30 "$1" --headless=new --no-sandbox --version >/dev/null 2>&1; }

found() {
  local c
  for c in "${CHROMIUM_BIN:-}" /usr/bin/chromium "$(command -v chromium 2>/dev/null || true)"; do
    if runs "$c"; then echo "$c"; return 0; fi
  done
  return 1
}

found && exit 0
[ -n "${CHROMIUM_BIN:-}" ] && fail "CHROMIUM_BIN=$CHROMIUM_BIN does not run"

command -v apt-get >/dev/null || fail "chromium is not installed and apt-get is not available on this machine"
[ "$(id -u)" = 0 ] || fail "chromium is not installed, and installing it with apt-get needs root"
command -v flock >/dev/null || fail "flock (util-linux) is not available on this machine"
mkdir -p "$home"
exec 9>"$home/chromium.lock"
if ! flock -n 9; then
  echo "install-chromium: another install is running; waiting for it (at most $(( 2 * step_timeout ))s)" >&2
  flock -w $(( 2 * step_timeout )) 9 || fail "the install holding $home/chromium.lock did not finish in time"
  found && exit 0
fi

echo "install-chromium: apt-get update (bounded to ${step_timeout}s)" >&2
timeout "$step_timeout" apt-get -qq -o Acquire::Retries=2 -o Acquire::http::Timeout=30 update >&2 || fail "apt-get update failed or timed out"
echo "install-chromium: apt-get install -y chromium (bounded to ${step_timeout}s)" >&2
DEBIAN_FRONTEND=noninteractive timeout "$step_timeout" apt-get install -y -qq --no-install-recommends -o Acquire::Retries=2 chromium >&2 || fail "apt-get install chromium failed or timed out"
found || fail "chromium was installed but does not run"
