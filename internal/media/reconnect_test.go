package media

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/sim"
)

// cameraDown makes the simulated camera fail every session (DESCRIBE
// answers an unparsable description) and drops the current ones, as a
// camera that lost power or its link would; up undoes it.
func cameraDown(t *testing.T, e *env, id string, down bool) {
	t.Helper()
	if err := e.sim.SetBrokenSDP(id, down); err != nil {
		t.Fatal(err)
	}
	if down {
		if err := e.sim.DropNow(id); err != nil {
			t.Fatal(err)
		}
	}
}

// failedReconnects is how many reconnects in a row have failed.
func failedReconnects(t *testing.T, e *env, id string) int {
	t.Helper()
	s, err := e.hub.lookup(id, Main)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempt
}

func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReconnectAfterLongOutage (issue 15 item 6): with the hub's default
// back-off a camera back from an outage of any length is read again within
// the cap plus its connect time. The outage here lasts until the back-off
// has reached its cap; the ceiling only grows with the failed attempts and
// stays at the cap, so from then on the hub is in the state it would be in
// after 150 s (or a day) of outage, which the test therefore need not wait
// for. The recorder's reader (internal) must get frames again within the
// cap + 2.5 s (5 s with the defaults) for the camera to connect and send a
// keyframe: that is the wait's deadline, not a timed assertion.
func TestReconnectAfterLongOutage(t *testing.T) {
	e := startEnvWith(t, []sim.CameraSpec{{ID: "c"}}, func(s *sim.Sim) []Source { return pulled(s, "c") },
		Config{ReadTimeout: 2 * time.Second}) // BackoffMin, BackoffMax: the defaults
	cfg := e.hub.cfg
	if cfg.BackoffMax+2500*time.Millisecond > 5*time.Second {
		t.Fatalf("the default back-off cap %v cannot resume footage within 5 s", cfg.BackoffMax)
	}
	e.waitState(t, "c", "online", online)
	c := newCollector()
	h, err := e.hub.OpenInternalReader(context.Background(), "c", Main, ProtoRecord, c)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c.waitVideo(t, 5)

	cameraDown(t, e, "c", true)
	e.waitState(t, "c", "offline", func(s State) bool { return s.Status != StatusOnline })
	// The last wait was drawn under the capped ceiling, and one more
	// attempt failed after it: the back-off is at its cap.
	waitUntil(t, "the back-off to reach its cap", time.Minute, func() bool {
		n := failedReconnects(t, e, "c")
		return n >= 2 && backoffCeil(n-2, cfg.BackoffMin, cfg.BackoffMax) == cfg.BackoffMax
	})
	t.Logf("back-off at its cap %v after %d failed reconnects", cfg.BackoffMax, failedReconnects(t, e, "c"))

	n := c.videoCount()
	back := time.Now()
	cameraDown(t, e, "c", false)
	waitUntil(t, "footage after the camera's return", cfg.BackoffMax+2500*time.Millisecond, func() bool { return c.videoCount() > n })
	t.Logf("footage again %v after the camera's return", time.Since(back).Round(time.Millisecond))
	e.waitState(t, "c", "online", online)
	if n := failedReconnects(t, e, "c"); n != 0 {
		t.Fatalf("online again with %d failed reconnects counted: the next outage would not start at the bottom", n)
	}
}

// TestViewersEndedAfterOfflineGrace (issue 15 item 6): the viewers of a
// camera that stays down are ended once it has been offline for the grace,
// although its reconnects keep failing meanwhile (each failure used to
// re-arm the timer, so they were never ended); the recorder's reader stays
// attached and gets frames again when the camera returns.
func TestViewersEndedAfterOfflineGrace(t *testing.T) {
	const grace = time.Second
	e := startEnvWith(t, []sim.CameraSpec{{ID: "c"}}, func(s *sim.Sim) []Source { return pulled(s, "c") },
		Config{ReadTimeout: 2 * time.Second, BackoffMin: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
			OfflineGrace: grace, WaitReady: 15 * time.Second})
	e.waitState(t, "c", "online", online)
	viewer := newCollector()
	vh, err := e.hub.OpenReader(context.Background(), ReadRequest{CameraID: "c", Variant: Main, Protocol: ProtoHLS, Token: "good-viewer"}, viewer)
	if err != nil {
		t.Fatal(err)
	}
	defer vh.Close()
	rec := newCollector()
	rh, err := e.hub.OpenInternalReader(context.Background(), "c", Main, ProtoRecord, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer rh.Close()
	viewer.waitVideo(t, 5)
	rec.waitVideo(t, 5)

	cameraDown(t, e, "c", true)
	select {
	case <-vh.Done():
	case <-time.After(grace + 30*time.Second):
		t.Fatalf("the viewer was not ended after the offline grace (%d failed reconnects so far)", failedReconnects(t, e, "c"))
	}
	// Reconnects failed while the grace ran (ReadTimeout, not the grace,
	// bounds how long the drop takes to be seen, so count after it).
	if n := failedReconnects(t, e, "c"); n < 2 {
		t.Fatalf("only %d failed reconnects before the viewer was ended: the test did not exercise re-arming", n)
	}
	e.auth.mu.Lock()
	reasons := append([]string(nil), e.auth.reasons...)
	e.auth.mu.Unlock()
	if len(reasons) != 1 || reasons[0] != "camera offline" {
		t.Fatalf("end reasons: %v", reasons)
	}
	select {
	case <-rh.Done():
		t.Fatal("the recorder's reader was ended with the viewers")
	default:
	}
	n := rec.videoCount()
	cameraDown(t, e, "c", false)
	rec.waitVideo(t, n+5)
}
