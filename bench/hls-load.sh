#!/bin/sh
# Bounded load for the "public sharing" issue: N concurrent LL-HLS viewers
# of one simulated camera on loopback, through the real hub. Prints server
# CPU and memory, hub reader count and client-side totals. The viewers run in
# a child process so the server numbers are the server's alone.
#   VIGIL_HLS_VIEWERS (1000)  VIGIL_HLS_SECONDS (20)  VIGIL_HLS_VARIANT (sub|main)
set -eu
cd "$(dirname "$0")/.."
VIGIL_BENCH=1 go test -count=1 -run '^TestHLSLoad$' -v -timeout 10m ./internal/media/hls 2>&1 |
  grep -E 'HLS load|server:|hub readers|clients|PASS|FAIL|ok'
