#!/bin/sh
# Time to first frame for a new WebRTC (WHEP) viewer, through the real hub and
# simulated camera on loopback. Goal: <= 300 ms.
#  1. Go WHEP client (pion): POST offer -> first complete video access unit.
#  2. Headless Chromium with the player page: page script start -> first
#     decoded frame (requestVideoFrameCallback), cold camera included.
set -eu
cd "$(dirname "$0")/.."
go test -count=1 -run '^$' -bench 'TimeToFirstFrame' -benchtime "${N:-30}x" ./internal/media/webrtc 2>&1 |
  grep -E 'POST|Benchmark|ok|FAIL'
go test -count=1 -run 'TestChromiumPlaysWebRTC' -v ./internal/media/webrtc 2>&1 | grep -E 'chromium:|PASS|FAIL|SKIP' || true
