# shellcheck shell=bash
# The failover test bed, sourced by tests/failover/s*.sh and run.sh.
#
# One machine, four network namespaces joined by veth pairs to a bridge
# that lives in the bridge namespace (nothing touches the host's own
# network; every address is in 192.0.2.0/24, TEST-NET-1, inside the
# namespaces only):
#
#   node A  192.0.2.11  memcached :11211 + keepalived   \
#   node B  192.0.2.12  memcached :11211 + keepalived    }- br0 (bridge ns)
#   client  192.0.2.20  fo-client (libmcrepl)           /
#   VIP     192.0.2.100 on whichever of A, B keepalived made master
#
# keepalived runs the configuration we ship (tools/keepalived/
# keepalived.conf.in, rendered per node) with the shipped check and
# notify scripts, installed into the bed as DEPLOY.md installs them.
#
# Inputs (environment; run.sh sets them, a scenario run alone builds):
#   FO_CLIENT     the built fo-client      FO_LDPATH  its LD_LIBRARY_PATH
#   FO_CLI        mcrepl-cli to use        FO_ADVERT_INT  (default 1)
#   FO_RESULTS    file that collects "SCENARIO NAME VALUE" figures
#   FO_KEEP=1     keep the bed's directory (logs) after the run
#   FO_PREFIX     an install prefix to build against instead of the tree
#   FO_BED_ROOT   where beds are made (default /run: root-owned, so that
#                 keepalived's enable_script_security accepts the scripts)
#   FO_CONFIG_EXTRA  options added to the clients' configuration

FO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FO_ROOT=$(cd "$FO_DIR/../.." && pwd)

IP_A=192.0.2.11
IP_B=192.0.2.12
IP_C=192.0.2.20
VIP=192.0.2.100
NET_LEN=24
PORT=11211
PAIR="--pair=$IP_A:$PORT,$IP_B:$PORT,vip=$VIP:$PORT"
# The client's configuration: the pair, plus what a scenario adds.
CONFIG="$PAIR ${FO_CONFIG_EXTRA:-}"
NS_PREFIX=mcfo

BED=
M= # the node bed_up found master
S= # the other node
SCENARIO=${SCENARIO:-bed}
FAILURES=0

# Messages and outcomes. -----------------------------------------------------

log() { printf '[%s %s] %s\n' "$SCENARIO" "$(date +%T.%3N)" "$*"; }

fail() {
  printf '[%s] FAIL: %s\n' "$SCENARIO" "$*" >&2
  FAILURES=$((FAILURES + 1))
}

die() {
  printf '[%s] FAIL: %s\n' "$SCENARIO" "$*" >&2
  exit 1
}

# A test that cannot run. It is a skip (77) only for a developer without
# root; in CI (CI=true) or as root a skip would hide a broken bed: fail.
skip() {
  if [[ ${CI:-} == true ]] || ((EUID == 0)); then
    die "cannot run: $* (a skip counts as a failure in CI and as root)"
  fi
  printf '[%s] SKIP: %s\n' "$SCENARIO" "$*" >&2
  exit 77
}

# Records one figure for run.sh's summary and prints it.
figure() {
  local name=$1 value=$2
  log "figure $name = $value"
  if [[ -n ${FO_RESULTS:-} ]]; then
    printf '%s %s %s\n' "$SCENARIO" "$name" "$value" >>"$FO_RESULTS"
  fi
}

