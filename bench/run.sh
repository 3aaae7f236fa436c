#!/bin/sh
# Runs every benchmark script and prints the figures (loopback only, each
# bounded in time). Record the output in docs/benchmarks.md with the date
# and commit.
set -u
cd "$(dirname "$0")/.."
echo "# $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD 2>/dev/null) on $(nproc) cores"
for s in access audit api registry media webrtc hls-load federation console; do
  [ -x "bench/$s.sh" ] || [ -f "bench/$s.sh" ] || continue
  echo "## $s"
  sh "bench/$s.sh" || echo "($s: failed or below goal, see above)"
done
