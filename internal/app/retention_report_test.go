package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

type complianceReport struct {
	Cameras            int     `json:"cameras"`
	Connected          int     `json:"cameras_connected"`
	ConnectionRate     float64 `json:"connection_rate_pct"`
	UptimePct          float64 `json:"uptime_pct"`
	PlatformDownSpans  int     `json:"platform_down_spans"`
	RetentionCompliant bool    `json:"retention_compliant"`
	NonCompliant       int     `json:"retention_cameras_non_compliant"`
	FootageDaysMin     float64 `json:"footage_days_min"`
	ByCamera           []struct {
		CameraID      string    `json:"camera_id"`
		Mode          string    `json:"mode"`
		RetentionDays int       `json:"retention_days"`
		OldestFootage time.Time `json:"oldest_footage"`
		FootageDays   float64   `json:"footage_days"`
		Compliant     bool      `json:"compliant"`
		Status        string    `json:"status"`
	} `json:"retention_by_camera"`
}

// The compliance report of a demo-like site whose cameras stream and record:
// every one of its own cameras counts as connected from its first frame
// (100 %), and retention is what the segment index holds, camera by camera
// (minutes of footage: not 30 days, so not compliant, whatever the policy
// says), not the configuration. A camera not recording, or kept less than
// 30 days under a legal override, is named for that.
func TestComplianceReportTrueFigures(t *testing.T) {
	needFFmpeg(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ids := []string{"cam-traffic", "cam-urban", "cam-secret", "cam-xa"}
		specs := make([]sim.CameraSpec, len(ids))
		for i, id := range ids {
			specs[i] = sim.CameraSpec{ID: id}
		}
		sm, err := sim.Start(ctx, sim.Config{Addr: "127.0.0.1:0", Cameras: specs})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sm.Close)
		s := apptest.Start(t, db, apptest.Options{Mutate: func(c *config.Config) {
			c.Recording.SegmentLength = 2 * time.Second
			c.Ops.SampleInterval = time.Second
		}})
		s.SeedWorld(sm.URLs())
		s.User("admin", "so-khcn", "admin", "auditor")
		by := record.Actor{ID: "system", Name: "test"}
		if _, err := s.App.Recorder.SetPolicy(ctx, by, record.RecordingPolicy{Scope: "camera:cam-urban", Mode: "off"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.App.Recorder.SetPolicy(ctx, by, record.RecordingPolicy{Scope: "camera:cam-traffic", RetentionDays: 20,
			LegalOverride: "Luật chuyên ngành cho phép 20 ngày"}); err != nil {
			t.Fatal(err)
		}
		count := func(q string) int {
			var n int
			if err := db.Q().QueryRow(ctx, q).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		waitFor(t, "every camera's first frame recorded", func() bool {
			return count(`SELECT COUNT(*) FROM cameras WHERE first_connected_at > 0`) == len(ids)
		})
		waitFor(t, "footage of the recording cameras in the index", func() bool {
			return count(`SELECT COUNT(DISTINCT camera_id) FROM record_segments WHERE state = 'ok' AND camera_id IN ('cam-secret', 'cam-xa')`) == 2
		})

		var rep complianceReport
		admin := s.Login("admin")
		if st := admin.Do("GET", fmt.Sprintf("/api/v1/reports/compliance?year=%d", time.Now().Year()), nil, &rep); st != 200 {
			t.Fatalf("report: %d", st)
		}
		if rep.Cameras != 4 || rep.Connected != 4 || rep.ConnectionRate != 100 {
			t.Fatalf("connection: %d of %d cameras, %v %%; want 4 of 4, 100 %%", rep.Connected, rep.Cameras, rep.ConnectionRate)
		}
		if rep.PlatformDownSpans != 0 {
			t.Fatalf("platform downtime in a site that never stopped: %+v", rep)
		}
		if rep.RetentionCompliant || rep.NonCompliant != 4 || rep.FootageDaysMin != 0 || len(rep.ByCamera) != 4 {
			t.Fatalf("retention: %+v", rep)
		}
		want := map[string]string{"cam-urban": "off", "cam-traffic": "policy_short", "cam-secret": "short", "cam-xa": "short"}
		for _, c := range rep.ByCamera {
			if c.Status != want[c.CameraID] || c.Compliant || c.FootageDays != 0 {
				t.Errorf("%s: %+v, want status %s, 0 days of footage", c.CameraID, c, want[c.CameraID])
			}
			if c.Status != "short" {
				continue
			}
			// The oldest footage is the index's, as the recorder wrote it.
			var oldest int64
			if err := db.Q().QueryRow(ctx, `SELECT MIN(start_ms) FROM record_segments WHERE camera_id = ? AND state IN ('ok', 'open')`,
				c.CameraID).Scan(&oldest); err != nil {
				t.Fatal(err)
			}
			if !c.OldestFootage.Equal(store.Time(oldest)) {
				t.Errorf("%s: oldest footage %v, the index says %v", c.CameraID, c.OldestFootage, store.Time(oldest))
			}
		}
	})
}
