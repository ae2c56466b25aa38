#!/usr/bin/env bash
# Scenario 4: second failover.
#
# Under continuous writes: the master M's memcached dies (the VIP moves to
# S), comes back empty and is resynced by the notify script; then S's
# memcached dies and the VIP returns to M. Every key acknowledged before
# must be readable through the VIP, except at most what was queued for
# replication at each kill.
set -euo pipefail
SCENARIO=${SCENARIO:-s4}
# shellcheck source-path=SCRIPTDIR source=bed.sh
source "$(dirname "${BASH_SOURCE[0]}")/bed.sh"

main() {
  bed_up
  load_start s4 "--rate=${FO_RATE:-2000}"
  sleep 2
  fail_over vrrp_switch1_ms "$M" "$S"
  sleep 1
  bring_back "$M"
  figure resync_ms "$(resync_ms "$M")"
  sleep 2
  fail_over vrrp_switch2_ms "$S" "$M"
  sleep 4
  load_stop s4
  analyze_kills s4
  report "$BED/c/s4.analyze" acked lost lost_outside_windows \
    kill1.queue_depth kill1.lost kill2.queue_depth kill2.lost \
    kill2.writes_back_ms kill2.writes_after_vip_ms kill2.read_outage_ms \
    wrong_reads
  ((FAILURES == 0)) || exit 1
  log "PASS"
}

main "$@"
