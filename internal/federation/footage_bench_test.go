package federation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/federation/fedtest"
	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// BenchmarkFootageAcrossTiers measures playback of a lower site's recording
// from tier 1, on loopback (tier 1 on PostgreSQL, the lower site on
// SQLite): each iteration GETs the whole MP4 of a 15 s range through tier
// 1's API, a new clip each time (open at the lower site, 512 KiB chunk reads
// with read-ahead over the leaf link). "local" reads the same range at the
// lower site itself, the baseline. Run with bench/federation.sh or
//
//	go test -run '^$' -bench FootageAcrossTiers -benchtime 20x ./internal/federation/
func BenchmarkFootageAcrossTiers(b *testing.B) {
	ctx := context.Background()
	proxy := fedtest.NewLinkProxy(b)
	t1 := startTier1(b, storetest.Postgres(b), proxy)
	t1.SeedWorld(nil)
	if _, err := t1.App.Registry.CreateSystem(ctx, seed, registry.System{ID: "huyen-b", Name: "Camera huyện B", Tier: 2,
		ManagingOrgID: "ubnd-xa", OperatingOrgID: "vnpt", SiteID: "site-b"}); err != nil {
		b.Fatal(err)
	}
	t1.User("admin", "so-khcn", "admin")
	admin := t1.Login("admin")
	lower := startLower(b, storetest.SQLite(b), "site-b", 2, t1.Base, enrollToken(b, admin, "site-b", "huyen-b"))
	seedLower(b, lower, "huyen-b", 2)
	sm, err := sim.Start(ctx, sim.Config{Addr: "127.0.0.1:0", Cameras: []sim.CameraSpec{{ID: "cam-b1"}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sm.Close)
	if _, err := lower.App.Registry.CreateCamera(ctx, seed, registry.CameraInput{ID: "cam-b1", SystemID: "huyen-b", Name: "Camera cam-b1",
		Kinds: []string{"security"}, Purposes: []string{"urban_order"}, Area: "road", Lat: 21.4, Lon: 103.1,
		MainURL: sm.URL("cam-b1", "main")}); err != nil {
		b.Fatal(err)
	}
	lower.App.ReloadMedia(ctx)
	lower.User("op-b", "ubnd-xa", "operator")
	local := lower.Login("op-b")
	lower.App.Federation.Kick()
	waitFor(b, "cam-b1 at tier 1", func() bool { _, err := t1.App.Registry.GetCamera(ctx, "cam-b1"); return err == nil })

	var span playback.RecordedSpan
	waitFor(b, "20 s of cam-b1 recorded at site B", func() bool {
		tl, err := playback.TimelineOf(ctx, lower.App.DB.Q(), "cam-b1", time.Now().Add(-time.Hour), time.Now())
		if err != nil || len(tl.Spans) == 0 {
			return false
		}
		span = tl.Spans[len(tl.Spans)-1]
		return span.To.Sub(span.From) >= 20*time.Second
	})
	from := span.To.Add(-17 * time.Second)
	get := func(b *testing.B, c *apptest.Client, origin string) {
		var total int64
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			// A different range each time: no clip is reused.
			f := from.Add(time.Duration(i) * time.Millisecond)
			st, body, hdr := c.Raw("GET", fmt.Sprintf("/api/v1/cameras/cam-b1/playback.mp4?from=%d&to=%d", f.UnixMilli(), f.Add(15*time.Second).UnixMilli()), "", nil)
			if st != 200 || hdr.Get("X-Vigil-Origin-Site") != origin {
				b.Fatalf("status %d, origin %q", st, hdr.Get("X-Vigil-Origin-Site"))
			}
			total += int64(len(body))
		}
		el := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(total)/float64(b.N)/1e6, "MB/op")
		b.ReportMetric(float64(total)/el.Seconds()/1e6, "MB/s")
		b.ReportMetric(float64(el.Milliseconds())/float64(b.N), "ms/mp4")
	}
	b.Run("tier1", func(b *testing.B) { get(b, admin, "site-b") })
	b.Run("local", func(b *testing.B) { get(b, local, "") })
}
