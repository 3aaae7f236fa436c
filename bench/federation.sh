#!/usr/bin/env bash
# Federation benchmarks (internal/federation; R-FED-1, R-FED-4), on loopback,
# tier 1 on PostgreSQL (FED_BENCH_TIER1=sqlite for SQLite), the lower site on
# SQLite, each with its own embedded NATS (leaf link through a cuttable proxy):
#   - inventory sync: FED_BENCH_CAMERAS (default 10 000) cameras imported at
#     the lower site until all are in tier 1's registry;
#   - catch-up: FED_BENCH_CHANGES (default 2 000) camera edits made while the
#     link is cut, then the link restored: events/s until tier 1 applied all.
# Usage: bench/federation.sh
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(go test -run '^$' -bench '^BenchmarkFederation$' -benchtime 1x -timeout 30m ./internal/federation/ 2>&1 | grep -v 'level=WARN' | tee /dev/stderr)
line=$(grep '^BenchmarkFederation' <<<"$out")
metric() { awk -v unit="$1" '{ for (i = 2; i <= NF; i++) if ($i == unit) print $(i-1) }' <<<"$line"; }
echo
echo "inventory sync: $(metric cameras) cameras in $(metric sync_s) s (import at the lower site $(metric import_s) s)"
echo "catch-up after outage: $(metric catchup_events) events in $(metric catchup_s) s = $(metric catchup_events/s) events/s"
