#!/bin/sh
# Analytics events benchmarks (issue 9): ingest rate (events/s, batches of
# 500) and plate search latency (p50/p99, exact/prefix/fuzzy) over
# VIGIL_BENCH_EVENTS plate reads (default 1,000,000), on SQLite and on the
# PostgreSQL at VIGIL_TEST_PG_DSN (default postgres://postgres@127.0.0.1:5432/test).
set -eu
cd "$(dirname "$0")/.."
: "${VIGIL_BENCH_EVENTS:=1000000}"
export VIGIL_BENCH_EVENTS
go test -run '^$' -bench 'BenchmarkIngest' -benchtime 40x ./internal/events/
go test -run '^$' -bench 'BenchmarkPlateSearch' -benchtime 200x -timeout 60m ./internal/events/
