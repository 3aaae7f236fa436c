package public_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("VIGIL_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is required (VIGIL_REQUIRE_TOOLS=1) but not on PATH", name)
		}
		t.Skipf("!!! SKIPPING: %s not on PATH (apt-get install ffmpeg); CI requires it", name)
	}
}

const (
	appOrigin  = "https://app.dienbien.gov.vn"
	simUser    = "cam-dang-nhap"
	simPass    = "Sim-Mat-Khau-77"
	credUser   = "nguoi-dung-cam"
	credPass   = "MatKhau-BiMat-42"
	privHost   = "10.20.30.40"
	publicCam  = "cam-traffic"
	adminName  = "quan-tri-vien"
	policeName = "canh-sat-giao-thong"
)

type world struct {
	site    *apptest.Site
	sim     *sim.Sim
	pub     string // base URL of the public listener
	private []string
}

// publicWorld is the test province with one public camera (simulated) and
// non-public cameras of every kind: classified, wrong area, system without
// public sharing, not flagged. Stream URLs carry credentials so that a leak
// would be visible.
func publicWorld(t *testing.T, mutate func(*config.Public)) *world {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sm, err := sim.Start(ctx, sim.Config{Addr: "127.0.0.1:0", User: simUser, Pass: simPass,
		Cameras: []sim.CameraSpec{{ID: publicCam}, {ID: "cam-urban"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sm.Close)
	s := apptest.Start(t, storetest.SQLite(t), apptest.Options{Mutate: func(c *config.Config) {
		c.Public.Listen = "127.0.0.1:0"
		c.Recording.DefaultMode = "off" // the recorder's own camera session is not this test's subject
		c.Public.AllowedOrigins = []string{appOrigin}
		c.Public.RatePerSecond, c.Public.Burst = 100000, 100000
		c.Public.GlobalRatePerSecond = 100000
		c.Public.SnapshotInterval = 10 * time.Minute // one picture for the whole test
		if mutate != nil {
			mutate(&c.Public)
		}
	}})
	s.SeedWorld(map[string][2]string{
		publicCam:   {sm.URL(publicCam, "main"), sm.URL(publicCam, "sub")},
		"cam-urban": {sm.URL("cam-urban", "main"), sm.URL("cam-urban", "sub")},
	})
	r := s.App.Registry
	bg := context.Background()
	actor := registry.Actor{UserID: "system", Username: "test-seed", Remote: "local"}
	sys, err := r.GetSystem(bg, "ioc")
	if err != nil {
		t.Fatal(err)
	}
	sys.PublicSharing = true
	if _, err := r.UpdateSystem(bg, actor, "ioc", sys.Version, sys); err != nil {
		t.Fatal(err)
	}
	cam, err := r.GetCamera(bg, publicCam)
	if err != nil {
		t.Fatal(err)
	}
	in := inputOf(cam, true)
	in.OnDemand = true // the camera is pulled only while someone reads it
	if _, err := r.UpdateCamera(bg, actor, publicCam, cam.Version, in); err != nil {
		t.Fatal(err)
	}
	cred := "rtsp://" + credUser + ":" + credPass + "@" + privHost + ":554/"
	for _, c := range []registry.CameraInput{
		// road but classified: never public (R-CAM-4)
		{ID: "cam-duong-mat", SystemID: "ioc", Name: "Đường tuần tra bảo mật", Kinds: []string{"security"}, Purposes: []string{"security_order"}, Area: "road", Lat: 21.391, Lon: 103.02, Classified: true, MainURL: cred + "mat"},
		// public flag, public area, but its system does not share
		{ID: "cam-nga-tu-xa", SystemID: "xa", Name: "Ngã ba trung tâm xã", Kinds: []string{"traffic_counting"}, Purposes: []string{"urban_order"}, Area: "intersection", Lat: 21.45, Lon: 103.15, Public: true, MainURL: cred + "xa"},
		// public area, sharing system, but not flagged public
		{ID: "cam-cho-dem", SystemID: "ioc", Name: "Chợ đêm chưa công khai", Kinds: []string{"security"}, Purposes: []string{"urban_order"}, Area: "public_crowded", Lat: 21.388, Lon: 103.017, MainURL: cred + "cho"},
	} {
		c.OnDemand = true // unreachable addresses: not pulled
		if _, err := r.CreateCamera(bg, actor, c); err != nil {
			t.Fatal(err)
		}
	}
	s.App.ReloadMedia(bg)
	s.User(adminName, "so-khcn", "admin", "auditor")
	s.User(policeName, "cong-an", "operator")
	if s.App.Public == nil || s.App.Public.URL() == "" {
		t.Fatal("public listener not started")
	}
	return &world{site: s, sim: sm, pub: s.App.Public.URL(),
		private: []string{"cam-urban", "cam-secret", "cam-xa", "cam-duong-mat", "cam-nga-tu-xa", "cam-cho-dem"}}
}

func inputOf(c registry.Camera, public bool) registry.CameraInput {
	return registry.CameraInput{ID: c.ID, SystemID: c.SystemID, Name: c.Name, Kinds: c.Kinds, Purposes: c.Purposes,
		Area: c.Area, Lat: c.Lat, Lon: c.Lon, AdminUnit: c.AdminUnit, Address: c.Address, Classified: c.Classified,
		Public: public, MainURL: c.MainURL, SubURL: c.SubURL, Transport: c.Transport, OnDemand: c.OnDemand, Push: c.Push,
		Consent: c.Consent, InstalledAt: c.InstalledAt}
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// raw sends exactly target as the request line, so no client-side path
// cleaning can hide a trick.
func raw(t testing.TB, base, method, target string, hdr map[string]string) answer {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, u.Host)
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, body}
}

var uriRE = regexp.MustCompile(`(?m)(?:^([^#\s][^\s]*)$|URI="([^"]+)")`)

// playlistURIs lists the URIs of a playlist, relative to base.
func playlistURIs(base string, pl []byte) []string {
	var out []string
	b, _ := url.Parse(base)
	for _, m := range uriRE.FindAllSubmatch(pl, -1) {
		ref := string(m[1])
		if ref == "" {
			ref = string(m[2])
		}
		u, err := b.Parse(ref)
		if err == nil {
			out = append(out, u.RequestURI())
		}
	}
	return out
}

// forbidden are strings of the private side that must never come out.
func (w *world) forbidden(t *testing.T) (text, binary []string) {
	binary = []string{"rtsp://", w.sim.Addr(), simUser, simPass, credUser, credPass, privHost,
		"Đường tuần tra bảo mật", "Khu vực mật", "Ngã ba trung tâm xã", "Chợ đêm chưa công khai"}
	text = append([]string{}, binary...)
	text = append(text, w.private...)
	text = append(text, adminName, policeName, "test-seed", "so-khcn", "cong-an", "ubnd-xa", "vnpt",
		"Sở Khoa học", "Công an tỉnh", "VNPT", "IOC tỉnh", "Camera xã", "managing", "operating", "classified",
		"system_id", "main_url", "sub_url", "credential", "password", "token", "live.start", "prev_hash",
		"actor", "audit", "Phố đi bộ", "Trụ sở xã", "Set-Cookie", "csrf", "session")
	return text, binary
}

func (w *world) check(t *testing.T, what string, a answer) {
	t.Helper()
	text, binary := w.forbidden(t)
	ct := a.header.Get("Content-Type")
	isText := !strings.HasPrefix(ct, "image/") && !strings.HasPrefix(ct, "video/")
	needles := binary
	if isText {
		needles = text
	}
	low := strings.ToLower(string(a.body))
	for _, n := range needles {
		if strings.Contains(low, strings.ToLower(n)) {
			t.Errorf("%s: body (%s) contains %q", what, ct, n)
		}
	}
	for k, vs := range a.header {
		kv := strings.ToLower(k + ": " + strings.Join(vs, ","))
		for _, n := range text {
			if strings.Contains(kv, strings.ToLower(n)) {
				t.Errorf("%s: header %s contains %q", what, kv, n)
			}
		}
	}
	for _, h := range []string{"Set-Cookie", "Www-Authenticate", "Server", "X-Powered-By"} {
		if a.header.Get(h) != "" {
			t.Errorf("%s: has header %s", what, h)
		}
	}
	if a.header.Get("Cache-Control") == "" {
		t.Errorf("%s: no Cache-Control", what)
	}
	if a.status >= 400 {
		var e struct{ Code, Message string }
		if err := json.Unmarshal(a.body, &e); err != nil || e.Code == "" || e.Message == "" {
			t.Errorf("%s: error %d is not {code,message}: %q", what, a.status, a.body)
		}
		if a.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: error %d cacheable: %q", what, a.status, a.header.Get("Cache-Control"))
		}
	}
}

// TestPublicListenerLeaksNothing walks every route of the public listener,
// the private routes, path tricks and every non-public camera id.
func TestPublicListenerLeaksNothing(t *testing.T) {
	needTool(t, "ffmpeg")
	w := publicWorld(t, nil)
	// Some audit and session data exist on the private side.
	admin := w.site.Login(adminName)
	if st := admin.Do("GET", "/api/v1/cameras", nil, nil); st != 200 {
		t.Fatalf("private list: %d", st)
	}
	hdr := map[string]string{"Origin": appOrigin, "Cookie": "vigil_session=abc; csrf=def", "Authorization": "Bearer nothing"}
	get := func(target string) answer {
		a := raw(t, w.pub, "GET", target, hdr)
		w.check(t, target, a)
		return a
	}

	// 1. Every public route answers, and only with public data.
	for _, p := range []string{"/", "/static/app.js", "/static/style.css", "/healthz"} {
		if a := get(p); a.status != 200 {
			t.Fatalf("GET %s: %d %s", p, a.status, a.body)
		}
	}
	a := get("/api/cameras")
	var list struct {
		Cameras []map[string]any `json:"cameras"`
		Count   int              `json:"count"`
	}
	if err := json.Unmarshal(a.body, &list); err != nil || a.status != 200 {
		t.Fatalf("list: %d %s", a.status, a.body)
	}
	if list.Count != 1 || len(list.Cameras) != 1 || list.Cameras[0]["id"] != publicCam {
		t.Fatalf("list = %s", a.body)
	}
	allowedKeys := map[string]bool{"id": true, "name": true, "lat": true, "lon": true, "area": true, "status": true, "snapshot_url": true, "live_url": true}
	for k := range list.Cameras[0] {
		if !allowedKeys[k] {
			t.Errorf("list carries field %q", k)
		}
	}
	if a.header.Get("Access-Control-Allow-Origin") != appOrigin || a.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("CORS: %v", a.header)
	}
	if a := raw(t, w.pub, "GET", "/api/cameras", map[string]string{"Origin": "https://evil.example"}); a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS for an unknown origin: %v", a.header)
	}
	if a := get("/api/cameras/" + publicCam); a.status != 200 {
		t.Fatalf("one: %d %s", a.status, a.body)
	}
	snap := get("/api/cameras/" + publicCam + "/snapshot.jpg")
	if snap.status != 200 || snap.header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("snapshot: %d %s", snap.status, snap.body)
	}
	// Live: the multivariant playlist, then everything it leads to.
	live := "/live/" + publicCam + "/sub/index.m3u8"
	mv := get(live)
	if mv.status != 200 {
		t.Fatalf("live: %d %s", mv.status, mv.body)
	}
	seen := map[string]bool{}
	queue := playlistURIs(w.pub+live, mv.body)
	for len(queue) > 0 && len(seen) < 12 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		a := get(p)
		if a.status != 200 {
			t.Fatalf("GET %s: %d %s", p, a.status, a.body)
		}
		if strings.Contains(p, ".m3u8") {
			queue = append(queue, playlistURIs(w.pub+p, a.body)...)
		}
	}
	if len(seen) < 3 {
		t.Fatalf("walked only %v", seen)
	}

	// 2. Every non-public camera, on every camera route: 404, nothing else.
	for _, id := range append(w.private, "CAM-TRAFFIC", "cam-traffic.", "nope", "cam-traffic-") {
		for _, p := range []string{"/api/cameras/" + id, "/api/cameras/" + id + "/snapshot.jpg",
			"/live/" + id + "/sub/index.m3u8", "/live/" + id + "/main/index.m3u8", "/live/" + id + "/sub/video1_stream.m3u8"} {
			if a := get(p); a.status != 404 {
				t.Errorf("GET %s: %d %s", p, a.status, a.body)
			}
		}
	}

	// 3. The private site is not reachable through this listener.
	private := []string{"/api/v1/cameras", "/api/v1/openapi.json", "/api/v1/auth/login", "/api/v1/audit", "/api/v1/users",
		"/api/v1/organisations", "/api/v1/systems", "/api/v1/me", "/hls/" + publicCam + "/sub/index.m3u8", "/whep/" + publicCam + "/sub",
		"/player/", "/metrics", "/debug/pprof/", "/docs", "/openapi.json", "/live/" + publicCam + "/main/index.m3u8"}
	for _, p := range private {
		if a := get(p); a.status != 404 {
			t.Errorf("GET %s: %d %s", p, a.status, a.body)
		}
	}

	// 4. Path tricks: dot segments, encoded dots and slashes, doubled
	// slashes, backslashes, NUL. None is cleaned into another route.
	tricks := []string{
		"/api/cameras/../../api/v1/cameras", "/%2e%2e/api/v1/cameras", "/api/cameras/%2e%2e/%2e%2e/api/v1/users",
		"/api/cameras/%2E%2E/cam-secret", "//api/v1/cameras", "/api//cameras", "/static/..%2fpublic.go",
		"/static/%2e%2e%2f%2e%2e%2fgo.mod", "/static/../../go.mod", "/static/index.html", "/static/.hidden",
		"/live/cam-secret/sub/..%2f..%2f" + publicCam + "/sub/index.m3u8", "/live/" + publicCam + "/sub/../../cam-secret/sub/index.m3u8",
		"/live/cam-secret/sub/%2e%2e/%2e%2e/" + publicCam + "/sub/index.m3u8", "/api/cameras/cam-secret%00", "/api/cameras/cam-secret%2f..",
		"/api/cameras/" + publicCam + "/", "/api/cameras/" + publicCam + "/snapshot.jpg/..", "/\\api\\v1\\cameras",
		"/api/cameras/%63am-secret", "/./api/cameras", "/api/cameras/.", "/api/cameras/%252e%252e/x", "/live/" + publicCam + "/sub/../../../etc/passwd",
		"/api/cameras?id=cam-secret", "/api/cameras/cam-secret?x=/../",
	}
	for _, p := range tricks {
		a := raw(t, w.pub, "GET", p, hdr)
		w.check(t, p, a)
		if a.status == 200 {
			// Only a legitimate public answer may be 200 (the query string
			// variants of the public list).
			if !strings.HasPrefix(p, "/api/cameras?") {
				t.Errorf("GET %s: 200 %s", p, a.body)
			}
			var l struct{ Count int }
			if json.Unmarshal(a.body, &l) != nil || l.Count != 1 {
				t.Errorf("GET %s: %s", p, a.body)
			}
		}
	}
	// %63 is 'c': an encoded letter must not open a camera either way.
	// (It decodes to "cam-secret", which is not public: 404 above.)

	// 5. Only reading: every other method is refused.
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT"} {
		for _, p := range []string{"/api/cameras", "/api/cameras/" + publicCam, "/api/v1/auth/login", "/live/" + publicCam + "/sub/index.m3u8"} {
			a := raw(t, w.pub, m, p, hdr)
			if m == "CONNECT" {
				if a.status < 400 {
					t.Errorf("%s %s: %d", m, p, a.status)
				}
				continue
			}
			w.check(t, m+" "+p, a)
			if a.status != 405 {
				t.Errorf("%s %s: %d", m, p, a.status)
			}
		}
	}
	if a := raw(t, w.pub, "OPTIONS", "/api/cameras", map[string]string{"Origin": appOrigin, "Access-Control-Request-Method": "GET"}); a.status != 204 ||
		a.header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Errorf("preflight: %d %v", a.status, a.header)
	}

	// The private listener still serves its own routes (the split is real).
	if st := admin.Do("GET", "/api/v1/cameras/"+publicCam, nil, nil); st != 200 {
		t.Errorf("private camera read: %d", st)
	}
	if a := raw(t, w.site.Base, "GET", "/api/cameras", nil); a.status == 200 {
		t.Errorf("the public list is served on the private listener too: %s", a.body)
	}
}

