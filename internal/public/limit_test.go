package public

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/media/hls"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

type noHub struct{}

func (noHub) OpenInternalReader(context.Context, string, media.Variant, media.Protocol, media.UnitReader) (media.ReaderHandle, error) {
	return nil, media.ErrNotFound
}
func (noHub) State(string) ([]media.State, bool) { return nil, false }

// blockingHLS stands in for the muxers: it holds each request until release.
type blockingHLS struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingHLS) Handler(auth hls.AuthorizeFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.entered <- struct{}{}
		<-b.release
		w.WriteHeader(http.StatusOK)
	})
}

func testServer(t *testing.T, mutate func(*config.Public)) (*Server, *blockingHLS) {
	t.Helper()
	cfg := config.Default().Public
	cfg.DecisionTTL = 0
	if mutate != nil {
		mutate(&cfg)
	}
	b := &blockingHLS{entered: make(chan struct{}, 16), release: make(chan struct{})}
	s, err := New(Deps{Cfg: cfg, DB: storetest.SQLite(t), Hub: noHub{}, HLS: b, FFmpeg: "/nonexistent/ffmpeg"})
	if err != nil {
		t.Fatal(err)
	}
	return s, b
}

func do(s *Server, remote, path string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", path, nil)
	r.RemoteAddr = remote
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}

func is429(t *testing.T, w *httptest.ResponseRecorder, code string) {
	t.Helper()
	var e apiError
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", w.Code)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code != code || e.Message == "" {
		t.Fatalf("429 body %q, want {code:%s,message}", w.Body, code)
	}
	if w.Header().Get("Retry-After") == "" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("429 headers: %v", w.Header())
	}
}

// firstLimited sends up to n requests and returns the first 429 (the bucket
// refills at rate_per_second, so the count before it is burst plus whatever
// refilled: the test asserts a 429 comes, not when).
func firstLimited(s *Server, remote string, n int, hdr map[string]string) (*httptest.ResponseRecorder, int) {
	for i := 0; i < n; i++ {
		w := do(s, remote, "/healthz", hdr)
		if w.Code == http.StatusTooManyRequests {
			return w, i
		}
	}
	return nil, n
}

func TestPerAddressLimit(t *testing.T) {
	s, _ := testServer(t, func(c *config.Public) {
		c.RatePerSecond, c.Burst, c.GlobalRatePerSecond = 1, 5, 1000000
		c.TrustedProxies = []string{"10.0.0.0/8"}
	})
	w, n := firstLimited(s, "203.0.113.7:5000", 1000, nil)
	if w == nil {
		t.Fatal("1000 requests from one address were never limited")
	}
	if n < 5 {
		t.Fatalf("limited after %d requests, burst is 5", n)
	}
	is429(t, w, "rate_limited")
	// Another address has its own bucket.
	if w := do(s, "203.0.113.8:5000", "/healthz", nil); w.Code != 200 {
		t.Fatalf("other address: %d", w.Code)
	}
	// A forged X-Forwarded-For from an untrusted peer changes nothing.
	if w := do(s, "203.0.113.7:5001", "/healthz", map[string]string{"X-Forwarded-For": "198.51.100.1"}); w.Code != 429 {
		t.Fatalf("spoofed XFF escaped the limit: %d", w.Code)
	}
	// Behind the trusted CDN, clients are told apart by X-Forwarded-For…
	if w := do(s, "10.1.2.3:443", "/healthz", map[string]string{"X-Forwarded-For": "198.51.100.9"}); w.Code != 200 {
		t.Fatalf("client behind CDN: %d", w.Code)
	}
	// …and the limited client stays limited through the CDN.
	if w := do(s, "10.1.2.3:443", "/healthz", map[string]string{"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}); w.Code != 429 {
		t.Fatalf("limited client through CDN: %d", w.Code)
	}
	// IPv6 clients are limited per /64.
	w6, _ := firstLimited(s, "[2001:db8:1:2::1]:5000", 1000, nil)
	if w6 == nil {
		t.Fatal("IPv6 never limited")
	}
	if w := do(s, "[2001:db8:1:2::ffff]:5000", "/healthz", nil); w.Code != 429 {
		t.Fatalf("same /64, other address: %d", w.Code)
	}
}

func TestGlobalRateCap(t *testing.T) {
	s, _ := testServer(t, func(c *config.Public) {
		c.RatePerSecond, c.Burst, c.GlobalRatePerSecond = 1000, 1000, 3
	})
	var got *httptest.ResponseRecorder
	for i := 0; i < 1000 && got == nil; i++ {
		// a different address every time: only the global cap can refuse
		w := do(s, "198.51.100."+itoa(i%250)+":1", "/healthz", nil)
		if w.Code == 429 {
			got = w
		}
	}
	if got == nil {
		t.Fatal("global cap never applied")
	}
	is429(t, got, "busy")
}

func TestInflightCap(t *testing.T) {
	s, b := testServer(t, func(c *config.Public) { c.MaxInflight = 1 })
	// A public camera is needed for the live route to reach the muxers.
	seedMatrixForLive(t, s)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		do(s, "192.0.2.1:1", "/live/cam-live/sub/index.m3u8", nil)
	}()
	select {
	case <-b.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("first request never reached the muxer")
	}
	is429(t, do(s, "192.0.2.2:1", "/healthz", nil), "busy")
	close(b.release)
	wg.Wait()
	if w := do(s, "192.0.2.2:1", "/healthz", nil); w.Code != 200 {
		t.Fatalf("after release: %d", w.Code)
	}
}

func seedMatrixForLive(t *testing.T, s *Server) {
	t.Helper()
	ctx := context.Background()
	q := s.q.db.Q()
	for _, st := range []string{
		"INSERT INTO organisations (id, name, kind, created_at, updated_at) VALUES ('o', 'o', 'department', 0, 0)",
		"INSERT INTO systems (id, name, tier, managing_org_id, operating_org_id, site_id, public_sharing, created_at, updated_at) VALUES ('s', 's', 1, 'o', 'o', 's', TRUE, 0, 0)",
		"INSERT INTO cameras (id, system_id, name, area, area_bit, lat, lon, public, created_at, updated_at) VALUES ('cam-live', 's', 'Live', 'road', 1, 0, 0, TRUE, 0, 0)",
	} {
		if _, err := q.Exec(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
}

func itoa(i int) string {
	return string(rune('0'+i/100)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}
