#!/bin/sh
# Public endpoint under load (issue 7): N concurrent LL-HLS viewers of one
# public camera through the public listener of a real site, on loopback.
# Prints the site's CPU and memory, the camera's RTSP session count (from the
# simulator) and client-side totals. Viewers run in a child process.
#   VIGIL_PUBLIC_VIEWERS (1000)  VIGIL_PUBLIC_SECONDS (20)
set -eu
cd "$(dirname "$0")/.."
VIGIL_BENCH=1 go test -count=1 -run '^TestPublicLoad$' -v -timeout 10m ./internal/public 2>&1 |
  grep -E 'PUBLIC load|server:|camera sessions|clients|PASS|FAIL|ok'
