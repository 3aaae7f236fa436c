package media

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-vms/vigil/internal/sim"
)

// ---- fakes -----------------------------------------------------------------

type fakeAuth struct {
	mu      sync.Mutex
	revoke  map[string]chan struct{} // token -> Revoked
	grants  int
	ends    map[int]int
	reasons []string
	denied  atomic.Int64
}

func newFakeAuth() *fakeAuth {
	return &fakeAuth{revoke: map[string]chan struct{}{}, ends: map[int]int{}}
}

// Tokens starting with "good" are accepted; anything else is refused.
func (a *fakeAuth) AuthorizeRead(_ context.Context, req ReadRequest) (ReadGrant, error) {
	if !strings.HasPrefix(req.Token, "good") {
		a.denied.Add(1)
		return ReadGrant{}, fmt.Errorf("bad token: %w", ErrDenied)
	}
	return a.grant(req.Token), nil
}

func (a *fakeAuth) AuthorizePublish(_ context.Context, req PublishRequest) (ReadGrant, error) {
	if req.User != "pub" || req.Password != "secret" {
		a.denied.Add(1)
		return ReadGrant{}, fmt.Errorf("bad publisher: %w", ErrDenied)
	}
	return a.grant("publish:" + req.CameraID), nil
}

func (a *fakeAuth) grant(token string) ReadGrant {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.grants++
	id := a.grants
	ch, ok := a.revoke[token]
	if !ok {
		ch = make(chan struct{})
		a.revoke[token] = ch
	}
	return ReadGrant{Subject: "user-" + token, Revoked: ch, End: func(reason string) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.ends[id]++
		a.reasons = append(a.reasons, reason)
	}}
}

func (a *fakeAuth) revokeToken(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	close(a.revoke[token])
}

// checkEnds verifies that every grant was ended exactly once.
func (a *fakeAuth) checkEnds(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for id := 1; id <= a.grants; id++ {
		if a.ends[id] != 1 {
			t.Errorf("grant %d ended %d times, want 1 (reasons: %v)", id, a.ends[id], a.reasons)
		}
	}
}

type fakeResolver struct {
	mu   sync.Mutex
	srcs []Source
}

func (r *fakeResolver) Sources(context.Context) ([]Source, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Source(nil), r.srcs...), nil
}

// ---- helpers ---------------------------------------------------------------

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("VIGIL_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s not found on PATH and VIGIL_REQUIRE_TOOLS=1", name)
		}
		t.Skipf("!!! SKIPPED: %s not found on PATH (install ffmpeg; set VIGIL_REQUIRE_TOOLS=1 to make this fatal) !!!", name)
	}
	return p
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type env struct {
	sim  *sim.Sim
	hub  *Hub
	auth *fakeAuth
	res  *fakeResolver
}

func startEnv(t *testing.T, cams []sim.CameraSpec, srcs func(s *sim.Sim) []Source) *env {
	t.Helper()
	return startEnvWith(t, cams, srcs, Config{
		ReadTimeout: 2 * time.Second,
		BackoffMin:  100 * time.Millisecond,
		BackoffMax:  500 * time.Millisecond,
		WaitReady:   15 * time.Second,
	})
}

// startEnvWith is startEnv with the hub's timing given (RTSPAddr is set).
func startEnvWith(t *testing.T, cams []sim.CameraSpec, srcs func(s *sim.Sim) []Source, cfg Config) *env {
	t.Helper()
	e := &env{auth: newFakeAuth(), res: &fakeResolver{}}
	var err error
	e.sim, err = sim.Start(context.Background(), sim.Config{Addr: "127.0.0.1:0", User: "admin", Pass: "camPass123", Cameras: cams, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.sim.Close)
	if srcs != nil {
		e.res.srcs = srcs(e.sim)
	}
	cfg.RTSPAddr = "127.0.0.1:0"
	e.hub, err = New(cfg, e.res, e.auth, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.hub.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.hub.Close()
		e.auth.checkEnds(t)
	})
	return e
}

func pulled(s *sim.Sim, ids ...string) []Source {
	var out []Source
	for _, id := range ids {
		out = append(out, Source{CameraID: id, MainURL: s.URL(id, "main"), SubURL: s.URL(id, "sub")})
	}
	return out
}

func (e *env) url(path, token string) string {
	u := "rtsp://" + e.hub.RTSPAddr() + "/" + path
	if token != "" {
		u += "?token=" + token
	}
	return u
}

