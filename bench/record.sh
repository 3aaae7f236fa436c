#!/bin/sh
# Recording and playback figures (issue 4). Usage: bench/record.sh [cameras] [seconds]
# Needs PostgreSQL at VIGIL_TEST_PG_DSN for the postgres rows (skipped otherwise).
set -eu
cd "$(dirname "$0")/.."
N=${1:-8}
S=${2:-10}
echo "== timeline (index only): 1 camera x 30 days (8,640 rows); 100 cameras x 1 day (28,800 rows)"
go test -run XXX -bench 'BenchmarkTimeline' -benchtime 50x ./internal/playback/ | grep Benchmark
echo "== time to first byte of MP4 playback starting mid-segment (5-min segment, 300 fragments)"
go test -run XXX -bench 'BenchmarkPlaybackFirstByte' -benchtime 100x ./internal/playback/ | grep Benchmark
echo "== recording $N simulated 4 Mbit/s cameras for ${S}s (recorder CPU = process CPU with minus without the recorder)"
VIGIL_BENCH_CAMERAS=$N VIGIL_BENCH_SECONDS=$S go test -run XXX -bench 'BenchmarkRecordCameras' -benchtime 1x -timeout 30m ./internal/record/ 2>/dev/null | grep Benchmark
echo "== the recorder alone, fed one camera's units in memory (no simulator, no hub): CPU per 4 Mbit/s camera, without audio, with G.711, with AAC"
go test -run XXX -bench 'BenchmarkRecorderPath' -benchtime 3000x -count 3 ./internal/record/ | grep Benchmark
for a in g711 aac; do
  echo "== the same cameras with $a audio (recorded with the video; G.711 stored as 16-bit LPCM)"
  VIGIL_BENCH_AUDIO=$a VIGIL_BENCH_CAMERAS=$N VIGIL_BENCH_SECONDS=$S go test -run XXX -bench 'BenchmarkRecordCameras' -benchtime 1x -timeout 30m ./internal/record/ 2>/dev/null | grep Benchmark
done
