package federation_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

func benchN(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func importCameras(b *testing.B, s *apptest.Site, system, prefix string, n int) {
	var buf bytes.Buffer
	buf.WriteString("id,system_id,name,kinds,purposes,area,lat,lon,push\n")
	for i := range n {
		fmt.Fprintf(&buf, "%s-%05d,%s,Camera %d,security,urban_order,road,%.5f,%.5f,true\n", prefix, i, system, i,
			21.3+float64(i%100)/1000, 103.0+float64(i/100)/1000)
	}
	if _, err := s.App.Registry.ImportCameras(context.Background(), seed, &buf, registry.ImportOptions{MaxRows: n}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFederation measures, on loopback, with tier 1 on PostgreSQL
// (SQLite when FED_BENCH_TIER1=sqlite) and the lower site on SQLite:
//   - sync: FED_BENCH_CAMERAS (default 10 000) cameras imported at a lower
//     site with the link up, until tier 1 holds them all;
//   - catch-up: the link cut while FED_BENCH_CHANGES (default 2 000) single
//     camera edits are made (each an inventory message and an audit entry),
//     then restored, until tier 1 has applied everything (events/s).
//
// Run with bench/federation.sh (one iteration: -benchtime 1x).
func BenchmarkFederation(b *testing.B) {
	ctx := context.Background()
	nCams := benchN("FED_BENCH_CAMERAS", 10000)
	nChanges := benchN("FED_BENCH_CHANGES", 2000)
	var t1db *store.DB
	if os.Getenv("FED_BENCH_TIER1") == "sqlite" {
		t1db = storetest.SQLite(b)
	} else {
		t1db = storetest.Postgres(b)
	}
	proxy := newLinkProxy(b)
	t1 := startTier1(b, t1db, proxy)
	t1.SeedWorld(nil)
	if _, err := t1.App.Registry.CreateSystem(ctx, seed, registry.System{ID: "xa-a", Name: "Camera xã A", Tier: 3,
		ManagingOrgID: "ubnd-xa", OperatingOrgID: "vnpt", SiteID: "site-a"}); err != nil {
		b.Fatal(err)
	}
	t1.User("admin", "so-khcn", "admin")
	tok := enrollToken(b, t1.Login("admin"), "site-a", "xa-a")
	a := startLower(b, storetest.SQLite(b), "site-a", 3, t1.Base, tok)
	seedLower(b, a, "xa-a", 3)
	waitFor(b, "link up", func() bool { return site(b, t1, "site-a").LinkState == "up" })

	fedCount := func() int {
		return count(b, t1.App.DB, `SELECT COUNT(*) FROM federation_cameras WHERE site_id = 'site-a'`)
	}
	b.ResetTimer()
	start := time.Now()
	importCameras(b, a, "xa-a", "cam", nCams)
	imported := time.Since(start)
	a.App.Federation.Kick()
	waitFor(b, "inventory at tier 1", func() bool { return fedCount() >= nCams })
	syncT := time.Since(start)
	// Let tier 1 finish the inventory's audit entries before the outage.
	waitFor(b, "inventory applied", func() bool {
		st, _ := a.App.Federation.Stats(ctx)
		return st.AuditSeq >= auditHead(b, a.App.DB) && site(b, t1, "site-a").AppliedSeq >= st.OutSeq
	})

	// Catch-up after an outage.
	proxy.Cut()
	waitFor(b, "link down", func() bool { return !a.App.Federation.LinkUp() })
	for i := range nChanges {
		id := fmt.Sprintf("cam-%05d", i%nCams)
		c, err := a.App.Registry.GetCamera(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		in := registry.CameraInput{SystemID: c.SystemID, Name: fmt.Sprintf("Camera đổi %d", i), Kinds: c.Kinds, Purposes: c.Purposes,
			Area: c.Area, Lat: c.Lat, Lon: c.Lon, Push: true}
		if _, err := a.App.Registry.UpdateCamera(ctx, seed, id, c.Version, in); err != nil {
			b.Fatal(err)
		}
	}
	a.App.Federation.Kick()
	waitFor(b, "outbox filled", func() bool {
		st, _ := a.App.Federation.Stats(ctx)
		return st.AuditSeq >= auditHead(b, a.App.DB)
	})
	st, _ := a.App.Federation.Stats(ctx)
	before := site(b, t1, "site-a").AppliedSeq
	t0 := time.Now()
	proxy.Restore()
	waitFor(b, "catch-up", func() bool { return site(b, t1, "site-a").AppliedSeq >= st.OutSeq })
	catchT := time.Since(t0)
	b.StopTimer()
	events := float64(st.OutSeq - before)
	b.ReportMetric(float64(nCams), "cameras")
	b.ReportMetric(imported.Seconds(), "import_s")
	b.ReportMetric(syncT.Seconds(), "sync_s")
	b.ReportMetric(events, "catchup_events")
	b.ReportMetric(catchT.Seconds(), "catchup_s")
	b.ReportMetric(events/catchT.Seconds(), "catchup_events/s")
}