// waitState polls until cond holds for the camera's main stream.
func (e *env) waitState(t *testing.T, cam string, what string, cond func(State) bool) State {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if sts, ok := e.hub.State(cam); ok && cond(sts[0]) {
			return sts[0]
		}
		if time.Now().After(deadline) {
			sts, _ := e.hub.State(cam)
			t.Fatalf("camera %s never became %s: %+v", cam, what, sts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func online(s State) bool { return s.Status == StatusOnline }

type probeOut struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	} `json:"streams"`
}

func ffprobe(t *testing.T, url string) (probeOut, string, error) {
	t.Helper()
	bin := needTool(t, "ffprobe")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-v", "error", "-rtsp_transport", "tcp",
		"-show_entries", "stream=codec_name,width,height", "-of", "json", url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var p probeOut
	if err == nil {
		err = json.Unmarshal(out, &p)
	}
	return p, stderr.String(), err
}

// ffmpegDecode decodes n video frames from url and fails the test if the
// decoder does not get them.
func ffmpegDecode(t *testing.T, url string, n int) {
	t.Helper()
	bin := needTool(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-hide_banner", "-v", "error", "-rtsp_transport", "tcp", "-i", url,
		"-map", "0:v", "-frames:v", fmt.Sprint(n), "-f", "framemd5", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg decode %s: %v\n%s", RedactURL(url), err, out)
	}
	frames := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "0,") {
			frames++
		}
	}
	if frames != n {
		t.Fatalf("decoded %d frames, want %d:\n%s", frames, n, out)
	}
}

// unitCollector is a UnitReader that records what it gets.
type unitCollector struct {
	mu    sync.Mutex
	units []*Unit
	got   chan struct{}
}

func newCollector() *unitCollector { return &unitCollector{got: make(chan struct{}, 1)} }

func (c *unitCollector) OnUnit(u *Unit) {
	c.mu.Lock()
	c.units = append(c.units, u)
	c.mu.Unlock()
	select {
	case c.got <- struct{}{}:
	default:
	}
}

func (c *unitCollector) videoCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, u := range c.units {
		if u.Media.Type == description.MediaTypeVideo {
			n++
		}
	}
	return n
}

func (c *unitCollector) waitVideo(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for c.videoCount() < n {
		select {
		case <-c.got:
		case <-deadline:
			t.Fatalf("got %d video units, want %d", c.videoCount(), n)
		}
	}
}

// ---- tests -----------------------------------------------------------------

