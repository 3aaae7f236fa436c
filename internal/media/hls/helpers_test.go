package hls

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/sim"
)

// needTool finds an external program; a missing tool fails the test when
// VIGIL_REQUIRE_TOOLS=1 (CI) and skips it loudly otherwise.
func needTool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := fmt.Sprintf("NOT RUN: %s not found on PATH (apt-get install -y ffmpeg)", name)
	if os.Getenv("VIGIL_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg)
	}
	t.Skip("!!! " + msg)
	return ""
}

// testAuthz grants tokens it knows and lets a test revoke them.
type testAuthz struct {
	mu     sync.Mutex
	revoke map[string]chan struct{}
	asks   int
	ends   []string
}

func newTestAuthz(tokens ...string) *testAuthz {
	a := &testAuthz{revoke: map[string]chan struct{}{}}
	for _, t := range tokens {
		a.revoke[t] = make(chan struct{})
	}
	return a
}

func (a *testAuthz) AuthorizeRead(_ context.Context, req media.ReadRequest) (media.ReadGrant, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asks++
	ch, ok := a.revoke[req.Token]
	if !ok {
		return media.ReadGrant{}, fmt.Errorf("%w: unknown token", media.ErrDenied)
	}
	var once sync.Once
	return media.ReadGrant{Subject: "tester", Revoked: ch, End: func(reason string) {
		once.Do(func() {
			a.mu.Lock()
			a.ends = append(a.ends, reason)
			a.mu.Unlock()
		})
	}}, nil
}

func (a *testAuthz) AuthorizePublish(context.Context, media.PublishRequest) (media.ReadGrant, error) {
	return media.ReadGrant{}, media.ErrDenied
}

func (a *testAuthz) Revoke(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	close(a.revoke[token])
	delete(a.revoke, token)
}

func (a *testAuthz) counts() (asks int, ends []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.asks, append([]string(nil), a.ends...)
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("VIGIL_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(discard{}, nil))
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// eventually polls cond until it holds or ctx ends: progress is asserted,
// never a duration.
func eventually(ctx context.Context, t testing.TB, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s: %v", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type simSources struct{ s *sim.Sim }

func (r simSources) Sources(context.Context) ([]media.Source, error) {
	var out []media.Source
	for id, u := range r.s.URLs() {
		out = append(out, media.Source{CameraID: id, MainURL: u[0], SubURL: u[1], Transport: media.TransportTCP})
	}
	return out, nil
}

func newTestHub(t testing.TB, ctx context.Context, s *sim.Sim, a media.Authorizer) *media.Hub {
	h, err := media.New(media.Config{}, simSources{s}, a, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}
