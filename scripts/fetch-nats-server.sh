#!/usr/bin/env bash
# Fetches nats-server (>= 2.10) from Debian's package archive into .fn/bin/ without touching the
# system: a private sources list and package lists under .fn/apt/, `apt-get download` of the
# package, `dpkg-deb -x` into .fn/apt/root/, then the binary is linked as .fn/bin/nats-server.
# Debian's own suite (bookworm) ships 2.9.10, too old for jetfn; the newer suite has 2.15.x and the
# binary links only to libc. Every network step is bounded in time.
#
# Callers running at once (test files, `fn dev`s) take turns on a lock, $FN_HOME/fetch.lock: the
# first one fetches, the others wait for it and then find its binary, so there is one download and
# no two apt-get runs trampling the same lists.
#
#   bash scripts/fetch-nats-server.sh            # fetch into ./.fn/bin
#   FN_HOME=/some/dir bash scripts/fetch-nats-server.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
home=${FN_HOME:-$root/.fn}
suite=${FN_NATS_SUITE:-sid}
mirror=${FN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
step_timeout=${FN_FETCH_TIMEOUT:-120}

fail() {
  echo "fetch-nats-server: $1" >&2
  echo "hint: install nats-server >= 2.10 yourself (brew install nats-server; docker run nats -js; go install github.com/nats-io/nats-server/v2@latest) and set NATS_SERVER_BIN=/path/to/nats-server" >&2
  exit 1
}

# True if the nats-server at $1 runs and reports version 2.10 or newer.
recent_enough() {
  local out major minor
  out=$(timeout 10 "$1" --version 2>&1) || return 1
  [[ $out =~ v?([0-9]+)\.([0-9]+)\.[0-9]+ ]] || return 1
  major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
  (( major > 2 || (major == 2 && minor >= 10) ))
}

command -v flock >/dev/null || fail "flock (util-linux) is not available on this machine"
mkdir -p "$home"
exec 9>"$home/fetch.lock"
lock_timeout=$(( 3 * step_timeout + 60 ))
if ! flock -n 9; then
  echo "fetch-nats-server: another fetch into $home is running; waiting for it (at most ${lock_timeout}s)" >&2
  flock -w "$lock_timeout" 9 || fail "the fetch holding $home/fetch.lock did not finish within ${lock_timeout}s"
fi
# Whoever held the lock before us may have fetched it already.
if [ -x "$home/bin/nats-server" ] && recent_enough "$home/bin/nats-server"; then
  echo "fetch-nats-server: $home/bin/nats-server is already there" >&2
  echo "$home/bin/nats-server"
  exit 0
fi

command -v apt-get >/dev/null || fail "apt-get is not available on this machine"
command -v dpkg-deb >/dev/null || fail "dpkg-deb is not available on this machine"

apt="$home/apt"
mkdir -p "$apt/lists/partial" "$apt/sources.d" "$apt/cache/archives/partial" "$home/bin"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || fail "Debian's archive keyring ($keyring) is missing"
printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite" > "$apt/sources.list"

opts=(
  -o Dir::Etc::SourceList="$apt/sources.list"
  -o Dir::Etc::SourceParts="$apt/sources.d"
  -o Dir::State::Lists="$apt/lists"
  -o Dir::Cache="$apt/cache"
  -o Debug::NoLocking=1
  -o APT::Sandbox::User=root
  -o Acquire::Retries=2
  -o Acquire::http::Timeout=30
)

echo "fetch-nats-server: reading the package list of Debian '$suite' (bounded to ${step_timeout}s)" >&2
timeout "$step_timeout" apt-get "${opts[@]}" -qq update >&2 || fail "apt-get update of Debian '$suite' failed or timed out"

version=$(apt-cache "${opts[@]}" policy nats-server | awk '/Candidate:/ {print $2}')
[ -n "$version" ] && [ "$version" != "(none)" ] || fail "no nats-server package in Debian '$suite'"

work=$(mktemp -d "$apt/dl.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "fetch-nats-server: downloading nats-server $version" >&2
(cd "$work" && timeout "$step_timeout" apt-get "${opts[@]}" -qq download "nats-server=$version" >&2) || fail "apt-get download nats-server=$version failed or timed out"
deb=$(ls "$work"/nats-server_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || fail "the download left no .deb file"

rm -rf "$apt/root" && mkdir -p "$apt/root"
dpkg-deb -x "$deb" "$apt/root" || fail "dpkg-deb could not unpack $deb"
bin=$(find "$apt/root" -type f -name nats-server -perm -u+x | head -n 1)
[ -n "$bin" ] || fail "the package holds no nats-server binary"
cp "$bin" "$home/bin/nats-server.tmp" && mv "$home/bin/nats-server.tmp" "$home/bin/nats-server"
chmod +x "$home/bin/nats-server"
timeout 10 "$home/bin/nats-server" --version >&2 || fail "the fetched binary does not run here"
echo "$home/bin/nats-server"