func TestRestreamToFFmpeg(t *testing.T) {
	needTool(t, "ffprobe")
	e := startEnv(t, []sim.CameraSpec{{ID: "cam1", Audio: true}, {ID: "cam2", Codec: "h265"}},
		func(s *sim.Sim) []Source { return pulled(s, "cam1", "cam2") })
	e.waitState(t, "cam1", "online", online)

	p, _, err := ffprobe(t, e.url("cam1/main", "good1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Streams) != 2 || p.Streams[0].CodecName != "h264" || p.Streams[0].Width != 1280 || p.Streams[0].Height != 720 ||
		p.Streams[1].CodecName != "pcm_mulaw" {
		t.Fatalf("cam1/main: %+v", p)
	}
	// Token as the RTSP password (Basic), any user name.
	p, _, err = ffprobe(t, "rtsp://anyone:good2@"+e.hub.RTSPAddr()+"/cam2/sub")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Streams) != 1 || p.Streams[0].CodecName != "hevc" || p.Streams[0].Width != 640 || p.Streams[0].Height != 360 {
		t.Fatalf("cam2/sub: %+v", p)
	}
	ffmpegDecode(t, e.url("cam1/main", "good3"), 10)
	ffmpegDecode(t, "rtsp://x:good4@"+e.hub.RTSPAddr()+"/cam2/main", 10)

	st := e.waitState(t, "cam1", "measured", func(s State) bool { return s.FPS > 0 && s.Width > 0 })
	if st.Width != 1280 || st.Height != 720 || len(st.Codecs) != 2 || st.Codecs[0] != "H264" {
		t.Errorf("state: %+v", st)
	}
	if strings.Contains(fmt.Sprint(e.hub.States()), "camPass123") {
		t.Error("camera password leaked into State")
	}
}

func TestUnitReaderStartsAtKeyframe(t *testing.T) {
	e := startEnv(t, []sim.CameraSpec{{ID: "c", Audio: true}}, func(s *sim.Sim) []Source { return pulled(s, "c") })
	e.waitState(t, "c", "online", online)
	time.Sleep(300 * time.Millisecond) // let the GOP cache hold more than a keyframe

	c := newCollector()
	h, err := e.hub.OpenReader(context.Background(), ReadRequest{CameraID: "c", Variant: Sub, Protocol: ProtoHLS, Token: "good"}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Session() == nil || len(h.Session().Medias) != 2 {
		t.Fatalf("session: %+v", h.Session())
	}
	c.waitVideo(t, 30)
	c.mu.Lock()
	defer c.mu.Unlock()
	var first *Unit
	var last int64 = -1
	for _, u := range c.units {
		if u.Media.Type != description.MediaTypeVideo {
			continue
		}
		if first == nil {
			first = u
			if !u.RandomAccess {
				t.Fatal("first video unit is not a keyframe")
			}
		}
		if u.PTS <= last {
			t.Fatalf("PTS went from %d to %d", last, u.PTS)
		}
		last = u.PTS
	}

	if _, err := e.hub.OpenReader(context.Background(), ReadRequest{CameraID: "c", Variant: Main, Token: "bad"}, newCollector()); !errors.Is(err, ErrDenied) {
		t.Fatalf("bad token: err %v, want ErrDenied", err)
	}
	if _, err := e.hub.OpenInternalReader(context.Background(), "nope", Main, ProtoRecord, newCollector()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown camera: err %v, want ErrNotFound", err)
	}
}

func TestCameraDropComesBack(t *testing.T) {
	e := startEnv(t, []sim.CameraSpec{{ID: "c"}}, func(s *sim.Sim) []Source { return pulled(s, "c") })
	e.waitState(t, "c", "online", online)

	c := newCollector()
	h, err := e.hub.OpenInternalReader(context.Background(), "c", Main, ProtoRecord, c)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c.waitVideo(t, 5)

	// The camera refuses service for a while (drops every session at once),
	// then recovers: the hub must notice and reconnect by itself.
	if err := e.sim.SetDropEvery("c", 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	st := e.waitState(t, "c", "offline", func(s State) bool { return s.Status == StatusOffline })
	if st.LastError == "" {
		t.Error("offline without LastError")
	}
	_ = e.sim.SetDropEvery("c", 0)
	e.waitState(t, "c", "online again", online)
	n := c.videoCount()
	c.waitVideo(t, n+10) // the same reader keeps receiving after the reconnect

	c.mu.Lock()
	defer c.mu.Unlock()
	var last int64 = -1
	for _, u := range c.units {
		if u.PTS <= last {
			t.Fatalf("PTS not continuous across reconnect: %d after %d", u.PTS, last)
		}
		last = u.PTS
	}
}

func TestBadTokenGetsNoPacket(t *testing.T) {
	e := startEnv(t, []sim.CameraSpec{{ID: "c"}}, func(s *sim.Sim) []Source { return pulled(s, "c") })
	e.waitState(t, "c", "online", online)

	// No token: 401 with a Basic challenge.
	code, hdr := rawDescribe(t, e.hub.RTSPAddr(), "rtsp://"+e.hub.RTSPAddr()+"/c/main", "")
	if code != 401 || !strings.Contains(hdr, "Basic") {
		t.Fatalf("no token: %d %q", code, hdr)
	}
	// Bad token: 403, and the gortsplib client gets no packet.
	u, _ := base.ParseURL("rtsp://x:badtoken@" + e.hub.RTSPAddr() + "/c/main")
	tcp := gortsplib.ProtocolTCP
	cl := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	_, _, err := cl.Describe(u)
	if err == nil || !(strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), "401")) {
		t.Fatalf("bad token: DESCRIBE err %v, want 401/403", err)
	}
	// Skipping DESCRIBE does not help: SETUP is authorized too.
	code, _ = rawRequest(t, e.hub.RTSPAddr(), "SETUP rtsp://"+e.hub.RTSPAddr()+"/c/main?token=nope/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n")
	if code != 403 {
		t.Fatalf("SETUP with bad token: %d", code)
	}
	if _, stderr, err := ffprobe(t, e.url("c/main", "wrong")); err == nil || !strings.Contains(stderr, "403") {
		t.Fatalf("ffprobe with bad token: err %v stderr %q", err, stderr)
	}
}

func TestRevokeEndsRTSPSession(t *testing.T) {
	e := startEnv(t, []sim.CameraSpec{{ID: "c"}}, func(s *sim.Sim) []Source { return pulled(s, "c") })
	e.waitState(t, "c", "online", online)

	u, _ := base.ParseURL(e.url("c/sub", "good-revocable"))
	tcp := gortsplib.ProtocolTCP
	cl := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	desc, _, err := cl.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 1)
	cl.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) {
		select {
		case got <- struct{}{}:
		default:
		}
	})
	if _, err := cl.Play(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("no packet before revocation")
	}
	e.auth.revokeToken("good-revocable")
	done := make(chan error, 1)
	go func() { done <- cl.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("session still running after revocation")
	}
	e.waitState(t, "c", "without readers", func(s State) bool { return s.Readers == 0 })
}

