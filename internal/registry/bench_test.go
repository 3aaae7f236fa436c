package registry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

type nopAudit struct{}

func (nopAudit) Append(_ context.Context, _ store.Q, e audit.Entry) (audit.Entry, error) {
	return e, nil
}

// seedBench writes 200 organisations, 40 systems and 10,000 cameras through
// the service (the CSV import for the cameras, as an agency would).
func seedBench(b *testing.B, db *store.DB) *registry.Service {
	b.Helper()
	svc := registry.New(db, nopAudit{}, fakeSealer{})
	for i := range 200 {
		kind := []string{registry.OrgUserAgency, registry.OrgManagingAgency, registry.OrgOperatingUnit, registry.OrgCommune}[i%4]
		if _, err := svc.CreateOrganisation(ctx, actor, registry.Organisation{
			ID: fmt.Sprintf("org-%03d", i), Name: fmt.Sprintf("Đơn vị số %d tỉnh Điện Biên", i), Kind: kind,
			Functions: []string{registry.Purposes[i%len(registry.Purposes)]},
		}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 40 {
		if _, err := svc.CreateSystem(ctx, actor, registry.System{
			ID: fmt.Sprintf("sys-%02d", i), Name: fmt.Sprintf("Hệ thống %d", i), Tier: 1 + i%3,
			ManagingOrgID: fmt.Sprintf("org-%03d", (i*5+1)%200), OperatingOrgID: fmt.Sprintf("org-%03d", (i*5+2)%200), SiteID: fmt.Sprintf("site-%02d", i),
		}); err != nil {
			b.Fatal(err)
		}
	}
	var csv strings.Builder
	csv.WriteString("id,system_id,name,kinds,purposes,area,lat,lon,admin_unit,classified,main_url\n")
	for i := range 10000 {
		fmt.Fprintf(&csv, "cam-%05d,sys-%02d,Camera đường %d phường Mường Thanh,%s,%s,%s,%.5f,%.5f,Xã %d,%t,rtsp://u:p@10.%d.%d.%d/main\n",
			i, i%40, i, registry.Kinds[i%6], registry.Purposes[i%6]+"|"+registry.Purposes[(i/6)%6], registry.Areas[i%5],
			21+float64(i%1000)/1000, 103+float64(i/1000)/100, i%130, i%17 == 0, i/65536, (i/256)%256, i%256)
	}
	res, err := svc.ImportCameras(ctx, actor, strings.NewReader(csv.String()), registry.ImportOptions{MaxBytes: 16 << 20})
	if err != nil || res.Created != 10000 {
		b.Fatalf("seed: %d %v", res.Created, err)
	}
	return svc
}

// benchScope is what access.Scope gives a user agency: its own systems,
// plus unclassified cameras serving its functions.
var benchScope = registry.Scope{
	Where: "s.managing_org_id = ? OR s.operating_org_id = ? OR ((c.purposes & ?) <> 0 AND c.classified = ?)",
	Args:  []any{"org-001", "org-001", registry.MustMask(registry.Purposes, "traffic_safety"), false},
}

// BenchmarkScopedList times one page of 50 of a scoped camera list (count
// included) over 10,000 cameras and 200 organisations.
func BenchmarkScopedList(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			var db *store.DB
			if engine == "sqlite" {
				db = storetest.SQLite(b)
			} else {
				db = storetest.Postgres(b)
			}
			svc := seedBench(b, db)
			for _, tc := range []struct {
				name string
				f    registry.CameraFilter
			}{
				{"page1", registry.CameraFilter{Limit: 50}},
				{"page40", registry.CameraFilter{Limit: 50, Offset: 2000}},
				{"search", registry.CameraFilter{Limit: 50, Q: "duong 12"}},
				{"area+kind", registry.CameraFilter{Limit: 50, Area: "road", Kind: "security"}},
			} {
				b.Run(tc.name, func(b *testing.B) {
					for b.Loop() {
						p, err := svc.ListCameras(ctx, benchScope, tc.f)
						if err != nil || p.Total == 0 {
							b.Fatalf("%d %v", p.Total, err)
						}
					}
				})
			}
		})
	}
}
