package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/demo"
	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/sim"
)

// browser starts headless Chromium (the flags the project fixes) with a
// 1366×768 viewport. Without chromium the test fails when
// VIGIL_REQUIRE_TOOLS=1 (CI) and skips loudly otherwise.
func browser(t testing.TB, ctx context.Context) context.Context {
	t.Helper()
	var path string
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		msg := "NOT RUN: chromium not found on PATH (apt-get install -y chromium)"
		if os.Getenv("VIGIL_REQUIRE_TOOLS") == "1" {
			t.Fatal(msg)
		}
		t.Skip("!!! " + msg)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1366, 768),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancel)
	bctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1366, 768)); err != nil {
		t.Fatal(err)
	}
	return bctx
}

// ev evaluates a JavaScript expression and decodes its value.
func ev[T any](t *testing.T, bctx context.Context, expr string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	v, err := chromedp.Run(bctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// playbackSteps: pick a camera, see its recorded span, play (time
// advances), seek back, export with purpose and requester, download the MP4
// and its manifest through the browser and verify them offline.
func playbackSteps(t *testing.T, bctx context.Context, base string, wait func(string, string), run func(string, ...chromedp.Action[chromedp.Void]),
	shot func(string), keyID string) {
	t.Helper()
	run("playback", chromedp.Navigate(base+"/#/playback"))
	wait("playback view", `document.querySelector("#pb-empty")`)
	run("pick camera", chromedp.Click(css(`#camera-tree button.cam[data-camera="cam-nga-tu-muong-thanh"]`)))
	wait("recorded span", `document.querySelector('#pb-timeline svg[data-camera="cam-nga-tu-muong-thanh"] .pb-span')`)
	video := `document.querySelector('.pb-video[data-camera="cam-nga-tu-muong-thanh"] video')`
	wait("playback video", video+`.currentTime > 0.5`)
	t0 := ev[float64](t, bctx, video+`.currentTime`)
	wait("playback time to advance", fmt.Sprintf(`%s.currentTime > %f`, video, t0+1))
	shot("playback")
	// Seek: 10 s back with the keyboard on the timeline, once 8 s have played.
	p0 := ev[float64](t, bctx, `Number(document.querySelector("main").dataset.position)`)
	wait("8 s played", fmt.Sprintf(`Number(document.querySelector("main").dataset.position) > %f`, p0+8000))
	before := ev[float64](t, bctx, `Number(document.querySelector("main").dataset.position)`)
	run("focus timeline", chromedp.Focus(css(`#pb-timeline svg[data-camera="cam-nga-tu-muong-thanh"]`)), chromedp.KeyEvent(kb.ArrowLeft))
	wait("position moved back", fmt.Sprintf(`Number(document.querySelector("main").dataset.position) < %f`, before-5000))
	wait("new range requested", fmt.Sprintf(`!%s.src.includes("from=%d&")`, video, int64(p0)))
	wait("plays after seek", video+`.currentTime > 0.5 && !`+video+`.paused`)

	// Export: purpose and requester are required; then the MP4 and manifest download.
	dir := t.TempDir()
	run("downloads", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
		return err
	}))
	wait("export offered", `document.querySelector('.pb-video[data-camera="cam-nga-tu-muong-thanh"] .pb-export:not([hidden])')`)
	run("export", chromedp.Click(css(`.pb-video[data-camera="cam-nga-tu-muong-thanh"] .pb-export`)))
	wait("export form", `document.querySelector("#export-form[open]")`)
	run("submit without purpose", chromedp.Click(css("#export-form-submit")))
	wait("purpose required", `document.querySelector("#export-form .error:not([hidden])")`)
	run("mark error", chromedp.Evaluate[chromedp.Void](`window.errBefore = document.querySelector("#export-form .error").textContent`))
	run("fill export",
		chromedp.SetValue(css(`#export-form [name="purpose"]`), "Xác minh vụ va chạm giao thông"),
		chromedp.SetValue(css(`#export-form [name="req_name"]`), "Nguyễn Văn A"),
		chromedp.SetValue(css(`#export-form [name="req_org"]`), "Công an tỉnh Điện Biên"),
		chromedp.SetValue(css(`#export-form [name="req_doc"]`), "123/CV-CA"))
	shot("export-dialog")
	run("submit export", chromedp.Click(css("#export-form-submit")))
	wait("export answer", `document.querySelector("#export-done[open]") || document.querySelector("#export-form .error:not([hidden])").textContent !== errBefore`)
	if !ev[bool](t, bctx, `!!document.querySelector("#export-done[open]")`) {
		// The recorder indexes a segment for export once it is closed
		// (recording.segment_length, 5 min by default): a demo a few seconds
		// old has nothing exportable yet.
		t.Logf("!!! export refused by the server: %q; download and verification not run", ev[string](t, bctx, `document.querySelector("#export-form .error").textContent`))
		run("cancel export", chromedp.Click(css(`#export-form button[value="cancel"]`)))
		return
	}
	run("download file", chromedp.Click(css("#export-file")))
	run("download manifest", chromedp.Click(css("#export-manifest")))
	var mp4, manifest string
	for mp4 == "" || manifest == "" {
		es, _ := os.ReadDir(dir)
		for _, e := range es {
			switch {
			case strings.HasSuffix(e.Name(), ".manifest.json"):
				manifest = filepath.Join(dir, e.Name())
			case strings.HasSuffix(e.Name(), ".mp4"):
				mp4 = filepath.Join(dir, e.Name())
			}
		}
		select {
		case <-bctx.Done():
			t.Fatalf("downloads did not arrive: %v", es)
		case <-time.After(100 * time.Millisecond):
		}
	}
	v := playback.VerifyFiles(mp4, manifest, keyID)
	if !v.OK {
		t.Fatalf("exported file does not verify: %s", v.Problem)
	}
	t.Logf("export downloaded and verified: %s (%s)", filepath.Base(mp4), v.KeyID)
	run("close export", chromedp.Click(css(`#export-done .actions button`)))
}