func TestBrokenCameraIsolated(t *testing.T) {
	needTool(t, "ffprobe")
	e := startEnv(t, []sim.CameraSpec{{ID: "bad"}, {ID: "good"}}, nil)
	_ = e.sim.SetBrokenSDP("bad", true)
	e.res.srcs = pulled(e.sim, "bad", "good")
	if err := e.hub.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := e.waitState(t, "bad", "offline with an error", func(s State) bool { return s.Status == StatusOffline && s.LastError != "" })
	if strings.Contains(st.LastError, "camPass123") {
		t.Fatalf("LastError leaks the camera password: %q", st.LastError)
	}
	e.waitState(t, "good", "online", online)
	ffmpegDecode(t, e.url("good/main", "good"), 5)
	// The broken camera is retried and recovers once fixed.
	_ = e.sim.SetBrokenSDP("bad", false)
	e.waitState(t, "bad", "online after the fix", online)
}

func TestPushIn(t *testing.T) {
	ffmpeg := needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	e := startEnv(t, nil, nil)
	e.res.srcs = []Source{{CameraID: "pushcam", Push: true}}
	if err := e.hub.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.hub.State("pushcam"); st[0].Status != StatusOffline {
		t.Fatalf("push camera before publishing: %+v", st)
	}
	publish := func(ctx context.Context, creds string) *exec.Cmd {
		// A live encode, like an NVR pushing: small and fast to stay light.
		return exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-v", "error", "-re",
			"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
			"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p",
			"-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://"+creds+"@"+e.hub.RTSPAddr()+"/push/pushcam")
	}
	// Wrong publish credentials are refused.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	out, err := publish(ctx, "pub:wrong").CombinedOutput()
	cancel()
	if err == nil || !strings.Contains(string(out), "403") {
		t.Fatalf("bad publisher: err %v, out %s", err, out)
	}

	ctx, cancel = context.WithCancel(context.Background())
	cmd := publish(ctx, "pub:secret")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	e.waitState(t, "pushcam", "online", online)
	p, _, err := ffprobe(t, e.url("pushcam/main", "good"))
	if err != nil {
		t.Fatalf("%v (publisher: %s)", err, stderr.String())
	}
	if len(p.Streams) != 1 || p.Streams[0].CodecName != "h264" || p.Streams[0].Width != 320 {
		t.Fatalf("pushed stream: %+v", p)
	}
	ffmpegDecode(t, e.url("pushcam/sub", "good"), 5) // sub falls back to main
	cancel()
	_ = cmd.Wait()
	e.waitState(t, "pushcam", "offline after the publisher left", func(s State) bool { return s.Status == StatusOffline })
}

// rawRequest sends one RTSP request on a fresh connection and returns the
// status code and the raw header block.
func rawRequest(t *testing.T, addr, req string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return 0, err.Error()
	}
	br := bufio.NewReader(c)
	var hdr strings.Builder
	code := 0
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return code, hdr.String()
		}
		if code == 0 {
			_, _ = fmt.Sscanf(l, "RTSP/1.0 %d", &code)
		}
		hdr.WriteString(l)
		if l == "\r\n" {
			return code, hdr.String()
		}
	}
}

func rawDescribe(t *testing.T, addr, url, authz string) (int, string) {
	req := "DESCRIBE " + url + " RTSP/1.0\r\nCSeq: 1\r\n"
	if authz != "" {
		req += "Authorization: " + authz + "\r\n"
	}
	return rawRequest(t, addr, req+"\r\n")
}

