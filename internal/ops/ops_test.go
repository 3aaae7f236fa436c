package ops_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"archive/zip"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/ops"
	"github.com/vigil-vms/vigil/internal/secrets"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type recAudit struct {
	mu sync.Mutex
	es []audit.Entry
}

func (r *recAudit) Append(_ context.Context, _ store.Q, e audit.Entry) (audit.Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.es = append(r.es, e)
	return e, nil
}

func (r *recAudit) has(action string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.es {
		if e.Action == action {
			return true
		}
	}
	return false
}

func seed(t *testing.T, db *store.DB) {
	t.Helper()
	for _, q := range []string{
		`INSERT INTO organisations (id, name, kind, created_at, updated_at) VALUES ('so', 'Sở', 'department', 1, 1)`,
		`INSERT INTO organisations (id, name, kind, created_at, updated_at) VALUES ('vnpt', 'VNPT', 'operating_unit', 1, 1)`,
		`INSERT INTO systems (id, name, tier, managing_org_id, operating_org_id, site_id, created_at, updated_at) VALUES ('ioc', 'IOC', 1, 'so', 'vnpt', 's', 1, 1)`,
	} {
		if _, err := db.Q().Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
}

type env struct {
	clk *clock
	au  *recAudit
	hs  *health.Service
	svc *ops.Service
	as  *auth.Service
	db  *store.DB
	// retention is what the segment index holds, as the app reports it.
	retention []ops.CameraRetention
}

var admin = ops.Actor{ID: "u-admin", Name: "admin", OrgID: "so"}

func newEnv(t *testing.T, db *store.DB) *env {
	seed(t, db)
	e := &env{clk: &clock{t: time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)}, au: &recAudit{}, db: db}
	sealer, err := secrets.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	e.as = auth.New(db, e.au, sealer, auth.Policy{Argon2: auth.TestArgon2, AdminPasswordMaxAge: 90 * 24 * time.Hour})
	e.hs = health.New(health.Options{DB: db, Audit: e.au, Now: e.clk.Now})
	e.svc = ops.New(ops.Options{DB: db, Audit: e.au, Auth: e.as, Health: e.hs, Now: e.clk.Now, RetentionDays: 30,
		AdminPasswordMaxAge: 90 * 24 * time.Hour,
		CameraRetention: func(context.Context, time.Time) ([]ops.CameraRetention, error) {
			return append([]ops.CameraRetention(nil), e.retention...), nil
		}})
	return e
}

