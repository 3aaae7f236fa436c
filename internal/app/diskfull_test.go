package app_test

import (
	"context"
	"encoding/json"
	"fmt"
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

func countLiveStarts(t *testing.T, s *apptest.Site) int { return countEntries(t, s, "live.start") }

func countEntries(t *testing.T, s *apptest.Site, action string) int {
	t.Helper()
	es, _, err := audit.List(context.Background(), s.App.DB.Q(), audit.Filter{ActionPrefix: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// unwritable is a way for the site's database to stop taking writes, and
// what the site must then answer.
type unwritable struct {
	db      *store.DB
	dataDir string
	breakIt func(t *testing.T, s *apptest.Site) // the database now refuses writes
	fixIt   func(t *testing.T)                  // it takes them again
	// A refused write through the API: status, code, words of the message
	// in Vietnamese and English.
	status       int
	code         string
	msgVI, msgEN string
	// A refused live view over HTTP (LL-HLS, WHEP).
	liveStatus int
	liveCode   string
	ready      map[string]string // /readyz reasons: check → code
	// playback: the camera is recorded, and playback (audited by
	// playback.start) is refused with the reason too.
	playback bool
}

// TestDiskFullFailsClosed (issue 15 item 3): the database and the data
// folder on one small real ext4 volume, filled by a file as recordings
// would fill it, then by the database's own growth until SQLite refuses to
// write. See checkFailsClosed for what must hold.
func TestDiskFullFailsClosed(t *testing.T) {
	needFFmpeg(t)
	vol := storetest.SmallVolume(t, 64)
	db, err := store.Open(context.Background(), store.Options{SQLitePath: filepath.Join(vol, "vigil.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	filler := filepath.Join(vol, "filler")
	checkFailsClosed(t, unwritable{
		db: db, dataDir: filepath.Join(vol, "data"),
		breakIt: func(t *testing.T, s *apptest.Site) {
			n := storetest.FillVolume(t, filler)
			t.Logf("filler: %d MiB", n>>20)
			// The database's own growth takes what is left.
			ctx, pad := context.Background(), strings.Repeat("x", 32<<10)
			for i := 0; i < 2000; i++ {
				_, err := s.App.Audit.Append(ctx, s.App.DB.Q(), audit.Entry{ActorID: "system", Actor: "test",
					Action: "test.fill", Object: "volume", Outcome: audit.OK, Details: map[string]any{"pad": pad}})
				if err == nil {
					continue
				}
				if why := store.Unwritable(err); why != store.DiskFull {
					t.Fatalf("filling the database: %v (Unwritable %q)", err, why)
				}
				t.Logf("SQLite refused a write after %d more entries: %v", i, err)
				return
			}
			t.Fatal("the database never refused a write on a full volume")
		},
		fixIt: func(t *testing.T) {
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
		},
		status: 507, code: "disk_full", msgVI: "Hết dung lượng đĩa", msgEN: "Disk full",
		liveStatus: 507, liveCode: "disk_full",
		ready: map[string]string{"database": store.DiskFull, "data_dir": store.DiskFull},
	})
}

// TestDatabaseReadOnlyFailsClosed is the same story on PostgreSQL, in a
// database of the test's own that is switched to read-only (what a
// PostgreSQL that cannot write answers: SQLSTATE 25006); a real disk full
// of the PostgreSQL server cannot be made from the test.
func TestDatabaseReadOnlyFailsClosed(t *testing.T) {
	needFFmpeg(t)
	dsn, readOnly := storetest.PostgresOwnDatabase(t)
	db, err := store.Open(context.Background(), store.Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	checkFailsClosed(t, unwritable{
		db: db, dataDir: t.TempDir(),
		breakIt: func(t *testing.T, _ *apptest.Site) {
			readOnly(true)
			// Connections keep the setting they started with: from now on
			// each query gets a new one, so all of them are read-only.
			db.SQL.SetMaxIdleConns(0)
		},
		fixIt:  func(t *testing.T) { readOnly(false) },
		status: 503, code: "db_read_only", msgVI: "chỉ cho đọc", msgEN: "read-only",
		liveStatus: 503, liveCode: "audit_unavailable",
		ready:    map[string]string{"database": store.ReadOnly},
		playback: true,
	})
}

// checkFailsClosed runs a site with simulated cameras on u.db, breaks the
// database's writes and checks that sign-in, live viewing with a token
// (RTSP, LL-HLS, WHEP) and audited changes fail closed with the reason
// (never 401/403 "invalid token" nor a bare 500), that no live view runs
// without its live.start entry, that session and token checks (reads) keep
// working although their bookkeeping write fails, and that /readyz is not
// ready and says why; then, writes back, that everything works again and
// the audit chain verifies.
func checkFailsClosed(t *testing.T, u unwritable) {
	ctx := context.Background()
	sctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	sm, err := sim.Start(sctx, sim.Config{Addr: "127.0.0.1:0", Cameras: []sim.CameraSpec{{ID: "cam-traffic"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sm.Close)
	s := apptest.Start(t, u.db, apptest.Options{Mutate: func(c *config.Config) {
		c.DataDir = u.dataDir
		c.Recording.DefaultMode = "off" // a filler stands for the recordings
		if u.playback {
			c.Recording.DefaultMode, c.Recording.SegmentLength = "always", 2*time.Second
		}
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
	refused := func(what string, code int, body []byte, status int, errCode, words string) {
		t.Helper()
		if code != status {
			t.Fatalf("%s: %d %.200q, want %d %s", what, code, body, status, errCode)
		}
		if e := decodeErr(t, body); e.Code != errCode || !strings.Contains(e.Message, words) {
			t.Fatalf("%s: %d %s, want %d %s (%q)", what, code, body, status, errCode, words)
		}
	}

	// Before: ready, and a token watches.
	if code, body, _ := s.Anonymous().Raw("GET", "/readyz", "", nil); code != 200 {
		t.Fatalf("readyz before: %d %s", code, body)
	}
	if out, err := probe(rtspWithToken); err != nil || !strings.Contains(out, "h264") {
		t.Fatalf("RTSP with an API token before: %v %q", err, out)
	}
	var playPath string
	if u.playback {
		t0 := time.Now().Add(-time.Minute)
		var tl struct {
			Timelines []struct {
				Spans []struct{ From, To time.Time }
			}
		}
		waitFor(t, "3 s of footage", func() bool {
			s.App.Recorder.Flush()
			if code := admin.Do("GET", fmt.Sprintf("/api/v1/recordings/timeline?camera_ids=cam-traffic&from=%d&to=%d",
				t0.UnixMilli(), time.Now().Add(time.Minute).UnixMilli()), nil, &tl); code != 200 {
				t.Fatalf("timeline: %d", code)
			}
			return len(tl.Timelines) == 1 && len(tl.Timelines[0].Spans) > 0 && tl.Timelines[0].Spans[0].To.Sub(tl.Timelines[0].Spans[0].From) >= 3*time.Second
		})
		sp := tl.Timelines[0].Spans[0]
		playPath = fmt.Sprintf("/api/v1/cameras/cam-traffic/playback.mp4?from=%d&to=%d", sp.From.UnixMilli(), sp.From.Add(2*time.Second).UnixMilli())
		if code, body, _ := admin.Raw("GET", playPath, "", nil); code != 200 {
			t.Fatalf("playback before: %d %.200s", code, body)
		}
	}

	u.breakIt(t, s)
	startsBefore := countLiveStarts(t, s)
	playsBefore := countEntries(t, s, "playback.start")

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
	if ready.Code != "not_ready" || len(reasons) != len(u.ready) || !strings.Contains(ready.Message, u.msgVI) {
		t.Fatalf("readyz: %+v, want reasons %v", ready, u.ready)
	}
	for check, code := range u.ready {
		if reasons[check] != code {
			t.Fatalf("readyz: %+v, want reasons %v", ready, u.ready)
		}
	}

	// Sign-in needs a session row and an audit entry; a failed one, its
	// count: both refused with the reason.
	code, body, _ := s.Anonymous().Raw("POST", "/api/v1/auth/login", "application/json",
		map[string]string{"username": "police", "password": apptest.Password})
	refused("login", code, body, u.status, u.code, u.msgVI)
	en := s.Anonymous()
	en.Lang = "en"
	code, body, _ = en.Raw("POST", "/api/v1/auth/login", "application/json",
		map[string]string{"username": "police", "password": "Wrong-password-1"})
	refused("failed login", code, body, u.status, u.code, u.msgEN)

	// A session and a token keep working for reads, although their
	// bookkeeping write (the session's slide, due every SessionIdle/30 = 1 s,
	// and the token's first use) fails.
	var seen0 int64
	if err := s.App.DB.Q().QueryRow(ctx, `SELECT MAX(last_seen_at) FROM sessions WHERE user_id = ?`, police.ID).Scan(&seen0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session slide to be due", func() bool { return time.Since(time.UnixMilli(seen0)) > 1100*time.Millisecond })
	if code := officer.Do("GET", "/api/v1/auth/me", nil, nil); code != 200 {
		t.Fatalf("session check: %d", code)
	}
	var seen1 int64
	if err := s.App.DB.Q().QueryRow(ctx, `SELECT MAX(last_seen_at) FROM sessions WHERE user_id = ?`, police.ID).Scan(&seen1); err != nil {
		t.Fatal(err)
	}
	if seen1 != seen0 {
		t.Fatalf("the slide was written (%d → %d): the test did not exercise the failing write", seen0, seen1)
	}
	if code, body, _ := s.WithToken(readTok).Raw("GET", "/api/v1/cameras", "", nil); code != 200 {
		t.Fatalf("API token read: %d %s", code, body)
	}

	// Live viewing with a token: refused with the reason on every reader.
	out, err := probe(rtspWithToken)
	if err == nil || !strings.Contains(out, "503") {
		t.Fatalf("RTSP: err=%v out=%q", err, out)
	}
	t.Logf("ffprobe says: %s", strings.SplitN(out, "\n", 2)[0]) // the next line has the token
	code, body, _ = viewer.Raw("GET", hlsPath, "", nil)
	refused("LL-HLS", code, body, u.liveStatus, u.liveCode, "")
	code, body, _ = viewer.Raw("POST", "/whep/cam-traffic/sub", "application/sdp", whepOffer(t))
	refused("WHEP", code, body, u.liveStatus, u.liveCode, "")
	if got := countLiveStarts(t, s); got != startsBefore {
		t.Fatalf("live.start entries changed while the database could not write: %d → %d", startsBefore, got)
	}

	// Playback: refused with the reason, no playback.start entry.
	if u.playback {
		code, body, _ = admin.Raw("GET", playPath, "", nil)
		refused("playback", code, body, u.status, u.code, u.msgVI)
		if got := countEntries(t, s, "playback.start"); got != playsBefore {
			t.Fatalf("playback.start entries changed while the database could not write: %d → %d", playsBefore, got)
		}
	}

	// An audited change: refused, and not made.
	code, body, _ = admin.Raw("POST", "/api/v1/organisations", "application/json",
		map[string]any{"id": "xa-moi", "name": "UBND xã Mới", "kind": "commune", "functions": []string{"urban_order"}})
	refused("audited change", code, body, u.status, u.code, u.msgVI)
	if code := admin.Do("GET", "/api/v1/organisations/xa-moi", nil, nil); code != 404 {
		t.Fatalf("the refused change exists: %d", code)
	}

	// Writes come back: everything works again, each view with its entry.
	u.fixIt(t)
	waitFor(t, "readyz to be ready again", func() bool {
		code, _, _ := s.Anonymous().Raw("GET", "/readyz", "", nil)
		return code == 200
	})
	s.Login("police")
	if code := admin.Do("POST", "/api/v1/organisations", map[string]any{"id": "xa-moi", "name": "UBND xã Mới",
		"kind": "commune", "functions": []string{"urban_order"}}, nil); code != 201 {
		t.Fatalf("change after writes returned: %d", code)
	}
	if out, err := probe(rtspWithToken); err != nil || !strings.Contains(out, "h264") {
		t.Fatalf("RTSP after writes returned: %v %q", err, out)
	}
	if code, body, _ := viewer.Raw("GET", hlsPath, "", nil); code != 200 {
		t.Fatalf("LL-HLS after writes returned: %d %s", code, body)
	}
	code, body, hdr := viewer.Raw("POST", "/whep/cam-traffic/sub", "application/sdp", whepOffer(t))
	if code != 201 {
		t.Fatalf("WHEP after writes returned: %d %s", code, body)
	}
	viewer.Raw("DELETE", hdr.Get("Location"), "", nil)
	if u.playback {
		if code, body, _ := admin.Raw("GET", playPath, "", nil); code != 200 {
			t.Fatalf("playback after writes returned: %d %.200s", code, body)
		}
		if got := countEntries(t, s, "playback.start"); got != playsBefore+1 {
			t.Fatalf("playback.start entries after writes returned: %d, want %d", got, playsBefore+1)
		}
	}
	if got := countLiveStarts(t, s); got < startsBefore+3 {
		t.Fatalf("live.start entries after writes returned: %d, want ≥ %d", got, startsBefore+3)
	}
	rep, err := audit.Verify(ctx, s.App.DB, s.App.Audit.PublicKey())
	if err != nil || !rep.OK {
		t.Fatalf("audit chain: %v %s", err, rep)
	}
}
