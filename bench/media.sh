#!/bin/sh
# Media hub benchmarks (loopback only, bounded in time: about 2 minutes).
# Three processes so each figure is the hub's own: a simulator, the hub
# (measures its CPU with getrusage over a fixed wall interval), raw readers.
#   bench/media.sh            # defaults
#   READERS=200 CAMS=20 MEASURE=10s bench/media.sh
#   COALESCE=-1ms bench/media.sh   # RTSP write coalescing off, to compare
set -eu
cd "$(dirname "$0")/.."
READERS=${READERS:-200}
CAMS=${CAMS:-20}
MEASURE=${MEASURE:-10s}
BITRATE=${BITRATE:-4000000}
SIM=${SIM:-127.0.0.1:18554}
HUB=${HUB:-127.0.0.1:18555}
TMP=$(mktemp -d)
BIN=$TMP/mediabench
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

go build -o "$BIN" ./internal/media/internal/mediabench

start_sim() { # cams
  "$BIN" sim -addr "$SIM" -cams "$1" -pad "$BITRATE" 2>"$TMP/sim.err" &
  SIMPID=$!; PIDS="$PIDS $SIMPID"; sleep 1
}
stop_sim() { kill "$SIMPID" 2>/dev/null || true; wait "$SIMPID" 2>/dev/null || true; }
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

echo "== media hub benchmarks ($(nproc) CPUs, $(go version | cut -d' ' -f3), camera ${BITRATE} bit/s H.264, measure ${MEASURE})"

start_sim 1
base=$(timeout 120 "$BIN" hub -sim "$SIM" -listen "$HUB" -cams 1 -readers 0 -warm 2s -measure "$MEASURE" | tail -1)
echo "ingest, 1 camera, no reader:   $base"

timeout 180 "$BIN" hub -sim "$SIM" -listen "$HUB" -cams 1 -readers "$READERS" -warm 3s -measure "$MEASURE" -coalesce "${COALESCE:-0}" >"$TMP/fan.out" 2>&1 &
HPID=$!; PIDS="$PIDS $HPID"; sleep 1.5
timeout 180 "$BIN" readers -addr "$HUB" -n "$READERS" -duration 40s >"$TMP/readers.out" 2>&1 &
RPID=$!; PIDS="$PIDS $RPID"
wait "$HPID" || true
kill "$RPID" 2>/dev/null || true; wait "$RPID" 2>/dev/null || true
fan=$(tail -1 "$TMP/fan.out")
echo "fan-out, 1 camera, $READERS RTSP readers: $fan"
echo "  readers: $(tail -1 "$TMP/readers.out")"
awk -v a="$(field "$fan" cpu_pct)" -v b="$(field "$base" cpu_pct)" -v n="$READERS" \
  'BEGIN { printf "  => CPU per reader: %.3f %% of a core (goal <= 0.25 %%)\n", (a-b)/n }'

timeout 120 "$BIN" hub -sim "$SIM" -listen "$HUB" -cams 1 -readers 0 -warm 0s -measure 60s -coalesce "${COALESCE:-0}" >/dev/null 2>&1 &
HPID=$!; PIDS="$PIDS $HPID"; sleep 3
ttff=$(timeout 60 "$BIN" ttff -addr "$HUB" -n 20 | tail -1)
kill "$HPID" 2>/dev/null || true; wait "$HPID" 2>/dev/null || true
echo "time to first frame (connect -> first complete keyframe, new RTSP reader): $ttff (goal <= 300 ms)"
stop_sim

start_sim "$CAMS"
ing=$(timeout 180 "$BIN" hub -sim "$SIM" -listen "$HUB" -cams "$CAMS" -readers 0 -warm 3s -measure "$MEASURE" | tail -1)
echo "ingest, $CAMS cameras, no reader: $ing"
awk -v a="$(field "$ing" cpu_pct)" -v n="$CAMS" -v h="$(field "$ing" heap_per_stream_kb)" \
  'BEGIN { printf "  => CPU per camera: %.3f %% of a core; memory per stream (Go heap in use): %d KiB\n", a/n, h }'
stop_sim