func TestSnapshotIsAJPEGOfTheStreamSize(t *testing.T) {
	needTool(t, "ffmpeg")
	w := publicWorld(t, nil)
	p := "/api/cameras/" + publicCam + "/snapshot.jpg"
	a := raw(t, w.pub, "GET", p, nil)
	if a.status != 200 {
		t.Fatalf("snapshot: %d %s", a.status, a.body)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(a.body))
	if err != nil {
		t.Fatalf("not a JPEG: %v", err)
	}
	img, err := jpeg.Decode(bytes.NewReader(a.body))
	if err != nil {
		t.Fatalf("JPEG does not decode: %v", err)
	}
	// The sim's sub stream is 640×360; the hub reports what the camera sends.
	wantW, wantH := 640, 360
	if st, ok := w.site.App.Hub.State(publicCam); ok {
		for _, s := range st {
			if s.Variant == "sub" && s.Width > 0 {
				wantW, wantH = s.Width, s.Height
			}
		}
	}
	if cfg.Width != wantW || cfg.Height != wantH || img.Bounds().Dx() != wantW {
		t.Fatalf("snapshot %dx%d, want %dx%d", cfg.Width, cfg.Height, wantW, wantH)
	}
	cc := a.header.Get("Cache-Control")
	if !strings.HasPrefix(cc, "public, max-age=") || a.header.Get("Last-Modified") == "" {
		t.Fatalf("cache headers: %v", a.header)
	}
	// Served from the cache: the same picture, not a second decode.
	b := raw(t, w.pub, "GET", p, nil)
	if !bytes.Equal(a.body, b.body) || a.header.Get("Last-Modified") != b.header.Get("Last-Modified") {
		t.Fatal("second snapshot within the interval is not the cached one")
	}
	if h := raw(t, w.pub, "HEAD", p, nil); h.status != 200 || len(h.body) != 0 {
		t.Fatalf("HEAD: %d %d bytes", h.status, len(h.body))
	}
}

