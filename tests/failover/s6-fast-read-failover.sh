#!/usr/bin/env bash
# Scenario 6: fast read failover.
#
# Between the master's death and the VIP's move, reads through the
# library must go straight to the surviving node (--read-failover, the
# library's default). A reader reads random acknowledged keys 2000 times a
# second while the master's memcached is killed. Prints the longest read
# outage the client saw (target: under FO_READ_OUTAGE_MAX_MS, 100 ms)
# against VRRP's own switchover time (kill to the VIP on the other node).
set -euo pipefail
SCENARIO=${SCENARIO:-s6}
# shellcheck source-path=SCRIPTDIR source=bed.sh
source "$(dirname "${BASH_SOURCE[0]}")/bed.sh"

main() {
  bed_up
  load_start s6 --rate=500 --read-rate=2000
  sleep 3
  fail_over vrrp_switch_ms "$M" "$S"
  sleep 4
  load_stop s6
  analyze_kills s6 "--max-read-outage-ms=${FO_READ_OUTAGE_MAX_MS:-100}"
  report "$BED/c/s6.analyze" reads kill1.read_outage_ms kill1.reads_back_ms \
    read_failovers kill1.write_outage_ms wrong_reads
  ((FAILURES == 0)) || exit 1
  log "PASS"
}

main "$@"
