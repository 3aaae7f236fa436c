package health_test

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// Uptime leaves out the time the platform itself was not running: a camera
// online before a stop is not counted online (nor down) while nothing
// watched it, and the downtime is reported on its own.
func TestUptimeExcludesPlatformDowntime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, health.NotifyConfig{})
		t0 := e.clk.Now()
		if err := e.svc.StartRun(ctx, "n1"); err != nil {
			t.Fatal(err)
		}
		e.st.set("cam-1", health.StatusOnline)
		if err := e.svc.Sample(ctx); err != nil {
			t.Fatal(err)
		}
		// One hour running, camera online; then the process stops (its
		// last beat an hour after the start).
		e.clk.Add(time.Hour)
		if err := e.svc.Beat(ctx); err != nil {
			t.Fatal(err)
		}
		// Down for two hours; a new process starts and sees the camera
		// offline for 30 minutes, then online for 30.
		e.clk.Add(2 * time.Hour)
		next := health.New(health.Options{DB: db, States: e.st.States, Now: e.clk.Now, OfflineAfter: time.Hour})
		if err := next.StartRun(ctx, "n1"); err != nil {
			t.Fatal(err)
		}
		e.st.set("cam-1", health.StatusOffline)
		if err := next.Sample(ctx); err != nil {
			t.Fatal(err)
		}
		e.clk.Add(30 * time.Minute)
		e.st.set("cam-1", health.StatusOnline)
		if err := next.Sample(ctx); err != nil {
			t.Fatal(err)
		}
		e.clk.Add(30 * time.Minute)
		now := e.clk.Now()

		u, err := next.CameraUptime(ctx, "cam-1", t0, now)
		if err != nil {
			t.Fatal(err)
		}
		if u.Online != 90*time.Minute || u.Down != 30*time.Minute || u.PlatformDown != 2*time.Hour || u.Ratio != 0.75 {
			t.Fatalf("uptime %+v: want 90 min online, 30 min down, 2 h of platform downtime left out, ratio 0.75", u)
		}
		g, err := next.GroupUptime(ctx, []string{"cam-1"}, t0, now)
		if err != nil || g.Online != u.Online || g.PlatformDown != u.PlatformDown {
			t.Fatalf("group uptime %+v (%v), camera %+v", g, err, u)
		}
		d, err := next.Downtime(ctx, t0, now)
		if err != nil {
			t.Fatal(err)
		}
		if d.Down != 2*time.Hour || len(d.Spans) != 1 || !d.Spans[0].From.Equal(t0.Add(time.Hour)) || !d.Spans[0].To.Equal(t0.Add(3*time.Hour)) {
			t.Fatalf("platform downtime %+v: want one span of 2 h from 1 h after the start", d)
		}
		// Without any recorded run (a site from before runs were kept),
		// nothing is left out.
		if _, err := db.Q().Exec(ctx, `DELETE FROM platform_runs`); err != nil {
			t.Fatal(err)
		}
		fresh := health.New(health.Options{DB: db, Now: e.clk.Now})
		u2, err := fresh.CameraUptime(ctx, "cam-1", t0, now)
		if err != nil || u2.PlatformDown != 0 || u2.Online != 3*time.Hour+30*time.Minute {
			t.Fatalf("uptime without runs %+v (%v)", u2, err)
		}
	})
}

// A lower site's camera (origin_site set) is not sampled at tier 1: its
// on-demand source says offline while nobody watches, which is not the
// camera's state. No status is recorded from it, no camera_offline incident
// opens, and one opened before is withdrawn. Its status comes from its site
// (RecordStatus).
func TestFederatedCameraNotSampled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, health.NotifyConfig{})
		if _, err := db.Q().Exec(ctx, `UPDATE cameras SET origin_site = 'site-a' WHERE id = 'cam-xa'`); err != nil {
			t.Fatal(err)
		}
		// An incident a previous version opened from the idle source.
		if _, _, err := e.svc.OpenAuto(ctx, health.CatCameraOffline, "camera/cam-xa", health.AutoInfo{Title: "old"}); err != nil {
			t.Fatal(err)
		}
		e.st.set("cam-xa", health.StatusOffline) // "waiting for the camera to push"
		e.st.set("cam-1", health.StatusOffline)
		if err := e.svc.Sample(ctx); err != nil {
			t.Fatal(err)
		}
		e.clk.Add(5 * time.Minute)
		if err := e.svc.Sample(ctx); err != nil {
			t.Fatal(err)
		}
		active := func(cam string) int {
			is, err := e.svc.List(ctx, health.Filter{State: "active", CameraID: cam})
			if err != nil {
				t.Fatal(err)
			}
			return len(is)
		}
		if active("cam-xa") != 0 || active("cam-1") != 1 {
			t.Fatalf("active incidents: federated %d (want 0), local %d (want 1)", active("cam-xa"), active("cam-1"))
		}
		sts, err := e.svc.Statuses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := sts["cam-xa"]; ok {
			t.Fatalf("a federated camera's status sampled at tier 1: %+v", sts["cam-xa"])
		}
		// Its site says online: that is its status.
		at := e.clk.Now().Add(-time.Minute)
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			return e.svc.RecordStatus(ctx, tx, "cam-xa", health.StatusOnline, at)
		}); err != nil {
			t.Fatal(err)
		}
		sts, _ = e.svc.Statuses(ctx)
		if st := sts["cam-xa"]; st.Status != health.StatusOnline || !st.Since.Equal(at) {
			t.Fatalf("federated status %+v, want online since %v", st, at)
		}
		if err := e.svc.Sample(ctx); err != nil {
			t.Fatal(err)
		}
		if sts, _ = e.svc.Statuses(ctx); sts["cam-xa"].Status != health.StatusOnline {
			t.Fatalf("sampling overwrote the site's status: %+v", sts["cam-xa"])
		}
	})
}
