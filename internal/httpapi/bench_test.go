package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// seedProvince adds 200 organisations, 40 systems and n cameras through the
// CSV import (one transaction, as an agency would load its spreadsheet).
func seedProvince(b *testing.B, s *apptest.Site, n int) {
	ctx := context.Background()
	actor := registry.Actor{UserID: "system", Username: "bench", Remote: "local"}
	purposes := registry.Purposes
	for i := 0; i < 196; i++ {
		kind := []string{registry.OrgUserAgency, registry.OrgCommune, registry.OrgManagingAgency, registry.OrgOperatingUnit}[i%4]
		_, err := s.App.Registry.CreateOrganisation(ctx, actor, registry.Organisation{ID: fmt.Sprintf("org-%03d", i),
			Name: fmt.Sprintf("Cơ quan %d", i), Kind: kind, Functions: []string{purposes[i%len(purposes)]}})
		if err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 40; i++ {
		_, err := s.App.Registry.CreateSystem(ctx, actor, registry.System{ID: fmt.Sprintf("sys-%02d", i), Name: fmt.Sprintf("Hệ thống %d", i),
			Tier: 2 + i%2, ManagingOrgID: fmt.Sprintf("org-%03d", (i*4+2)%196), OperatingOrgID: fmt.Sprintf("org-%03d", (i*4+3)%196), SiteID: "test-site"})
		if err != nil {
			b.Fatal(err)
		}
	}
	areas := []string{"road", "intersection", "public_crowded", "public_other", "internal"}
	kinds := registry.Kinds
	for start := 0; start < n; start += 2500 {
		var sb strings.Builder
		sb.WriteString("id,system_id,name,kinds,purposes,area,lat,lon,push,classified\n")
		for i := start; i < start+2500 && i < n; i++ {
			fmt.Fprintf(&sb, "c%05d,sys-%02d,Camera đường số %d,%s,%s;%s,%s,%.5f,%.5f,yes,%v\n", i, i%40, i,
				kinds[i%len(kinds)], purposes[i%len(purposes)], purposes[(i/7)%len(purposes)], areas[i%len(areas)],
				21.0+float64(i%1000)/1000, 103.0+float64(i/1000)/100, i%50 == 0)
		}
		if _, err := s.App.Registry.ImportCameras(ctx, actor, strings.NewReader(sb.String()), registry.ImportOptions{MaxRows: 5000, MaxBytes: 8 << 20}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScopedCameraList measures GET /api/v1/cameras for a user agency
// over 10,000 cameras and 200 organisations, through the real HTTP stack, on
// both engines. It reports p50 and p99 latency (goal: p99 ≤ 20 ms).
func BenchmarkScopedCameraList(b *testing.B) {
	for _, eng := range []string{"sqlite", "postgres"} {
		b.Run(eng, func(b *testing.B) {
			var db *store.DB
			if eng == "sqlite" {
				db = storetest.SQLite(b)
			} else {
				db = storetest.Postgres(b)
			}
			s := apptest.Start(b, db, apptest.Options{})
			s.SeedWorld(nil)
			seedProvince(b, s, 10000)
			if db.Engine == store.Postgres {
				_, _ = db.SQL.Exec("ANALYZE")
			}
			s.User("police", "cong-an", "operator")
			c := s.Login("police")
			var lat []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				st, _, _ := c.Raw(http.MethodGet, fmt.Sprintf("/api/v1/cameras?limit=50&offset=%d", (i%20)*50), "", nil)
				lat = append(lat, time.Since(t0))
				if st != 200 {
					b.Fatalf("status %d", st)
				}
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(p(0.50), "p50-ms")
			b.ReportMetric(p(0.99), "p99-ms")
		})
	}
}
