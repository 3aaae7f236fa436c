package app_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

func needFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		if os.Getenv("VIGIL_REQUIRE_TOOLS") == "1" {
			t.Fatal("ffprobe is required (VIGIL_REQUIRE_TOOLS=1) but not on PATH")
		}
		t.Skip("!!! SKIPPING: ffmpeg/ffprobe not on PATH (apt-get install ffmpeg); CI requires it")
	}
}

// liveSite is a site whose cameras are simulated, seeded with the test world.
func liveSite(t *testing.T) (*apptest.Site, *sim.Sim) {
	needFFmpeg(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sm, err := sim.Start(ctx, sim.Config{Addr: "127.0.0.1:0", Cameras: []sim.CameraSpec{{ID: "cam-traffic"}, {ID: "cam-urban"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sm.Close)
	s := apptest.Start(t, storetest.SQLite(t), apptest.Options{})
	s.SeedWorld(map[string][2]string{
		"cam-traffic": {sm.URL("cam-traffic", "main"), sm.URL("cam-traffic", "sub")},
		"cam-urban":   {sm.URL("cam-urban", "main"), sm.URL("cam-urban", "sub")},
	})
	s.User("admin", "so-khcn", "admin", "auditor")
	s.User("police", "cong-an", "operator")
	return s, sm
}

type tokenOut struct {
	Token   string `json:"token"`
	RTSPURL string `json:"rtsp_url"`
	HLSURL  string `json:"hls_url"`
}

func probe(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", "tcp",
		"-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", url).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestLiveViewIsDecidedAndAudited(t *testing.T) {
	s, _ := liveSite(t)
	police := s.Login("police")
	var tok tokenOut
	if st := police.Do("POST", "/api/v1/cameras/cam-traffic/stream-token", map[string]string{"variant": "sub"}, &tok); st != 200 {
		t.Fatalf("stream token: %d", st)
	}
	out, err := probe(tok.RTSPURL)
	if err != nil || !strings.Contains(out, "h264,640,360") {
		t.Fatalf("ffprobe of the re-stream: %v %q", err, out)
	}
	// No stream token for a camera outside the agency's functions…
	if st := police.Do("POST", "/api/v1/cameras/cam-urban/stream-token", map[string]string{}, nil); st != 403 {
		t.Fatalf("token for a camera without access: %d", st)
	}
	// …and a token for one camera does not open another: 403, no packet.
	other := strings.Replace(tok.RTSPURL, "/cam-traffic/", "/cam-urban/", 1)
	if out, err := probe(other); err == nil || !strings.Contains(out, "403") {
		t.Fatalf("token reused for another camera: err=%v out=%q", err, out)
	}
	// Garbage tokens are refused the same way.
	if out, err := probe(strings.Split(tok.RTSPURL, "?")[0] + "?token=vst1.garbage"); err == nil || !strings.Contains(out, "403") {
		t.Fatalf("garbage token: err=%v out=%q", err, out)
	}
	es, _, err := audit.List(context.Background(), s.App.DB.Q(), audit.Filter{ActionPrefix: "live.", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var start, denied bool
	for _, e := range es {
		if e.Action == "live.start" && e.Actor == "police" && e.Object == "camera/cam-traffic" && e.Details["protocol"] == "rtsp" {
			start = true
		}
		if e.Action == "live.denied" && e.Object == "camera/cam-urban" {
			denied = true
		}
	}
	if !start || !denied {
		t.Fatalf("audit lacks live.start (%v) or live.denied (%v): %+v", start, denied, es)
	}
}

// watch runs ffmpeg as an independent RTSP reader until it stops.
func watch(t *testing.T, url string) (done <-chan error, frames func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-stats", "-rtsp_transport", "tcp", "-i", url, "-f", "null", "-")
	lw := &lockedWriter{b: &strings.Builder{}}
	cmd.Stderr = lw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() { ch <- cmd.Wait() }()
	return ch, lw.String
}

func TestRevokedGrantAndDisabledUserEndSessions(t *testing.T) {
	s, _ := liveSite(t)
	admin := s.Login("admin")
	police := s.Login("police")

	// The police may watch the urban camera only through an approved grant.
	var ap struct{ ID string }
	if st := admin.Do("POST", "/api/v1/approvals", map[string]any{"org_id": "cong-an", "decision_no": "45/QĐ-UBND",
		"decision_date": "2026-11-20T00:00:00Z", "signer": "Phó Chủ tịch UBND tỉnh", "scope": "Phố đi bộ, dịp lễ",
		"expires_at": "2027-01-01T00:00:00Z", "doc_sha256": strings.Repeat("0f", 32)}, &ap); st != 201 {
		t.Fatalf("approval: %d", st)
	}
	var g struct{ ID string }
	if st := admin.Do("POST", "/api/v1/grants", map[string]any{"org_id": "cong-an", "actions": []string{"view-live"},
		"camera_id": "cam-urban", "approval_id": ap.ID}, &g); st != 201 {
		t.Fatalf("grant: %d", st)
	}
	var tok tokenOut
	if st := police.Do("POST", "/api/v1/cameras/cam-urban/stream-token", map[string]string{"variant": "sub"}, &tok); st != 200 {
		t.Fatalf("stream token with grant: %d", st)
	}
	done, stats := watch(t, tok.RTSPURL)
	waitFor(t, "frames to flow", func() bool { return strings.Contains(stats(), "frame=") })
	if st := admin.Do("DELETE", "/api/v1/grants/"+g.ID, nil, nil); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the running session did not end after its grant was revoked")
	}

	// Disabling a user ends their sessions too.
	if st := police.Do("POST", "/api/v1/cameras/cam-traffic/stream-token", map[string]string{"variant": "sub"}, &tok); st != 200 {
		t.Fatalf("stream token: %d", st)
	}
	done, stats = watch(t, tok.RTSPURL)
	waitFor(t, "frames to flow", func() bool { return strings.Contains(stats(), "frame=") })
	var users []struct{ ID, Username string }
	admin.Do("GET", "/api/v1/users?org_id=cong-an", nil, &users)
	var pid string
	for _, u := range users {
		if u.Username == "police" {
			pid = u.ID
		}
	}
	if st := admin.Do("POST", "/api/v1/users/"+pid+"/disable", nil, nil); st != 204 {
		t.Fatalf("disable: %d", st)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the running session did not end after the user was disabled")
	}
	// The reader's process ends when the server closes its session; the
	// session's end is audited as the server finishes closing it.
	waitFor(t, "two live.end entries", func() bool {
		es, _, _ := audit.List(context.Background(), s.App.DB.Q(), audit.Filter{ActionPrefix: "live.end", Limit: 10})
		return len(es) >= 2
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
