#!/usr/bin/env bash
# Builds edgepull_<version>_<arch>.deb with dpkg-deb from the current checkout.
#
# Usage: packaging/build-deb.sh [--out DIR] [--tree DIR] [--lintian] [--json]
#   --out DIR    where the .deb is written (default ./dist-deb)
#   --tree DIR   package a tree made by packaging/build-tree.sh instead of
#                building one (the build is the slow part: npm ci compiles
#                the native addons)
#   --lintian    run lintian on the result; fail if it reports an error
#   --json       print {"deb": PATH, "sizeBytes": N} on stdout
# Progress goes to stderr. The package is for this machine's architecture and
# Node.js major version: its native addons are compiled for them.
set -euo pipefail

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
say() { echo "build-deb: $*" >&2; }
die() {
  echo "build-deb: $*" >&2
  exit 1
}

out="./dist-deb"
tree=""
json=0
run_lintian=0
while [ $# -gt 0 ]; do
  case "$1" in
  --out | --tree)
    [ $# -ge 2 ] || usage
    if [ "$1" = --out ]; then out="$2"; else tree="$2"; fi
    shift 2
    ;;
  --json)
    json=1
    shift
    ;;
  --lintian)
    run_lintian=1
    shift
    ;;
  -h | --help) usage ;;
  *)
    echo "build-deb: unknown option $1" >&2
    usage
    ;;
  esac
done

command -v dpkg-deb >/dev/null || die "dpkg-deb is not installed (apt-get install dpkg)"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
if [ -n "$tree" ]; then
  if [ ! -f "$tree/dist/agent/main.js" ] || [ ! -d "$tree/node_modules" ]; then die "$tree is not a tree made by build-tree.sh"; fi
  tree="$(cd "$tree" && pwd)"
fi

version="$(node -p 'require(process.argv[1]).version' "$repo/package.json")"
# Debian sorts "~" before anything, so a semver pre-release (1.2.0-rc.1) comes
# before its release; a "-" would read as a Debian revision.
deb_version="$(printf '%s' "$version" | sed -E 's/-/~/; s/-/./g')"
arch="$(dpkg --print-architecture)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
maintainer="${EDGEPULL_DEB_MAINTAINER:-edgepull maintainers <edgepull@example.com>}"
# Same commit, same timestamps inside the package (dpkg-deb clamps to it).
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}"

work="$(mktemp -d "${TMPDIR:-/tmp}/edgepull-deb.XXXXXX")"
trap 'rm -rf "$work"' EXIT
stage="$work/edgepull_${deb_version}_${arch}"
opt="$stage/opt/edgepull"
mkdir -p "$stage/opt"

if [ -n "$tree" ]; then
  say "packaging the tree $tree"
  cp -R "$tree" "$opt"
else
  "$here/build-tree.sh" --out "$opt" >/dev/null
fi
# In the package these live where Debian expects them (below), not under /opt.
rm -rf "$opt/packaging"

say "laying out edgepull $deb_version ($arch) in $stage"
install -d "$stage/usr/bin" "$stage/etc/edgepull" "$stage/lib/systemd/system" \
  "$stage/usr/share/polkit-1/rules.d" "$stage/usr/share/doc/edgepull" "$stage/usr/share/lintian/overrides" "$stage/usr/share/man/man1" "$stage/DEBIAN"
# Absolute, as Debian wants links from one top-level folder into another.
ln -s /opt/edgepull/dist/agent/main.js "$stage/usr/bin/edge-agent"
ln -s /opt/edgepull/dist/publisher/main.js "$stage/usr/bin/edge-publish"
install -m 0644 "$here/config/agent.json" "$stage/etc/edgepull/agent.json"
install -m 0644 "$here/systemd/edgepull-agent.service" "$here/systemd/example-inference.service" "$stage/lib/systemd/system/"
# For a publisher's machine: shipped, never enabled by the package.
install -m 0644 "$here/systemd/edgepull-refresh.service" "$here/systemd/edgepull-refresh.timer" "$stage/lib/systemd/system/"
install -m 0644 "$here/polkit/50-edgepull-restart.rules" "$stage/usr/share/polkit-1/rules.d/"
install -m 0644 "$repo/README.md" "$stage/usr/share/doc/edgepull/README.md"
install -m 0644 "$here/README.md" "$stage/usr/share/doc/edgepull/operations.md"
install -m 0644 "$here/config/refresh.env" "$stage/usr/share/doc/edgepull/refresh.env.example"
install -m 0644 "$here/debian/lintian-overrides" "$stage/usr/share/lintian/overrides/edgepull"
"$here/deb-docs.sh" copyright "$opt" >"$stage/usr/share/doc/edgepull/copyright"
"$here/deb-docs.sh" changelog "$deb_version" "$maintainer" "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)" |
  gzip -9n >"$stage/usr/share/doc/edgepull/changelog.gz"
