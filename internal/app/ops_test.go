package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

type apiErr struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

// A stopped simulated camera opens an incident assigned to its system's
// operating unit; its return resolves it (R-OPS-1). The whole chain runs as
// in production: sim → media hub → health sampler → incidents → API.
func TestStoppedCameraOpensAndReturnResolvesIncident(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sm, err := sim.Start(ctx, sim.Config{Addr: "127.0.0.1:0", Cameras: []sim.CameraSpec{{ID: "cam-traffic"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sm.Close)
	s := apptest.Start(t, storetest.SQLite(t), apptest.Options{Mutate: func(c *config.Config) {
		c.Ops.SampleInterval, c.Ops.OfflineAfter = time.Second, time.Second
	}})
	s.SeedWorld(map[string][2]string{"cam-traffic": {sm.URL("cam-traffic", "main"), sm.URL("cam-traffic", "sub")}})
	s.User("admin", "so-khcn", "admin")
	s.User("tech", "vnpt", "operator")
	admin, tech := s.Login("admin"), s.Login("tech")

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting: %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	incidents := func(c *apptest.Client, q string) []health.Incident {
		var out []health.Incident
		if st := c.Do("GET", "/api/v1/incidents?camera_id=cam-traffic"+q, nil, &out); st != 200 {
			t.Fatalf("list incidents: %d", st)
		}
		return out
	}
	waitFor("camera online", func() bool {
		var h struct {
			Status string `json:"status"`
		}
		return admin.Do("GET", "/api/v1/health/cameras/cam-traffic", nil, &h) == 200 && h.Status == health.StatusOnline
	})

	// Stop the camera: it answers with a broken session and drops readers.
	if err := sm.SetBrokenSDP("cam-traffic", true); err != nil {
		t.Fatal(err)
	}
	_ = sm.DropNow("cam-traffic")
	waitFor("incident opened", func() bool { return len(incidents(admin, "&state=active")) == 1 })
	inc := incidents(admin, "&state=active")[0]
	if inc.Category != health.CatCameraOffline || inc.AssignedOrgID != "vnpt" || inc.Source != "auto" ||
		inc.DeadlineAt.Sub(inc.DetectedAt) != 24*time.Hour {
		t.Fatalf("incident: %+v", inc)
	}
	// The operating unit sees it and acknowledges it.
	if got := incidents(tech, ""); len(got) != 1 {
		t.Fatalf("operating unit's list: %+v", got)
	}
	var acked health.Incident
	if st := tech.Do("POST", "/api/v1/incidents/"+inc.ID+"/acknowledge", map[string]string{}, &acked); st != 200 || acked.AcknowledgedBy != "tech" {
		t.Fatalf("acknowledge: %d %+v", st, acked)
	}

	// Bring it back: the incident resolves itself.
	if err := sm.SetBrokenSDP("cam-traffic", false); err != nil {
		t.Fatal(err)
	}
	waitFor("incident resolved", func() bool {
		var got health.Incident
		return admin.Do("GET", "/api/v1/incidents/"+inc.ID, nil, &got) == 200 && got.State == health.StateResolved
	})
	var h struct {
		Status  string               `json:"status"`
		History []health.StatusEvent `json:"history"`
		Uptime  health.Uptime        `json:"uptime"`
	}
	if st := admin.Do("GET", "/api/v1/health/cameras/cam-traffic", nil, &h); st != 200 || len(h.History) < 3 || h.Uptime.Down <= 0 || h.Uptime.Ratio >= 1 {
		t.Fatalf("health after the outage: %d %+v", st, h)
	}
	t.Logf("history: %d transitions, uptime %.3f (online %v, down %v)", len(h.History), h.Uptime.Ratio, h.Uptime.Online, h.Uptime.Down)
}

func TestOpsAPIAccessAndBadInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := apptest.Start(t, db, apptest.Options{})
		s.SeedWorld(nil)
		s.User("admin", "so-khcn", "admin")
		s.User("police", "cong-an", "operator")
		s.User("tech", "vnpt", "operator")
		admin, police, tech := s.Login("admin"), s.Login("police"), s.Login("tech")

		// Any agency reports a problem (R-OPS-5) on a camera it can see…
		var inc health.Incident
		if st := police.Do("POST", "/api/v1/incidents", map[string]any{"category": "image_quality", "camera_id": "cam-traffic",
			"title": "Hình ảnh bị mờ"}, &inc); st != 201 || inc.AssignedOrgID != "vnpt" || inc.ReporterOrgID != "cong-an" {
			t.Fatalf("report: %d %+v", st, inc)
		}
		// …not on one it cannot (same 403 as for a missing one).
		if st := police.Do("POST", "/api/v1/incidents", map[string]any{"category": "other", "camera_id": "cam-urban", "title": "x"}, nil); st != 403 {
			t.Fatalf("report on a hidden camera: %d", st)
		}
		var e apiErr
		if st := police.Do("POST", "/api/v1/incidents", map[string]any{"category": "bogus", "system_id": "ioc", "title": "x"}, &e); st != 422 || e.Field != "category" || e.Message == "" {
			t.Fatalf("bad category: %d %+v", st, e)
		}
		// The reporter cannot acknowledge; the operating unit can; an
		// invalid transition is a 409 naming the state.
		if st := police.Do("POST", "/api/v1/incidents/"+inc.ID+"/acknowledge", map[string]string{}, nil); st != 403 {
			t.Fatalf("reporter acknowledges: %d", st)
		}
		if st := tech.Do("POST", "/api/v1/incidents/"+inc.ID+"/close", map[string]string{}, &e); st != 409 || e.Field != "state" {
			t.Fatalf("close an open incident: %d %+v", st, e)
		}
		if st := tech.Do("POST", "/api/v1/incidents/"+inc.ID+"/resolve", map[string]string{}, &e); st != 422 || e.Field != "note" {
			t.Fatalf("resolve without a note: %d %+v", st, e)
		}
		if st := tech.Do("POST", "/api/v1/incidents/"+inc.ID+"/resolve", map[string]string{"note": "lau ống kính"}, nil); st != 200 {
			t.Fatalf("resolve: %d", st)
		}
		if st := police.Do("POST", "/api/v1/incidents/"+inc.ID+"/close", map[string]string{"note": "đã kiểm tra"}, nil); st != 200 {
			t.Fatalf("reporter confirms the fix: %d", st)
		}

		// Reviews are the highest organisation's.
		if st := police.Do("POST", "/api/v1/reviews", map[string]any{"title": "x"}, nil); st != 403 {
			t.Fatalf("review by an agency: %d", st)
		}
		var camp struct {
			ID    string `json:"id"`
			Items []struct {
				UserID string `json:"user_id"`
			} `json:"items"`
		}
		if st := admin.Do("POST", "/api/v1/reviews", map[string]any{"title": "Rà soát 2025"}, &camp); st != 201 || len(camp.Items) != 3 {
			t.Fatalf("open review: %d %+v", st, camp)
		}
		if st := admin.Do("POST", "/api/v1/reviews/"+camp.ID+"/accounts/"+camp.Items[0].UserID, map[string]string{"decision": "maybe"}, &e); st != 422 || e.Field != "decision" {
			t.Fatalf("bad decision: %d %+v", st, e)
		}
		if st := admin.Do("POST", "/api/v1/reviews/"+camp.ID+"/close", nil, &e); st != 409 {
			t.Fatalf("close undecided: %d %+v", st, e)
		}

		// Installations: a consent without a hash is refused, nothing written.
		var in struct {
			ID       string   `json:"id"`
			Missing  []string `json:"missing_consents"`
			Consents []any    `json:"consents"`
		}
		if st := admin.Do("POST", "/api/v1/installations", map[string]any{"system_id": "xa", "title": "Cổng trường", "lat": 21.4, "lon": 103.1,
			"technical_plan": "1 camera PTZ"}, &in); st != 201 || len(in.Missing) != 1 {
			t.Fatalf("installation: %d %+v", st, in)
		}
		if st := police.Do("GET", "/api/v1/installations/"+in.ID, nil, nil); st != 403 {
			t.Fatalf("agency reads another system's request: %d", st)
		}
		consent := map[string]any{"kind": "department", "doc_no": "12/STTTT", "doc_date": "2025-01-10", "signer": "Giám đốc", "doc_sha256": ""}
		if st := admin.Do("POST", "/api/v1/installations/"+in.ID+"/consents", consent, &e); st != 422 || e.Field != "doc_sha256" {
			t.Fatalf("consent without hash: %d %+v", st, e)
		}
		consent["doc_sha256"], consent["doc_date"] = strings.Repeat("0f", 32), "2025-13-40"
		if st := admin.Do("POST", "/api/v1/installations/"+in.ID+"/consents", consent, &e); st != 422 || e.Field != "doc_date" {
			t.Fatalf("consent with a bad date: %d %+v", st, e)
		}
		if st := admin.Do("POST", "/api/v1/installations/"+in.ID+"/approve", map[string]string{}, &e); st != 409 || e.Field != "consents" {
			t.Fatalf("approve without consent: %d %+v", st, e)
		}
		if st := admin.Do("GET", "/api/v1/installations/"+in.ID, nil, &in); st != 200 || len(in.Consents) != 0 {
			t.Fatalf("half-written consent: %+v", in)
		}

		// Reports: JSON for admins, XLSX downloadable; agencies refused.
		st, body, hdr := admin.Raw("GET", "/api/v1/reports/compliance?year=2025&format=xlsx", "", nil)
		if st != 200 || !strings.HasPrefix(string(body), "PK") || !strings.Contains(hdr.Get("Content-Type"), "spreadsheetml") {
			t.Fatalf("xlsx report: %d %q", st, hdr)
		}
		st, body, _ = admin.Raw("GET", "/api/v1/reports/compliance", "", nil)
		var rep map[string]any
		if st != 200 || json.Unmarshal(body, &rep) != nil || rep["cameras"].(float64) != 4 || rep["incidents"].(float64) < 1 {
			t.Fatalf("json report: %d %s", st, body)
		}
		if st := police.Do("GET", "/api/v1/reports/compliance", nil, nil); st != 403 {
			t.Fatalf("report by an agency: %d", st)
		}
		if st := police.Do("GET", "/api/v1/health/node", nil, nil); st != 403 {
			t.Fatalf("node health by an agency: %d", st)
		}
		var node health.NodeHealth
		if st := admin.Do("GET", "/api/v1/health/node", nil, &node); st != 200 || node.CPUs < 1 {
			t.Fatalf("node: %d %+v", st, node)
		}
	})
}