// The console end to end on the demo site, in one browser: refused with a
// wrong password, signed in, only the agency's cameras, diacritics-free
// search, live video on the wall (sub stream, then main when enlarged), the
// map, a camera created by the administrator and found in the audit viewer,
// and the switch to English. With VIGIL_SCREENSHOTS=<dir> it saves the
// screenshots of docs/screenshots.
func TestConsoleInChromium(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bctx := browser(t, ctx)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("VIGIL_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	a, sm, info, err := demo.Run(ctx, demo.Options{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", RTSPAddr: "127.0.0.1:0",
		SimAddr: "127.0.0.1:0", Argon2: auth.TestArgon2, Tier2: true}, log)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	t.Cleanup(func() {
		if info.Tier2 != nil {
			info.Tier2.Close()
		}
		a.Close()
		sm.Close()
	})
	// The browser reaches the site through a TCP relay the test can cut, as
	// if the server had stopped, and restore on the same port.
	px := newCutProxy(t, strings.TrimPrefix(strings.TrimSuffix(info.ConsoleURL, "/"), "http://"))
	base := "http://" + px.addr

	run := func(what string, acts ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		for attempt := 1; ; attempt++ {
			err := chromedp.Do(bctx, acts...)
			if err == nil {
				return
			}
			// The tree and the wall re-render on status updates: a node
			// found and then replaced before the click is not a failure of
			// the page, so the step is tried again on a fresh node.
			stale := strings.Contains(err.Error(), "Could not find node with given id") ||
				strings.Contains(err.Error(), "detached") || strings.Contains(err.Error(), "No node with given id")
			if !stale || attempt == 5 {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	shotDir := os.Getenv("VIGIL_SCREENSHOTS")
	// wait polls a JavaScript condition until it holds (progress, not time,
	// is asserted; the context bounds the whole test).
	wait := func(what, cond string) {
		t.Helper()
		// A generous bound per step, inside the test's, so the page can
		// still be read for the failure message.
		giveUp := time.After(90 * time.Second)
		for {
			// cond may be a promise (an async check that asks the API).
			if ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`Promise.resolve(`+cond+`).then(v => !!v)`, chromedp.EvalAwaitPromise)); err == nil && ok {
				return
			}
			select {
			case <-giveUp:
				html, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`location.hash + " | " + [...document.querySelectorAll("dialog[open], main")].map(e => e.innerText).join(" | ").slice(0, 3000)`))
				if buf, err := chromedp.Run(bctx, chromedp.CaptureScreenshot()); err == nil && shotDir != "" {
					_ = os.WriteFile(filepath.Join(shotDir, "failure.png"), buf, 0o644)
				}
				t.Fatalf("gave up waiting for %s (%s); page: %s", what, cond, html)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	shot := func(name string) {
		t.Helper()
		if shotDir == "" {
			return
		}
		buf, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shotDir, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	login := func(user, pw string) {
		t.Helper()
		wait("login form", `document.querySelector("#login-form")`)
		run("type credentials", chromedp.SetValue(css("#username"), user), chromedp.SetValue(css("#password"), pw),
			chromedp.Click(css("#login-submit")))
	}

	// 1. Vietnamese by default; a wrong password is refused with the generic message.
	run("open console", chromedp.Navigate(base+"/"))
	wait("login form", `document.querySelector("#login-form")`)
	lang := ev[string](t, bctx, `document.documentElement.lang`)
	submit := ev[string](t, bctx, `document.querySelector("#login-submit").textContent`)
	if lang != "vi" || submit != "Đăng nhập" {
		t.Fatalf("default language: lang=%q submit=%q", lang, submit)
	}
	shot("login")
	login("congan", "Sai-mat-khau-1!")
	wait("refusal", `(() => { const e = document.querySelector("#login-error"); return e && !e.hidden && e.textContent.length > 3 })()`)
	refusal := ev[string](t, bctx, `document.querySelector("#login-error").textContent`)
	t.Logf("wrong password refused: %q", refusal)

	// 2. The police officer sees the police's cameras only. The tier-2
	// site's two cameras may arrive after the tree is drawn: the open tree
	// follows the registry, so the test waits for it to reach the API's
	// scope with them in it.
	login("congan", info.Users["congan"])
	wait("police tree equal to the API scope, tier-2 cameras included", `(async () => {
		const p = await (await fetch("/api/v1/cameras?limit=500")).json();
		const api = p.items.map(c => c.id).sort().join();
		const tree = [...document.querySelectorAll("#camera-tree button.cam")].map(b => b.dataset.camera).sort().join();
		return api === tree && ["ca-nga-ba-tan-thanh", "ca-quoc-lo-279"].every(id => tree.split(",").includes(id));
	})()`)

	// A camera added through the API appears in the open console's tree.
	adm := newAPISession(t, base, "admin", info.AdminPassword)
	addedAt := time.Now()
	adm.do(t, http.MethodPost, "/api/v1/cameras", registry.CameraInput{ID: "cam-ban-thu-nghiem", SystemID: "ioc-tinh",
		Name: "Bến xe thử nghiệm", Kinds: []string{"traffic_counting"}, Purposes: []string{"traffic_safety"}, Area: "road",
		Lat: 21.3862, Lon: 103.0175, AdminUnit: "Phường Mường Thanh", Address: "Bến xe thử nghiệm", Push: true}, http.StatusCreated)
	// An ONVIF PTZ camera (the simulator) behind cam-vo-nguyen-giap.
	ptzDev, err := sim.StartOnvif(sim.OnvifSpec{Name: "PTZ Võ Nguyên Giáp", Model: "SIM-PTZ", User: "admin", Pass: "ptz-pass",
		MainURL: "rtsp://127.0.0.1:1/main", SubURL: "rtsp://127.0.0.1:1/sub", PTZ: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ptzDev.Close)
	fill := false
	adm.do(t, http.MethodPut, "/api/v1/cameras/cam-vo-nguyen-giap/onvif", map[string]any{"xaddr": ptzDev.XAddr(), "username": "admin",
		"password": "ptz-pass", "fill_streams": &fill}, http.StatusOK)
	// Steering a camera needs a grant (the access rules): the department
	// grants the police PTZ on it.
	adm.do(t, http.MethodPost, "/api/v1/grants", map[string]any{"org_id": "cong-an-tinh", "actions": []string{"ptz"},
		"camera_id": "cam-vo-nguyen-giap", "note": "Điều khiển camera trong ca trực"}, http.StatusCreated)
	wait("camera added through the API in the open tree", `document.querySelector('#camera-tree button.cam[data-camera="cam-ban-thu-nghiem"]')`)
	t.Logf("camera added through the API appeared in the open tree after %v", time.Since(addedAt).Round(10*time.Millisecond))
	inTree := ev[[]string](t, bctx, `[...document.querySelectorAll("#camera-tree button.cam")].map(b => b.dataset.camera).sort()`)
	if len(inTree) == 0 {
		t.Fatalf("empty tree; all %v", info.Cameras)
	}

	// The server becomes unreachable: a banner says so and the statuses
	// turn grey (unknown) instead of staying green; when it answers again
	// the banner goes and the statuses return, without a reload.
	wait("some status known", `document.querySelector("#camera-tree .dot:not(.unknown)")`)
	px.cut()
	cutAt := time.Now()
	wait("connection-lost banner, statuses unknown", `!document.querySelector("#conn-banner").hidden &&
		[...document.querySelectorAll("#camera-tree .dot")].every(d => d.classList.contains("unknown"))`)
	t.Logf("server unreachable: banner after %v", time.Since(cutAt).Round(10*time.Millisecond))
	shot("connection-lost")
	px.restore(t)
	backAt := time.Now()
	wait("banner cleared, statuses back", `document.querySelector("#conn-banner").hidden && document.querySelector("#camera-tree .dot:not(.unknown)")`)
	t.Logf("server back: banner cleared after %v", time.Since(backAt).Round(10*time.Millisecond))
	for _, id := range []string{"cam-rung-muong-phang", "cam-tru-so-cong-an"} { // forest fire; state secret
		if strings.Contains(strings.Join(inTree, ","), id) {
			t.Fatalf("police see %s: %v", id, inTree)
		}
	}
	t.Logf("police tree: %v", inTree)
	// The tier-2 site's cameras are relayed on demand and nobody watches
	// them: the tree shows the status their own site reports (online), not
	// tier 1's idle relay, and tier 1 holds no offline incident for them.
	wait("tier-2 cameras online as their site reports", `["ca-nga-ba-tan-thanh", "ca-quoc-lo-279"].every(id =>
		document.querySelector('#camera-tree button.cam[data-camera="' + id + '"]').dataset.status === "online")`)
	for _, id := range []string{"ca-nga-ba-tan-thanh", "ca-quoc-lo-279"} {
		var incs []struct {
			ID       string `json:"id"`
			Category string `json:"category"`
		}
		adm.doInto(t, http.MethodGet, "/api/v1/incidents?camera_id="+id, nil, http.StatusOK, &incs)
		if len(incs) != 0 {
			t.Fatalf("tier 1 holds incidents for %s, which nobody watches: %+v", id, incs)
		}
	}

	// 3. Search without diacritics.
	run("search", chromedp.SendKeys(css("#camera-search"), "cho trung tam"))
	wait("search result", `(() => { const b = [...document.querySelectorAll("#camera-tree button.cam")]; return b.length === 1 && b[0].dataset.camera === "cam-cho-trung-tam" })()`)
	run("clear search", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector("#camera-search"); s.value = ""; s.dispatchEvent(new Event("input")); })()`))
	wait("tree restored", fmt.Sprintf(`document.querySelectorAll("#camera-tree button.cam").length === %d`, len(inTree)))

	// 4. Live: a camera dropped on tile 1, another clicked into tile 2; video time advances.
	run("layout 4", chromedp.Click(css("#layout-4")))
	run("drop camera", chromedp.Evaluate[chromedp.Void](`(() => {
		const dt = new DataTransfer(); dt.setData("application/x-vigil-camera", "cam-nga-tu-muong-thanh");
		const tile = document.querySelector('#wall .tile[data-index="0"]');
		tile.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
		tile.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
	})()`))
	run("click camera", chromedp.Click(css(`#camera-tree button.cam[data-camera="cam-vo-nguyen-giap"]`)))
	tileVideo := func(i int) string {
		return fmt.Sprintf(`document.querySelector('#wall .tile[data-index="%d"] video')`, i)
	}
	advancing := func(i int) {
		t.Helper()
		wait(fmt.Sprintf("tile %d playing", i), fmt.Sprintf(`document.querySelector('#wall .tile[data-index="%d"]').dataset.state === "playing"`, i))
		wait(fmt.Sprintf("tile %d video time", i), tileVideo(i)+`.currentTime > 0`)
		t0 := ev[float64](t, bctx, tileVideo(i)+`.currentTime`)
		wait(fmt.Sprintf("tile %d video time to advance", i), fmt.Sprintf(`%s.currentTime > %f`, tileVideo(i), t0+1))
	}
	advancing(0)
	advancing(1)
	w := ev[float64](t, bctx, tileVideo(0)+`.videoWidth`)
	hgt := ev[float64](t, bctx, tileVideo(0)+`.videoHeight`)
	label := ev[string](t, bctx, `document.querySelector('#wall .tile[data-index="0"] .tstate').textContent`)
	if !strings.Contains(label, "WebRTC") || !strings.Contains(label, "luồng phụ") {
		t.Fatalf("small tile: %q (want WebRTC, sub stream)", label)
	}
	t.Logf("small tile: %q %.0fx%.0f", label, w, hgt)
	shot("live-wall")
	// Enlarged: the main stream.
	run("enlarge", chromedp.Click(css(`#wall .tile[data-index="0"] button[data-act="enlarge"]`)))
	wait("main stream", `document.querySelector('#wall .tile[data-index="0"] .tstate').textContent.includes("luồng chính")`)
	advancing(0)
	mw := ev[float64](t, bctx, tileVideo(0)+`.videoWidth`)
	t.Logf("enlarged tile: %.0f px wide (sub was %.0f)", mw, w)
	run("restore", chromedp.Click(css(`#wall .tile[data-index="0"] button[data-act="enlarge"]`)))
	wallTools(t, bctx, wait, run, shot, adm, ptzDev)
	treeAndWallExtras(t, bctx, wait, run, shot)
	// The wall is saved per user.
	saved := ev[string](t, bctx, `Object.keys(localStorage).filter(k => k.startsWith("vigil.wall.")).map(k => localStorage[k]).join()`)
	if !strings.Contains(saved, "cam-nga-tu-muong-thanh") || !strings.Contains(saved, `"layout":4`) {
		t.Fatalf("wall not saved: %s", saved)
	}

	// 5. The map shows the same cameras on its offline basemap, clusters
	// the town-centre cameras when zoomed out, and nothing it asks for
	// leaves loopback (the browser's own network log).
	var netMu sync.Mutex
	var requested []string
	_ = chromedp.Listen(bctx, func(e any) {
		if r, ok := e.(*network.EventRequestWillBeSent); ok && r.Request != nil {
			netMu.Lock()
			requested = append(requested, r.Request.URL)
			netMu.Unlock()
		}
	})
	run("network log", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{})
		return err
	}))
	run("map", chromedp.Navigate(base+"/#/map"))
	wait("map ready with its basemap", `document.querySelector("#camera-map[data-ready]") && Number(document.querySelector("#camera-map").dataset.basemap) > 60 &&
		document.querySelectorAll("#camera-map path.province").length > 60`)
	// Every camera is a marker or inside a cluster.
	wait("markers", fmt.Sprintf(`document.querySelectorAll("#camera-map .cam-marker").length +
		[...document.querySelectorAll("#camera-map .cluster")].reduce((n, c) => n + Number(c.dataset.count), 0) === %d`, len(inTree)))
	shot("map")
	for _, vp := range [][2]int64{{1440, 900}, {1024, 768}} {
		run("viewport", chromedp.EmulateViewport(vp[0], vp[1]))
		wait("map laid out", fmt.Sprintf(`innerWidth === %d`, vp[0]))
		shot(fmt.Sprintf("map-%dx%d", vp[0], vp[1]))
	}
	run("viewport back", chromedp.EmulateViewport(1366, 768))
	// Zoom out (a click during the zoom animation is ignored, so the
	// condition clicks again until the cameras cluster).
	wait("town-centre cameras clustered", `(() => {
		const ok = [...document.querySelectorAll("#camera-map .cluster")].some(c => Number(c.dataset.count) >= 7) &&
			[...document.querySelectorAll("#camera-map .leaflet-marker-icon")].every(m => !m.style.opacity || m.style.opacity === "1");
		if (!ok && !document.querySelector("#camera-map.leaflet-zoom-anim")) document.querySelector(".leaflet-control-zoom-out").click();
		return ok })()`)
	shot("map-clustered")
	run("zoom to a camera", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`), chromedp.Click(css(`#camera-tree button.cam[data-camera="cam-cho-trung-tam"]`)))
	wait("camera popup with thumbnail", `(() => { const p = document.querySelector('.map-pop[data-camera="cam-cho-trung-tam"]'); const i = p && p.querySelector("img");
		return i && i.complete && i.naturalWidth > 100 })()`)
	shot("map-popup")
	netMu.Lock()
	for _, u := range requested {
		if !strings.HasPrefix(u, base+"/") && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:") {
			t.Fatalf("the map asked for %s: a request left the site", u)
		}
	}
	t.Logf("map: %d requests, all to the site itself", len(requested))
	netMu.Unlock()

	// 6. The police officer is offered no administration.
	nav := ev[[]string](t, bctx, `[...document.querySelectorAll(".mainnav a")].map(a => a.id)`)
	if strings.Contains(strings.Join(nav, ","), "nav-admin") || strings.Contains(strings.Join(nav, ","), "nav-audit") {
		t.Fatalf("police offered %v", nav)
	}
	run("logout", chromedp.Click(css("#logout")))

	// 7. The administrator creates a camera …
	login("admin", info.AdminPassword)
	wait("signed in", `document.querySelector("#nav-admin")`)
	run("admin cameras", chromedp.Navigate(base+"/#/admin/cameras"))
	wait("camera table", `document.querySelector("#camera-table")`)
	shot("admin-cameras")
	run("new camera", chromedp.Click(css("#camera-create")))
	wait("camera form", `document.querySelector("#camera-form[open]")`)
	run("fill camera form",
		chromedp.SetValue(css(`#camera-form [name="id"]`), "cam-thu-nghiem"),
		chromedp.SetValue(css(`#camera-form [name="system_id"]`), "ioc-tinh"),
		chromedp.SetValue(css(`#camera-form [name="name"]`), "Cổng chợ Him Lam"),
		chromedp.Click(css(`#camera-form input[name="kinds"][value="security"]`)),
		chromedp.Click(css(`#camera-form input[name="purposes"][value="urban_order"]`)),
		chromedp.SetValue(css(`#camera-form [name="area"]`), "public_other"),
		chromedp.SetValue(css(`#camera-form [name="lat"]`), "21.3912"),
		chromedp.SetValue(css(`#camera-form [name="lon"]`), "103.0101"),
		chromedp.SetValue(css(`#camera-form [name="admin_unit"]`), "Phường Him Lam"),
		chromedp.Click(css(`#camera-form input[name="push"]`)))
	shot("camera-form")
	run("save camera", chromedp.Click(css("#camera-form-submit")))
	wait("camera in table", `document.querySelector('#camera-table tr[data-camera="cam-thu-nghiem"]')`)

	// … and finds the change in the audit viewer.
	run("audit", chromedp.Navigate(base+"/#/audit"))
	wait("audit rows", `document.querySelectorAll("#audit-rows tr[data-seq]").length > 0`)
	run("filter audit", chromedp.SetValue(css("#audit-action"), "camera."), chromedp.Click(css("#audit-search")))
	wait("filtered rows", `document.querySelector('#audit-rows[data-query="&action=camera."]')`)
	wait("camera change in audit", `[...document.querySelectorAll("#audit-rows tr[data-seq]")].some(r => r.textContent.includes("camera/cam-thu-nghiem") && r.textContent.includes("admin"))`)
	if ev[bool](t, bctx, `[...document.querySelectorAll("#audit-rows tr[data-seq]")].some(r => !r.dataset.action.startsWith("camera."))`) {
		t.Fatal("audit filter by action prefix shows other actions")
	}
	run("verify audit", chromedp.Click(css("#audit-verify")))
	wait("verify result", `document.querySelector("#audit-verify-result").className === "ok"`)
	shot("audit")

	// … and reads the compliance report: figures in a table, downloads offered.
	run("report", chromedp.Navigate(base+"/#/report"))
	wait("report figures", `document.querySelectorAll("#report-figures tbody tr").length > 5 && document.querySelector("#report-xlsx").href.includes("format=xlsx")`)
	shot("report")

	// … and follows the lower sites: the demo's tier-2 site is connected
	// and its shipped audit log checks out; a new enrollment token is shown
	// once, as the command the lower site runs.
	run("federation", chromedp.Navigate(base+"/#/admin/federation"))
	wait("tier-2 site connected", `document.querySelector('#site-table tr[data-site="dien-bien-ca"][data-link="up"]')`)
	run("open site", chromedp.Click(css(`#site-table tr[data-site="dien-bien-ca"] a`)))
	wait("site page", `document.querySelector("#site-facts") && document.querySelectorAll("#link-history tbody tr").length > 0`)
	run("check shipped audit", chromedp.Click(css("#site-verify")))
	wait("shipped audit intact", `document.querySelector("#site-result p.ok")`)
	shot("federation-site")
	run("back to sites", chromedp.Click(css("#site-back")))
	wait("enroll button", `document.querySelector("#enroll-open")`)
	run("enroll", chromedp.Click(css("#enroll-open")))
	wait("enroll form", `document.querySelector("#enroll-form")`)
	run("fill enroll", chromedp.SetValue(css(`#enroll-form input[name="site_id"]`), "dien-bien-ca"),
		chromedp.Click(css(`#enroll-form input[name="systems"][value="ca-tinh-giao-thong"]`)), chromedp.Click(css("#enroll-form-submit")))
	wait("token shown once", `(document.querySelector("#enroll-command") || {}).textContent?.startsWith("vigil enroll http") && document.querySelector("#enroll-command").textContent.includes(" vgle1_")`)
	shot("federation-token")
	run("close token", chromedp.Click(css("#enroll-token-close")))

	// 8. Playback, seek and export, when the site records (issue 4's room).
	if ev[bool](t, bctx, `!!document.querySelector("#nav-playback")`) {
		// Playback needs footage to play: a recording only seconds old ends
		// before the seek step can play 8 s. This is a precondition, not a
		// timing assertion.
		if d := 40*time.Second - time.Since(started); d > 0 {
			t.Logf("waiting %v for the demo to have recorded 40 s", d.Round(time.Second))
			time.Sleep(d)
		}
		playbackSteps(t, bctx, base, wait, run, shot, a.KeyID)
	} else {
		t.Log("!!! playback not offered by this site: playback steps not run")
	}

	// 9. English.
	run("english", chromedp.Click(css("#lang-en")))
	wait("english UI", `document.documentElement.lang === "en" && document.querySelector("#nav-live").textContent === "Live wall"`)
	run("users", chromedp.Navigate(base+"/#/admin/users"))
	wait("users table", `document.querySelector("table.data caption") && document.querySelector("table.data caption").textContent.startsWith("Accounts")`)
	shot("admin-users-en")
}

