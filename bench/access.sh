#!/bin/sh
# Measures access.Decide on one core and prints decisions per second.
# Goal (Foundation item 5): at least 1,000,000 decisions/s with no allocation.
set -eu
cd "$(dirname "$0")/.."
out=$(go test -run '^$' -bench '^BenchmarkDecide$' -benchmem -cpu 1 -count "${COUNT:-3}" ./internal/access/)
echo "$out" | grep '^Benchmark'
echo "$out" | awk '/^BenchmarkDecide/ {
	for (i = 1; i < NF; i++) {
		if ($(i+1) == "decisions/s") { d = $i; if (d > best) best = d }
		if ($(i+1) == "allocs/op") allocs = $i
	}
}
END {
	if (best == "") { print "no result"; exit 1 }
	printf "access.Decide: %d decisions/s on one core (best of runs), %d allocs/op\n", best, allocs
	if (best < 1000000) { print "BELOW GOAL of 1,000,000 decisions/s"; exit 1 }
	if (allocs > 0) { print "Decide allocates: the goal is zero"; exit 1 }
}'
