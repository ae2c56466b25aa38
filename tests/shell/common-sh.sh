#!/usr/bin/env bash
# Tests of scripts/common.sh, the helpers that CI's own setup relies on.
# Usage: bash tests/shell/common-sh.sh      (exit 0 when all pass)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mcrepl-shell.XXXXXX")
export MCREPL_TEST_TMPDIR="$TMP"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=scripts/common.sh
. "$ROOT/scripts/common.sh"

FAILS=0
check() { # name expected actual
  if [[ $2 == "$3" ]]; then
    printf 'ok   %s\n' "$1"
  else
    printf 'FAIL %s: expected "%s", got "%s"\n' "$1" "$2" "$3"
    FAILS=$((FAILS + 1))
  fi
}

# apt's sandbox user must be mapped, or apt-get runs its downloads as root.
sandbox_cases() {
  local apt_uid root_only=$TMP/map-root all=$TMP/map-all
  local shifted=$TMP/map-shifted off=-o\ APT::Sandbox::User=root
  apt_uid=$(id -u _apt) || { echo "FAIL no _apt user"; FAILS=1; return; }
  printf '         0          0          1\n' >"$root_only"
  printf '         0          0 4294967295\n' >"$all"
  printf '         0     100000      65536\n' >"$shifted"
  check "one uid mapped: sandbox off" "$off" "$(apt_sandbox_opts "$root_only")"
  check "all uids mapped: sandbox on" "" "$(apt_sandbox_opts "$all")"
  check "65536 uids mapped: sandbox on" "" "$(apt_sandbox_opts "$shifted")"
  printf '0 0 1\n%d %d 1\n' "$apt_uid" "$apt_uid" >"$TMP/map-two"
  check "root and _apt mapped: sandbox on" "" \
    "$(apt_sandbox_opts "$TMP/map-two")"
  check "this machine's map is read" \
    "$(apt_sandbox_opts /proc/self/uid_map)" "$(apt_sandbox_opts)"
}

# A tree without git (an unpacked tarball) built in place: its copy must
# come without the build's products, or a sanitizer build reuses them.
copy_cases() {
  local src=$TMP/tree dest=$TMP/copy
  mkdir -p "$src/lib"
  echo 'int f(void) { return 1; }' >"$src/lib/f.c"
  echo 'object' >"$src/lib/f.o"
  printf 'distclean:\n\trm -f lib/f.o Makefile\n' >"$src/Makefile"
  (ROOT=$src && copy_tree "$dest")
  check "copy without git: sources copied" yes \
    "$([[ -f $dest/lib/f.c ]] && echo yes)"
  check "copy without git: objects left behind" no \
    "$([[ -e $dest/lib/f.o ]] && echo yes || echo no)"
  check "copy without git: the original untouched" yes \
    "$([[ -f $src/lib/f.o && -f $src/Makefile ]] && echo yes)"
}

# The Debian package's upstream version is the library's (version.h).
version_cases() {
  local h=$ROOT/include/mcrepl/version.h v deb
  v=$(sed -n 's/^#define MCREPL_VERSION_\(MAJOR\|MINOR\|PATCH\) //p' \
    "$h" | paste -sd.)
  deb=$(sed -n '1s/^[^ ]* (\([^)]*\)-[^-)]*).*/\1/p' \
    "$ROOT/debian/changelog")
  check "debian/changelog's version is version.h's ($v)" "$v" "$deb"
}

sandbox_cases
copy_cases
version_cases
((FAILS == 0)) || { echo "$FAILS failed"; exit 1; }
echo "all passed"
