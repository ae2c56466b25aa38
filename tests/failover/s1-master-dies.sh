#!/usr/bin/env bash
# Scenario 1: the master dies under load.
#
# A client writes continuously through the VIP (keys k:0, k:1, ...,
# recording every acknowledged key and when) while reading back random
# acknowledged keys. The master's memcached is killed (SIGKILL);
# keepalived moves the VIP to the other node. Afterwards every
# acknowledged key must be readable through the VIP, except at most the
# writes still queued for replication at the kill (mcrepl_pair_stats
# queue_items, sampled every 2 ms); none acknowledged more than the
# replication lag before the kill may be lost. Prints: keys lost vs queue
# depth, VRRP's switchover, the time until writes and reads succeed again.
set -euo pipefail
SCENARIO=${SCENARIO:-s1}
# shellcheck source-path=SCRIPTDIR source=bed.sh
source "$(dirname "${BASH_SOURCE[0]}")/bed.sh"

main() {
  bed_up
  load_start s1 "--rate=${FO_RATE:-2000}"
  sleep 3
  fail_over vrrp_switch_ms "$M" "$S"
  sleep 4
  load_stop s1
  analyze_kills s1
  report "$BED/c/s1.analyze" acked lost kill1.queue_depth kill1.lost \
    kill1.lost_older_than_lag kill1.lag_max_ms kill1.write_outage_ms \
    kill1.writes_back_ms kill1.writes_after_vip_ms kill1.read_outage_ms \
    kill1.reads_back_ms wrong_reads
  ((FAILURES == 0)) || exit 1
  log "PASS"
}

main "$@"