// cutProxy relays TCP from a loopback port to the site. cut closes the
// port and every relayed connection (to the browser, the server is gone);
// restore listens on the same port again.
type cutProxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]struct{}
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	p := &cutProxy{target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln { // cut meanwhile
				p.mu.Unlock()
				c.Close()
				u.Close()
				return
			}
			p.conns[c], p.conns[u] = struct{}{}, struct{}{}
			p.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				dst.Close()
				src.Close()
				p.mu.Lock()
				delete(p.conns, dst)
				delete(p.conns, src)
				p.mu.Unlock()
			}
			go pipe(c, u)
			go pipe(u, c)
		}
	}()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// apiSession is a signed-in API client (cookie session and CSRF token).
type apiSession struct {
	base string
	c    *http.Client
	csrf string
}

func newAPISession(t *testing.T, base, user, pw string) *apiSession {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	s := &apiSession{base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	var out struct {
		State     string `json:"state"`
		CSRFToken string `json:"csrf_token"`
	}
	s.doInto(t, http.MethodPost, "/api/v1/auth/login", map[string]string{"username": user, "password": pw}, http.StatusOK, &out)
	if out.State != "ok" || out.CSRFToken == "" {
		t.Fatalf("login %s: state %q", user, out.State)
	}
	s.csrf = out.CSRFToken
	return s
}

func (s *apiSession) do(t *testing.T, method, path string, body any, want int) {
	t.Helper()
	s.doInto(t, method, path, body, want, nil)
}

func (s *apiSession) doInto(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, s.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if s.csrf != "" {
		req.Header.Set("X-CSRF-Token", s.csrf)
	}
	res, err := s.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d %s (want %d)", method, path, res.StatusCode, got, want)
	}
	if out != nil {
		if err := json.Unmarshal(got, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// wallTools exercises the tools of tile 1 (cam-vo-nguyen-giap, playing):
// digital zoom, snapshot download with its audit entry, instant replay of
// recorded frames and back to live, and the PTZ pad and presets reaching
// the simulated ONVIF camera.
func wallTools(t *testing.T, bctx context.Context, wait func(string, string), run func(string, ...chromedp.Action[chromedp.Void]),
	shot func(string), adm *apiSession, dev *sim.OnvifDevice) {
	t.Helper()
	const tile = `document.querySelector('#wall .tile[data-index="1"]')`
	const sel = `#wall .tile[data-index="1"] `

	// Digital zoom: the wheel enlarges the picture; 1:1 restores it.
	run("wheel zoom", chromedp.Evaluate[chromedp.Void](`(() => { const st = `+tile+`.querySelector(".stage"); const r = st.getBoundingClientRect();
		for (let i = 0; i < 3; i++) st.dispatchEvent(new WheelEvent("wheel", { deltaY: -100, clientX: r.left + r.width / 3, clientY: r.top + r.height / 3, bubbles: true, cancelable: true })); })()`))
	wait("digital zoom", `Number(`+tile+`.dataset.zoom) > 1.5 && `+tile+`.querySelector("video").style.transform.includes("scale")`)
	shot("wall-zoom")
	run("reset zoom", chromedp.Click(css(sel+`.zoom-reset`)))
	wait("zoom reset", tile+`.dataset.zoom === "1.00" && !`+tile+`.querySelector("video").style.transform`)

	// Snapshot: a JPEG download, audited.
	dir := t.TempDir()
	run("downloads", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
		return err
	}))
	run("snapshot", chromedp.Click(css(sel+`button[data-act="snapshot"]`)))
	var jpeg []byte
	for jpeg == nil {
		es, _ := os.ReadDir(dir)
		for _, e := range es {
			if strings.HasSuffix(e.Name(), ".jpg") && strings.HasPrefix(e.Name(), "cam-vo-nguyen-giap_") {
				jpeg, _ = os.ReadFile(filepath.Join(dir, e.Name()))
			}
		}
		select {
		case <-bctx.Done():
			t.Fatalf("snapshot did not download: %v", es)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if len(jpeg) < 1000 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
		t.Fatalf("snapshot is not a JPEG (%d bytes)", len(jpeg))
	}
	var audited struct {
		Items []struct {
			Actor  string `json:"actor"`
			Action string `json:"action"`
			Object string `json:"object"`
		} `json:"items"`
	}
	adm.doInto(t, http.MethodGet, "/api/v1/audit?action=camera.snapshot&object=camera/cam-vo-nguyen-giap", nil, http.StatusOK, &audited)
	if len(audited.Items) == 0 || audited.Items[0].Actor != "congan" {
		t.Fatalf("snapshot not audited: %+v", audited)
	}
	t.Logf("snapshot downloaded (%d bytes JPEG) and audited", len(jpeg))

	// Instant replay: the last 10 s from the recordings, then live again.
	run("replay menu", chromedp.Click(css(sel+`button[data-act="replay"]`)))
	run("replay 10 s", chromedp.Click(css(sel+`.menu button[data-secs="10"]`)))
	wait("replay plays recorded frames", tile+`.dataset.mode === "replay" && `+tile+`.querySelector("video.replay").currentTime > 1`)
	shot("wall-replay")
	run("back to live", chromedp.Click(css(sel+`.rb-live`)))
	wait("live again", tile+`.dataset.mode === "live" && `+tile+`.querySelector("video.replay").hidden && !`+tile+`.querySelector("video.replay").getAttribute("src")`)
	t0 := ev[float64](t, bctx, tile+`.querySelector("video").currentTime`)
	wait("live video advancing", fmt.Sprintf(`%s.querySelector("video").currentTime > %f`, tile, t0+1))

	// PTZ: the pad moves and stops the camera; a preset is recalled.
	wait("PTZ offered", `!document.querySelector('`+sel+`button[data-act="ptz"]').hidden`)
	run("open PTZ", chromedp.Click(css(sel+`button[data-act="ptz"]`)))
	wait("presets listed", `document.querySelectorAll('`+sel+`.ptz-presets option').length >= 3`)
	shot("wall-ptz")
	run("pan right", chromedp.Evaluate[chromedp.Void](`(() => { const b = document.querySelector('`+sel+`.ptz-btn[data-dir="right"]');
		b.dispatchEvent(new PointerEvent("pointerdown", { bubbles: true })); b.dispatchEvent(new PointerEvent("pointerup", { bubbles: true })); })()`))
	run("preset", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('`+sel+`.ptz-presets'); s.value = "2"; s.dispatchEvent(new Event("change")); })()`))
	var ops []string
	for {
		ops = ops[:0]
		for _, c := range dev.PTZLog() {
			ops = append(ops, c.Op+":"+c.Pan+":"+c.Preset)
		}
		got := strings.Join(ops, ",")
		if strings.Contains(got, "ContinuousMove:0.5") && strings.Contains(got, "Stop") && strings.Contains(got, "GotoPreset::2") {
			break
		}
		select {
		case <-bctx.Done():
			t.Fatalf("PTZ commands at the camera: %v", ops)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Logf("PTZ commands reached the camera: %v", ops)
	run("close PTZ", chromedp.Click(css(sel+`button[data-act="ptz"]`)))
}

// treeAndWallExtras: the tree's icons, hover thumbnail, context menu and
// favourites; full screen; the alarm tile showing the camera of a new
// incident; a tour cycling cameras; the pop-out window's page; screenshots
// of the dark wall at 1440×900 and 1024×768.
func treeAndWallExtras(t *testing.T, bctx context.Context, wait func(string, string), run func(string, ...chromedp.Action[chromedp.Void]), shot func(string)) {
	t.Helper()
	row := func(id string) string {
		return `document.querySelector('#camera-tree button.cam[data-camera="` + id + `"]')`
	}
	wait("PTZ icon in the tree", row("cam-vo-nguyen-giap")+`.dataset.flags.includes("ptz")`)
	run("hover", chromedp.Evaluate[chromedp.Void](row("cam-nga-tu-muong-thanh")+`.dispatchEvent(new MouseEvent("mouseenter"))`))
	wait("hover thumbnail", `(() => { const th = document.querySelector(".thumb"); const i = th.querySelector("img");
		return !th.hidden && th.dataset.camera === "cam-nga-tu-muong-thanh" && i.complete && i.naturalWidth > 100 })()`)
	shot("tree-thumbnail")
	run("unhover", chromedp.Evaluate[chromedp.Void](row("cam-nga-tu-muong-thanh")+`.dispatchEvent(new MouseEvent("mouseleave"))`))
	run("context menu", chromedp.Evaluate[chromedp.Void](`(() => { const b = `+row("cam-cho-trung-tam")+`; const r = b.getBoundingClientRect();
		b.dispatchEvent(new MouseEvent("contextmenu", { bubbles: true, cancelable: true, clientX: r.left + 30, clientY: r.bottom })); })()`))
	wait("context menu open", `!document.querySelector("#tree-menu").hidden && document.querySelectorAll("#tree-menu button").length === 5`)
	shot("tree-menu")
	run("add favourite", chromedp.Click(css(`#tree-menu button[data-act="favourite"]`)))
	run("favourites", chromedp.SetValue(css("#tree-group"), "fav"), chromedp.Evaluate[chromedp.Void](`document.querySelector("#tree-group").dispatchEvent(new Event("change"))`))
	wait("favourites only", `(() => { const b = [...document.querySelectorAll("#camera-tree button.cam")]; return b.length === 1 && b[0].dataset.camera === "cam-cho-trung-tam" && b[0].querySelector(".fav") })()`)
	run("by tier", chromedp.SetValue(css("#tree-group"), "tier"), chromedp.Evaluate[chromedp.Void](`document.querySelector("#tree-group").dispatchEvent(new Event("change"))`))
	wait("tree by tier again", `document.querySelectorAll("#camera-tree button.cam").length > 3`)

	// Full screen on a tile and back.
	run("full screen", chromedp.Click(css(`#wall .tile[data-index="0"] button[data-act="fullscreen"]`)))
	wait("tile full screen", `document.fullscreenElement === document.querySelector('#wall .tile[data-index="0"]')`)
	run("leave full screen", chromedp.Evaluate[chromedp.Void](`document.exitFullscreen()`))
	wait("full screen left", `!document.fullscreenElement`)

	// The alarm tile: a new incident about a camera puts it in the last tile.
	run("alarm on", chromedp.Click(css("#alarm-toggle")))
	wait("alarm on", `document.querySelector("#alarm-toggle").getAttribute("aria-pressed") === "true"`)
	run("mute", chromedp.Click(css("#alarm-mute")))
	run("report incident", chromedp.Evaluate[chromedp.Void](`fetch("/api/v1/auth/me").then(r => r.json()).then(me => fetch("/api/v1/incidents", { method: "POST",
		headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf_token },
		body: JSON.stringify({ category: "security", camera_id: "cam-cho-trung-tam", title: "Tụ tập đông người trước cổng chợ" }) }))`))
	wait("alarm tile shows the incident's camera", `(() => { const tl = document.querySelector('#wall .tile[data-index="3"]');
		return tl.dataset.camera === "cam-cho-trung-tam" && tl.classList.contains("alarm") && tl.querySelector(".alarm-tag").textContent.includes("Tụ tập") })()`)
	wait("alarm tile playing", `document.querySelector('#wall .tile[data-index="3"]').dataset.state === "playing"`)
	shot("wall-alarm")
	for _, vp := range [][2]int64{{1440, 900}, {1024, 768}} {
		run("viewport", chromedp.EmulateViewport(vp[0], vp[1]))
		wait("wall laid out", fmt.Sprintf(`innerWidth === %d && document.querySelector("#wall").getBoundingClientRect().width > 400`, vp[0]))
		shot(fmt.Sprintf("live-wall-dark-%dx%d", vp[0], vp[1]))
	}
	run("viewport back", chromedp.EmulateViewport(1366, 768))
	run("alarm off", chromedp.Click(css("#alarm-toggle")))

	// A tour over five cameras: a wall-full, then the fifth.
	run("tour", chromedp.Click(css("#tour-open")))
	wait("tour form", `document.querySelector("#tour-form[open]")`)
	run("tour cameras", chromedp.SetValue(css("#tour-seconds"), "3"), chromedp.Evaluate[chromedp.Void](`(() => {
		for (const id of ["cam-nga-tu-muong-thanh", "cam-vo-nguyen-giap", "cam-cho-trung-tam", "cam-san-bay", "cam-cau-muong-thanh"])
			document.querySelector('#tour-form input[value="' + id + '"]').checked = true; })()`))
	run("start tour", chromedp.Click(css("#tour-start")))
	const five = `["cam-nga-tu-muong-thanh", "cam-vo-nguyen-giap", "cam-cho-trung-tam", "cam-san-bay", "cam-cau-muong-thanh"]`
	wait("tour step 1: four of the five", `document.body.dataset.tour === "1" && (() => {
		const on = [0, 1, 2, 3].map(i => document.querySelector('#wall .tile[data-index="' + i + '"]').dataset.camera);
		window.tourFirst = on; return new Set(on).size === 4 && on.every(id => `+five+`.includes(id)) })()`)
	wait("tour step 2: the fifth", `document.body.dataset.tour === "2" && (() => {
		const id = document.querySelector('#wall .tile[data-index="0"]').dataset.camera;
		return `+five+`.includes(id) && !window.tourFirst.includes(id) })()`)
	run("stop tour", chromedp.Click(css("#tour-open")))
	wait("tour stopped", `document.querySelector("#tour-open").getAttribute("aria-pressed") === "false" && !document.body.dataset.tour`)

	// The pop-out page (what the tile's pop-out button opens in a window of
	// its own): the camera alone, playing, nothing else.
	run("pop-out page", chromedp.Evaluate[chromedp.Void](`location.hash = "#/popout/cam-nga-tu-muong-thanh"`))
	wait("pop-out plays", `!document.querySelector("header.top") && document.querySelector("main.popout") &&
		document.querySelector('#wall .tile[data-index="0"]').dataset.camera === "cam-nga-tu-muong-thanh" &&
		document.querySelector('#wall .tile[data-index="0"]').dataset.state === "playing"`)
	shot("popout")
	run("back to the wall", chromedp.Evaluate[chromedp.Void](`location.hash = "#/live"`))
	wait("wall again", `document.querySelector("header.top") && document.querySelector("#layout-4")`)
}