# Reads NAME=VALUE lines (fo-client's output) into the associative array
# named by $1.
parse_figures() {
  local -n into=$1
  local line
  while IFS= read -r line; do
    # shellcheck disable=SC2034 # into is a nameref
    [[ $line == *=* ]] && into[${line%%=*}]=${line#*=}
  done <"$2"
}

now_ns() { date +%s%N; }

ms_since() { echo $((($(now_ns) - $1) / 1000000)); }

# Prerequisites. -------------------------------------------------------------

require_bed() {
  local c
  ((EUID == 0)) || skip "needs root (network namespaces, keepalived)"
  for c in ip keepalived memcached cc flock setsid timeout; do
    command -v "$c" >/dev/null || skip "$c is not installed"
  done
  ip netns list >/dev/null 2>&1 || skip "no network namespace support"
}

# fo-client, built against the build tree (or FO_PREFIX) unless run.sh
# built it already.
build_client() {
  local out=$1 cflags libs defs=() hdr
  if [[ -n ${FO_PREFIX:-} ]]; then
    cflags=$(PKG_CONFIG_PATH="$FO_PREFIX/lib/pkgconfig" \
      pkg-config --cflags mcrepl) || die "pkg-config mcrepl failed"
    libs=$(PKG_CONFIG_PATH="$FO_PREFIX/lib/pkgconfig" \
      pkg-config --libs mcrepl) || die "pkg-config mcrepl failed"
    libs="$libs -Wl,-rpath,$FO_PREFIX/lib"
    hdr=$FO_PREFIX/include/mcrepl/mcrepl.h
    FO_LDPATH=$FO_PREFIX/lib
  else
    [[ -f $FO_ROOT/lib/.libs/libmcrepl.so ]] ||
      die "build the library first (make), or pass --prefix"
    cflags="-I$FO_ROOT/include"
    libs="-L$FO_ROOT/lib/.libs -lmcrepl -Wl,-rpath,$FO_ROOT/lib/.libs"
    hdr=$FO_ROOT/include/mcrepl/mcrepl.h
    FO_LDPATH=$FO_ROOT/lib/.libs
  fi
  # Statistics the library may not have yet: used when the header has them.
  FO_HAVE_VIP_CHANGES=0
  if grep -q 'vip_changes;' "$hdr"; then
    defs+=(-DFO_HAVE_VIP_CHANGES)
    FO_HAVE_VIP_CHANGES=1
  fi
  grep -q 'read_failovers;' "$hdr" && defs+=(-DFO_HAVE_READ_FAILOVERS)
  grep -q 'current_master;' "$hdr" && defs+=(-DFO_HAVE_CURRENT_MASTER)
  # $cflags and $libs hold several words each.
  # shellcheck disable=SC2086
  cc -std=c11 -O2 -Wall -Wextra -Werror -pthread "${defs[@]}" $cflags \
    -o "$out" "$FO_DIR/fo-client.c" $libs ||
    die "building fo-client failed"
  export FO_LDPATH FO_HAVE_VIP_CHANGES
}

find_cli() {
  if [[ -z ${FO_CLI:-} ]]; then
    if [[ -n ${FO_PREFIX:-} ]]; then
      FO_CLI=$FO_PREFIX/bin/mcrepl-cli
    else
      FO_CLI=$FO_ROOT/tools/mcrepl-cli
    fi
  fi
  [[ -x $FO_CLI ]] || die "no mcrepl-cli at $FO_CLI"
  export FO_CLI
}

# The CLI commands the shipped scripts call; absent ones fail the test
# with the name of what is missing.
cli_has() {
  "$FO_CLI" --help 2>&1 | grep -Eq "^ +$1 "
}

require_cli() {
  local c
  for c in "$@"; do
    cli_has "$c" || die "mcrepl-cli has no '$c' command (needed here)"
  done
}

# Processes. -------------------------------------------------------------

ns_of() {
  case $1 in
    a) echo "$NS_A" ;;
    b) echo "$NS_B" ;;
    c) echo "$NS_C" ;;
    *) die "no node $1" ;;
  esac
}

ip_of() {
  case $1 in
    a) echo "$IP_A" ;;
    b) echo "$IP_B" ;;
    *) die "no node $1" ;;
  esac
}

peer_of() { [[ $1 == a ]] && echo b || echo a; }

# Remembers a pid that cleanup must kill. (Cleanup also kills whatever
# `ip netns pids` finds in the bed's namespaces: keepalived's children,
# the notify script's resync workers.)
track() { echo "$2" >"$BED/pids/$1.pid"; }

alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }

# Waits up to $2 seconds for pid $1 to end.
wait_gone() {
  local pid=$1 end=$(($(now_ns) + ${2:-5} * 1000000000))
  while alive "$pid" && (($(now_ns) < end)); do sleep 0.02; done
  ! alive "$pid"
}

