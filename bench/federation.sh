#!/usr/bin/env bash
# Federation benchmarks (issue 5; internal/federation BenchmarkFederation),
# on loopback, tier 1 on PostgreSQL at VIGIL_TEST_PG_DSN (default
# postgres://postgres@127.0.0.1:5432/test; FED_BENCH_TIER1=sqlite for
# SQLite), the lower site on SQLite, each with its own embedded NATS (leaf
# link through a proxy the benchmark cuts). For each size in FED_BENCH_SIZES
# (default "5000 10000" cameras at the lower site):
#   - converge: the cameras imported at the lower site until all are in
#     tier 1's registry;
#   - status: camera online/offline changes at the lower site until tier 1
#     applied them, sustained events/s (FED_BENCH_STATUS_ROUNDS flips of
#     every camera, default 6), and one flip of every camera on its own;
#   - catch-up: FED_BENCH_OUTAGE_HOURS (default 1) hours of a busy site's
#     changes made while the link is cut (see the benchmark's comment for
#     what an hour holds), then the link restored: time until tier 1 applied
#     everything, checked exactly once.
# Then footage across tiers (BenchmarkFootageAcrossTiers): MP4 playback of a
# lower site's recording through tier 1 against the same read at that site.
# Usage: bench/federation.sh
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
cd "$(dirname "$0")/.."
echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD 2>/dev/null) on $(nproc) cores, tier 1 on ${FED_BENCH_TIER1:-postgres}"
for n in ${FED_BENCH_SIZES:-5000 10000}; do
  load0=$(uptime | sed 's/.*load average: //')
  out=$(FED_BENCH_CAMERAS=$n go test -run '^$' -bench '^BenchmarkFederation$' -benchtime 1x -timeout 60m ./internal/federation/ 2>&1 |
    grep -v 'level=WARN' | tee /dev/stderr)
  line=$(grep '^BenchmarkFederation' <<<"$out")
  metric() { awk -v unit="$1" '{ for (i = 2; i <= NF; i++) if ($i == unit) print $(i-1) }' <<<"$line"; }
  echo
  echo "== $(metric cameras) cameras at the lower site (load average before: $load0; after: $(uptime | sed 's/.*load average: //'))"
  echo "converge: $(metric cameras) cameras in tier 1's registry $(metric sync_s) s after the import began (import $(metric import_s) s; all $(metric sync_msgs) messages applied at $(metric sync_all_s) s)"
  echo "status:   $(metric status_events) status events, lower-site change to tier-1 applied, in $(metric status_s) s = $(metric status_events/s) events/s sustained; every camera offline at once: all offline at tier 1 in $(metric status_burst_s) s"
  echo "catch-up: $(metric outage_h) h of offline changes ($(metric catchup_msgs) messages, $(metric catchup_audit) of them audit entries) applied $(metric catchup_s) s after the link returned = $(metric catchup_msgs/s) messages/s, each exactly once"
done

# Footage across tiers: the whole MP4 of a 15 s range of a lower site's
# recording fetched through tier 1 (a new clip each time) against the same
# read at the lower site itself.
out=$(go test -run '^$' -bench '^BenchmarkFootageAcrossTiers$' -benchtime 30x -timeout 10m ./internal/federation/ 2>&1 | grep -v 'level=' | tee /dev/stderr)
fm() { awk -v name="$1" -v unit="$2" '$1 ~ name { for (i = 2; i <= NF; i++) if ($i == unit) print $(i-1) }' <<<"$out"; }
echo
echo "footage across tiers: 15 s MP4 ($(fm /tier1 MB/op) MB) in $(fm /tier1 ms/mp4) ms through tier 1 = $(fm /tier1 MB/s) MB/s; at the lower site itself $(fm /local ms/mp4) ms = $(fm /local MB/s) MB/s"

# Catch-up after tier 1 itself restarted against after a link cut, the same
# volume (FED_BENCH_RESTART_CHANGES audit entries, default 2,000), three
# rounds of each; each round's figures are printed.
go test -run '^$' -bench '^BenchmarkCatchUpAfterRestart$' -benchtime 3x -timeout 20m ./internal/federation/ 2>&1 |
  grep -E 'catch-up of|^BenchmarkCatchUp' | tee /dev/stderr >/dev/null
