#!/usr/bin/env bash
# Functions run through trap and stage() look unreachable to shellcheck.
# shellcheck disable=SC2317
#
# Checks that mcrepl installs and reads like a well-kept Debian C library.
# Run as root on Debian 12 (scripts/test.sh runs it after the main build);
# it installs what it needs with apt-get. Every build happens in a copy of
# the tree under a temporary directory, so that a build going on in the
# tree itself is neither disturbed nor used:
#   a. `make distcheck`;
#   b. `make install` into a temporary prefix, the three examples built
#      with nothing but pkg-config against it, and run against real
#      memcached servers on free loopback ports;
#   c. every exported symbol starts with mcrepl_ and has its manual page,
#      every installed page renders without a warning, has a NAME lexgrog
#      can read, SEE ALSO pages that exist, and an EXAMPLE that compiles;
#   d. the Debian packages: dpkg-buildpackage -us -uc -b, installed with
#      apt-get, then pkg-config, an example built and run against the
#      system library, mcrepl-cli --version, lintian (errors fail,
#      warnings are shown), and purged.
# Usage: scripts/packaging.sh [STAGE...]   (stages a b c d; default all)
# Exit status: 0 when every stage passed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/common.sh
. "$ROOT/scripts/common.sh"
PACKAGES=(build-essential autoconf automake libtool pkg-config check
  libmemcached-dev memcached git man-db groff-base dpkg-dev debhelper
  lintian)
DEB_PACKAGES=(libmcrepl0 libmcrepl-dev mcrepl-tools)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mcrepl-packaging.XXXXXX")
export MCREPL_TEST_TMPDIR="$TMP/pids" # the tests' memcached pidfiles
mkdir -p "$MCREPL_TEST_TMPDIR"
PREFIX="$TMP/inst"
SRC_A="$TMP/a/mcrepl" # distcheck, install into $PREFIX
DEB_DIR="$TMP/deb"    # dpkg-buildpackage writes the .debs here
SRC_D="$DEB_DIR/mcrepl"
PASSED=0
FAILED=0
SUMMARY=()
PAIR=() # the "--pair=..." configurations of the running servers

fail() { printf 'packaging: %s\n' "$*" >&2; return 1; }

# Cleanup. -------------------------------------------------------------------

