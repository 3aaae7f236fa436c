package console_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// BenchmarkTree5000InChromium: the console's camera tree with 5,000 cameras
// (loaded through the registry's CSV import) in headless Chromium at
// 1440×900: time from navigation to the tree drawn with every camera
// counted, and the frame times while the tree scrolls from top to bottom
// (one scroll step of 280 px per frame).
func BenchmarkTree5000InChromium(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := apptest.Start(b, storetest.SQLite(b), apptest.Options{})
	s.SeedWorld(nil)
	s.User("admin", "so-khcn", "admin")
	var sb strings.Builder
	sb.WriteString("id,system_id,name,kinds,purposes,area,lat,lon,admin_unit,push\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&sb, "t%05d,%s,Camera %s số %d đường Võ Nguyên Giáp,security,urban_order,public_other,%.5f,%.5f,Xã %d,yes\n",
			i, []string{"ioc", "xa"}[i%2], []string{"giao thông", "an ninh", "trật tự"}[i%3], i, 21.0+float64(i%100)/200, 103.0+float64(i/100)/200, i%40)
	}
	if _, err := s.App.Registry.ImportCameras(ctx, registry.Actor{UserID: "system", Username: "bench", Remote: "local"},
		strings.NewReader(sb.String()), registry.ImportOptions{MaxRows: 5000, MaxBytes: 8 << 20}); err != nil {
		b.Fatal(err)
	}
	bctx := browser(b, ctx)
	run := func(acts ...chromedp.Action[chromedp.Void]) {
		if err := chromedp.Do(bctx, acts...); err != nil {
			b.Fatal(err)
		}
	}
	run(chromedp.EmulateViewport(1440, 900), chromedp.Navigate(s.Base+"/"))
	run(chromedp.WaitVisible(css("#login-form")), chromedp.SetValue(css("#username"), "admin"),
		chromedp.SetValue(css("#password"), apptest.Password), chromedp.Click(css("#login-submit")))
	run(chromedp.WaitVisible(css("#camera-tree .row")))
	var paint, frames []float64
	for i := 0; i < b.N; i++ {
		run(chromedp.Reload())
		// Time from navigation start to the first frame with the tree drawn
		// and all 5,000 cameras counted.
		ms, err := chromedp.Run(bctx, chromedp.Evaluate[float64](`new Promise(r => { const f = () => {
			const c = document.querySelector("#tree-count"), rows = document.querySelectorAll("#camera-tree .row").length;
			if (c && parseInt(c.textContent) >= 5000 && rows > 10) r(performance.now()); else requestAnimationFrame(f); }; f(); })`, chromedp.EvalAwaitPromise))
		if err != nil {
			state, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`location.href + " | " + (document.querySelector("#tree-count") || {}).textContent + " | " + document.querySelectorAll("#camera-tree .row").length`))
			b.Fatalf("tree not drawn: %v (%s)", err, state)
		}
		paint = append(paint, ms)
		// Open every group, then scroll to the bottom one step per frame.
		ft, err := chromedp.Run(bctx, chromedp.Evaluate[[]float64](`new Promise(async r => {
			for (const g of document.querySelectorAll('#camera-tree .grp[aria-expanded="false"]')) g.click();
			const list = document.querySelector("#camera-tree"), out = [];
			let last = performance.now();
			const step = () => {
				const now = performance.now(); out.push(now - last); last = now;
				if (list.scrollTop + list.clientHeight >= list.scrollHeight - 2) { r(out); return; }
				list.scrollTop += 280; requestAnimationFrame(step); };
			requestAnimationFrame(step); })`, chromedp.EvalAwaitPromise))
		if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, ft[1:]...)
	}
	b.StopTimer()
	rows, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector("#camera-tree").dataset.rows + " rows, " + document.querySelectorAll("#camera-tree .row").length + " in the page"`))
	b.Logf("tree: %s", rows)
	sort.Float64s(paint)
	sort.Float64s(frames)
	q := func(v []float64, p float64) float64 { return v[int(p*float64(len(v)-1))] }
	b.ReportMetric(q(paint, 0.5), "tree-ms")
	b.ReportMetric(q(frames, 0.5), "frame-p50-ms")
	b.ReportMetric(q(frames, 0.99), "frame-p99-ms")
	b.ReportMetric(float64(len(frames))/float64(b.N), "frames")
}
