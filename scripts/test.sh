#!/usr/bin/env bash
# The test command of the README: every package with the race detector, on
# SQLite and on the PostgreSQL at VIGIL_TEST_PG_DSN (default
# postgres://postgres@127.0.0.1:5432/test). Extra arguments go to go test.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 -timeout 12m "$@" ./...
