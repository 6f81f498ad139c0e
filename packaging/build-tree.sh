#!/usr/bin/env bash
# Builds the installed tree of edgepull (what lands in /opt/edgepull) from the
# current checkout:
#   dist/{agent,publisher,shared,packaging/example-service}   compiled fresh
#   package.json, package-lock.json
#   node_modules/        production dependencies only (npm ci --omit=dev);
#                        native addons compiled for this machine's Node
#   packaging/           install.sh, units, polkit rule, config, README,
#                        so the tree can install itself on a device without dpkg
#
# Usage: packaging/build-tree.sh --out DIR [--json] [--addons-from NODE_MODULES]
# DIR must not exist or be empty. Progress goes to stderr; --json prints
# {"tree": DIR, "version": V, "sizeBytes": N, "addons": "compiled"|"reused"}
# on stdout. --addons-from takes the compiled addons (build/Release/*.node)
# from another node_modules instead of compiling them again, when each one
# there is the locked version and loads in this Node; otherwise it compiles.
# The test suite uses it (the compile is the slow part); a release build
# should not, since those addons were built without Debian's hardening flags.
# The checkout's own dist/ and node_modules are never written (node_modules is
# read only with --addons-from pointing at it).
set -euo pipefail

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
say() { echo "build-tree: $*" >&2; }
die() {
  echo "build-tree: $*" >&2
  exit 1
}

out=""
json=0
addons_from=""
while [ $# -gt 0 ]; do
  case "$1" in
  --out)
    [ $# -ge 2 ] || usage
    out="$2"
    shift 2
    ;;
  --json)
    json=1
    shift
    ;;
  --addons-from)
    [ $# -ge 2 ] || usage
    addons_from="$2"
    shift 2
    ;;
  -h | --help) usage ;;
  *)
    echo "build-tree: unknown option $1" >&2
    usage
    ;;
  esac
done
[ -n "$out" ] || usage

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then die "$out exists and is not empty"; fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"

work="$(mktemp -d "${TMPDIR:-/tmp}/edgepull-tree.XXXXXX")"
trap 'rm -rf "$work"' EXIT

version="$(node -p 'require(process.argv[1]).version' "$repo/package.json")"
say "edgepull $version from $repo, node $(node --version)"

say "compiling TypeScript (npm run build into a temporary folder)"
# --outDir keeps the checkout's dist/ untouched: tests and other builds may be using it.
(cd "$repo" && npm run build --silent -- --outDir "$work/dist") >&2

mkdir -p "$out/dist/packaging"
for part in agent publisher shared; do cp -R "$work/dist/$part" "$out/dist/$part"; done
cp -R "$work/dist/packaging/example-service" "$out/dist/packaging/example-service"
# The dashboard's page (HTML, CSS, plain JS) is not compiled: it goes beside its server module.
cp -R "$repo/publisher/dashboard/static" "$out/dist/publisher/dashboard/static"
cp "$repo/package.json" "$repo/package-lock.json" "$out/"
# The /usr/bin/edge-agent and edge-publish symlinks run these through their shebang.
chmod 0755 "$out/dist/agent/main.js" "$out/dist/publisher/main.js" "$out/dist/packaging/example-service/server.js"

addon_packages="better-sqlite3 bsdiff-node"
# Prints why the addons in $1 cannot stand in for a compile here, or nothing when they can.
addons_unusable() {
  local from="$1" pkg want have
  for pkg in $addon_packages; do
    want="$(node -p 'require(process.argv[1]).packages["node_modules/" + process.argv[2]].version' "$repo/package-lock.json" "$pkg")"
    [ -f "$from/$pkg/package.json" ] || { echo "$pkg is not in $from"; return; }
    have="$(node -p 'require(process.argv[1]).version' "$from/$pkg/package.json")"
    [ "$have" = "$want" ] || { echo "$from has $pkg $have, the lock file wants $want"; return; }
    compgen -G "$from/$pkg/build/Release/*.node" >/dev/null || { echo "$pkg in $from has no compiled addon"; return; }
  done
  (cd "$from/.." && node -e 'const D = require("better-sqlite3"); new D(":memory:").close(); require("bsdiff-node");') 2>/dev/null ||
    echo "the addons in $from do not load with $(node --version)"
}
addons="compiled"
if [ -n "$addons_from" ]; then
  addons_from="$(cd "$addons_from" && pwd)"
  why="$(addons_unusable "$addons_from")"
  if [ -z "$why" ]; then addons="reused"; else say "compiling the addons anyway: $why"; fi
fi

if [ "$addons" = reused ]; then
  say "installing production dependencies (npm ci --omit=dev --ignore-scripts; addons copied from $addons_from)"
  (cd "$out" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=warn) >&2
  for pkg in $addon_packages; do
    mkdir -p "$out/node_modules/$pkg/build/Release"
    cp "$addons_from/$pkg/build/Release/"*.node "$out/node_modules/$pkg/build/Release/"
  done
else
  say "installing production dependencies (npm ci --omit=dev; native addons compile, about a minute)"
  # On Debian, compile the addons with the distribution's hardening flags
  # (stack protector, fortify, relro/now), as a Debian package build would.
  if command -v dpkg-buildflags >/dev/null 2>&1; then
    for var in CFLAGS CXXFLAGS CPPFLAGS LDFLAGS; do export "$var=$(dpkg-buildflags --get "$var")"; done
  fi
  (cd "$out" && npm ci --omit=dev --no-audit --no-fund --loglevel=warn) >&2
fi

"$repo/packaging/trim-node-modules.sh" "$out/node_modules"

mkdir -p "$out/packaging"
cp -R "$repo/packaging/systemd" "$repo/packaging/polkit" "$repo/packaging/config" "$out/packaging/"
cp "$repo/packaging/install.sh" "$repo/packaging/README.md" "$out/packaging/"
# The project README (config keys, error codes) travels with the installer.
cp "$repo/README.md" "$out/packaging/edgepull-README.md"
chmod 0755 "$out/packaging/install.sh"

# Whatever the umask: files 0644 (0755 when executable), folders 0755.
chmod -R u+rwX,go+rX,go-w "$out"

say "checking the tree: edge-agent --version and the SQLite addon load"
got="$(node "$out/dist/agent/main.js" --version)"
[ "$got" = "$version" ] || die "dist/agent/main.js --version printed '$got', expected '$version'"
(cd "$out" && node -e 'const D = require("better-sqlite3"); new D(":memory:").close(); require("bsdiff-node");') ||
  die "a native addon in $out/node_modules does not load with $(node --version)"

size="$(du -sb "$out" | cut -f1)"
say "tree ready: $out ($((size / 1024 / 1024)) MiB)"
if [ "$json" = 1 ]; then
  node -e 'console.log(JSON.stringify({ tree: process.argv[1], version: process.argv[2], sizeBytes: Number(process.argv[3]), addons: process.argv[4] }))' \
    "$out" "$version" "$size" "$addons"
fi