func TestThousandBadClients(t *testing.T) {
	e := startEnv(t, []sim.CameraSpec{{ID: "c"}}, func(s *sim.Sim) []Source { return pulled(s, "c") })
	e.waitState(t, "c", "online", online)
	addr := e.hub.RTSPAddr()

	// A good reader stays attached during the storm.
	c := newCollector()
	h, err := e.hub.OpenReader(context.Background(), ReadRequest{CameraID: "c", Variant: Sub, Protocol: ProtoWebRTC, Token: "good"}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	const n = 1000
	var wg sync.WaitGroup
	var bad atomic.Int64
	work := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				var code int
				switch i % 10 {
				case 0: // garbage instead of RTSP
					code, _ = rawRequest(t, addr, "\x00\xff GET / HTTP/9\r\n\r\n garbage \x01\x02\r\n\r\n")
				case 1: // bad Basic password
					code, _ = rawDescribe(t, addr, "rtsp://"+addr+"/c/main", "Basic eDpiYWQ=")
				default:
					code, _ = rawDescribe(t, addr, fmt.Sprintf("rtsp://%s/c/main?token=bad%d", addr, i), "")
				}
				if code == 200 {
					bad.Add(1)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d bad clients were served", bad.Load())
	}
	if e.auth.denied.Load() < n*8/10 {
		t.Errorf("only %d refusals counted", e.auth.denied.Load())
	}
	// The node still serves: the attached reader keeps getting units and a
	// new RTSP reader works.
	k := c.videoCount()
	c.waitVideo(t, k+5)
	ffmpegDecode(t, e.url("c/main", "good"), 5)
}

func TestOnDemandConnectsOnlyWhileRead(t *testing.T) {
	e := startEnv(t, []sim.CameraSpec{{ID: "c"}}, nil)
	e.res.srcs = []Source{{CameraID: "c", MainURL: e.sim.URL("c", "main"), OnDemand: true}}
	e.hub.cfg.OnDemandLinger = 200 * time.Millisecond
	if err := e.hub.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.hub.State("c"); st[0].Status != StatusIdle || e.sim.Sessions("c") != 0 {
		t.Fatalf("on-demand camera before any reader: %+v, %d sessions", st, e.sim.Sessions("c"))
	}
	c := newCollector()
	h, err := e.hub.OpenInternalReader(context.Background(), "c", Main, ProtoRecord, c)
	if err != nil {
		t.Fatal(err)
	}
	c.waitVideo(t, 3)
	h.Close()
	e.waitState(t, "c", "idle after the last reader", func(s State) bool { return s.Status == StatusIdle })
}

func TestReloadRemovesCamera(t *testing.T) {
	e := startEnv(t, []sim.CameraSpec{{ID: "c"}}, func(s *sim.Sim) []Source { return pulled(s, "c") })
	e.waitState(t, "c", "online", online)
	h, err := e.hub.OpenReader(context.Background(), ReadRequest{CameraID: "c", Variant: Main, Token: "good"}, newCollector())
	if err != nil {
		t.Fatal(err)
	}
	e.res.mu.Lock()
	e.res.srcs = nil
	e.res.mu.Unlock()
	if err := e.hub.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("reader not ended when its camera was removed")
	}
	if _, ok := e.hub.State("c"); ok {
		t.Fatal("removed camera still has a state")
	}
}

// TestOnDemandPushRelay: a pushed on-demand camera (a federated camera at
// tier 1) tells Config.OnDemand when its first reader comes and after its
// last one left; here the callback relays another camera of the same hub
// into it through the push-in, as a lower site does for tier 1.
func TestOnDemandPushRelay(t *testing.T) {
	e := startEnv(t, []sim.CameraSpec{{ID: "src"}}, nil)
	e.res.srcs = []Source{{CameraID: "src", MainURL: e.sim.URL("src", "main")}, {CameraID: "up", Push: true, OnDemand: true}}
	e.hub.cfg.OnDemandLinger = 200 * time.Millisecond
	var mu sync.Mutex
	var calls []bool
	var stop context.CancelFunc
	relayDone := make(chan error, 4)
	e.hub.cfg.OnDemand = func(cam string, v Variant, wanted bool) {
		mu.Lock()
		defer mu.Unlock()
		if v != Main {
			t.Errorf("OnDemand(%s, %s): a camera without a pushed sub is asked for main only", cam, v)
		}
		calls = append(calls, wanted)
		if stop != nil {
			stop()
			stop = nil
		}
		if wanted {
			ctx, cancel := context.WithCancel(context.Background())
			stop = cancel
			go func() {
				relayDone <- Relay(ctx, e.hub, "src", Main, "rtsp://pub:secret@"+e.hub.RTSPAddr()+"/push/"+cam)
			}()
		}
	}
	if err := e.hub.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(calls) != 0 {
		t.Fatalf("OnDemand called before any reader: %v", calls)
	}
	mu.Unlock()

	c := newCollector()
	// No pushed sub: a reader of the sub variant gets main (and wants main).
	h, err := e.hub.OpenInternalReader(context.Background(), "up", Sub, ProtoRecord, c)
	if err != nil {
		t.Fatal(err)
	}
	c.waitVideo(t, 3)
	if st, _ := e.hub.State("up"); len(st) != 1 || st[0].Width != 1280 || st[0].Height != 720 {
		t.Fatalf("relayed stream: %+v", st[0])
	}
	h.Close()
	// The relay ends: asked to stop, and its session is closed by the hub.
	select {
	case <-relayDone:
	case <-time.After(60 * time.Second):
		t.Fatal("relay still running after the last reader left")
	}
	e.waitState(t, "up", "offline after the push stopped", func(s State) bool { return s.Status == StatusOffline })
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || !calls[0] || calls[1] {
		t.Fatalf("OnDemand calls %v, want [true false]", calls)
	}
}

