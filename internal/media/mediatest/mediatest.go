// Package mediatest is test support for the media readers: the fake
// authorizer and hub rig that the LL-HLS and WebRTC tests share, and the
// LL-HLS viewer load generator behind bench/hls-load.sh and bench/public.sh.
//
// Only tests import it (TestNotInProduct keeps it that way): it starts
// simulated cameras, counts grants instead of auditing them, and fails
// tests.
package mediatest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/media"
)

// NeedTool returns the path of the first of names found on PATH. Without
// any, the test fails when VIGIL_REQUIRE_TOOLS=1, because CI must not pass
// by skipping, and skips loudly otherwise.
func NeedTool(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("NOT RUN: %s not found on PATH (apt-get install -y chromium ffmpeg)", strings.Join(names, " or "))
	if os.Getenv("VIGIL_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg)
	}
	t.Skip("!!! " + msg)
	return ""
}

// Logger is quiet unless VIGIL_TEST_LOG is set, and then writes to the test
// log: the hub and the readers log every session, which would bury a
// failure's own output.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("VIGIL_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Eventually polls cond until it holds or ctx ends: tests assert progress,
// never a duration, so a slow machine is not a failure.
func Eventually(ctx context.Context, t testing.TB, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s: %v", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// HubReaders is the number of readers the hub serves for camera, over all
// its variants: the figure that shows readers share one upstream session.
func HubReaders(h *media.Hub, camera string) int {
	states, _ := h.State(camera)
	n := 0
	for _, s := range states {
		n += s.Readers
	}
	return n
}
