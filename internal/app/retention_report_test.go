package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// The compliance report's retention comes from the recorder, camera by
// camera: a camera not recording, or kept less than 30 days under a legal
// override, makes the site non-compliant and is named.
func TestComplianceReportRetentionPerCamera(t *testing.T) {
	s := apptest.Start(t, storetest.SQLite(t), apptest.Options{})
	s.SeedWorld(nil)
	s.User("admin", "so-khcn", "admin", "auditor")
	ctx := context.Background()
	by := record.Actor{ID: "system", Name: "test"}
	if _, err := s.App.Recorder.SetPolicy(ctx, by, record.RecordingPolicy{Scope: "camera:cam-urban", Mode: "off"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.App.Recorder.SetPolicy(ctx, by, record.RecordingPolicy{Scope: "camera:cam-traffic", RetentionDays: 20,
		LegalOverride: "Luật chuyên ngành cho phép 20 ngày"}); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		RetentionCompliant bool `json:"retention_compliant"`
		NonCompliant       int  `json:"retention_cameras_non_compliant"`
		ByCamera           []struct {
			CameraID      string `json:"camera_id"`
			Mode          string `json:"mode"`
			RetentionDays int    `json:"retention_days"`
			Compliant     bool   `json:"compliant"`
		} `json:"retention_by_camera"`
	}
	admin := s.Login("admin")
	if st := admin.Do("GET", fmt.Sprintf("/api/v1/reports/compliance?year=%d", time.Now().Year()), nil, &rep); st != 200 {
		t.Fatalf("report: %d", st)
	}
	if rep.RetentionCompliant || rep.NonCompliant != 2 || len(rep.ByCamera) != 4 {
		t.Fatalf("report retention: %+v", rep)
	}
	for _, c := range rep.ByCamera {
		want := c.CameraID != "cam-urban" && c.CameraID != "cam-traffic"
		if c.Compliant != want {
			t.Errorf("%s: compliant %v (mode %s, %d days)", c.CameraID, c.Compliant, c.Mode, c.RetentionDays)
		}
	}
}
