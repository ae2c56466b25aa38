# Shell helpers shared by scripts/test.sh, packaging.sh and hardening.sh.
# Source it after setting ROOT (the repository) and MCREPL_TEST_TMPDIR
# (where pidfiles of the memcached servers started here are kept).
# shellcheck shell=bash

log() { printf '\n==> %s\n' "$*"; }

# Kills pid only while it still is a memcached: a pidfile left by a test
# that died long ago may name a pid that was reused since.
kill_memcached() {
  local pid=$1
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == memcached ]]; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

# Kills every memcached named by a pidfile in $MCREPL_TEST_TMPDIR.
kill_pidfiles() {
  local f
  for f in "$MCREPL_TEST_TMPDIR"/*.pid; do
    [[ -e $f ]] && kill_memcached "$(<"$f")"
  done
  return 0
}

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null |
    grep -q 'install ok installed'
}

# Installs the Debian packages named that are missing (as root, or with
# sudo). Elsewhere than Debian it trusts that they are there.
install_packages() {
  local missing=() p
  command -v dpkg-query >/dev/null || return 0
  for p in "$@"; do
    is_installed "$p" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  log "installing: ${missing[*]}"
  apt_get update -q &&
    apt_get install -y -q --no-install-recommends "${missing[@]}"
}

# apt-get, non-interactive, as root (through sudo when not root), with
# the sandbox options below.
apt_get() {
  local opts=() sudo=()
  ((EUID == 0)) || sudo=(sudo)
  read -ra opts < <(apt_sandbox_opts /proc/self/uid_map) || true
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${opts[@]}" "$@"
}

# Prints "-o APT::Sandbox::User=root" when apt's download sandbox cannot
# work: apt drops to the user _apt, and a container that maps one user
# id (often just root) has no such id, so every download fails with
# "setgroups ... Operation not permitted". Elsewhere it prints nothing
# and the sandbox stays. $1, for the tests: another uid_map to read.
apt_sandbox_opts() {
  local map=${1:-/proc/self/uid_map} uid inside outside count
  uid=$(id -u _apt 2>/dev/null) || return 0 # apt runs as root anyway
  [[ -r $map ]] || return 0
  while read -r inside outside count; do
    : "$outside"
    ((uid >= inside && uid < inside + count)) && return 0
  done <"$map"
  echo "-o APT::Sandbox::User=root"
}

# Copies the project's files (tracked, and untracked but not ignored, so
# work in progress is included and build products are not) from $ROOT to
# $1, writing nothing in $ROOT.
copy_tree() {
  local dest=$1
  mkdir -p "$dest"
  (
    cd "$ROOT" || exit 1
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
      git ls-files -z -co --exclude-standard
    else # an unpacked release tarball: all of it
      find . -path ./.git -prune -o \( -type f -o -type l \) -print0
    fi |
      while IFS= read -r -d '' f; do # tracked but deleted: skip
        [[ -e $f || -L $f ]] && printf '%s\0' "$f"
      done |
      tar --null -T - -cf -
  ) | tar -xf - -C "$dest"
  # Without git, a tree built in place came with its objects, and the
  # copy's make would take them as up to date: a sanitizer build would
  # then link the plain objects, uninstrumented.
  if [[ -f $dest/Makefile ]]; then
    make -s -C "$dest" distclean >/dev/null 2>&1 || true
  fi
}

# Starts memcached on a free loopback port, its pidfile tagged $1; sets
# MC_PORT. Tries other ports when the one picked is taken.
start_memcached() {
  local tag=$1 port pid user=()
  ((EUID == 0)) && user=(-u root)
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 30000))
    memcached -l 127.0.0.1 -p "$port" -U 0 -t 1 "${user[@]}" \
      </dev/null >>"$MCREPL_TEST_TMPDIR/memcached.log" 2>&1 &
    pid=$!
    disown "$pid" # the trap kills it: no "Killed" notice from bash
    echo "$pid" >"$MCREPL_TEST_TMPDIR/$tag.$pid.pid"
    if wait_memcached "$port" "$pid"; then
      MC_PORT=$port # read by the caller
      export MC_PORT
      return 0
    fi
    kill_memcached "$pid"
  done
  echo "memcached did not start" >&2
  return 1
}

# Up means: answering on port with our pid, within 5 s.
wait_memcached() {
  local port=$1 pid=$2 out
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 1
    out=$(timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port &&
        printf 'stats\r\nquit\r\n' >&3 && cat <&3" 2>/dev/null) || true
    [[ $out == *"STAT pid $pid"$'\r'* ]] && return 0
    sleep 0.1
  done
  return 1
}
