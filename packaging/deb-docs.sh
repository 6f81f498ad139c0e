#!/usr/bin/env bash
# Writes the .deb's /usr/share/doc/edgepull files on stdout (used by build-deb.sh):
#   deb-docs.sh copyright TREE                         edgepull's license and every bundled npm package's
#   deb-docs.sh changelog VERSION MAINTAINER COMMIT    a one-entry Debian changelog (not yet gzipped)
#   deb-docs.sh man PROGRAM MAIN_JS VERSION            a man page made of the program's own --help texts
#   deb-docs.sh commands MAIN_JS                       the commands the program's --help lists, one a line
#   deb-docs.sh man-command PROGRAM MAIN_JS CMD VERSION  the page of one command (PROGRAM-CMD(1))
set -euo pipefail

list_commands() { node "$1" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'; }

case "${1:-}" in
copyright)
  tree="${2:?tree folder}"
  year="$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y)"
  cat <<EOF
edgepull: pull-based model updates for fleets of edge devices

Copyright (c) $year the edgepull authors
License: Apache-2.0

On Debian systems the full text of the Apache License, Version 2.0 is in
/usr/share/common-licenses/Apache-2.0.

/opt/edgepull/node_modules holds these npm packages, each under the license
its package.json names; the license text ships in each package's folder.

EOF
  # Every installed package folder (scoped and nested too), sorted by path.
  node - "$tree/node_modules" <<'EOF'
const { readdirSync, readFileSync, existsSync } = require("node:fs");
const { join, relative } = require("node:path");
const root = process.argv[2];
const rows = [];
function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith(".")) continue;
    const path = join(dir, name);
    if (name.startsWith("@")) {
      walk(path);
      continue;
    }
    const manifest = join(path, "package.json");
    if (!existsSync(manifest)) continue;
    const pkg = JSON.parse(readFileSync(manifest, "utf8"));
    const license = typeof pkg.license === "string" ? pkg.license : (pkg.license?.type ?? "see the package's files");
    rows.push(`  ${relative(root, path).padEnd(48)} ${String(pkg.version).padEnd(10)} ${license}`);
    if (existsSync(join(path, "node_modules"))) walk(join(path, "node_modules"));
  }
}
walk(root);
console.log(rows.join("\n"));
EOF
  ;;
changelog)
  version="${2:?version}"
  maintainer="${3:?maintainer}"
  commit="${4:?commit}"
  when="$(date -u -R -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")"
  cat <<EOF
edgepull ($version) unstable; urgency=medium

  * Built from commit $commit of the edgepull repository with
    packaging/build-deb.sh.

 -- $maintainer  $when
EOF
  ;;
man)
  program="${2:?program}"
  main="${3:?main.js}"
  version="${4:?version}"
  # Roff: a leading "." or "'" would be a request and "\" an escape.
  roff() { sed -e 's/\\/\\e/g' -e 's/^[.'"'"']/\\\&&/'; }
  help="$(node "$main" --help)"
  summary="$(printf '%s\n' "$help" | head -n 1 | sed "s/^$program: //")"
  day="$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%d)"
  upper="$(printf '%s' "$program" | tr '[:lower:]' '[:upper:]')"
  printf '.TH %s 1 "%s" "edgepull %s" "User Commands"\n' "$upper" "$day" "$version"
  printf '.SH NAME\n%s \\- %s\n' "$program" "$summary"
  printf '.SH DESCRIPTION\n.nf\n'
  printf '%s\n' "$help" | tail -n +3 | roff
  printf '.fi\n'
  # Each command's own help, from the names listed under "Commands:".
  for cmd in $(list_commands "$main"); do
    printf '.SS %s\n.nf\n' "$cmd"
    node "$main" help "$cmd" | roff
    printf '.fi\n'
  done
  printf '.SH SEE ALSO\n%s\n/usr/share/doc/edgepull/README.md\n' "$(list_commands "$main" | sed "s/^/$program-/; s/\$/(1)/" | paste -sd, - | sed 's/,/, /g')"
  ;;
commands)
  list_commands "${2:?main.js}"
  ;;
man-command)
  program="${2:?program}"
  main="${3:?main.js}"
  cmd="${4:?command}"
  version="${5:?version}"
  roff() { sed -e 's/\\/\\e/g' -e 's/^[.'"'"']/\\\&&/'; }
  summary="$(node "$main" --help | sed -n "/^Commands:/,/^\$/s/^  $cmd  *//p")"
  day="$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%d)"
  upper="$(printf '%s-%s' "$program" "$cmd" | tr '[:lower:]' '[:upper:]')"
  printf '.TH %s 1 "%s" "edgepull %s" "User Commands"\n' "$upper" "$day" "$version"
  printf '.SH NAME\n%s-%s \\- %s\n' "$program" "$cmd" "${summary:-$cmd}"
  printf '.SH SYNOPSIS\n.nf\n'
  node "$main" help "$cmd" | roff
  printf '.fi\n.SH SEE ALSO\n%s(1), /usr/share/doc/edgepull/README.md\n' "$program"
  ;;
*)
  sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