func TestAccountReviewCampaign(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		mk := func(name string, roles ...string) *auth.User {
			u, err := e.as.CreateUser(ctx, auth.System, auth.NewUser{Username: name, OrgID: "so", Roles: roles, InitialPassword: "Mật-khẩu-Thử-1"})
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		a1, v1, v2 := mk("quan-tri", "admin"), mk("xem-1", "viewer"), mk("xem-2", "viewer")
		// The review runs 120 days after the accounts were made: all of them
		// unused for 90 days, the admin's password past its 90-day age — except
		// the one who logged in last week.
		e.clk.t = time.Now().Add(120 * 24 * time.Hour)
		if _, err := db.Q().Exec(ctx, `UPDATE users SET last_login_at = ? WHERE id = ?`, store.MS(e.clk.Now().Add(-7*24*time.Hour)), v2.ID); err != nil {
			t.Fatal(err)
		}
		var ie *health.InputError
		if _, err := e.svc.OpenCampaign(ctx, admin, " ", 90); !errors.As(err, &ie) || ie.Field != "title" {
			t.Fatalf("empty title: %v", err)
		}
		c, err := e.svc.OpenCampaign(ctx, admin, "Rà soát quý II", 90)
		if err != nil || len(c.Items) != 3 {
			t.Fatalf("open: %v %+v", err, c)
		}
		flags := map[string][2]bool{}
		for _, it := range c.Items {
			flags[it.UserID] = [2]bool{it.Inactive, it.AdminPwdExpired}
		}
		if flags[a1.ID] != [2]bool{true, true} || flags[v1.ID] != [2]bool{true, false} || flags[v2.ID] != [2]bool{false, false} {
			t.Fatalf("flags: %+v", flags)
		}
		var se *health.StateError
		if _, err := e.svc.OpenCampaign(ctx, admin, "again", 90); !errors.As(err, &se) {
			t.Fatalf("second open campaign: %v", err)
		}
		if _, err := e.svc.CloseCampaign(ctx, admin, c.ID); !errors.As(err, &se) || se.Code != "undecided" {
			t.Fatalf("close with undecided accounts: %v", err)
		}
		if _, err := e.svc.Decide(ctx, admin, c.ID, v1.ID, "revoked", ""); !errors.As(err, &ie) || ie.Field != "note" {
			t.Fatalf("revoke without reason: %v", err)
		}
		if _, err := e.svc.Decide(ctx, admin, c.ID, v1.ID, "revoked", "chuyển công tác"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Decide(ctx, admin, c.ID, v1.ID, "confirmed", ""); !errors.As(err, &se) {
			t.Fatalf("decide twice: %v", err)
		}
		if u, _ := e.as.Get(ctx, v1.ID); !u.Disabled {
			t.Fatal("a revoked account stays enabled")
		}
		for _, id := range []string{a1.ID, v2.ID} {
			if _, err := e.svc.Decide(ctx, admin, c.ID, id, "confirmed", ""); err != nil {
				t.Fatal(err)
			}
		}
		c, err = e.svc.CloseCampaign(ctx, admin, c.ID)
		if err != nil || c.Confirmed != 2 || c.Revoked != 1 || c.State != "closed" {
			t.Fatalf("close: %v %+v", err, c)
		}
		if !e.au.has("review.open") || !e.au.has("review.revoke") || !e.au.has("review.confirm") || !e.au.has("review.close") {
			t.Fatal("review not audited")
		}
	})
}

