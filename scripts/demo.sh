#!/usr/bin/env bash
# demo.sh: mcrepl in two minutes, on a fresh Debian machine.
#
# Builds mcrepl-cli when needed (installing missing Debian packages when
# run as root), starts a master and a slave memcached on free loopback
# ports, writes through mcrepl, shows that the slave holds the same data,
# then kills the master and reads everything back from the slave.
#
# Usage: scripts/demo.sh            (from any directory)
# Exit status: 0 when every key survived the master's death.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/common.sh
. "$ROOT/scripts/common.sh" # apt_get

CLI="$ROOT/tools/mcrepl-cli"
NKEYS=20
TMP=""

say() { printf '%s\n' "$*"; }
heading() { printf '\n== %s ==\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# Runs mcrepl-cli, echoing the command the way a user would type it.
cli() {
  printf '$ mcrepl-cli %s\n' "$*"
  "$CLI" "$@"
}

# Packages -----------------------------------------------------------------

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}

# Prints the packages of "package[:command]" specs that are missing; a
# command on PATH is enough (it may come from elsewhere than Debian).
missing_packages() {
  local spec pkg cmd
  for spec in "$@"; do
    pkg=${spec%%:*}
    cmd=${spec#"$pkg"}
    cmd=${cmd#:}
    if [[ -n $cmd ]] && command -v "$cmd" >/dev/null 2>&1; then
      continue
    fi
    installed "$pkg" || printf '%s\n' "$pkg"
  done | sort -u
}

ensure_packages() {
  local missing
  mapfile -t missing < <(missing_packages "$@")
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    die "missing packages: ${missing[*]} (run this as root on Debian," \
      "or install them yourself)"
  fi
  heading "Installing ${missing[*]}"
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "${missing[@]}"
}

build_cli() {
  # A tree built before: make brings an older mcrepl-cli up to date.
  if [[ -f Makefile ]]; then
    make -s -j2 >/dev/null && [[ -x $CLI ]] && return 0
  fi
  ensure_packages build-essential:gcc build-essential:make \
    autoconf:autoreconf automake:automake libtool:libtoolize \
    pkg-config:pkg-config libmemcached-dev check
  heading "Building mcrepl"
  [[ -f configure ]] || autoreconf -fi
  [[ -f Makefile ]] || ./configure --quiet
  make -j2
  [[ -x $CLI ]] || die "the build did not produce $CLI"
}

# Servers ------------------------------------------------------------------

# True when something accepts connections on the loopback port.
listening() {
  (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pid_of() {
  local pid
  pid=$(cat "$TMP/$1.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$pid"
}

# Starts memcached NAME on a free port and prints the port. The port can
# be taken between the check and the bind, so a failed start is retried.
start_memcached() {
  local name=$1 port i pid
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 40000))
    listening "$port" && continue
    rm -f "$TMP/$name.pid"
    memcached -l 127.0.0.1 -p "$port" -U 0 -u "$(id -un)" \
      -P "$TMP/$name.pid" -d 2>>"$TMP/$name.log" || continue
    # -d returns before the daemon binds: wait for it to answer.
    for i in $(seq 50); do
      if listening "$port" && pid_of "$name" >/dev/null; then
        printf '%s\n' "$port"
        return 0
      fi
      sleep 0.1
    done
    if pid=$(pid_of "$name"); then kill "$pid" 2>/dev/null || true; fi
  done
  cat "$TMP/$name.log" >&2 || true
  return 1
}

# Stops memcached NAME by its pid and waits until it is gone.
stop_memcached() {
  local name=$1 pid i
  pid=$(pid_of "$name") || return 0
  kill "$pid" 2>/dev/null || true
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$TMP/$name.pid"
}

cleanup() {
  if [[ -n $TMP && -d $TMP ]]; then
    stop_memcached master
    stop_memcached slave
    rm -rf "$TMP"
  fi
}

# Raw memcached protocol, without mcrepl: `get KEY` straight to one server
# prints the (single-line) value; returns 1 on a miss, 2 on an error.
raw_get() {
  local port=$1 key=$2 line value rc=0
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 2
  printf 'get %s\r\n' "$key" >&3
  if ! IFS= read -r -t 2 line <&3; then
    rc=2
  elif [[ ${line%$'\r'} == VALUE* ]]; then
    IFS= read -r -t 2 value <&3 || rc=2
    printf '%s\n' "${value%$'\r'}"
  else
    rc=1
  fi
  exec 3>&-
  return "$rc"
}

# The demo -----------------------------------------------------------------

NBULK=10000
key() { printf 'demo:key:%02d' "$1"; }

main() {
  local m s mpid i n v want slave_cfg
  local -A expect=()

  heading "mcrepl demo"
  build_cli
  ensure_packages memcached:memcached
  say "$("$CLI" --version)"

  TMP=$(mktemp -d "${TMPDIR:-/tmp}/mcrepl-demo.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT TERM

  heading "Starting a master and a slave memcached"
  m=$(start_memcached master) || die "the master did not start"
  s=$(start_memcached slave) || die "the slave did not start"
  mpid=$(pid_of master)
  say "master 127.0.0.1:$m (pid $mpid)"
  say "slave  127.0.0.1:$s (pid $(pid_of slave))"
  export MCREPL_CONFIG="--pair=127.0.0.1:$m,127.0.0.1:$s"
  say "MCREPL_CONFIG=$MCREPL_CONFIG"

  heading "Writing $NKEYS keys through mcrepl (they go to the master)"
  for i in $(seq "$NKEYS"); do
    expect[$(key "$i")]="value-$i"
    if ((i <= 2)); then
      cli set "$(key "$i")" "value-$i"
    else
      "$CLI" set "$(key "$i")" "value-$i"
    fi
  done
  say "... and $((NKEYS - 2)) more sets like these"

  heading "incr, append, delete"
  cli set demo:counter 41
  cli incr demo:counter 1
  cli append "$(key 1)" "+more"
  expect[$(key 1)]="value-1+more"
  cli get "$(key 1)"
  echo
  cli set demo:doomed "short-lived"
  cli delete demo:doomed

  heading "The slave holds the same data (raw memcached get on :$s)"
  n=0
  for i in $(seq "$NKEYS"); do
    if v=$(raw_get "$s" "$(key "$i")") && [[ $v == "${expect[$(key "$i")]}" ]]
    then
      n=$((n + 1))
    fi
    if ((i <= 3)); then
      printf '  %-14s %s\n' "$(key "$i")" "${v:-(missing)}"
    fi
  done
  say "  ..."
  printf '  %-14s %s\n' demo:counter "$(raw_get "$s" demo:counter)"
  if raw_get "$s" demo:doomed >/dev/null; then
    printf '  %-14s %s\n' demo:doomed "STILL THERE (the delete was lost)"
  else
    printf '  %-14s %s\n' demo:doomed "(gone: the delete was replicated)"
  fi
  say "$n/$NKEYS keys on the slave"

  heading "A bulk load in one process, and its replication counters"
  cli fill demo:bulk: "$NBULK"

  heading "mcrepl-cli stats (both nodes hold the same number of items)"
  cli stats

  heading "Killing the master (pid $mpid)"
  stop_memcached master
  listening "$m" && die "the master still answers on :$m"
  say "127.0.0.1:$m is gone"

  heading "Reading every key back from the slave"
  # Naming the slave first makes it the node that mcrepl reads from.
  slave_cfg="--pair=127.0.0.1:$s,127.0.0.1:$m"
  say "\$ mcrepl-cli --config=\"$slave_cfg\" get KEY   (for each key)"
  n=0
  for i in $(seq "$NKEYS"); do
    want=${expect[$(key "$i")]}
    if v=$("$CLI" --config="$slave_cfg" get "$(key "$i")") &&
      [[ $v == "$want" ]]; then
      n=$((n + 1))
    else
      say "  $(key "$i"): expected '$want', got '${v:-}'"
    fi
  done
  say "$n/$NKEYS keys read from the slave after the master died"

  heading "Stopping the servers"
  stop_memcached slave
  say "done"
  ((n == NKEYS)) || die "$((NKEYS - n)) keys were lost"
}

main "$@"
