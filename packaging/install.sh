#!/bin/sh
# Installs edgepull on a device without dpkg, from a tree made by
# packaging/build-tree.sh (this script ships inside it, in packaging/).
#
# Usage: install.sh [--from TREE] [--prefix DIR] [--bindir DIR] [--root DIR] [--systemd auto|yes|no]
#   --from TREE      the built tree (default: the tree this script is in)
#   --prefix DIR     where the tree goes (default /opt/edgepull)
#   --bindir DIR     where the edge-agent and edge-publish links go (default /usr/bin)
#   --root DIR       install below DIR as if it were /: files only; no user is
#                    created, nothing is chowned, systemd is not called
#   --systemd MODE   install the units: auto (when the target has systemd), yes, no
#
# Layout (as the .deb's): PREFIX/{dist,node_modules,package.json,package-lock.json},
# BINDIR/edge-agent and edge-publish (links into PREFIX),
# /etc/edgepull/agent.json (kept when it exists), /var/lib/edgepull (0750 edgepull),
# /usr/share/doc/edgepull/{README,operations}.md; units and the polkit rule go to /etc
# (/etc/systemd/system, /etc/polkit-1/rules.d), the administrator's places.
# A first install enables the agent but does not start it: set deviceId,
# repository and the key in the config first. An upgrade restarts a running agent.
set -eu

say() { echo "install: $*" >&2; }
die() {
  echo "install: $*" >&2
  exit 1
}
usage() {
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
from=$(cd "$here/.." && pwd)
prefix=/opt/edgepull
bindir=/usr/bin
root=""
systemd=auto
while [ $# -gt 0 ]; do
  case "$1" in
  --from | --prefix | --bindir | --root | --systemd)
    [ $# -ge 2 ] || usage
    case "$1" in
    --from) from=$2 ;;
    --prefix) prefix=$2 ;;
    --bindir) bindir=$2 ;;
    --root) root=$2 ;;
    --systemd) systemd=$2 ;;
    esac
    shift 2
    ;;
  -h | --help) usage ;;
  *)
    echo "install: unknown option $1" >&2
    usage
    ;;
  esac