# Does memcached answer on 127.0.0.1 inside node $1's namespace?
mc_answers() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  ip netns exec "$(ns_of "$1")" timeout 2 bash -c '
    exec 3<>/dev/tcp/127.0.0.1/'"$PORT"' || exit 1
    printf "version\r\n" >&3
    IFS= read -r -t 2 l <&3 && [[ $l == VERSION* ]]' 2>/dev/null
}

mc_start() {
  local node=$1 pid end=$(($(now_ns) + 10000000000))
  ip netns exec "$(ns_of "$node")" memcached -l 0.0.0.0 -p "$PORT" -U 0 \
    -u root -t 2 -m 64 -c 1024 -P "$BED/$node/memcached.pid" \
    </dev/null >>"$BED/$node/memcached.log" 2>&1 &
  pid=$!
  disown "$pid"
  track "mc-$node" "$pid"
  while ! mc_answers "$node"; do
    alive "$pid" || die "memcached on $node did not start"
    (($(now_ns) < end)) || die "memcached on $node does not answer"
    sleep 0.02
  done
}

mc_pid() { cat "$BED/pids/mc-$1.pid"; }

# Kills node $1's memcached (SIGKILL: it loses everything); prints the
# time of the kill in unix ns.
mc_kill() {
  local pid t
  pid=$(mc_pid "$1")
  t=$(now_ns)
  kill -KILL "$pid"
  wait_gone "$pid" 5 || die "memcached $pid survived SIGKILL"
  echo "$t"
}

render_conf() {
  local node=$1 prio=110
  [[ $node == b ]] && prio=100
  sed -e "s|@ROUTER_ID@|$NS_PREFIX-$node|g" \
    -e "s|@INSTANCE@|MCREPL_PAIR1|g" \
    -e "s|@INTERFACE@|eth0|g" \
    -e "s|@VRID@|51|g" \
    -e "s|@PRIORITY@|$prio|g" \
    -e "s|@ADVERT_INT@|${FO_ADVERT_INT:-1}|g" \
    -e "s|@NODE_IP@|$(ip_of "$node")|g" \
    -e "s|@PEER_IP@|$(ip_of "$(peer_of "$node")")|g" \
    -e "s|@PORT@|$PORT|g" \
    -e "s|@VIP@|$VIP|g" \
    -e "s|@VIP_PREFIX@|$NET_LEN|g" \
    -e "s|@LIBEXECDIR@|$BED/libexec|g" \
    -e "s|@MCREPL_CLI@|$FO_CLI|g" \
    -e "s|@STATE_DIR@|$BED/$node/run|g" \
    "$FO_ROOT/tools/keepalived/keepalived.conf.in"
}

ka_start() {
  local node=$1 pid out conf=$BED/$1/keepalived.conf
  render_conf "$node" >"$conf"
  if grep -v '^ *#' "$conf" | grep -q '@[A-Z_]*@'; then
    die "unrendered placeholder in $conf"
  fi
  # DEPLOY.md's check of the rendered file: keepalived would start
  # anyway, past a keyword it does not know, so only this sees one.
  out=$(ip netns exec "$(ns_of "$node")" keepalived -t -f "$conf" 2>&1) ||
    die "keepalived -t -f $conf: $out"
  ip netns exec "$(ns_of "$node")" keepalived -n -l -D -G -P -f "$conf" \
    -p "$BED/$node/keepalived.pid" -r "$BED/$node/vrrp.pid" \
    -c "$BED/$node/checkers.pid" \
    </dev/null >>"$BED/$node/keepalived.log" 2>&1 &
  pid=$!
  disown "$pid"
  track "ka-$node" "$pid"
}

# Runs fo-client in the client namespace.
client() {
  ip netns exec "$NS_C" env LD_LIBRARY_PATH="$FO_LDPATH" "$FO_CLIENT" "$@"
}

# Starts fo-client load in the background; output in $BED/c/$1.
load_start() {
  local name=$1 pid
  shift
  mkdir -p "$BED/c/$name"
  # A simple command, not the client function: $! is fo-client itself.
  ip netns exec "$NS_C" env LD_LIBRARY_PATH="$FO_LDPATH" "$FO_CLIENT" \
    load "--config=$CONFIG" "--out=$BED/c/$name" --drain-ms=1000 "$@" \
    >"$BED/c/$name.out" 2>"$BED/c/$name.err" &
  pid=$!
  track "load-$name" "$pid"
}

