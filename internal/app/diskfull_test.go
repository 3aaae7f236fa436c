package app_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// apiError is the API's error body.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Field, Code, Message string
	} `json:"details"`
}

func decodeErr(t *testing.T, body []byte) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	return e
}

// whepOffer is a real browser-like offer (pion), receive-only video+audio.
func whepOffer(t *testing.T) string {
	t.Helper()
	pc, err := pwebrtc.NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	for _, k := range []pwebrtc.RTPCodecType{pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

func countLiveStarts(t *testing.T, s *apptest.Site) int {
	t.Helper()
	es, _, err := audit.List(context.Background(), s.App.DB.Q(), audit.Filter{ActionPrefix: "live.start", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestDiskFullFailsClosed (issue 15 item 3): the database and the data
// folder on one small real ext4 volume, filled by a file as recordings
// would fill it, then by the database's own growth until SQLite refuses to
// write. Sign-in, live viewing with a token (RTSP, LL-HLS, WHEP) and audited
// changes fail closed with "disk full" (507 disk_full; RTSP 503 with the
// reason), never 401/403 "invalid token" or a bare 500, and no live view
// runs without its live.start entry; session and token checks, which only
// read, keep working; /readyz is not ready and says why. Once the filler
// is removed everything works again and the audit chain verifies.
func TestDiskFullFailsClosed(t *testing.T) {
	needFFmpeg(t)
	vol := storetest.SmallVolume(t, 64)
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{SQLitePath: filepath.Join(vol, "vigil.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	sm, err := sim.Start(sctx, sim.Config{Addr: "127.0.0.1:0", Cameras: []sim.CameraSpec{{ID: "cam-traffic"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sm.Close)
	s := apptest.Start(t, db, apptest.Options{Mutate: func(c *config.Config) {
		c.DataDir = filepath.Join(vol, "data")
		c.Database.ReserveBytes, c.Database.ReservePercent = 4<<20, -1
		c.Recording.DefaultMode = "off" // the filler stands for the recordings
		c.Auth.SessionIdle = 30 * time.Second
	}})
	s.SeedWorld(map[string][2]string{"cam-traffic": {sm.URL("cam-traffic", "main"), sm.URL("cam-traffic", "sub")}})
	s.User("admin", "so-khcn", "admin", "auditor")
	police := s.User("police", "cong-an", "operator")
	admin := s.Login("admin")
	officer := s.Login("police")
	liveTok, _, err := s.App.Auth.CreateToken(ctx, auth.System, police.ID, "nvr", 0)
	if err != nil {
		t.Fatal(err)
	}
	readTok, _, err := s.App.Auth.CreateToken(ctx, auth.System, police.ID, "reports", 0)
	if err != nil {
		t.Fatal(err)
	}
	var st tokenOut
	if code := officer.Do("POST", "/api/v1/cameras/cam-traffic/stream-token", map[string]string{"variant": "sub"}, &st); code != 200 {
		t.Fatalf("stream token: %d", code)
	}
	rtspWithToken := strings.Split(st.RTSPURL, "?")[0] + "?token=" + liveTok
	hlsPath := "/hls/cam-traffic/sub/index.m3u8"
	viewer := s.WithToken(liveTok)

	// Before: ready, and a token watches.
	if code, body, _ := s.Anonymous().Raw("GET", "/readyz", "", nil); code != 200 {
		t.Fatalf("readyz before: %d %s", code, body)
	}
	if out, err := probe(rtspWithToken); err != nil || !strings.Contains(out, "h264") {
		t.Fatalf("RTSP with an API token before: %v %q", err, out)
	}

	// The volume fills up: first "recordings" (the filler), then the
	// database's own growth, until SQLite refuses a write.
	filler := filepath.Join(vol, "filler")
	n := storetest.FillVolume(t, filler)
	t.Logf("filler: %d MiB", n>>20)
	pad := strings.Repeat("x", 32<<10)
	refused := false
	for i := 0; i < 2000 && !refused; i++ {
		_, err := s.App.Audit.Append(ctx, s.App.DB.Q(), audit.Entry{ActorID: "system", Actor: "test", Action: "test.fill",
			Object: "volume", Outcome: audit.OK, Details: map[string]any{"pad": pad}})
		switch why := store.Unwritable(err); {
		case err == nil:
		case why == store.DiskFull:
			refused = true
			t.Logf("SQLite refused a write after %d more entries: %v", i, err)
		default:
			t.Fatalf("filling the database: %v (Unwritable %q)", err, why)
		}
	}
	if !refused {
		t.Fatal("the database never refused a write on a full volume")
	}
	startsBefore := countLiveStarts(t, s)

	// /readyz: not ready, and why (cached for up to 1.5 s: wait for it).
	var ready apiError
	waitFor(t, "readyz to say not ready", func() bool {
		code, body, _ := s.Anonymous().Raw("GET", "/readyz", "", nil)
		if code != 503 {
			return false
		}
		ready = decodeErr(t, body)
		return true
	})
	reasons := map[string]string{}
	for _, d := range ready.Details {
		reasons[d.Field] = d.Code
	}
	if ready.Code != "not_ready" || reasons["database"] != store.DiskFull || reasons["data_dir"] != store.DiskFull ||
		!strings.Contains(ready.Message, "Hết dung lượng đĩa") {
		t.Fatalf("readyz on a full disk: %+v", ready)
	}

	// Sign-in needs a session row and an audit entry: refused, disk full.
	code, body, _ := s.Anonymous().Raw("POST", "/api/v1/auth/login", "application/json",
		map[string]string{"username": "police", "password": apptest.Password})
	if e := decodeErr(t, body); code != 507 || e.Code != "disk_full" || !strings.Contains(e.Message, "Hết dung lượng đĩa") {
		t.Fatalf("login on a full disk: %d %s", code, body)
	}
	en := s.Anonymous()
	en.Lang = "en"
	code, body, _ = en.Raw("POST", "/api/v1/auth/login", "application/json",
		map[string]string{"username": "police", "password": "Wrong-password-1"})
	if e := decodeErr(t, body); code != 507 || e.Code != "disk_full" || !strings.Contains(e.Message, "Disk full") {
		t.Fatalf("failed login (its count cannot be written) on a full disk: %d %s", code, body)
	}

	// A session and a token keep working for reads, although their
	// bookkeeping write (the session's slide, due every SessionIdle/30 = 1 s,
	// and the token's first use) fails.
	var seen0 int64
	if err := s.App.DB.Q().QueryRow(ctx, `SELECT MAX(last_seen_at) FROM sessions WHERE user_id = ?`, police.ID).Scan(&seen0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session slide to be due", func() bool { return time.Since(time.UnixMilli(seen0)) > 1100*time.Millisecond })
	if code := officer.Do("GET", "/api/v1/auth/me", nil, nil); code != 200 {
		t.Fatalf("session check on a full disk: %d", code)
	}
	var seen1 int64
	if err := s.App.DB.Q().QueryRow(ctx, `SELECT MAX(last_seen_at) FROM sessions WHERE user_id = ?`, police.ID).Scan(&seen1); err != nil {
		t.Fatal(err)
	}
	if seen1 != seen0 {
		t.Fatalf("the slide was written on a full disk (%d → %d): the test did not exercise the failing write", seen0, seen1)
	}
	if code, body, _ := s.WithToken(readTok).Raw("GET", "/api/v1/cameras", "", nil); code != 200 {
		t.Fatalf("API token read on a full disk: %d %s", code, body)
	}

	// Live viewing with a token: refused with the reason on every reader.
	out, err := probe(rtspWithToken)
	if err == nil || !strings.Contains(out, "503") {
		t.Fatalf("RTSP on a full disk: err=%v out=%q", err, out)
	}
	t.Logf("ffprobe says: %s", out)
	code, body, _ = viewer.Raw("GET", hlsPath, "", nil)
	if e := decodeErr(t, body); code != 507 || e.Code != "disk_full" || !strings.Contains(e.Message, "Hết dung lượng đĩa") {
		t.Fatalf("LL-HLS on a full disk: %d %s", code, body)
	}
	code, body, _ = viewer.Raw("POST", "/whep/cam-traffic/sub", "application/sdp", whepOffer(t))
	if e := decodeErr(t, body); code != 507 || e.Code != "disk_full" {
		t.Fatalf("WHEP on a full disk: %d %s", code, body)
	}
	if got := countLiveStarts(t, s); got != startsBefore {
		t.Fatalf("live.start entries changed on a full disk: %d → %d", startsBefore, got)
	}

	// An audited change: refused, and not made.
	code, body, _ = admin.Raw("POST", "/api/v1/organisations", "application/json",
		map[string]any{"id": "xa-moi", "name": "UBND xã Mới", "kind": "commune", "functions": []string{"urban_order"}})
	if e := decodeErr(t, body); code != 507 || e.Code != "disk_full" {
		t.Fatalf("audited change on a full disk: %d %s", code, body)
	}
	if code := admin.Do("GET", "/api/v1/organisations/xa-moi", nil, nil); code != 404 {
		t.Fatalf("the refused change exists: %d", code)
	}

	// Space comes back: everything works again, each view with its entry.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "readyz to be ready again", func() bool {
		code, _, _ := s.Anonymous().Raw("GET", "/readyz", "", nil)
		return code == 200
	})
	s.Login("police")
	if code := admin.Do("POST", "/api/v1/organisations", map[string]any{"id": "xa-moi", "name": "UBND xã Mới",
		"kind": "commune", "functions": []string{"urban_order"}}, nil); code != 201 {
		t.Fatalf("change after space returned: %d", code)
	}
	if out, err := probe(rtspWithToken); err != nil || !strings.Contains(out, "h264") {
		t.Fatalf("RTSP after space returned: %v %q", err, out)
	}
	if code, body, _ := viewer.Raw("GET", hlsPath, "", nil); code != 200 {
		t.Fatalf("LL-HLS after space returned: %d %s", code, body)
	}
	code, body, hdr := viewer.Raw("POST", "/whep/cam-traffic/sub", "application/sdp", whepOffer(t))
	if code != 201 {
		t.Fatalf("WHEP after space returned: %d %s", code, body)
	}
	viewer.Raw("DELETE", hdr.Get("Location"), "", nil)
	if got := countLiveStarts(t, s); got < startsBefore+3 {
		t.Fatalf("live.start entries after space returned: %d, want ≥ %d", got, startsBefore+3)
	}
	rep, err := audit.Verify(ctx, s.App.DB, s.App.Audit.PublicKey())
	if err != nil || !rep.OK {
		t.Fatalf("audit chain after the full disk: %v %s", err, rep)
	}
}
