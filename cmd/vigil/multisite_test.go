package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/federation/fedtest"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// TestMultiSite is issue 5's multi-process federation check on loopback:
// tier 1 (PostgreSQL) and two lower sites — site A, tier 3, on SQLite, and
// site B, tier 2, on PostgreSQL — each a `vigil serve` process of the real
// binary with its own configuration file and data folder, plus `vigil sim`
// for the cameras. The test acts only as an operator would: configuration
// files, the CLI (`vigil enroll`, `vigil audit verify`) and the REST API;
// the one thing it reads directly is tier 1's database, to compare the audit
// entries tier 1 holds for site A with site A's own log. The lower sites'
// leaf connections go through a TCP proxy in the test that cuts the link.
//
// TestFederation (internal/federation) checks the same story, and more
// corner cases, with every site in one process.
func TestMultiSite(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process federation test: not in -short mode")
	}
	if _, err := exec.LookPath("ffprobe"); err != nil {
		if os.Getenv("VIGIL_REQUIRE_TOOLS") == "1" {
			t.Fatal("ffprobe is required (VIGIL_REQUIRE_TOOLS=1) but not on PATH")
		}
		t.Skip("!!! SKIPPING the multi-process federation test: ffprobe not on PATH (apt-get install ffmpeg); CI requires it")
	}
	dsn1, dsnB := storetest.PostgresDSN(t), storetest.PostgresDSN(t)
	w := newWorld(t)
	proxy := fedtest.NewLinkProxy(t)

	// Tier 1: PostgreSQL, a leaf listener; lower sites are told to dial the
	// proxy, which forwards to the listener until the test cuts it.
	t1 := w.serve("tier1", siteConfig(w.dir("tier1"), "tier1", 1, dsn1, M{
		"leaf_listen": "127.0.0.1:0", "leaf_url": "nats-leaf://" + proxy.Addr(),
		"link_down_alert": "2s", "status_interval": "250ms",
	}))
	proxy.SetTarget(t1.leafAddr)
	admin1 := t1.firstAdmin()
	for _, o := range []M{
		{"id": "ubnd-xa", "name": "UBND xã Mường Phăng", "kind": "commune", "functions": []string{"urban_order"}},
		{"id": "vnpt", "name": "VNPT Điện Biên", "kind": "operating_unit"},
	} {
		admin1.must("POST", "/api/v1/organisations", o, nil, 201)
	}
	for _, s := range []M{
		{"id": "xa-a", "name": "Camera xã A", "tier": 3, "managing_org_id": "ubnd-xa", "operating_org_id": "vnpt", "site_id": "site-a"},
		{"id": "huyen-b", "name": "Camera huyện B", "tier": 2, "managing_org_id": "ubnd-xa", "operating_org_id": "vnpt", "site_id": "site-b"},
	} {
		admin1.must("POST", "/api/v1/systems", s, nil, 201)
	}
	enrollToken := func(site, system string) string {
		var e struct {
			Token string `json:"token"`
		}
		admin1.must("POST", "/api/v1/federation/enrollments", M{"site_id": site, "systems": []string{system}}, &e, 201)
		return e.Token
	}
	tokA, tokB := enrollToken("site-a", "xa-a"), enrollToken("site-b", "huyen-b")

	// Site A enrolls from the shell (`vigil enroll`), then starts; site B
	// enrolls at its first start (federation.upstream + enroll_token).
	cfgA := siteConfig(w.dir("site-a"), "site-a", 3, "", M{"status_interval": "250ms"})
	pathA := w.writeConfig("site-a", cfgA)
	if out := w.run("enroll-a", "enroll", "-c", pathA, t1.base, tokA); !strings.Contains(out, "enrolled: site site-a") {
		t.Fatalf("vigil enroll: %q", out)
	}
	a := w.serve("site-a", cfgA)
	b := w.serve("site-b", siteConfig(w.dir("site-b"), "site-b", 2, dsnB, M{
		"status_interval": "250ms", "upstream": t1.base, "enroll_token": tokB,
	}))
	if st := newClient(t, t1.base).do("POST", "/api/v1/federation/enroll", M{"token": tokA, "site_id": "site-a"}, nil); st != 403 {
		t.Fatalf("second use of an enrollment token: status %d, want 403", st)
	}

	// Simulated cameras in a process of their own.
	cams := w.sim(3)

	// Each lower site registers its organisations, system and cameras
	// through its own API.
	adminA, adminB := a.firstAdmin(), b.firstAdmin()
	seedLowerSite(adminA, "xa-a", 3)
	seedLowerSite(adminB, "huyen-b", 2)
	adminA.must("POST", "/api/v1/cameras", camera("cam-a1", "xa-a", "Trụ sở xã", cams["cam01"], false, false), nil, 201)
	adminA.must("POST", "/api/v1/cameras", camera("cam-a2", "xa-a", "Chợ xã", cams["cam02"], true, false), nil, 201)
	adminA.must("POST", "/api/v1/cameras", camera("cam-a-secret", "xa-a", "Kho vũ khí", cams["cam02"], true, true), nil, 201)
	adminB.must("POST", "/api/v1/cameras", camera("cam-b1", "huyen-b", "Ngã ba huyện", cams["cam03"], false, false), nil, 201)

	// Inventory and links at tier 1 (the deadline only stops a broken
	// test from hanging).
	has := func(id string) bool { return admin1.do("GET", "/api/v1/cameras/"+id, nil, nil) == 200 }
	since := time.Now()
	w.waitFor("inventory at tier 1", func() bool { return has("cam-a1") && has("cam-a2") && has("cam-b1") })
	t.Logf("inventory at tier 1 after %s", time.Since(since).Round(10*time.Millisecond))
	w.waitFor("links up at tier 1", func() bool {
		return admin1.site("site-a").LinkState == "up" && admin1.site("site-b").LinkState == "up"
	})
	if has("cam-a-secret") {
		t.Fatal("a classified camera reached tier 1")
	}
	w.waitFor("site B's camera online at tier 1", func() bool {
		fc := admin1.fedCameras("site-b")
		return len(fc) == 1 && fc[0].CameraID == "cam-b1" && fc[0].Online
	})

	// A tier-3 camera plays at tier 1: tier 1's RTSP re-stream, fed by site
	// A's relay (asked over the link, pushed to tier 1's push-in).
	var tok struct {
		RTSPURL string `json:"rtsp_url"`
	}
	admin1.must("POST", "/api/v1/cameras/cam-a1/stream-token", M{"variant": "main"}, &tok, 200)
	if !strings.HasPrefix(tok.RTSPURL, "rtsp://"+t1.rtspAddr+"/") {
		t.Fatalf("re-stream URL %q is not tier 1's (%s)", tok.RTSPURL, t1.rtspAddr)
	}
	var probe string
	w.waitFor("cam-a1 playing at tier 1", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", "tcp",
			"-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", tok.RTSPURL).CombinedOutput()
		probe = strings.TrimSpace(string(out))
		return err == nil
	})
	if !strings.Contains(probe, "h264,1280,720") {
		t.Fatalf("ffprobe of cam-a1 at tier 1: %q", probe)
	}
	if n := len(admin1.audit("push.start", "camera/cam-a1")); n < 1 {
		t.Fatal("no push.start of cam-a1 at tier 1")
	}

	// Cut the link. Tier 1 sees site A down and opens a link-down incident;
	// meanwhile site A adds cameras and writes audit entries through its API.
	proxy.Cut()
	w.waitFor("link down at tier 1", func() bool { return admin1.site("site-a").LinkState == "down" })
	w.waitFor("link-down incident opened", func() bool { return len(admin1.linkIncidents("site-a", "active")) == 1 })
	w.waitFor("link down at site A", func() bool {
		var st struct {
			LinkUp bool `json:"link_up"`
		}
		adminA.must("GET", "/api/v1/federation/status", nil, &st, 200)
		return !st.LinkUp
	})
	before := a.auditHead(adminA)
	const offline = 12
	for i := range offline {
		adminA.must("POST", "/api/v1/cameras", camera(fmt.Sprintf("cam-a-off-%02d", i), "xa-a", fmt.Sprintf("Cột %d", i), cams["cam02"], true, false), nil, 201)
	}
	var c1 struct {
		Version int64 `json:"version"`
	}
	adminA.must("GET", "/api/v1/cameras/cam-a1", nil, &c1, 200)
	adminA.must("PUT", fmt.Sprintf("/api/v1/cameras/cam-a1?version=%d", c1.Version),
		camera("", "xa-a", "Cổng trụ sở (đổi)", cams["cam01"], false, false), nil, 200)
	adminA.must("DELETE", "/api/v1/cameras/cam-a2", nil, nil, 204)
	// An account for the commune's operator and its first logins: more
	// audit entries (user.create, auth.login, auth.password_change, …).
	adminA.must("POST", "/api/v1/users", M{"username": "op-a", "org_id": "ubnd-xa", "roles": []string{"operator"},
		"initial_password": "Khởi-tạo-9!x"}, nil, 201)
	opA := a.login("op-a", "Khởi-tạo-9!x", testPassword)
	opA.must("GET", "/api/v1/cameras", nil, nil, 200)
	if st := newClient(t, a.base).do("POST", "/api/v1/auth/login", M{"username": "op-a", "password": "sai mật khẩu"}, nil); st == 200 {
		t.Fatal("login with a wrong password succeeded")
	}
	adminB.must("POST", "/api/v1/cameras", camera("cam-b2", "huyen-b", "Cầu huyện", cams["cam03"], true, false), nil, 201)
	headA := a.auditHead(adminA)
	time.Sleep(time.Second) // the shippers poll every 200 ms: give a leak the chance to show
	if has("cam-a-off-00") || has("cam-b2") {
		t.Fatal("a change crossed a cut link")
	}

	// Restore: tier 1 catches up with everything, once.
	proxy.Restore()
	since = time.Now()
	var agreed int64
	w.waitFor("tier 1 caught up with site A", func() bool {
		head := a.auditHead(adminA)
		agreed = admin1.site("site-a").AuditSeq
		return head >= headA && agreed == head && has("cam-b2")
	})
	t.Logf("tier 1 caught up %s after the link returned", time.Since(since).Round(10*time.Millisecond))
	w.waitFor("link-down alert closed", func() bool {
		x := admin1.siteDetail("site-a")
		return x.Site.LinkState == "up" && len(x.Alerts) == 1 && !x.Alerts[0].ClosedAt.IsZero()
	})
	w.waitFor("link-down incident resolved", func() bool {
		for _, s := range []string{"site-a", "site-b"} { // the proxy carries both links
			if len(admin1.linkIncidents(s, "active")) != 0 || len(admin1.linkIncidents(s, "resolved")) != 1 {
				return false
			}
		}
		return true
	})
	if inc := admin1.linkIncidents("site-a", ""); len(inc) != 1 {
		t.Fatalf("%d link-down incidents for site A, want 1: %+v", len(inc), inc)
	}
	x := admin1.siteDetail("site-a")
	states := []string{}
	for _, e := range x.Events {
		states = append(states, e.State)
	}
	if got := strings.Join(states, ","); !strings.HasPrefix(got, "up,down,up") {
		t.Fatalf("link history of site A: %s", got)
	}

	// Cameras: tier 1 holds exactly the cameras site A shares (not the
	// classified one, not the deleted one), each once, with its last change.
	var shared struct {
		Items []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"items"`
	}
	adminA.must("GET", "/api/v1/cameras?classified=false&limit=500", nil, &shared, 200)
	want := map[string]string{}
	for _, c := range shared.Items {
		want[c.ID] = c.Name
	}
	if len(want) != offline+1 || want["cam-a1"] != "Cổng trụ sở (đổi)" {
		t.Fatalf("site A shares %d cameras: %v", len(want), want)
	}
	got := map[string]string{}
	for _, c := range admin1.fedCameras("site-a") {
		if _, dup := got[c.CameraID]; dup {
			t.Fatalf("camera %s twice at tier 1", c.CameraID)
		}
		got[c.CameraID] = c.Name
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("tier 1 holds for site A\n%v\nsite A shares\n%v", got, want)
	}
	if has("cam-a2") || has("cam-a-secret") {
		t.Fatal("tier 1 holds a deleted or classified camera of site A")
	}
	creates := map[string]int{}
	for _, e := range admin1.audit("camera.federated_create", "") {
		creates[e.Object]++
	}
	for i := range offline {
		if n := creates[fmt.Sprintf("camera/cam-a-off-%02d", i)]; n != 1 {
			t.Fatalf("cam-a-off-%02d created %d times at tier 1", i, n)
		}
	}

	// Audit: tier 1 holds site A's log entry for entry (same sequence, same
	// hash), nothing missing, nothing twice, and the chain verifies there.
	local := a.auditEntries(adminA, agreed)
	shipped := shippedAudit(t, dsn1, "site-a", agreed)
	if int64(len(local)) != agreed || len(shipped) != len(local) {
		t.Fatalf("site A has %d audit entries up to %d, tier 1 holds %d", len(local), agreed, len(shipped))
	}
	actions := map[string]bool{}
	for i, e := range local {
		if s := shipped[i]; s.Seq != e.Seq || s.Hash != e.Hash || s.Action != e.Action {
			t.Fatalf("audit entry %d: site A %+v, tier 1 %+v", i+1, e, s)
		}
		if e.Seq > before { // written while the link was cut
			actions[e.Action] = true
		}
	}
	for _, act := range []string{"camera.create", "camera.update", "camera.delete", "user.create", "user.change_password", "auth.login"} {
		if !actions[act] {
			t.Errorf("no %s among the entries site A wrote while cut off: %v", act, actions)
		}
	}
	var rep struct {
		OK      bool  `json:"ok"`
		Entries int64 `json:"entries"`
		LastSeq int64 `json:"last_seq"`
	}
	admin1.must("GET", "/api/v1/federation/sites/site-a/audit/verify", nil, &rep, 200)
	if !rep.OK || rep.Entries != rep.LastSeq || rep.LastSeq < agreed {
		t.Fatalf("site A's audit at tier 1: %+v", rep)
	}
	// Tier 1 asks site A over the restored link.
	var ask struct {
		OK      bool `json:"ok"`
		Cameras int  `json:"cameras"`
	}
	admin1.must("GET", "/api/v1/federation/sites/site-a/remote-status", nil, &ask, 200)
	if !ask.OK || ask.Cameras != offline+1 {
		t.Fatalf("remote status of site A: %+v", ask)
	}

	// Every process stops cleanly on SIGTERM, and site A's log verifies
	// from the shell afterwards.
	for _, s := range []*siteProc{a, b, t1} {
		if err := s.p.stop(); err != nil {
			t.Errorf("%s did not stop cleanly: %v", s.name, err)
		}
	}
	var verify struct {
		OK      bool  `json:"ok"`
		LastSeq int64 `json:"last_seq"`
	}
	out := w.run("audit-verify-a", "audit", "verify", "--json", "-c", pathA)
	if json.Unmarshal([]byte(out[strings.LastIndex(out, "\n{")+1:]), &verify) != nil || !verify.OK || verify.LastSeq < agreed {
		t.Fatalf("vigil audit verify of site A: %s", out)
	}
}

// testPassword is what every account of the test ends up with.
const testPassword = "Mật-khẩu-Thử-1"

// M is a JSON object.
type M = map[string]any

// siteConfig is a site's configuration file: loopback listeners on ports
// the system picks, JSON logs (the test reads the addresses from them), no
// recording (not under test here; it saves the 2-core CI machine work).
func siteConfig(dir, id string, tier int, dsn string, fed M) M {
	fed["enabled"] = true
	return M{
		"site":       M{"id": id, "name": "Site " + id, "tier": tier},
		"data_dir":   dir,
		"database":   M{"dsn": dsn},
		"http":       M{"listen": "127.0.0.1:0"},
		"rtsp":       M{"listen": "127.0.0.1:0"},
		"auth":       M{"login_rate_per_minute": 600},
		"recording":  M{"default_mode": "off"},
		"log":        M{"level": "info", "format": "json"},
		"federation": fed,
	}
}

func seedLowerSite(c *client, system string, tier int) {
	c.must("POST", "/api/v1/organisations", M{"id": "ubnd-xa", "name": "UBND xã", "kind": "commune", "functions": []string{"urban_order"}}, nil, 201)
	c.must("POST", "/api/v1/organisations", M{"id": "vnpt", "name": "VNPT", "kind": "operating_unit"}, nil, 201)
	c.must("POST", "/api/v1/systems", M{"id": system, "name": "Hệ thống " + system, "tier": tier,
		"managing_org_id": "ubnd-xa", "operating_org_id": "vnpt"}, nil, 201)
}

// camera is a camera of the simulator (urls: main, sub).
func camera(id, system, name string, urls [2]string, onDemand, classified bool) M {
	m := M{"system_id": system, "name": name, "kinds": []string{"security"}, "purposes": []string{"urban_order"},
		"area": "public_other", "lat": 21.45, "lon": 103.15, "main_url": urls[0], "sub_url": urls[1],
		"on_demand": onDemand, "classified": classified}
	if id != "" {
		m["id"] = id
	}
	return m
}

// world holds the test's processes and folders.
type world struct {
	t    *testing.T
	bin  string
	root string

	mu    sync.Mutex
	procs []*proc
	end   time.Time // waits give up here, before `go test -timeout` strikes
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, root: t.TempDir(), end: time.Now().Add(4 * time.Minute)}
	if d, ok := t.Deadline(); ok {
		if d = d.Add(-20 * time.Second); d.Before(w.end) {
			w.end = d
		}
		// A test stuck outside a wait still leaves no process behind.
		timer := time.AfterFunc(time.Until(d), func() {
			t.Errorf("test deadline near: killing every process")
			w.mu.Lock()
			defer w.mu.Unlock()
			for _, p := range w.procs {
				_ = p.cmd.Process.Kill()
			}
		})
		t.Cleanup(func() { timer.Stop() })
	}
	w.bin = buildVigil(t, w.root)
	return w
}

// buildVigil builds the binary without the race detector (the sites run
// at full speed) and with CGO_ENABLED=0 like the release build, so CI's
// earlier `CGO_ENABLED=0 go build ./...` leaves the cache warm.
func buildVigil(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "vigil")
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built vigil in %s", time.Since(start).Round(time.Millisecond))
	return bin
}

func (w *world) dir(name string) string {
	d := filepath.Join(w.root, name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		w.t.Fatal(err)
	}
	return d
}

// writeConfig writes cfg as the site's configuration file (JSON is YAML).
func (w *world) writeConfig(name string, cfg M) string {
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		w.t.Fatal(err)
	}
	p := filepath.Join(w.root, name+".yaml")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// waitFor polls cond until it holds; the deadline only keeps a broken test
// from hanging (no timing is asserted).
func (w *world) waitFor(what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	if w.end.Before(deadline) {
		deadline = w.end
	}
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting for %s", what)
		}
		w.mu.Lock()
		for _, p := range w.procs {
			if p.exited() {
				w.mu.Unlock()
				w.t.Fatalf("waiting for %s: process %s exited: %v", what, p.name, p.waitErr)
			}
		}
		w.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
}

// proc is a child process whose output goes to a file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	log     string
	done    chan struct{}
	waitErr error
	once    sync.Once
	stopErr error
}

// start runs the binary with args; its stdout and stderr go to a file whose
// tail is printed if the test fails. Cleanup stops it.
func (w *world) start(name string, args ...string) *proc {
	w.t.Helper()
	p := &proc{name: name, log: filepath.Join(w.root, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		w.t.Fatal(err)
	}
	p.cmd = exec.Command(w.bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.Env = childEnv()
	dieWithTest(p.cmd)
	if err := p.cmd.Start(); err != nil {
		f.Close()
		w.t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.waitErr = p.cmd.Wait(); f.Close(); close(p.done) }()
	w.mu.Lock()
	w.procs = append(w.procs, p)
	w.mu.Unlock()
	w.t.Cleanup(func() {
		_ = p.stop()
		if w.t.Failed() || os.Getenv("VIGIL_TEST_LOG") != "" {
			w.t.Logf("--- last lines of %s:\n%s", name, tail(p.log, 60))
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to stop (SIGTERM: a site closes cleanly) and kills
// it if it has not within 20 s; the error says why it was not a clean exit.
func (p *proc) stop() error {
	p.once.Do(func() {
		if p.exited() {
			p.stopErr = fmt.Errorf("had exited: %v", p.waitErr)
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			p.stopErr = p.waitErr
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			p.stopErr = errors.New("still running 20 s after SIGTERM: killed")
		}
	})
	return p.stopErr
}

// childEnv is the test's environment without VIGIL_… variables: each
// process is configured by its file only.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VIGIL_") {
			env = append(env, kv)
		}
	}
	return env
}

func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// run runs a CLI command to its end and returns its output; failure is fatal.
func (w *world) run(name string, args ...string) string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin, args...)
	cmd.Env = childEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("vigil %s (%s): %v\n%s", strings.Join(args, " "), name, err, out)
	}
	return string(out)
}

// sim starts `vigil sim` with n H.264 cameras and returns their URLs.
func (w *world) sim(n int) map[string][2]string {
	w.t.Helper()
	p := w.start("sim", "sim", "--addr", "127.0.0.1:0", "-n", fmt.Sprint(n), "--h265=false")
	re := regexp.MustCompile(`^(cam\d+)\s+(rtsp://\S+)\s+(rtsp://\S+)$`)
	out := map[string][2]string{}
	w.waitFor("simulated cameras", func() bool {
		for _, l := range lines(p.log) {
			if m := re.FindStringSubmatch(l); m != nil {
				out[m[1]] = [2]string{m[2], m[3]}
			}
		}
		return len(out) == n
	})
	return out
}

func lines(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// siteProc is a running `vigil serve`.
type siteProc struct {
	w        *world
	name     string
	p        *proc
	base     string // http://127.0.0.1:port
	rtspAddr string
	leafAddr string // tier 1's leaf listener
}

// serve writes the configuration, starts `vigil serve` and waits until the
// site answers /readyz. The listeners' ports come from its log.
func (w *world) serve(name string, cfg M) *siteProc {
	w.t.Helper()
	path := w.writeConfig(name, cfg)
	s := &siteProc{w: w, name: name}
	s.p = w.start(name, "serve", "-c", path)
	w.waitFor(name+" serving", func() bool {
		for _, l := range lines(s.p.log) {
			var m struct {
				Msg      string  `json:"msg"`
				HTTP     string  `json:"http"`
				RTSP     string  `json:"rtsp"`
				LeafPort float64 `json:"leaf_port"`
			}
			if json.Unmarshal([]byte(l), &m) != nil {
				continue
			}
			switch m.Msg {
			case "federation started":
				if m.LeafPort > 0 {
					s.leafAddr = net.JoinHostPort("127.0.0.1", fmt.Sprint(int(m.LeafPort)))
				}
			case "site serving":
				s.base, s.rtspAddr = m.HTTP, m.RTSP
			}
		}
		return s.base != ""
	})
	if fed, _ := cfg["federation"].(M); fed["leaf_listen"] != nil && s.leafAddr == "" {
		w.t.Fatalf("%s: no leaf port in its log", name)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	w.waitFor(name+" ready", func() bool {
		res, err := hc.Get(s.base + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	return s
}

// firstAdmin signs in as the administrator `vigil serve` created with a
// one-time password (printed once), changing the password as required.
func (s *siteProc) firstAdmin() *client {
	s.w.t.Helper()
	re := regexp.MustCompile(`one-time password: (\S+)`)
	for _, l := range lines(s.p.log) {
		if m := re.FindStringSubmatch(l); m != nil {
			return s.login("admin", m[1], testPassword)
		}
	}
	s.w.t.Fatalf("%s: no first administrator's password in its output", s.name)
	return nil
}

// login signs in with a one-time password, changes it to newPassword and
// signs in again.
func (s *siteProc) login(user, oneTime, newPassword string) *client {
	s.w.t.Helper()
	c := newClient(s.w.t, s.base)
	if st := c.login(user, oneTime); st != "must_change_password" {
		s.w.t.Fatalf("%s: first login of %s: state %q", s.name, user, st)
	}
	c.must("POST", "/api/v1/auth/password", M{"old_password": oneTime, "new_password": newPassword}, nil, 204)
	c = newClient(s.w.t, s.base)
	if st := c.login(user, newPassword); st != "ok" {
		s.w.t.Fatalf("%s: login of %s: state %q", s.name, user, st)
	}
	return c
}

// auditHead is the newest entry of the site's audit log.
func (s *siteProc) auditHead(c *client) int64 {
	var page struct {
		Items []struct {
			Seq int64 `json:"seq"`
		} `json:"items"`
	}
	c.must("GET", "/api/v1/audit?limit=1", nil, &page, 200)
	if len(page.Items) == 0 {
		return 0
	}
	return page.Items[0].Seq
}

type auditRow struct {
	Seq    int64  `json:"seq"`
	Action string `json:"action"`
	Object string `json:"object"`
	Hash   string `json:"hash"`
}

// auditEntries is the site's audit log from 1 to upTo, oldest first.
func (s *siteProc) auditEntries(c *client, upTo int64) []auditRow {
	var out []auditRow
	cursor := int64(0)
	for {
		var page struct {
			Items []auditRow `json:"items"`
			Next  int64      `json:"next"`
		}
		c.must("GET", fmt.Sprintf("/api/v1/audit?oldest=true&limit=1000&cursor=%d", cursor), nil, &page, 200)
		for _, e := range page.Items {
			if e.Seq <= upTo {
				out = append(out, e)
			}
		}
		if page.Next == 0 || len(page.Items) == 0 || page.Items[len(page.Items)-1].Seq >= upTo {
			return out
		}
		cursor = page.Next
	}
}

// shippedAudit reads the audit entries tier 1 holds for site (seq ≤ upTo)
// from its database.
func shippedAudit(t *testing.T, dsn, site string, upTo int64) []auditRow {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT seq, action, object, hash FROM federation_audit WHERE site_id = $1 AND seq <= $2 ORDER BY seq`, site, upTo)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		if err := rows.Scan(&r.Seq, &r.Action, &r.Object, &r.Hash); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// client speaks to a site's API like the console: session cookie + CSRF.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (c *client) login(user, password string) string {
	c.t.Helper()
	var out struct {
		State     string `json:"state"`
		CSRFToken string `json:"csrf_token"`
	}
	if st := c.do("POST", "/api/v1/auth/login", M{"username": user, "password": password}, &out); st != 200 {
		c.t.Fatalf("login %s at %s: status %d", user, c.base, st)
	}
	c.csrf = out.CSRFToken
	return out.State
}

// do sends a JSON request and decodes the answer into out (if not nil).
func (c *client) do(method, path string, body, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s%s: %v", method, c.base, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return res.StatusCode
}

func (c *client) must(method, path string, body, out any, want int) {
	c.t.Helper()
	if st := c.do(method, path, body, out); st != want {
		c.t.Fatalf("%s %s%s: status %d, want %d", method, c.base, path, st, want)
	}
}

type fedSite struct {
	LinkState string `json:"link_state"`
	AuditSeq  int64  `json:"audit_seq"`
}

func (c *client) site(id string) fedSite {
	c.t.Helper()
	return c.siteDetail(id).Site
}

type siteDetail struct {
	Site   fedSite `json:"site"`
	Events []struct {
		State string `json:"state"`
	} `json:"events"`
	Alerts []struct {
		ClosedAt time.Time `json:"closed_at"`
	} `json:"alerts"`
}

func (c *client) siteDetail(id string) siteDetail {
	c.t.Helper()
	var x siteDetail
	c.must("GET", "/api/v1/federation/sites/"+id, nil, &x, 200)
	return x
}

type fedCamera struct {
	CameraID string `json:"camera_id"`
	Name     string `json:"name"`
	Online   bool   `json:"online"`
}

func (c *client) fedCameras(site string) []fedCamera {
	c.t.Helper()
	var page struct {
		Items []fedCamera `json:"items"`
		Total int         `json:"total"`
	}
	c.must("GET", "/api/v1/federation/cameras?limit=1000&site="+site, nil, &page, 200)
	if page.Total != len(page.Items) {
		c.t.Fatalf("federated cameras of %s: %d of %d", site, len(page.Items), page.Total)
	}
	return page.Items
}

// linkIncidents are tier 1's link-down incidents for site in state
// ("active", "resolved", or "" for all).
func (c *client) linkIncidents(site, state string) []M {
	c.t.Helper()
	var is []M
	c.must("GET", "/api/v1/incidents?category=link_down&state="+state, nil, &is, 200)
	var out []M
	for _, i := range is {
		if i["object"] == "link/"+site {
			out = append(out, i)
		}
	}
	return out
}

// audit lists the site's audit entries with an action (prefix) and, when
// given, an object.
func (c *client) audit(action, object string) []auditRow {
	c.t.Helper()
	var page struct {
		Items []auditRow `json:"items"`
	}
	q := "/api/v1/audit?limit=1000&action=" + action
	if object != "" {
		q += "&object=" + object
	}
	c.must("GET", q, nil, &page, 200)
	return page.Items
}