load_stop() {
  local name=$1 pid rc=0
  pid=$(cat "$BED/pids/load-$name.pid")
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || rc=$?
  ((rc == 0)) || fail "load $name exited $rc: $(cat "$BED/c/$name.err")"
}

# VIP. -------------------------------------------------------------------

has_vip() {
  ip -n "$(ns_of "$1")" -4 -o addr show dev eth0 2>/dev/null |
    grep -q " $VIP/"
}

# Prints the node(s) holding the VIP: "a", "b", "ab" or "".
vip_holder() {
  local h=
  has_vip a && h+=a
  has_vip b && h+=b
  echo "$h"
}

# Waits up to $2 seconds until the VIP is held by exactly one node
# matching the pattern $1 (a, b, or [ab] for either).
wait_vip() {
  local want=$1 end=$(($(now_ns) + ${2:-10} * 1000000000)) h
  while :; do
    h=$(vip_holder)
    # shellcheck disable=SC2053 # $want is a pattern
    [[ ${#h} == 1 && $h == $want ]] && return 0
    (($(now_ns) < end)) || return 1
    sleep 0.02
  done
}

# Timestamped address events of both nodes (ip monitor), for the VIP's
# exact moves.
vip_watch_start() {
  local node pid
  for node in a b; do
    ip -n "$(ns_of "$node")" -ts monitor address dev eth0 \
      >"$BED/$node/addr.mon" 2>&1 &
    pid=$!
    disown "$pid"
    track "mon-$node" "$pid"
  done
}

# The first time (unix ns) after $2 that node $1 gained the VIP; empty
# when it did not.
vip_gained_after() {
  local node=$1 after=$2 line ts t
  while IFS= read -r line; do
    [[ $line == *" inet $VIP/"* && $line != *Deleted* ]] || continue
    ts=${line#\[}
    ts=${ts%%\]*}
    t=$(date -d "${ts/T/ }" +%s%N 2>/dev/null) || continue
    if ((t >= after)); then
      echo "$t"
      return 0
    fi
  done <"$BED/$node/addr.mon"
}

# keepalived's state of node $1 as its notify script last saw it.
ka_state() {
  cat "$BED/$1/run/state" 2>/dev/null || echo INIT
}

# Runs the shipped health check of node $1 the way keepalived does.
node_check() {
  local node=$1
  ip netns exec "$(ns_of "$node")" "$BED/libexec/mcrepl-check.sh" \
    "--cli=$FO_CLI" "$(ip_of "$node"):$PORT" \
    "$(ip_of "$(peer_of "$node")"):$PORT" >/dev/null 2>&1
}

# One node's counters, asked directly from the client namespace.
node_stat() {
  local node=$1 name=$2
  client nstats "--node=$(ip_of "$node"):$PORT" | sed -n "s/^$name=//p"
}

# Time (unix ns) of the first line of node $1's notify log after unix ns
# $2 that contains $3; empty when there is none.
event_time() {
  local node=$1 after=$2 what=$3 line t
  [[ -f $BED/$node/run/events.log ]] || return 0
  while IFS= read -r line; do
    [[ $line == *"$what"* ]] || continue
    t=$(date -d "${line:0:29}" +%s%N) || continue
    if ((t >= after)); then
      echo "$t"
      return 0
    fi
  done <"$BED/$node/run/events.log"
}

# How many lines of node $1's notify log after unix ns $2 contain $3.
count_events() {
  local node=$1 after=$2 what=$3 line t n=0
  [[ -f $BED/$node/run/events.log ]] || { echo 0; return 0; }
  while IFS= read -r line; do
    [[ $line == *"$what"* ]] || continue
    t=$(date -d "${line:0:29}" +%s%N) || continue
    ((t >= after)) && n=$((n + 1))
  done <"$BED/$node/run/events.log"
  echo "$n"
}

# The bed. -------------------------------------------------------------------

net_up() {
  local node ns
  for ns in "$NS_BR" "$NS_A" "$NS_B" "$NS_C"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
  ip -n "$NS_BR" link add br0 type bridge
  ip -n "$NS_BR" link set br0 up
  for node in a b c; do
    ns=$(ns_of "$node")
    # Both ends are created where they live: nothing in the root ns.
    ip -n "$NS_BR" link add "v$node" type veth peer name eth0 netns "$ns"
    ip -n "$NS_BR" link set "v$node" master br0 up
    case $node in
      a) ip -n "$ns" addr add "$IP_A/$NET_LEN" dev eth0 ;;
      b) ip -n "$ns" addr add "$IP_B/$NET_LEN" dev eth0 ;;
      c) ip -n "$ns" addr add "$IP_C/$NET_LEN" dev eth0 ;;
    esac
    ip -n "$ns" link set eth0 up
  done
}