func TestInstallationConsentsAndReport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		if _, err := e.svc.CreatePole(ctx, admin, ops.Pole{ID: "cot-12", Kind: "pole", Name: "Cột 12", OwnerOrgID: "vnpt", Lat: 21.38, Lon: 103.02}); err != nil {
			t.Fatal(err)
		}
		var ie *health.InputError
		var se *health.StateError
		if _, err := e.svc.CreateInstallation(ctx, admin, ops.InstallationInput{SystemID: "ioc", PoleID: "cot-99", Title: "x", TechnicalPlan: "y", Lat: 21, Lon: 103}); !errors.As(err, &ie) || ie.Field != "pole_id" {
			t.Fatalf("unknown pole: %v", err)
		}
		in, err := e.svc.CreateInstallation(ctx, admin, ops.InstallationInput{SystemID: "ioc", PoleID: "cot-12", Title: "Ngã tư A",
			TechnicalPlan: "2 camera 4MP, PoE, cáp quang", Lat: 21.38, Lon: 103.02, StateArea: true, PublicPlace: true})
		if err != nil || len(in.Missing) != 2 {
			t.Fatalf("create: %v %+v", err, in)
		}
		good := ops.InstConsent{Kind: "department", DocNo: "123/STTTT", DocDate: "2025-05-20", Signer: "Nguyễn Văn A", DocSHA256: strings.Repeat("ab", 32)}
		for _, bad := range []struct {
			field string
			mod   func(c *ops.InstConsent)
		}{
			{"doc_sha256", func(c *ops.InstConsent) { c.DocSHA256 = "" }},
			{"doc_sha256", func(c *ops.InstConsent) { c.DocSHA256 = strings.Repeat("zz", 32) }},
			{"doc_date", func(c *ops.InstConsent) { c.DocDate = "20/05/2025" }},
			{"doc_date", func(c *ops.InstConsent) { c.DocDate = "2031-01-01" }},
			{"signer", func(c *ops.InstConsent) { c.Signer = "" }},
			{"kind", func(c *ops.InstConsent) { c.Kind = "mayor" }},
		} {
			c := good
			bad.mod(&c)
			if _, err := e.svc.AddConsent(ctx, admin, in.ID, c); !errors.As(err, &ie) || ie.Field != bad.field {
				t.Fatalf("bad %s: %v", bad.field, err)
			}
		}
		if got, _ := e.svc.Installation(ctx, in.ID); len(got.Consents) != 0 {
			t.Fatal("a refused consent was written")
		}
		if _, err := e.svc.AddConsent(ctx, admin, in.ID, good); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.TransitionInstallation(ctx, admin, in.ID, "approve", ""); !errors.As(err, &se) || se.Code != "consent_missing" {
			t.Fatalf("approve without the area manager's consent: %v", err)
		}
		am := good
		am.Kind, am.DocNo = "area_manager", "45/BQL"
		if _, err := e.svc.AddConsent(ctx, admin, in.ID, am); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.TransitionInstallation(ctx, admin, in.ID, "install", ""); !errors.As(err, &se) {
			t.Fatalf("install before approval: %v", err)
		}
		got, err := e.svc.TransitionInstallation(ctx, admin, in.ID, "approve", "")
		if err != nil || got.State != ops.InstApproved || len(got.Missing) != 0 {
			t.Fatalf("approve: %v %+v", err, got)
		}

		// Report figures from fixtures: two cameras (one connected, one
		// installed 10 days ago and never connected), three incidents (two
		// resolved, one in time), assets and plans for the cost estimate.
		now := e.clk.Now()
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO cameras (id, system_id, name, area, area_bit, lat, lon, created_at, updated_at, installed_at, first_connected_at) VALUES ('c1', 'ioc', 'C1', 'road', 1, 21, 103, 1, 1, ?, ?)`,
				[]any{store.MS(now.Add(-30 * 24 * time.Hour)), store.MS(now.Add(-29 * 24 * time.Hour))}},
			{`INSERT INTO cameras (id, system_id, name, area, area_bit, lat, lon, created_at, updated_at, installed_at) VALUES ('c2', 'ioc', 'C2', 'road', 1, 21, 103, 1, 1, ?)`,
				[]any{store.MS(now.Add(-10 * 24 * time.Hour))}},
		} {
			if _, err := db.Q().Exec(ctx, q.sql, q.args...); err != nil {
				t.Fatal(err)
			}
		}
		user := health.Actor{ID: "u", Name: "u", OrgID: "vnpt"}
		i1, _ := e.hs.Open(ctx, user, health.Report{Category: health.CatPower, CameraID: "c1", Title: "a"})
		i2, _ := e.hs.Open(ctx, user, health.Report{Category: health.CatNetwork, CameraID: "c2", Title: "b"})
		if _, err := e.hs.Open(ctx, user, health.Report{Category: health.CatOther, SystemID: "ioc", Title: "c"}); err != nil {
			t.Fatal(err)
		}
		e.clk.Add(2 * time.Hour)
		if _, err := e.hs.Transition(ctx, user, i1.ID, health.ActResolve, "ok"); err != nil {
			t.Fatal(err)
		}
		e.clk.Add(30 * time.Hour)
		if _, err := e.hs.Transition(ctx, user, i2.ID, health.ActResolve, "late"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.CreateAsset(ctx, admin, ops.Asset{SystemID: "ioc", CameraID: "c1", Model: "DS-2CD", PurchaseCost: 12_000_000,
			YearlyOpCost: 1_200_000, ReplaceDue: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.CreateAsset(ctx, admin, ops.Asset{SystemID: "ioc", Model: "Switch", PurchaseCost: 5_000_000, YearlyOpCost: 300_000,
			ReplaceDue: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.CreateAsset(ctx, admin, ops.Asset{SystemID: "ioc", Model: " "}); !errors.As(err, &ie) || ie.Field != "model" {
			t.Fatalf("asset without model: %v", err)
		}
		// quarterly from 2025-02-15: overdue now; 4 occurrences in 2026
		p, err := e.svc.CreatePlan(ctx, admin, ops.MaintenancePlan{SystemID: "ioc", Title: "Vệ sinh ống kính", EveryDays: 91,
			NextDue: time.Date(2025, 2, 15, 0, 0, 0, 0, time.UTC), CostEstimate: 500_000})
		if err != nil || !p.Overdue {
			t.Fatalf("plan: %v %+v", err, p)
		}
		if _, err := e.svc.RecordWork(ctx, admin, ops.MaintenanceRecord{PlanID: p.ID, SystemID: "ioc", DoneAt: time.Date(2025, 5, 30, 0, 0, 0, 0, time.UTC), Cost: 450_000}); err != nil {
			t.Fatal(err)
		}
		if over, _ := e.svc.Plans(ctx, true); len(over) != 0 {
			t.Fatalf("the recorded plan is still overdue: %+v", over)
		}
		// Retention from the index, not the policy: c1 holds 40 days
		// (of which 29 in the last 30: a day of gap), c2 nothing, c3 12
		// days although its policy says 30.
		now = e.clk.Now()
		e.retention = []ops.CameraRetention{
			{CameraID: "c1", Mode: "always", RetentionDays: 30, OldestFootage: now.Add(-40 * 24 * time.Hour), Kept: 29 * 24 * time.Hour},
			{CameraID: "c2", Mode: "always", RetentionDays: 30},
			{CameraID: "c3", Mode: "always", RetentionDays: 30, OldestFootage: now.Add(-12 * 24 * time.Hour), Kept: 12 * 24 * time.Hour},
		}
		r, err := e.svc.BuildReport(ctx, 2025, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		if r.RetentionCompliant || r.RetentionNonCompliant != 2 || r.FootageDaysMin != 0 || len(r.RetentionByCamera) != 3 {
			t.Fatalf("retention: compliant %v, %d non-compliant, least footage %v days", r.RetentionCompliant, r.RetentionNonCompliant, r.FootageDaysMin)
		}
		for i, want := range []struct {
			status string
			days   float64
			gap    float64
		}{{"ok", 40, 24}, {"no_footage", 0, 0}, {"short", 12, 0}} {
			c := r.RetentionByCamera[i]
			if c.Status != want.status || c.Compliant != (want.status == "ok") || c.FootageDays != want.days || c.GapHours != want.gap {
				t.Errorf("%s: %+v, want status %s, %v days, %v h of gap", c.CameraID, c, want.status, want.days, want.gap)
			}
		}
		if r.Cameras != 2 || r.CamerasConnected != 1 || r.ConnectionRate != 50 || len(r.ConnectOverdue) != 1 || r.ConnectOverdue[0] != "c2" {
			t.Fatalf("connection figures: %+v", r)
		}
		if r.Incidents != 3 || r.IncidentsResolved != 2 || r.IncidentsInTime != 1 || r.IncidentsInTimePct != 50 || r.IncidentsOpenLate != 1 {
			t.Fatalf("incident figures: %+v", r)
		}
		if r.MaintenanceDone != 1 || r.MaintenanceSpent != 450_000 || r.MaintenanceOverdue != 0 {
			t.Fatalf("maintenance figures: %+v", r)
		}
		// Next due 2025-08-29, then every 91 days: 2026 holds 4 occurrences.
		if r.Cost.Operation != 1_500_000 || r.Cost.Replacement != 12_000_000 || r.Cost.Maintenance != 2_000_000 || r.Cost.Total != 15_500_000 {
			t.Fatalf("cost estimate: %+v", r.Cost)
		}
		var x bytes.Buffer
		if err := ops.WriteXLSX(&x, "Báo cáo", r.Rows()); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(x.Bytes()), int64(x.Len()))
		if err != nil || len(zr.File) != 5 {
			t.Fatalf("xlsx: %v", err)
		}
		var csvb bytes.Buffer
		if err := ops.WriteCSV(&csvb, r.Rows()); err != nil || !strings.Contains(csvb.String(), "15500000") {
			t.Fatalf("csv: %v %s", err, csvb.String())
		}
	})
}

// httpAdmin answers like a camera's web page on plain HTTP.
func httpAdmin(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>login</html>"))
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return port
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}

func TestProbeSimulatedCameras(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A camera set up properly: its own credentials, nothing default.
	good, err := sim.Start(ctx, sim.Config{Addr: "127.0.0.1:0", User: "vigil", Pass: "Str0ng-Pass", Cameras: []sim.CameraSpec{{ID: "cam"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	r, err := ops.Probe(ctx, good.URL("cam", "main"), ops.ProbeOptions{Measure: time.Second, HTTPPort: closedPort(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Reachable || !r.RTSP || !r.AuthRequired || !r.Compatible || !r.BaselineOK || r.Main == nil || r.Main.Codec != "H264" ||
		r.Main.Width != 1280 || r.Main.Height != 720 || r.Main.FPS <= 0 || r.Sub == nil || r.Sub.Width != 640 {
		t.Fatalf("good camera: %+v main %+v sub %+v", r, r.Main, r.Sub)
	}
	if strings.Contains(r.Target, "Str0ng-Pass") {
		t.Fatal("the password leaked into the report")
	}
	t.Logf("good camera: main %s %dx%d %.1f fps, sub %dx%d, findings %v", r.Main.Codec, r.Main.Width, r.Main.Height, r.Main.FPS, r.Sub.Width, r.Sub.Height, r.Findings)

	// A deliberately weak camera: no authentication, web admin over HTTP.
	weak, err := sim.Start(ctx, sim.Config{Addr: "127.0.0.1:0", Cameras: []sim.CameraSpec{{ID: "cam", Codec: "h265"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer weak.Close()
	r, err = ops.Probe(ctx, weak.URL("cam", "main"), ops.ProbeOptions{Measure: time.Second, HTTPPort: httpAdmin(t)})
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]bool{}
	for _, f := range r.Findings {
		codes[f.Code] = true
	}
	if !codes["no_authentication"] || !codes["plain_http_admin"] || r.BaselineOK || !r.Compatible || r.Main.Codec != "H265" {
		t.Fatalf("weak camera: %+v", r)
	}

	// Factory credentials accepted.
	def, err := sim.Start(ctx, sim.Config{Addr: "127.0.0.1:0", User: "admin", Pass: "12345", Cameras: []sim.CameraSpec{{ID: "cam"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer def.Close()
	r, err = ops.Probe(ctx, strings.Replace(def.URL("cam", "main"), "admin:12345@", "", 1), ops.ProbeOptions{Measure: time.Second, HTTPPort: closedPort(t)})
	if err != nil {
		t.Fatal(err)
	}
	codes = map[string]bool{}
	for _, f := range r.Findings {
		codes[f.Code] = true
	}
	if !codes["default_credentials"] || r.BaselineOK {
		t.Fatalf("default credentials: %+v", r)
	}

	// Nothing listening: reported, not an error.
	r, err = ops.Probe(ctx, "rtsp://127.0.0.1:"+closedPort(t)+"/x", ops.ProbeOptions{Timeout: time.Second})
	if err != nil || r.Reachable || r.Compatible {
		t.Fatalf("closed port: %v %+v", err, r)
	}
	if _, err := ops.Probe(ctx, "http://example.org/", ops.ProbeOptions{}); err == nil {
		t.Fatal("an http URL was accepted")
	}
}
