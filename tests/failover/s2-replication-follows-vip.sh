#!/usr/bin/env bash
# Scenario 2: replication follows the VIP.
#
# A client writes continuously. The master M's memcached dies and the VIP
# moves to S: writes now go to S through the VIP, and the library must
# replicate them to M (once M is back and resynced), never to S itself.
# Over a window of several seconds after M's return, S must count about
# one set per write (two would mean the library also replicates to the
# node behind the VIP), and M one per write (it receives every new
# write). The library's vip_changes counter must have seen the move, and
# M must end with every key S holds.
set -euo pipefail
SCENARIO=${SCENARIO:-s2}
# shellcheck source-path=SCRIPTDIR source=bed.sh
source "$(dirname "${BASH_SOURCE[0]}")/bed.sh"

# Acknowledged writes of load $1 between unix ns $2 and $3.
acks_between() {
  awk -v a="$2" -v b="$3" '$2 >= a && $2 <= b { n++ } END { print n + 0 }' \
    "$BED/c/$1/acks.txt"
}

# $1 writes acknowledged in the window [t1, t2], $2 of them or later
# ones; S (behind the VIP) counted $3 sets in the window, M $4 from t1
# until the writer had drained its queue.
check_window() {
  local writes=$1 since=$2 s_sets=$3 m_sets=$4
  figure writes_in_window "$writes"
  figure vip_node_sets "$s_sets"
  figure writes_since_window "$since"
  figure other_node_sets "$m_sets"
  ((writes > 1000)) || fail "only $writes writes in the window"
  if ((s_sets * 10 > writes * 12 + 200)); then
    fail "${S^^} got $s_sets sets for $writes writes: the library" \
      "replicates to the node behind the VIP"
  fi
  if ((m_sets < since)); then
    fail "${M^^} got $m_sets sets for $since writes: the library does" \
      "not replicate every write to the node that left the VIP"
  fi
}

check_vip_changes() {
  local -A f=()
  parse_figures f "$BED/c/s2.analyze"
  figure vip_changes "${f[vip_changes]:-n/a}"
  if [[ ${FO_HAVE_VIP_CHANGES:-0} != 1 ]]; then
    log "the library has no vip_changes statistic yet: not checked"
  elif ((${f[vip_changes]:-0} < 1)); then
    fail "vip_changes is ${f[vip_changes]:-0}: the library did not see" \
      "the VIP move"
  fi
}

main() {
  local t1 t2 m1 m2 s1 s2 cur
  bed_up
  load_start s2 "--rate=${FO_RATE:-2000}"
  sleep 2
  fail_over vrrp_switch_ms "$M" "$S"
  sleep 1
  bring_back "$M"
  sleep 1
  # Counters first, then t1: every write acknowledged after t1 reaches M
  # after m1 was read. t2 after s2, for the same reason.
  m1=$(node_stat "$M" cmd_set)
  s1=$(node_stat "$S" cmd_set)
  t1=$(now_ns)
  sleep 4
  t2=$(now_ns)
  s2=$(node_stat "$S" cmd_set)
  load_stop s2
  m2=$(node_stat "$M" cmd_set)
  check_window "$(acks_between s2 "$t1" "$t2")" \
    "$(acks_between s2 "$t1" "$(now_ns)")" $((s2 - s1)) $((m2 - m1))
  analyze_kills s2
  check_vip_changes
  cur=$(tail -n 1 "$BED/c/s2/stats.txt" | awk '{print $13}')
  figure current_master "$cur"
  [[ $cur == - || $cur == "$(addr_of "$S")" ]] ||
    fail "the library thinks $cur is behind the VIP, not ${S^^}"
  client compare "--src=$(addr_of "$S")" "--dst=$(addr_of "$M")" \
    >"$BED/c/compare.out" 2>&1 || fail "${M^^} lacks some of ${S^^}'s items"
  report "$BED/c/compare.out" src_keys missing value_mismatch
  report "$BED/c/s2.analyze" lost read_failovers
  ((FAILURES == 0)) || exit 1
  log "PASS"
}

main "$@"