# Kills what the bed started and removes its namespaces; safe to call
# twice, and from the EXIT trap of a failed test.
bed_destroy() {
  local f pid ns
  set +e
  [[ -n $BED && -d $BED ]] || return 0
  disown -a 2>/dev/null # no "Killed" notices for the jobs killed here
  for f in "$BED"/pids/*.pid; do
    [[ -e $f ]] || continue
    pid=$(<"$f")
    [[ $pid =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null
  done
  for ns in "$NS_A" "$NS_B" "$NS_C" "$NS_BR"; do
    ip netns list 2>/dev/null | grep -qw -- "$ns" || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null
    done
    ip netns del "$ns" 2>/dev/null
  done
  if [[ ${FO_KEEP:-0} == 1 || $FAILURES -gt 0 ]]; then
    log "bed kept: $BED"
  else
    rm -rf "$BED"
  fi
  BED=
}

on_exit() {
  local rc=$?
  ((rc == 0 && FAILURES > 0)) && rc=1
  ((rc != 0)) && FAILURES=$((FAILURES + 1))
  bed_destroy
  exit "$rc"
}

# Namespaces left by a bed whose shell was killed (-9) are removed by the
# next run: their names carry the dead shell's pid.
reap_stale_beds() {
  local ns pid p
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ $ns =~ ^$NS_PREFIX-([0-9]+)-(br|a|b|c)$ ]] || continue
    pid=${BASH_REMATCH[1]}
    alive "$pid" && continue
    for p in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$p" 2>/dev/null
    done
    ip netns del "$ns" 2>/dev/null && echo "removed stale namespace $ns"
  done
}

# Waits up to $1 seconds until the pair is settled: one node holds the
# VIP and is keepalived's MASTER, the other is a BACKUP with no resync
# running or pending, for 1.5 s in a row. Prints the master.
wait_settled() {
  local end=$(($(now_ns) + $1 * 1000000000)) h since=0 last=
  while (($(now_ns) < end)); do
    h=$(vip_holder)
    if [[ ${#h} == 1 && $(ka_state "$h") == MASTER ]] &&
      wait_backup_synced "$(peer_of "$h")" 0; then
      [[ $h == "$last" ]] || since=$(now_ns)
      if (($(now_ns) - since >= 1500000000)); then
        echo "$h"
        return 0
      fi
    else
      h=
    fi
    last=$h
    sleep 0.1
  done
  return 1
}

# Creates the bed and waits for a master: a brand-new pair (both nodes
# empty) must elect one.
bed_up() {
  local t0 holder
  require_bed
  find_cli
  require_cli check resync
  reap_stale_beds
  NS_BR=$NS_PREFIX-$$-br
  NS_A=$NS_PREFIX-$$-a
  NS_B=$NS_PREFIX-$$-b
  NS_C=$NS_PREFIX-$$-c
  # Before anything is made: a build that fails must not leave it.
  trap on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  BED=$(mktemp -d "${FO_BED_ROOT:-/run}/mcrepl-fo.XXXXXX")
  chmod 0700 "$BED"
  if [[ -z ${FO_CLIENT:-} ]]; then
    FO_CLIENT=$BED/fo-client
    build_client "$FO_CLIENT"
  fi
  mkdir -p "$BED/pids" "$BED/libexec" "$BED/c" "$BED/a/run" "$BED/b/run"
  chmod 0700 "$BED/a/run" "$BED/b/run"
  install -m 0755 "$FO_ROOT/tools/keepalived/mcrepl-check.sh" \
    "$FO_ROOT/tools/keepalived/mcrepl-notify.sh" "$BED/libexec/"
  log "bed $BED: namespaces $NS_PREFIX-$$-{br,a,b,c}"
  net_up
  mc_start a
  mc_start b
  vip_watch_start
  t0=$(now_ns)
  ka_start a
  ka_start b
  wait_vip '[ab]' 20 ||
    die "no master elected within 20 s (VIP on: '$(vip_holder)')"
  figure election_ms "$(ms_since "$t0")"
  holder=$(wait_settled 30) ||
    die "the pair did not settle within 30 s (VIP on: '$(vip_holder)')"
  # Which node wins the first election is not fixed: the first health
  # check to run marks its node ready, its peer then resyncs from it. The
  # scenarios act on M (the first master) and S (the other).
  M=$holder
  S=$(peer_of "$holder")
  log "bed up: master $M, backup $S"
}

# Runs fo-client analyze on load $1 with the kills $2 (comma list), extra
# options after, into $BED/c/$1.analyze. A failing analysis is a failure.
analyze() {
  local name=$1 kills=$2 out=$BED/c/$1.analyze rc=0
  shift 2
  client analyze "--config=$CONFIG" "--dir=$BED/c/$name" "--kill=$kills" \
    "$@" >"$out" 2>"$out.err" || rc=$?
  if ((rc != 0)); then
    fail "analysis of $name: $(grep FAIL "$out.err" | tr '\n' ' ')"
  fi
}

# Records the figures NAME... of a NAME=VALUE file.
report() {
  local file=$1 name
  local -A f=()
  shift
  parse_figures f "$file"
  for name in "$@"; do
    figure "$name" "${f[$name]:-n/a}"
  done
}

# Waits up to $2 seconds until node $1's keepalived is BACKUP with no
# resync running or pending (a returning node is usable as a slave).
wait_backup_synced() {
  local node=$1 end=$(($(now_ns) + ${2:-60} * 1000000000))
  while :; do
    if [[ $(ka_state "$node") == BACKUP && ! -e $BED/$node/run/pending ]] &&
      flock -n "$BED/$node/run/worker.lock" true; then
      return 0
    fi
    (($(now_ns) < end)) || return 1
    sleep 0.1
  done
}

# The duration of node $1's last resync, from its notify log ("resync
# done: ... in N ms").
resync_ms() {
  sed -n 's/.*resync done: .* in \([0-9]*\) ms.*/\1/p' \
    "$BED/$1/run/events.log" 2>/dev/null | tail -n 1
}

