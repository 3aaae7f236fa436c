package events

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/secrets"
	"github.com/vigil-vms/vigil/internal/store"
)

var seed = registry.Actor{UserID: "system", Username: "seed"}

func testSealer(t testing.TB) *secrets.Sealer {
	s, err := secrets.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// world makes a service over db with n cameras cam-0..cam-(n-1).
func world(t testing.TB, db *store.DB, n int, now func() time.Time) (*Service, *audit.Log) {
	t.Helper()
	ctx := context.Background()
	al := audit.New(audit.Options{DB: db})
	reg := registry.New(db, al, testSealer(t))
	if _, err := reg.CreateOrganisation(ctx, seed, registry.Organisation{ID: "so", Name: "Sở", Kind: registry.OrgDepartment}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.CreateSystem(ctx, seed, registry.System{ID: "ioc", Name: "IOC", Tier: 1, ManagingOrgID: "so", OperatingOrgID: "so", SiteID: "s"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := reg.CreateCamera(ctx, seed, registry.CameraInput{ID: fmt.Sprintf("cam-%d", i), SystemID: "ioc", Name: "Cam",
			Kinds: []string{"traffic_violation"}, Purposes: []string{"traffic_safety"}, Area: "road", Lat: 21.3, Lon: 103, Push: true}); err != nil {
			t.Fatal(err)
		}
	}
	loc, _ := time.LoadLocation("Asia/Ho_Chi_Minh")
	return New(Options{DB: db, Audit: al, Sealer: testSealer(t), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Retention: 90 * 24 * time.Hour, PersonalRetention: 30 * 24 * time.Hour, Location: loc, Now: now}), al
}

// all is the unscoped query (tests of the room itself; the API always scopes).
func all() Query { return Query{ScopeWhere: "1 = 1", Personal: 3, Limit: 500} }
