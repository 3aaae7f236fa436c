#!/usr/bin/env bash
# Audit log benchmarks (internal/audit; R-SEC-1, R-SEC-2):
#   - append, one entry per transaction (the cost a change pays), SQLite
#   - append, 1000 entries per transaction (AppendBatch), SQLite
#   - append, one entry per transaction, with the head witnessed (signed
#     head into the fsynced checkpoint file every 100 entries / 10 s)
#   - the same on PostgreSQL when the test server is reachable
#   - verify of AUDIT_BENCH_ROWS entries (default 1 000 000) in a SQLite file,
#     generated with AppendBatch in 20 000-entry transactions
# Goals: batched append >= 10 000 entries/s; verify of 1 M <= 10 s.
# Usage: bench/audit.sh            (AUDIT_BENCH_ROWS=100000 bench/audit.sh for a quick run)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${AUDIT_BENCH_ROWS:-1000000}
PKG=./internal/audit/

# metric NAME UNIT: the value printed before UNIT on the benchmark line NAME.
metric() {
	awk -v name="$1" -v unit="$2" '$1 ~ "^"name"(-[0-9]+)?$" { for (i = 2; i <= NF; i++) if ($i == unit) print $(i-1) }'
}

echo "== append benchmarks (3 s each)" >&2
append=$(go test -run '^$' -bench '^BenchmarkAppend(Batch|Witnessed)?(Postgres)?$' -benchtime 3s "$PKG" 2>&1 | tee /dev/stderr)

echo "== verify benchmark: generating $ROWS entries, then verifying twice" >&2
verify=$(AUDIT_BENCH_ROWS=$ROWS go test -run '^$' -bench '^BenchmarkVerify$' -benchtime 2x -timeout 60m "$PKG" 2>&1 | tee /dev/stderr)

one=$(metric BenchmarkAppend entries/s <<<"$append")
batch=$(metric BenchmarkAppendBatch entries/s <<<"$append")
onepg=$(metric BenchmarkAppendPostgres entries/s <<<"$append")
batchpg=$(metric BenchmarkAppendBatchPostgres entries/s <<<"$append")
wit=$(metric BenchmarkAppendWitnessed entries/s <<<"$append")
witpg=$(metric BenchmarkAppendWitnessedPostgres entries/s <<<"$append")
vsec=$(metric BenchmarkVerify s/verify <<<"$verify")
vrate=$(metric BenchmarkVerify entries/s <<<"$verify")
gen=$(metric BenchmarkVerify gen-entries/s <<<"$verify")

echo
echo "audit benchmark results ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
printf '  append, 1 entry/tx, SQLite:        %12s entries/s\n' "${one:-n/a}"
printf '  append, 1000 entries/tx, SQLite:   %12s entries/s   (goal >= 10000)\n' "${batch:-n/a}"
printf '  append, 1 entry/tx, PostgreSQL:    %12s entries/s\n' "${onepg:-skipped}"
printf '  append, 1000/tx, PostgreSQL:       %12s entries/s\n' "${batchpg:-skipped}"
printf '  append, 1 entry/tx, witnessed, SQLite:     %12s entries/s\n' "${wit:-n/a}"
printf '  append, 1 entry/tx, witnessed, PostgreSQL: %12s entries/s\n' "${witpg:-skipped}"
printf '  generate %s entries (20k/tx):  %12s entries/s\n' "$ROWS" "${gen:-n/a}"
printf '  verify %s entries, SQLite:     %12s s   (%s entries/s; goal <= 10 s for 1 M)\n' "$ROWS" "${vsec:-n/a}" "${vrate:-n/a}"
[[ -n "$batch" && -n "$vsec" ]]
