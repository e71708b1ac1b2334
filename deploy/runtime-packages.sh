#!/bin/sh
# runtime-packages.sh BINARY...
#
# Prints, one per line, the Debian packages that own the shared libraries the
# given binaries load (per ldd), so that the image's runtime stage installs
# exactly those and no -dev package. Fails when a library is missing or owned
# by no package. Used by deploy/Dockerfile's build stage; deploy/validate.sh
# runs it against the local build.
set -eu
[ $# -gt 0 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }

libs=$(mktemp)
owners=$(mktemp)
candidates=$(mktemp)
trap 'rm -f "$libs" "$owners" "$candidates"' EXIT
for bin in "$@"; do
  deps=$(ldd "$bin") || { echo "$0: ldd $bin failed" >&2; exit 1; }
  if printf '%s\n' "$deps" | grep -F 'not found' >&2; then
    echo "$0: $bin needs libraries that are not installed" >&2
    exit 1
  fi
  # Lines look like "libpq.so.5 => /lib/x86_64-linux-gnu/libpq.so.5 (0x...)"
  # or "/lib64/ld-linux-x86-64.so.2 (0x...)".
  printf '%s\n' "$deps" |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' >>"$libs"
done

sort -u "$libs" -o "$libs"
# dpkg knows each file by the path its package ships: /usr/lib/... for most,
# /lib/... for a few, while ldd may report either (merged /usr) or a symlink
# name. Ask once about every spelling of every library (dpkg-query -S reads
# its whole database per call), then take the first spelling found.
while read -r lib; do
  real=$(readlink -f "$lib")
  for path in "$lib" "/usr$lib" "${lib#/usr}" "$real" "/usr$real" "${real#/usr}"; do
    printf '%s\t%s\n' "$lib" "$path"
  done
done <"$libs" >"$candidates"
# shellcheck disable=SC2046 # one argument per path, none has blanks
dpkg-query -S $(cut -f2 "$candidates" | sort -u) 2>/dev/null >"$owners" || true
# Lines: "libpq5:amd64: /usr/lib/x86_64-linux-gnu/libpq.so.5", maybe
# "pkg1, pkg2: /path" or "diversion by ...".
awk -F'\t' -v prog="$0" '
  FNR == NR {
    if ($0 ~ /^diversion/) next
    i = index($0, ": /"); if (!i) next
    pkg = substr($0, 1, i - 1); path = substr($0, i + 2)
    sub(/,.*/, "", pkg); sub(/:.*/, "", pkg)
    owner[path] = pkg
    next
  }
  { if (!($1 in found) && ($2 in owner)) found[$1] = owner[$2]; seen[$1] = 1 }
  END {
    for (lib in seen) {
      if (!(lib in found)) { print prog ": no Debian package owns " lib > "/dev/stderr"; bad = 1 }
      else print found[lib]
    }
    exit bad
  }' "$owners" "$candidates" >"$libs" || exit 1
sort -u "$libs"