cleanup() {
  kill_pidfiles
  if [[ -e $TMP/debs-installed ]]; then
    apt_get purge -y -q "${DEB_PACKAGES[@]}" \
      >/dev/null 2>&1 || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# Dependencies. ------------------------------------------------------------

install_deps() {
  install_packages "${PACKAGES[@]}" >/dev/null
}

# The tree. --------------------------------------------------------------------

# Servers. ---------------------------------------------------------------------

# Three pairs of servers, once: PAIR[0..2] are their --pair options.
start_pairs() {
  local i master
  ((${#PAIR[@]} == 3)) && return 0
  for i in 1 2 3; do
    start_memcached packaging || return 1
    master=$MC_PORT
    start_memcached packaging || return 1
    PAIR+=("--pair=127.0.0.1:$master,127.0.0.1:$MC_PORT,weight=$i")
  done
}

# a. make distcheck ---------------------------------------------------------

stage_a() {
  log "a. make distcheck (in a copy of the tree)"
  copy_tree "$SRC_A"
  cd "$SRC_A"
  autoreconf -fi >/dev/null 2>&1 || { autoreconf -fi; return 1; }
  ./configure -q --prefix="$PREFIX" >/dev/null
  make -s -j2 distcheck >"$TMP/distcheck.log" 2>&1 ||
    { tail -n 60 "$TMP/distcheck.log"; fail "make distcheck failed"; }
  grep -A1 'archives ready for distribution' "$TMP/distcheck.log" || true
}

# b. the installed library, used with pkg-config only -----------------------

# Builds the examples of $1 into $2 with nothing but pkg-config.
build_examples() {
  local from=$1 to=$2 ex flags
  flags=$(pkg-config --cflags --libs mcrepl) || return 1
  mkdir -p "$to"
  for ex in minimal threads weighted; do
    echo "cc -Wall -Wextra -Werror -o $ex $ex.c $flags"
    # $flags is unquoted on purpose: it holds several words.
    # shellcheck disable=SC2086
    cc -Wall -Wextra -Werror -o "$to/$ex" "$from/$ex.c" $flags || return 1
  done
}

# Runs the examples of directory $1 against the servers.
run_examples() {
  local dir=$1
  start_pairs || return 1
  "$dir/minimal" "${PAIR[0]}" || return 1
  "$dir/threads" "${PAIR[0]}" >/dev/null || fail "examples/threads failed"
  "$dir/weighted" "${PAIR[*]}" >/dev/null || fail "examples/weighted failed"
  echo "threads and weighted passed"
}

stage_b() {
  log "b. make install into $PREFIX; examples with pkg-config only"
  [[ -f $SRC_A/Makefile ]] || { copy_tree "$SRC_A" && cd "$SRC_A" &&
    autoreconf -fi >/dev/null 2>&1 &&
    ./configure -q --prefix="$PREFIX" >/dev/null; } || return 1
  cd "$SRC_A"
  make -s -j2 >/dev/null && make -s install >/dev/null || return 1
  PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" \
    build_examples "$SRC_A/examples" "$TMP/ex-prefix" || return 1
  LD_LIBRARY_PATH="$PREFIX/lib" run_examples "$TMP/ex-prefix"
}

# c. symbols and manual pages -------------------------------------------------

# Prints the EXAMPLE section of a manual page as C source.
man_example() {
  awk '/^\.SH EXAMPLE/ { on = 1; next } /^\.SH/ { on = 0 } on' "$1" |
    grep -v -e '^\.nf$' -e '^\.fi$' |
    sed -e 's/\\e/\\/g' -e 's/\\-/-/g' -e 's/\\&//g'
}

check_page() {
  local page=$1 out rc=0 ref name
  out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 \
    >/dev/null) || true
  [[ -z $out ]] || { echo "$page: $out"; rc=1; }
  lexgrog "$page" >/dev/null 2>&1 || { echo "$page: lexgrog cannot read NAME"; rc=1; }
  head -n 1 "$page" | grep -q '^\.so ' && return "$rc" # an alias
  # Every API page named in SEE ALSO is installed.
  while read -r ref; do
    name=${ref% *}
    name=${name//\\/}
    [[ -f man${ref##* }/$name.${ref##* } ]] ||
      { echo "$page: SEE ALSO $name(${ref##* }) is missing"; rc=1; }
  done < <(sed -n '/^\.SH "SEE ALSO"/,$ s/^\.BR \(mcrepl[^ ]*\) (\(3\)).*/\1 \2/p' "$page")
  if grep -q '^\.SH EXAMPLE' "$page" && [[ $page == man3/* ]]; then
    man_example "$page" >"$TMP/example.c"
    # shellcheck disable=SC2046 # pkg-config prints several words
    cc -Wall -Wextra -Werror -o "$TMP/example" "$TMP/example.c" \
      $(pkg-config --cflags --libs mcrepl) 2>"$TMP/example.err" ||
      { echo "$page: its EXAMPLE does not compile:"; cat "$TMP/example.err"; rc=1; }
  fi
  return "$rc"
}

stage_c() {
  log "c. exported symbols and manual pages in $PREFIX"
  local lib="$PREFIX/lib/libmcrepl.so" sym n=0 rc=0 page pages=0
  [[ -e $lib ]] || fail "$lib is not installed" || return 1
  while read -r sym; do
    n=$((n + 1))
    [[ $sym == mcrepl_* ]] || { echo "exported without the mcrepl_ prefix: $sym"; rc=1; }
    [[ -f $PREFIX/share/man/man3/$sym.3 ]] ||
      { echo "no manual page for $sym: man3/$sym.3"; rc=1; }
  done < <(nm -D --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sort)
  echo "$n exported symbols"
  ((n > 0)) || rc=1
  cd "$PREFIX/share/man"
  export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
  for page in man1/*.1 man3/*.3; do
    [[ -e $page ]] || continue
    pages=$((pages + 1))
    check_page "$page" || rc=1
  done
  unset PKG_CONFIG_PATH
  echo "$pages manual pages checked"
  [[ -f man3/mcrepl.3 && -f man1/mcrepl-cli.1 ]] ||
    { echo "mcrepl(3) or mcrepl-cli(1) is not installed"; rc=1; }
  return "$rc"
}

# d. the Debian packages ----------------------------------------------------

stage_d() {
  log "d. Debian packages: dpkg-buildpackage -us -uc -b (in a copy)"
  local version debs=() lint rc=0 deb file libs
  copy_tree "$SRC_D"
  cd "$SRC_D"
  apt_get build-dep -y -q ./ >/dev/null ||
    fail "cannot install the build dependencies" || return 1
  dpkg-buildpackage -us -uc -b >"$TMP/dpkg-buildpackage.log" 2>&1 ||
    { tail -n 60 "$TMP/dpkg-buildpackage.log"; fail "dpkg-buildpackage failed"; } ||
    return 1
  cd "$DEB_DIR"
  for deb in "${DEB_PACKAGES[@]}"; do
    file=$(ls "$DEB_DIR/${deb}"_*.deb) || fail "no $deb package" || return 1
    debs+=("$file")
  done
  for deb in "${debs[@]}"; do
    echo "--- $(basename "$deb")"
    # Files and links, without the directories: "./usr/bin/x -> y".
    dpkg-deb -c "$deb" | grep -v '^d' |
      sed -E 's/^([^ ]+ +){5}\.//'
  done

  log "d. installing the packages"
  touch "$TMP/debs-installed" # the EXIT trap purges them
  apt_get install -y -q "${debs[@]}" \
    >/dev/null || fail "apt-get install of the packages failed" || return 1
  version=$(pkg-config --modversion mcrepl) || return 1
  echo "pkg-config --modversion mcrepl: $version"
  [[ $version == "$(dpkg-query -W -f='${Version}' libmcrepl0 | sed 's/-[^-]*$//')" ]] ||
    fail "pkg-config says $version, the package something else" || rc=1
  mcrepl-cli --version || rc=1
  build_examples /usr/share/doc/libmcrepl-dev/examples "$TMP/ex-system" &&
    run_examples "$TMP/ex-system" || rc=1
  libs=$(ldd "$TMP/ex-system/minimal") || rc=1
  grep -q '/lib/.*/libmcrepl\.so\.0' <<<"$libs" ||
    fail "the example does not use the system library" || rc=1

  log "d. lintian"
  # Errors fail; every other tag (and each override, with its reason) is
  # shown.
  local lrc=0
  lint=$(lintian --fail-on error --display-info --pedantic --show-overrides \
    --tag-display-limit 0 "$DEB_DIR"/*.changes 2>&1) || lrc=$?
  grep -v 'running with root privileges' <<<"$lint" || true
  if ((lrc != 0)); then
    echo "lintian failed (exit $lrc): errors above"
    rc=1
  else
    echo "lintian: no errors"
  fi

  log "d. purging the packages"
  apt_get purge -y -q "${DEB_PACKAGES[@]}" \
    >/dev/null || rc=1
  rm -f "$TMP/debs-installed"
  return "$rc"
}

# Main. ------------------------------------------------------------------------

# Runs stage $1 in a subshell, timed: its cd stays there, and errexit
# works in it (it would not in a subshell that is part of an || list).
stage() {
  local name=$1 t0=$SECONDS rc=0
  (set -euo pipefail; "stage_$name") &
  wait $! || rc=$?
  if ((rc == 0)); then
    PASSED=$((PASSED + 1))
    SUMMARY+=("$(printf '%-4s %s (%d s)' ok "$name" $((SECONDS - t0)))")
  else
    FAILED=$((FAILED + 1))
    SUMMARY+=("$(printf '%-4s %s (%d s)' FAIL "$name" $((SECONDS - t0)))")
  fi
}

main() {
  local stages=("$@") s
  ((${#stages[@]})) || stages=(a b c d)
  for s in "${stages[@]}"; do
    [[ $s =~ ^[abcd]$ ]] || { echo "usage: $0 [a] [b] [c] [d]" >&2; exit 2; }
  done
  install_deps || { echo "packaging: dependency install failed" >&2; exit 1; }
  for s in "${stages[@]}"; do
    # b and c need what b installs; c alone builds it.
    [[ $s == c && ! -e $PREFIX/lib/libmcrepl.so ]] && stage b
    stage "$s"
  done
  log "packaging summary (stages: a distcheck, b install + examples," \
    "c symbols + man pages, d Debian packages; ${SECONDS} s in all)"
  printf '  %s\n' "${SUMMARY[@]}"
  printf 'packaging: %d passed, %d failed\n' "$PASSED" "$FAILED"
  ((FAILED == 0))
}

main "$@"
