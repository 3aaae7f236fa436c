#!/bin/sh
# The scoped camera list through the real HTTP stack: a user agency over
# 10,000 cameras and 200 organisations, on SQLite and on PostgreSQL.
# Goal (Foundation): p99 ≤ 20 ms on each engine.
set -eu
cd "$(dirname "$0")/.."
go test -run '^$' -bench '^BenchmarkScopedCameraList$' -benchtime "${N:-500}x" ./internal/httpapi/ 2>/dev/null \
  | awk '/^BenchmarkScopedCameraList/ { for (i = 1; i < NF; i++) { if ($(i+1) == "p50-ms") p50 = $i; if ($(i+1) == "p99-ms") p99 = $i }
         split($1, n, "/"); printf "scoped camera list (%s): p50 %s ms, p99 %s ms\n", n[2], p50, p99 }'
