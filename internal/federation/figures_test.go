package federation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/federation/fedtest"
	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// fastOps samples camera status every second and opens camera_offline
// after two seconds down.
func fastOps(c *config.Config) {
	c.Ops.SampleInterval = time.Second
	c.Ops.OfflineAfter = 2 * time.Second
}

// TestFederatedCameraFigures: a lower site's camera that nobody watches at
// tier 1 stays online there, with the status and uptime its own site sees,
// and tier 1 opens no camera_offline incident for it from its idle
// on-demand source. A fault the lower site sees is its incident, shipped up:
// tier 1 shows it (its own users cannot move it) and it is resolved at tier
// 1 when the site resolves it. Tier 1 on each engine, the lower site on the
// other.
func TestFederatedCameraFigures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, t1db *store.DB) {
		lowerDB := storetest.SQLite(t)
		if t1db.Engine == store.SQLite {
			lowerDB = storetest.Postgres(t)
		}
		ctx := context.Background()
		proxy := fedtest.NewLinkProxy(t)
		t1 := apptest.Start(t, t1db, apptest.Options{Mutate: func(c *config.Config) {
			c.Federation.LeafListen = "127.0.0.1:0"
			c.Federation.LeafURL = "nats-leaf://" + proxy.Addr()
			c.Federation.StatusInterval = 200 * time.Millisecond
			fastOps(c)
		}})
		proxy.SetTarget(t1.App.Federation.LeafAddr())
		t1.SeedWorld(nil) // its own cameras wait for a push that never comes: offline
		if _, err := t1.App.Registry.CreateSystem(ctx, seed, registry.System{ID: "huyen-b", Name: "Camera huyện B", Tier: 2,
			ManagingOrgID: "ubnd-xa", OperatingOrgID: "vnpt", SiteID: "site-b"}); err != nil {
			t.Fatal(err)
		}
		t1.User("admin", "so-khcn", "admin")
		admin := t1.Login("admin")
		tok := enrollToken(t, admin, "site-b", "huyen-b")
		b := apptest.Start(t, lowerDB, apptest.Options{Mutate: func(c *config.Config) {
			c.Site.ID, c.Site.Name, c.Site.Tier = "site-b", "Site site-b", 2
			c.Federation.Upstream, c.Federation.EnrollToken = t1.Base, tok
			c.Federation.StatusInterval = 200 * time.Millisecond
			fastOps(c)
		}})
		seedLower(t, b, "huyen-b", 2)
		sm, err := sim.Start(ctx, sim.Config{Addr: "127.0.0.1:0", Cameras: []sim.CameraSpec{{ID: "cam-b1"}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sm.Close)
		if _, err := b.App.Registry.CreateCamera(ctx, seed, registry.CameraInput{ID: "cam-b1", SystemID: "huyen-b", Name: "Camera cam-b1",
			Kinds: []string{"security"}, Purposes: []string{"urban_order"}, Area: "road", Lat: 21.4, Lon: 103.1,
			MainURL: sm.URL("cam-b1", "main")}); err != nil {
			t.Fatal(err)
		}
		b.App.ReloadMedia(ctx)
		b.App.Federation.Kick()

		status := func(s *apptest.Site, id string) health.CameraStatus {
			sts, err := s.App.Health.Statuses(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return sts[id]
		}
		incidents := func(s *apptest.Site, id, state string) []health.Incident {
			is, err := s.App.Health.List(ctx, health.Filter{CameraID: id, Category: health.CatCameraOffline, State: state})
			if err != nil {
				t.Fatal(err)
			}
			return is
		}
		waitForWhy(t, "cam-b1 online at tier 1, from its site", func() bool {
			return status(t1, "cam-b1").Status == health.StatusOnline
		}, func() string {
			return fmt.Sprintf("tier 1 status %+v, site B %+v", status(t1, "cam-b1"), status(b, "cam-b1"))
		})
		// Nobody watches it at tier 1: its on-demand source there is not
		// online. Tier 1 samples past OfflineAfter (its own push camera
		// gets its incident: the proof), and opens nothing for cam-b1.
		if st, ok := t1.App.Hub.State("cam-b1"); !ok || st[0].Status == "online" {
			t.Fatalf("cam-b1 at tier 1's hub: %+v (want an idle on-demand source)", st)
		}
		waitFor(t, "tier 1's own offline camera gets its incident", func() bool { return len(incidents(t1, "cam-urban", "active")) == 1 })
		if is := incidents(t1, "cam-b1", ""); len(is) != 0 {
			t.Fatalf("tier 1 opened incidents for a federated camera nobody watches: %+v", is)
		}
		if st := status(t1, "cam-b1"); st.Status != health.StatusOnline {
			t.Fatalf("cam-b1 at tier 1 after sampling: %+v", st)
		}
		var h struct {
			Status string        `json:"status"`
			Uptime health.Uptime `json:"uptime"`
		}
		if st := admin.Do("GET", "/api/v1/health/cameras/cam-b1", nil, &h); st != 200 || h.Status != health.StatusOnline ||
			h.Uptime.Ratio != 1 || h.Uptime.Online <= 0 {
			t.Fatalf("cam-b1's health at tier 1: %d %+v", st, h)
		}

		// The camera fails at its site: site B opens the incident and
		// ships it; tier 1 shows it offline with the site's incident.
		if err := sm.SetBrokenSDP("cam-b1", true); err != nil {
			t.Fatal(err)
		}
		if err := sm.DropNow("cam-b1"); err != nil {
			t.Fatal(err)
		}
		waitForWhy(t, "site B's incident shipped to tier 1", func() bool {
			is := incidents(t1, "cam-b1", "active")
			return len(is) == 1 && is[0].OriginSite == "site-b"
		}, func() string {
			return fmt.Sprintf("site B incidents %+v, status %+v; tier 1 %+v", incidents(b, "cam-b1", ""), status(b, "cam-b1"), incidents(t1, "cam-b1", ""))
		})
		waitFor(t, "cam-b1 offline at tier 1", func() bool { return status(t1, "cam-b1").Status == health.StatusOffline })
		inc := incidents(t1, "cam-b1", "active")[0]
		local := incidents(b, "cam-b1", "active")[0]
		if inc.ID != "site-b."+local.ID || !inc.DetectedAt.Equal(local.DetectedAt) || !inc.DeadlineAt.Equal(local.DeadlineAt) ||
			inc.AssignedOrgID != "vnpt" || inc.Source != "auto" {
			t.Fatalf("shipped incident at tier 1 %+v; at site B %+v", inc, local)
		}
		// Only its site moves it.
		if st := admin.Do("POST", "/api/v1/incidents/"+inc.ID+"/acknowledge", map[string]string{}, nil); st != 409 {
			t.Fatalf("acknowledging a shipped incident at tier 1: status %d, want 409", st)
		}
		// The camera returns: site B resolves its incident; tier 1 follows.
		if err := sm.SetBrokenSDP("cam-b1", false); err != nil {
			t.Fatal(err)
		}
		waitForWhy(t, "the shipped incident resolved at tier 1", func() bool {
			is := incidents(t1, "cam-b1", health.StateResolved)
			return len(is) == 1 && len(incidents(t1, "cam-b1", "active")) == 0
		}, func() string {
			return fmt.Sprintf("site B %+v; tier 1 %+v", incidents(b, "cam-b1", ""), incidents(t1, "cam-b1", ""))
		})
		waitFor(t, "cam-b1 online again at tier 1", func() bool { return status(t1, "cam-b1").Status == health.StatusOnline })
		if n := count(t, t1.App.DB, `SELECT COUNT(*) FROM audit_log WHERE action = 'incident.federated_update' AND object = ?`, "incident/"+inc.ID); n != 1 {
			t.Fatalf("%d incident.federated_update entries at tier 1, want 1 (open → resolved)", n)
		}
	})
}
