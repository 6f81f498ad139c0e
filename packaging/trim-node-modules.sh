#!/usr/bin/env bash
# Removes from a production node_modules what only building, linting or reading
# the sources needs, so the installed tree carries only what Node loads (and
# each package's license). Used by build-tree.sh after `npm ci --omit=dev`.
#
# Usage: packaging/trim-node-modules.sh NODE_MODULES_DIR
set -euo pipefail

nm="${1:?usage: trim-node-modules.sh NODE_MODULES_DIR}"
[ -d "$nm" ] || {
  echo "trim-node-modules: $nm is not a folder" >&2
  exit 1
}
platform="$(node -p 'process.platform + "-" + process.arch')"

# Native addons are the packages with a binding.gyp (another package's build/
# may be its JavaScript). node-gyp leaves objects, static libraries, makefiles
# with this machine's paths and a test extension; only build/Release/*.node loads.
while IFS= read -r -d '' gyp; do
  pkg="$(dirname "$gyp")"
  if [ -d "$pkg/build/Release" ]; then
    find "$pkg/build" -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
    find "$pkg/build/Release" -mindepth 1 -maxdepth 1 ! -name '*.node' -exec rm -rf {} +
    rm -f "$pkg/build/Release/test_extension.node"
  fi
done < <(find "$nm" -name binding.gyp -type f -print0)
# The C sources those addons were compiled from.
rm -rf "$nm/better-sqlite3/deps" "$nm/better-sqlite3/src" "$nm/bsdiff-node/src" "$nm/bsdiff-node/test"

# Prebuilt binaries for other systems (bare-* ship android, darwin, ios, win32, arm64...).
while IFS= read -r -d '' dir; do
  find "$dir" -mindepth 1 -maxdepth 1 -type d ! -name "$platform" -exec rm -rf {} +
done < <(find "$nm" -type d -name prebuilds -print0)

# Lint, CI, editor and VCS configuration. npm's own .bin and .package-lock.json stay.
find "$nm" -mindepth 2 -name '.*' ! -name .bin ! -name .package-lock.json -prune -exec rm -rf {} +

# Documentation: Markdown other than license texts, docs/ folders of Markdown,
# and HTML pages at package roots (pino's loads scripts from CDNs).
find "$nm" -type f -iname '*.md' ! -iname 'licen[cs]e*' ! -iname 'copying*' ! -iname 'notice*' -delete
find "$nm" -type d -name docs -empty -delete
find "$nm" -type d -name docs -print0 | while IFS= read -r -d '' d; do
  if [ -z "$(find "$d" -type f ! -name '*.md' -print -quit)" ]; then rm -rf "$d"; fi
done
find "$nm" -mindepth 2 -maxdepth 3 -type f -name '*.html' -delete
# TypeScript declarations are for compilers, not for Node.
find "$nm" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete

# ELF objects: stripped as dh_strip would, and not executable (they are dlopen'ed).
while IFS= read -r -d '' f; do
  if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then
    if command -v strip >/dev/null 2>&1; then strip --remove-section=.comment --remove-section=.note --strip-unneeded "$f"; fi
    chmod 0644 "$f"
  fi
done < <(find "$nm" -type f \( -name '*.node' -o -name '*.bare' \) -print0)
# Executable bits on files that are neither scripts nor programs.
while IFS= read -r -d '' f; do
  case "$(head -c 4 "$f" | od -An -c | tr -d ' ')" in
  '#!'* | '177ELF') ;;
  *) chmod a-x "$f" ;;
  esac
done < <(find "$nm" -type f -perm /111 -print0)