func TestSnapshotWithoutFFmpegSaysSo(t *testing.T) {
	needTool(t, "ffmpeg") // the sim itself needs no ffmpeg, but keep the world the same
	t.Setenv("PATH", t.TempDir())
	w := publicWorld(t, nil)
	a := raw(t, w.pub, "GET", "/api/cameras/"+publicCam+"/snapshot.jpg", nil)
	w.check(t, "snapshot without ffmpeg", a)
	if a.status != 503 || !bytes.Contains(a.body, []byte(`"snapshot_unavailable"`)) || !bytes.Contains(a.body, []byte("ffmpeg")) {
		t.Fatalf("without ffmpeg: %d %s", a.status, a.body)
	}
}

// TestLiveIsValidLLHLSAndSharesOneCameraSession probes the public live URL
// with ffprobe, checks the LL-HLS tags, and that many viewers plus the
// snapshot cost the camera one session.
func TestLiveIsValidLLHLSAndSharesOneCameraSession(t *testing.T) {
	needTool(t, "ffprobe")
	needTool(t, "ffmpeg")
	w := publicWorld(t, nil)
	live := w.pub + "/live/" + publicCam + "/sub/index.m3u8"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height",
		"-of", "csv=p=0", live).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "h264,640,360") {
		t.Fatalf("ffprobe %s: %v %q", live, err, out)
	}
	mv := raw(t, w.pub, "GET", "/live/"+publicCam+"/sub/index.m3u8", nil)
	uris := playlistURIs(live, mv.body)
	if len(uris) == 0 {
		t.Fatalf("multivariant: %s", mv.body)
	}
	media := raw(t, w.pub, "GET", uris[0], nil)
	for _, tag := range []string{"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES", "#EXT-X-PART-INF", "#EXT-X-PART:", "#EXT-X-MAP"} {
		if !bytes.Contains(media.body, []byte(tag)) {
			t.Fatalf("media playlist lacks %s:\n%s", tag, media.body)
		}
	}
	// A query token is dropped, not echoed into the playlists.
	tok := raw(t, w.pub, "GET", "/live/"+publicCam+"/sub/index.m3u8?token=leak-me-please", nil)
	if bytes.Contains(tok.body, []byte("leak-me-please")) {
		t.Fatalf("query echoed: %s", tok.body)
	}
	// One viewer holds the camera's sub stream; twenty more at once, and
	// the snapshot, add no session to the camera.
	one := w.sim.Sessions(publicCam)
	if one != 1 {
		t.Fatalf("one viewer: the camera sees %d sessions, want 1", one)
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := http.Get(w.pub + uris[0])
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	wg.Wait()
	if a := raw(t, w.pub, "GET", "/api/cameras/"+publicCam+"/snapshot.jpg", nil); a.status != 200 {
		t.Fatalf("snapshot: %d", a.status)
	}
	if n := w.sim.Sessions(publicCam); n != one {
		t.Fatalf("21 viewers and a snapshot: camera sees %d sessions, with one viewer %d", n, one)
	}
}

