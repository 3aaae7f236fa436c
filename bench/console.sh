#!/bin/sh
# The console at province scale: the camera tree with 5,000 cameras in
# headless Chromium (time to the tree drawn, frame times while scrolling)
# and a status change pushed to 50 open consoles' event streams (latency
# p50/p99, process CPU). Loopback only.
set -eu
cd "$(dirname "$0")/.."
echo "console (load average: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'))"
go test ./internal/web/console -run '^$' -bench 'BenchmarkTree5000InChromium' -benchtime "${BENCH_N:-3}x" 2>&1 | grep -E '^Benchmark|FAIL'
go test ./internal/httpapi -run '^$' -bench 'BenchmarkLivePush' -benchtime "${BENCH_PUSH_N:-40}x" 2>&1 | grep -E '^Benchmark|FAIL'
