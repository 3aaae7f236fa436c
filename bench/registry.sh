#!/bin/sh
# Scoped camera list over 10,000 cameras and 200 organisations: one page of
# 50 (with the total count), on SQLite and on PostgreSQL (VIGIL_TEST_PG_DSN,
# default postgres://postgres@127.0.0.1:5432/test). Prints ms per page.
set -eu
cd "$(dirname "$0")/.."
n="${BENCH_N:-100}"
echo "registry: scoped list page of 50 over 10,000 cameras (load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'))"
go test ./internal/registry -run '^$' -bench 'BenchmarkScopedList' -benchtime "${n}x" 2>&1 |
	awk '/^BenchmarkScopedList\// {
		name = $1; sub(/^BenchmarkScopedList\//, "", name); sub(/-[0-9]+$/, "", name)
		printf "  %-24s %8.2f ms\n", name, $3 / 1e6
		found = 1
	}
	/^(FAIL|--- FAIL|.*SKIPPING)/ { print; failed = 1 }
	END { if (!found || failed) exit 1 }'
