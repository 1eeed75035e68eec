#!/usr/bin/env bash
# Packs what `npm run bench` needs into .fn/bench-pack/, to run it on a bigger machine (more cores)
# that has neither npm, a registry nor Node: this machine's node binary, nats-server, redis-server
# with the libraries it links to (for the BullMQ peer), the built dist/ and node_modules without
# the tools only the tests and type checks use. Everything is xz-compressed (about 45 MiB); the
# other machine unpacks it with python3's lzma module, so it needs no xz, and runs the same x86-64
# Linux binaries (its glibc as new as this one's or newer).
#
#   bash scripts/bench-pack.sh
#   # copy the repository (tracked files) and .fn/bench-pack/ to the other machine, then there:
#   source .fn/bench-pack/setup.sh && node --expose-gc --import tsx scripts/bench.ts --peers
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=.fn/bench-pack
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "bench-pack: $1" >&2
  exit 1
}

node_bin=$(command -v node) || fail "no node on PATH"
nats_bin=${NATS_SERVER_BIN:-$root/.fn/bin/nats-server}
[ -x "$nats_bin" ] || fail "no nats-server at $nats_bin (npm run nats-server fetches one, or set NATS_SERVER_BIN)"
[ -d node_modules ] || fail "no node_modules: run npm install first"
command -v xz >/dev/null || fail "xz is missing: apt-get install xz-utils"

npm run build >/dev/null
rm -rf "$out"
mkdir -p "$out"

xz -T0 -c "$(readlink -f "$node_bin")" >"$out/node.xz"
xz -T0 -c "$(readlink -f "$nats_bin")" >"$out/nats-server.xz"

# redis-server is optional (the BullMQ row then says it is not installed); Debian's binary is one
# program under several names, which picks its mode by the name it runs under: keep redis-server.
if redis=$(command -v redis-server); then
  mkdir -p "$work/redis/lib"
  cp "$(readlink -f "$redis")" "$work/redis/redis-server"
  ldd "$redis" | awk '/=> \// { print $3 }' | grep -Ev '/(libc|libm|libdl|libpthread|librt)\.so' | while read -r lib; do cp -L "$lib" "$work/redis/lib/"; done
  tar -C "$work" -cf - redis | xz -T0 >"$out/redis.tar.xz"
else
  echo "bench-pack: no redis-server on PATH: the BullMQ row will say so (apt-get install redis-server)" >&2
fi

# node_modules without what only tests, type checks and the package checks use.
mkdir -p "$work/nm"
cp -a node_modules "$work/nm/"
(cd "$work/nm/node_modules" && rm -rf typescript @arethetypeswrong kubernetes-models @kubernetes-models playwright-core @rolldown rolldown vite vitest @vitest lightningcss* @swc @types highlight.js marked-terminal publint)
tar -C "$work/nm" -cf - node_modules | xz -T0 >"$out/node_modules.tar.xz"
tar -cf - dist | xz -T0 >"$out/dist.tar.xz"

cat >"$out/setup.sh" <<'EOF'
# Unpacks .fn/bench-pack into /tmp/jetfn-bench and the repository (node_modules, dist), and puts
# node, nats-server and redis-server on PATH. Source it from the repository's root.
set -e
_d=/tmp/jetfn-bench
mkdir -p "$_d/bin"
python3 - "$_d" <<'PY'
import lzma, os, shutil, sys, tarfile
d, pack = sys.argv[1], '.fn/bench-pack/'
for name, dst in [('node.xz', d + '/bin/node'), ('nats-server.xz', d + '/bin/nats-server')]:
    with lzma.open(pack + name) as f, open(dst, 'wb') as o:
        shutil.copyfileobj(f, o)
    os.chmod(dst, 0o755)
for name, dst in [('redis.tar.xz', d), ('node_modules.tar.xz', '.'), ('dist.tar.xz', '.')]:
    if os.path.exists(pack + name):
        with tarfile.open(pack + name, 'r:xz') as t:
            t.extractall(dst)
PY
if [ -x "$_d/redis/redis-server" ]; then
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s/redis/lib exec %s/redis/redis-server "$@"\n' "$_d" "$_d" >"$_d/bin/redis-server"
  chmod +x "$_d/bin/redis-server"
  export REDIS_SERVER_BIN=$_d/bin/redis-server
fi
export PATH=$_d/bin:$PATH NATS_SERVER_BIN=$_d/bin/nats-server
set +e
echo "node $(node -v), $(nats-server -v), $(nproc) cores"
EOF

du -sh "$out"
echo "bench-pack: wrote $out; on the other machine, from the repository's root: source $out/setup.sh && node --expose-gc --import tsx scripts/bench.ts --peers"