// TestOnDemandPushRelaySub: a pushed on-demand camera with a pushed sub
// stream (Source.PushSub) is wanted per variant: a sub reader asks for
// (camera, sub) only, the relay of the source's sub stream to
// /push/<camera>/sub feeds it, and it is released on its own.
func TestOnDemandPushRelaySub(t *testing.T) {
	e := startEnv(t, []sim.CameraSpec{{ID: "src"}}, nil)
	e.res.srcs = []Source{{CameraID: "src", MainURL: e.sim.URL("src", "main"), SubURL: e.sim.URL("src", "sub")},
		{CameraID: "up", Push: true, OnDemand: true, PushSub: true}}
	e.hub.cfg.OnDemandLinger = 200 * time.Millisecond
	type call struct {
		v      Variant
		wanted bool
	}
	var mu sync.Mutex
	var calls []call
	stops := map[Variant]context.CancelFunc{}
	relayDone := make(chan Variant, 8)
	e.hub.cfg.OnDemand = func(cam string, v Variant, wanted bool) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, call{v, wanted})
		if stop := stops[v]; stop != nil {
			stop()
			delete(stops, v)
		}
		if wanted {
			ctx, cancel := context.WithCancel(context.Background())
			stops[v] = cancel
			go func() {
				_ = Relay(ctx, e.hub, "src", v, "rtsp://pub:secret@"+e.hub.RTSPAddr()+"/push/"+cam+"/"+string(v))
				relayDone <- v
			}()
		}
	}
	if err := e.hub.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.hub.State("up"); len(st) != 2 || st[1].Variant != Sub {
		t.Fatalf("pushed camera with a sub: states %+v", st)
	}

	c := newCollector()
	h, err := e.hub.OpenInternalReader(context.Background(), "up", Sub, ProtoRecord, c)
	if err != nil {
		t.Fatal(err)
	}
	c.waitVideo(t, 3)
	st, _ := e.hub.State("up")
	if st[1].Width != 640 || st[1].Height != 360 || st[1].Status != StatusOnline {
		t.Fatalf("relayed sub stream: %+v", st[1])
	}
	if st[0].Status == StatusOnline {
		t.Fatalf("main pushed although only sub is watched: %+v", st[0])
	}
	h.Close()
	select {
	case v := <-relayDone:
		if v != Sub {
			t.Fatalf("relay of %s ended", v)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("sub relay still running after the last reader left")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || calls[0] != (call{Sub, true}) || calls[1] != (call{Sub, false}) {
		t.Fatalf("OnDemand calls %v, want [{sub true} {sub false}]", calls)
	}
}

// TestPushSubRefused: a push to /push/<camera>/sub of a camera without a
// pushed sub stream is refused, not mixed into its main stream.
func TestPushSubRefused(t *testing.T) {
	e := startEnv(t, []sim.CameraSpec{{ID: "src"}}, nil)
	e.res.srcs = []Source{{CameraID: "src", MainURL: e.sim.URL("src", "main")}, {CameraID: "up", Push: true}}
	if err := e.hub.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := Relay(ctx, e.hub, "src", Main, "rtsp://pub:secret@"+e.hub.RTSPAddr()+"/push/up/sub")
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("push of a sub the camera does not have: %v", err)
	}
}
