package webrtc

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/media/httpread"
	"github.com/vigil-vms/vigil/internal/media/mediatest"
	"github.com/vigil-vms/vigil/internal/web/player"
)

type rig struct {
	authz *mediatest.Authz
	hub   *media.Hub
	whep  *Server
	http  *httptest.Server
}

func newRig(t testing.TB, tokens ...string) *rig {
	t.Helper()
	m := mediatest.NewRig(t, tokens...)
	whep, err := New(m.Hub, Config{Logger: mediatest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{authz: m.Authz, hub: m.Hub, whep: whep}
	t.Cleanup(r.whep.Close)
	mux := http.NewServeMux()
	mux.Handle("/whep/", r.whep)
	mux.Handle("/player/", player.Handler())
	r.http = httptest.NewServer(mux)
	t.Cleanup(r.http.Close)
	return r
}

func TestChromiumPlaysWebRTC(t *testing.T) {
	r := newRig(t, "good")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bctx := newBrowser(t, ctx)

	if err := chromedp.Do(bctx, chromedp.Navigate(r.http.URL+"/player/?camera=cam264&variant=main&token=good")); err != nil {
		t.Fatal(err)
	}
	num := func(expr string) float64 {
		v, _ := chromedp.Run(bctx, chromedp.Evaluate[float64](expr))
		return v
	}
	var first, later float64
	mediatest.Eventually(ctx, t, "video to start playing", func() bool {
		first = num(`document.getElementById("video").currentTime`)
		return first > 0
	})
	mediatest.Eventually(ctx, t, "currentTime to advance", func() bool {
		later = num(`document.getElementById("video").currentTime`)
		return later > first+1
	})
	ttff := num(`window.vigilPlayer.ttffMs || -1`)
	w := num(`document.getElementById("video").videoWidth`)
	h := num(`document.getElementById("video").videoHeight`)
	state, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`window.vigilPlayer.state + " " + window.vigilPlayer.protocol`))
	t.Logf("chromium: state=%s currentTime %.2f → %.2f, %.0fx%.0f, time to first frame in page %.0f ms", state, first, later, w, h, ttff)
	if w == 0 || h == 0 {
		t.Fatalf("no decoded video size")
	}
	if r.whep.Sessions() != 1 {
		t.Fatalf("sessions = %d, want 1", r.whep.Sessions())
	}
	// Closing the page's peer connection (pagehide DELETE) ends the session.
	_ = chromedp.Do(bctx, chromedp.Navigate("about:blank"))
	mediatest.Eventually(ctx, t, "session to end after page left", func() bool { return r.whep.Sessions() == 0 })
	mediatest.Eventually(ctx, t, "grant End", func() bool { return len(r.authz.Counts().Ends) == 1 })

	// A second viewer of the now-warm camera: the number bench/webrtc.sh
	// reports as the browser's time to first frame (logged, not asserted).
	if err := chromedp.Do(bctx, chromedp.Navigate(r.http.URL+"/player/?camera=cam264&variant=main&token=good")); err != nil {
		t.Fatal(err)
	}
	mediatest.Eventually(ctx, t, "second playback", func() bool { return num(`window.vigilPlayer.ttffMs || 0`) > 0 })
	marks, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify([window.vigilPlayer.marks, window.vigilPlayer.stats])`))
	t.Logf("chromium: warm camera, page script start → first decoded frame %.0f ms (marks %s)", num(`window.vigilPlayer.ttffMs`), marks)
}

func TestBadTokenForbidden(t *testing.T) {
	r := newRig(t, "good")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, res, err := dialWHEP(ctx, r.http.URL+"/whep/cam264/main", "wrong")
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		t.Fatal("session created with a bad token")
	}
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", res.StatusCode)
	}
	var e httpread.Error
	if err := json.NewDecoder(res.Body).Decode(&e); err != nil || e.Code != "forbidden" {
		t.Fatalf("body %+v err %v", e, err)
	}
	if res.Header.Get("Content-Type") == "application/sdp" {
		t.Fatal("SDP sent with a refusal")
	}
	if n := r.whep.Sessions(); n != 0 {
		t.Fatalf("sessions = %d", n)
	}
	// No token at all: 401, and the authorizer is not even asked.
	_, res, _ = dialWHEP(ctx, r.http.URL+"/whep/cam264/main", "")
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: status %d", res.StatusCode)
	}
}

func TestGoClientReceivesH264AndPCMU(t *testing.T) {
	r := newRig(t, "good")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, res, err := dialWHEP(ctx, r.http.URL+"/whep/cam264/main", "good")
	if err != nil || c == nil {
		t.Fatalf("dial: %v %v", err, res.Status)
	}
	defer c.pc.Close()
	mediatest.Eventually(ctx, t, "video and audio packets", func() bool {
		return c.count(pwebrtc.MimeTypeH264) > 50 && c.count(pwebrtc.MimeTypePCMU) > 10
	})
	// DELETE on the Location ends it.
	req, _ := http.NewRequest(http.MethodDelete, r.http.URL+c.location, nil)
	dres, err := http.DefaultClient.Do(req)
	if err != nil || dres.StatusCode != http.StatusOK {
		t.Fatalf("delete: %v %v", err, dres)
	}
	if r.whep.Sessions() != 0 {
		t.Fatal("session survived DELETE")
	}
}

func TestRevokeEndsSession(t *testing.T) {
	r := newRig(t, "good", "revocable")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, res, err := dialWHEP(ctx, r.http.URL+"/whep/cam264/main", "revocable")
	if err != nil || c == nil {
		t.Fatalf("dial: %v %v", err, res.Status)
	}
	defer c.pc.Close()
	mediatest.Eventually(ctx, t, "video packets", func() bool { return c.count(pwebrtc.MimeTypeH264) > 10 })
	closed := make(chan struct{})
	c.pc.OnConnectionStateChange(func(s pwebrtc.PeerConnectionState) {
		if s == pwebrtc.PeerConnectionStateClosed || s == pwebrtc.PeerConnectionStateFailed {
			select {
			case <-closed:
			default:
				close(closed)
			}
		}
	})
	r.authz.Revoke("revocable")
	mediatest.Eventually(ctx, t, "server session to end", func() bool { return r.whep.Sessions() == 0 })
	mediatest.Eventually(ctx, t, "grant End", func() bool { return len(r.authz.Counts().Ends) == 1 })
	// The viewer sees the end (DTLS close_notify), not just silence.
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("client peer connection never ended")
	}
	after := c.count(pwebrtc.MimeTypeH264)
	// Reconnecting with the revoked token is refused.
	_, res, _ = dialWHEP(ctx, r.http.URL+"/whep/cam264/main", "revocable")
	if res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("revoked token: %v", res)
	}
	t.Logf("packets received before revoke: %d", after)
}

func TestH265Unsupported(t *testing.T) {
	r := newRig(t, "good")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, res, err := dialWHEP(ctx, r.http.URL+"/whep/cam265/main", "good")
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		t.Fatal("H.265 stream accepted for WebRTC")
	}
	var e httpread.Error
	_ = json.NewDecoder(res.Body).Decode(&e)
	if res.StatusCode != http.StatusUnsupportedMediaType || e.Code != "codec_unsupported" {
		t.Fatalf("status %d body %+v", res.StatusCode, e)
	}
	if !strings.Contains(e.Message, "H.265") || !strings.Contains(e.Message, "luồng phụ") {
		t.Fatalf("message not helpful: %q", e.Message)
	}
	if n := r.whep.Sessions(); n != 0 {
		t.Fatalf("sessions = %d", n)
	}
	mediatest.Eventually(ctx, t, "grants ended", func() bool { c := r.authz.Counts(); return c.Granted == len(c.Ends) })
}
