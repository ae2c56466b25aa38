#!/usr/bin/env bash
# Scenario 5: a node that missed writes but kept its data.
#
# Keys s5:0..N-1 are written ("v1") and replicated. The master M's link
# goes down (ip link set down on its veth, inside its namespace):
# keepalived moves the VIP to S. Through the VIP, every third key is
# deleted and the others are overwritten ("v2") by a short-lived client
# that exits while M is unreachable (its queued writes to M are dropped),
# while a long-lived client keeps writing. M's link comes back. M must
# never serve a stale or deleted value afterwards: once it is a BACKUP
# again it must hold exactly what S holds, and when S then dies and the
# VIP returns to M, reads through the VIP must see v2 or nothing.
set -euo pipefail
SCENARIO=${SCENARIO:-s5}
# shellcheck source-path=SCRIPTDIR source=bed.sh
source "$(dirname "${BASH_SOURCE[0]}")/bed.sh"

N=3000

fill() {
  local out=$1
  shift
  client fill "--config=$CONFIG" --prefix=s5 "--count=$N" "$@" \
    >"$BED/c/$out" 2>&1 || true
  log "fill $*: $(tr '\n' ' ' <"$BED/c/$out")"
}

expect_v2() {
  local out=$1 rc=0
  shift
  client expect --prefix=s5 "--count=$N" --tag=v2 --delete-every=3 "$@" \
    >"$BED/c/$out" 2>&1 || rc=$?
  report "$BED/c/$out" stale resurrected missing
  return "$rc"
}

main() {
  local t_down
  bed_up
  fill fill1.out --tag=v1
  grep -q '^wait=MCREPL_SUCCESS' "$BED/c/fill1.out" ||
    die "the first fill did not replicate"
  load_start s5l --prefix=s5l --rate=500 --read-rate=0
  sleep 1
  t_down=$(now_ns)
  ip -n "$(ns_of "$M")" link set eth0 down
  log "${M^^}'s link is down"
  wait_vip "$S" 15 ||
    die "the VIP did not move to ${S^^} (on: '$(vip_holder)')"
  figure vrrp_switch_ms "$(ms_since "$t_down")"
  fill fill2.out --tag=v2 --delete-every=3 --wait-ms=1000
  sleep 1
  ip -n "$(ns_of "$M")" link set eth0 up
  log "${M^^}'s link is up"
  wait_backup_synced "$M" 60 ||
    die "${M^^} did not become a resynced BACKUP within 60 s" \
      "(state $(ka_state "$M"))"
  figure resyncs "$(count_events "$M" "$t_down" "resync start")"
  sleep 2
  load_stop s5l
  expect_v2 expect_node.out "--node=$(addr_of "$M")" ||
    fail "${M^^} holds stale or deleted values"
  client compare "--src=$(addr_of "$S")" "--dst=$(addr_of "$M")" --both \
    >"$BED/c/compare.out" 2>&1 || fail "${M^^} and ${S^^} differ"
  report "$BED/c/compare.out" src_keys missing value_mismatch extra
  mc_kill "$S" >/dev/null
  wait_vip "$M" 15 ||
    die "the VIP did not return to ${M^^} (on: '$(vip_holder)')"
  expect_v2 expect_vip.out "--config=$CONFIG" ||
    fail "the VIP (now on ${M^^}) serves stale or deleted values"
  ((FAILURES == 0)) || exit 1
  log "PASS"
}

main "$@"