# "HOST:PORT" of node $1, as the clients' --pair spells it.
addr_of() { echo "$(ip_of "$1"):$PORT"; }

# Kills node $2's memcached and waits for the VIP on node $3; records
# VRRP's switchover as figure $1, and appends the kill's and the VIP's
# times (unix ns) to KILLS and VIPS.
KILLS=()
VIPS=()
fail_over() {
  local fig=$1 from=$2 to=$3 t moved
  t=$(mc_kill "$from")
  log "killed ${from^^}'s memcached"
  wait_vip "$to" 15 ||
    die "the VIP did not move to ${to^^} (on: '$(vip_holder)')"
  moved=$(vip_gained_after "$to" "$t")
  figure "$fig" $(((${moved:-$t} - t) / 1000000))
  KILLS+=("$t")
  VIPS+=("${moved:-0}")
}

# The times of fail_over as the comma lists fo-client analyze takes.
kills_list() { (IFS=,; echo "${KILLS[*]}"); }
vips_list() { (IFS=,; echo "${VIPS[*]}"); }

# Runs fo-client analyze on load $1 for the kills so far.
analyze_kills() {
  analyze "$1" "$(kills_list)" "--vip-moved=$(vips_list)" "${@:2}"
}

# Restarts node $1's memcached (empty) and waits until keepalived made it
# a BACKUP again, resynced.
bring_back() {
  local node=$1
  mc_start "$node"
  log "${node^^}'s memcached is back, empty"
  wait_backup_synced "$node" 60 ||
    die "${node^^} did not become a resynced BACKUP within 60 s" \
      "(state $(ka_state "$node"))"
}