chmod 0644 "$stage/usr/share/doc/edgepull/"*
install -d "$stage/usr/share/bash-completion/completions" "$stage/usr/share/zsh/vendor-completions"
for program in agent publisher; do
  name="edge-${program/publisher/publish}"
  main="$opt/dist/$program/main.js"
  "$here/deb-docs.sh" man "$name" "$main" "$version" | gzip -9n >"$stage/usr/share/man/man1/$name.1.gz"
  # One page per command too (man edge-agent-status), as git and systemctl's tools do.
  for cmd in $("$here/deb-docs.sh" commands "$main"); do
    "$here/deb-docs.sh" man-command "$name" "$main" "$cmd" "$version" | gzip -9n >"$stage/usr/share/man/man1/$name-$cmd.1.gz"
  done
  chmod 0644 "$stage/usr/share/man/man1/$name"*.1.gz
  node "$main" completion bash >"$stage/usr/share/bash-completion/completions/$name"
  node "$main" completion zsh >"$stage/usr/share/zsh/vendor-completions/_$name"
  chmod 0644 "$stage/usr/share/bash-completion/completions/$name" "$stage/usr/share/zsh/vendor-completions/_$name"
done

install -m 0755 "$here/debian/postinst" "$here/debian/prerm" "$here/debian/postrm" "$stage/DEBIAN/"
echo /etc/edgepull/agent.json >"$stage/DEBIAN/conffiles"
chmod 0644 "$stage/DEBIAN/conffiles"

# Libraries the native addons link against, as Debian names them.
shlibs=""
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
  mkdir -p "$work/shlibdeps/debian"
  printf 'Source: edgepull\n\nPackage: edgepull\nArchitecture: any\n' >"$work/shlibdeps/debian/control"
  mapfile -t addons < <(find "$opt/node_modules" -name '*.node' -type f)
  args=()
  for a in "${addons[@]}"; do args+=("-e$a"); done
  shlibs="$(cd "$work/shlibdeps" && dpkg-shlibdeps -O "${args[@]}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
fi
if [ -z "$shlibs" ]; then
  say "dpkg-shlibdeps unavailable (apt-get install dpkg-dev): using an unversioned C/C++ runtime dependency"
  shlibs="libc6, libgcc-s1, libstdc++6"
fi

installed_kib="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
cat >"$stage/DEBIAN/control" <<EOF
Package: edgepull
Version: $deb_version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_kib
Depends: nodejs (>= $node_major), nodejs (<< $((node_major + 1))), adduser, $shlibs
Recommends: polkitd
Section: admin
Priority: optional
Description: pull-based model updates for fleets of edge devices
 The edgepull agent (edge-agent) polls a static update repository, verifies
 every signature and digest, stages a new model version beside the old one,
 swaps the current link atomically, restarts the inference service, waits
 for it to answer /ready through a probation window, and rolls back by itself
 when anything fails.
 .
 The package also holds edge-publish, the publisher's command, and an example
 inference service (example-inference.service, not enabled). The native
 addons are built for Node.js $node_major, hence the bounded nodejs version.
EOF

(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums" "$stage/DEBIAN/control"

mkdir -p "$out"
deb="$(cd "$out" && pwd)/edgepull_${deb_version}_${arch}.deb"
say "dpkg-deb --build -> $deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2

if [ "$run_lintian" = 1 ]; then
  command -v lintian >/dev/null || die "lintian is not installed (apt-get install lintian)"
  say "lintian $deb"
  lintian --fail-on error "$deb" >&2 || die "lintian reported errors"
fi

size="$(stat -c %s "$deb")"
say "done: $deb ($((size / 1024)) KiB)"
if [ "$json" = 1 ]; then
  node -e 'console.log(JSON.stringify({ deb: process.argv[1], sizeBytes: Number(process.argv[2]) }))' "$deb" "$size"
fi