done
case "$systemd" in auto | yes | no) ;; *) die "--systemd takes auto, yes or no, not '$systemd'" ;; esac
case "$prefix" in /*) ;; *) die "--prefix must be an absolute path" ;; esac
case "$bindir" in /*) ;; *) die "--bindir must be an absolute path" ;; esac

if [ ! -f "$from/dist/agent/main.js" ] || [ ! -d "$from/node_modules" ] || [ ! -f "$from/package.json" ]; then
  die "$from is not a built tree (no dist/agent/main.js, node_modules or package.json); make one with packaging/build-tree.sh"
fi
from=$(cd "$from" && pwd)
for f in systemd/edgepull-agent.service systemd/example-inference.service systemd/edgepull-refresh.service \
  systemd/edgepull-refresh.timer config/agent.json config/refresh.env polkit/50-edgepull-restart.rules; do
  [ -f "$here/$f" ] || die "$here/$f is missing"
done
if [ -n "$root" ]; then
  mkdir -p "$root"
  root=$(cd "$root" && pwd)
  [ "$root" != / ] || root=""
fi
real=1
[ -z "$root" ] || real=0
if [ "$real" = 1 ] && [ "$(id -u)" != 0 ]; then die "run as root, or pass --root DIR to install below DIR"; fi
command -v node >/dev/null 2>&1 || say "warning: node is not on PATH; edgepull needs Node.js 20 or newer"

version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$from/package.json" | head -n 1)
say "installing edgepull $version from $from into ${root:-/} (prefix $prefix)"

systemd_running=0
[ "$real" = 1 ] && [ -d /run/systemd/system ] && systemd_running=1
if [ "$systemd" = auto ]; then
  systemd=no
  for p in /run/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
    if [ -d "$root$p" ]; then systemd=yes; fi
  done
fi
was_active=0
if [ "$systemd_running" = 1 ] && systemctl --quiet is-active edgepull-agent.service; then
  was_active=1
  say "stopping the running agent for the upgrade"
  systemctl stop edgepull-agent.service
fi

# The system user: Debian's adduser, else shadow's useradd, else BusyBox's adduser.
if [ "$real" = 1 ] && ! id edgepull >/dev/null 2>&1; then
  nologin=/bin/false
  for s in /usr/sbin/nologin /sbin/nologin; do [ -x "$s" ] && nologin=$s && break; done
  if command -v adduser >/dev/null 2>&1 && adduser --help 2>&1 | grep -q -- --system; then
    getent group edgepull >/dev/null 2>&1 || addgroup --system --quiet edgepull
    adduser --system --quiet --ingroup edgepull --home /var/lib/edgepull --no-create-home --shell "$nologin" edgepull
  elif command -v useradd >/dev/null 2>&1; then
    getent group edgepull >/dev/null 2>&1 || groupadd --system edgepull
    useradd --system --gid edgepull --home-dir /var/lib/edgepull --no-create-home --shell "$nologin" edgepull
  elif command -v adduser >/dev/null 2>&1; then
    addgroup -S edgepull 2>/dev/null || true
    adduser -S -D -H -h /var/lib/edgepull -s "$nologin" -G edgepull edgepull
  else
    die "neither adduser nor useradd is available to create the edgepull user"
  fi
  say "created the system user edgepull"
fi

# The tree: copied beside the old one, then swapped in with two renames.
dest="$root$prefix"
mkdir -p "$(dirname "$dest")"
new="$dest.new.$$"
old="$dest.old.$$"
rm -rf "$new"
# A copy that fails half-way (disk full) leaves the installed tree as it was.
trap 'rm -rf "$new"' EXIT
cp -R -p "$from" "$new"
rm -rf "$new/packaging"
if [ "$real" = 1 ]; then chown -R 0:0 "$new"; fi
chmod -R u+rwX,go+rX,go-w "$new"
trap - EXIT
if [ -e "$dest" ]; then mv "$dest" "$old"; fi
mv "$new" "$dest"
rm -rf "$old"

# Absolute links, as in the .deb: below --root they name the paths the tree
# will have once that root is the system's.
mkdir -p "$root$bindir"
ln -sfn "$prefix/dist/agent/main.js" "$root$bindir/edge-agent"
ln -sfn "$prefix/dist/publisher/main.js" "$root$bindir/edge-publish"

mkdir -p "$root/etc/edgepull" "$root/var/lib/edgepull" "$root/usr/share/doc/edgepull"
# As in the .deb: the project README (config keys, error codes) and this guide.
for doc in "$here/edgepull-README.md" "$here/../README.md"; do
  if [ -f "$doc" ]; then
    cp "$doc" "$root/usr/share/doc/edgepull/README.md"
    break
  fi
done
cp "$here/README.md" "$root/usr/share/doc/edgepull/operations.md"
cp "$here/config/refresh.env" "$root/usr/share/doc/edgepull/refresh.env.example"
if [ -e "$root/etc/edgepull/agent.json" ]; then
  say "kept the existing /etc/edgepull/agent.json"
else
  cp "$here/config/agent.json" "$root/etc/edgepull/agent.json"
  chmod 0640 "$root/etc/edgepull/agent.json"
  if [ "$real" = 1 ]; then chown root:edgepull "$root/etc/edgepull/agent.json"; fi
  say "wrote /etc/edgepull/agent.json: set deviceId, repository and trustedKeys"
fi
chmod 0750 "$root/var/lib/edgepull"
if [ "$real" = 1 ]; then chown edgepull:edgepull "$root/var/lib/edgepull"; fi

if [ "$systemd" = yes ]; then
  node_bin=$(command -v node 2>/dev/null || echo /usr/bin/node)
  mkdir -p "$root/etc/systemd/system" "$root/etc/polkit-1/rules.d"
  # The units name the .deb's paths; point them at this install's.
  # The refresh pair is for a publisher's machine: installed, not enabled.
  for unit in edgepull-agent.service example-inference.service edgepull-refresh.service edgepull-refresh.timer; do
    sed -e "s#/usr/bin/edge-agent#$bindir/edge-agent#g" \
      -e "s#/usr/bin/edge-publish#$bindir/edge-publish#g" \
      -e "s#/usr/bin/node #$node_bin #g" \
      -e "s#/opt/edgepull/#$prefix/#g" \
      -e "s#/usr/share/polkit-1/rules.d/#/etc/polkit-1/rules.d/#g" \
      "$here/systemd/$unit" >"$root/etc/systemd/system/$unit"
    chmod 0644 "$root/etc/systemd/system/$unit"
  done
  cp "$here/polkit/50-edgepull-restart.rules" "$root/etc/polkit-1/rules.d/"
  chmod 0644 "$root/etc/polkit-1/rules.d/50-edgepull-restart.rules"
  if [ "$systemd_running" = 1 ]; then
    systemctl daemon-reload
    systemctl enable edgepull-agent.service
    if [ "$was_active" = 1 ]; then
      systemctl start edgepull-agent.service
      say "restarted edgepull-agent.service"
    fi
  elif command -v systemctl >/dev/null 2>&1; then
    # No running systemd (a chroot, an image, --root): enabling is only links.
    systemctl --root="${root:-/}" --quiet enable edgepull-agent.service ||
      say "could not enable edgepull-agent.service; run: systemctl enable edgepull-agent.service"
  fi
else
  say "no systemd: start the agent with your init system as: $bindir/edge-agent run --config /etc/edgepull/agent.json (user edgepull)"
fi

[ "$real" = 1 ] || say "--root: created no user and changed no owner; systemd was not called"
say "installed edgepull $version; next: edit /etc/edgepull/agent.json, then systemctl start edgepull-agent"