// TestTakenOffAtOnce: a change through the private API removes the camera
// from the next public answer, and live viewers are cut off.
func TestTakenOffAtOnce(t *testing.T) {
	needTool(t, "ffmpeg")
	w := publicWorld(t, nil) // decision_ttl 1s: only the invalidation can explain an immediate 404
	mvPath := "/live/" + publicCam + "/sub/index.m3u8"
	mv := raw(t, w.pub, "GET", mvPath, nil)
	if mv.status != 200 {
		t.Fatalf("live: %d", mv.status)
	}
	mediaPath := playlistURIs(w.pub+mvPath, mv.body)[0]
	if a := raw(t, w.pub, "GET", mediaPath, nil); a.status != 200 {
		t.Fatalf("media playlist: %d", a.status)
	}
	admin := w.site.Login(adminName)
	var cam registry.Camera
	if st := admin.Do("GET", "/api/v1/cameras/"+publicCam, nil, &cam); st != 200 {
		t.Fatalf("get: %d", st)
	}
	if st := admin.Do("PUT", fmt.Sprintf("/api/v1/cameras/%s?version=%d", publicCam, cam.Version), inputOf(cam, false), nil); st != 200 {
		t.Fatalf("update: %d", st)
	}
	for _, p := range []string{mediaPath, mvPath, "/api/cameras/" + publicCam, "/api/cameras/" + publicCam + "/snapshot.jpg"} {
		if a := raw(t, w.pub, "GET", p, nil); a.status != 404 {
			t.Errorf("after unpublishing, GET %s: %d", p, a.status)
		}
	}
	a := raw(t, w.pub, "GET", "/api/cameras", nil)
	if bytes.Contains(a.body, []byte(publicCam)) {
		t.Errorf("still listed: %s", a.body)
	}
}
