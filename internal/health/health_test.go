package health_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// states is a fake hub.
type states struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *states) set(cam, status string) {
	s.mu.Lock()
	s.m[cam] = status
	s.mu.Unlock()
}

func (s *states) States() []media.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []media.State
	for id, st := range s.m {
		out = append(out, media.State{CameraID: id, Variant: media.Main, Status: st})
		out = append(out, media.State{CameraID: id, Variant: media.Sub, Status: st})
	}
	return out
}

// recAudit records the entries appended.
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

func (r *recAudit) count(action string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.es {
		if e.Action == action {
			n++
		}
	}
	return n
}

// seed writes a department, an operating unit, a commune, two systems and
// three cameras.
func seed(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`INSERT INTO organisations (id, name, kind, created_at, updated_at) VALUES ('so', 'Sở', 'department', 1, 1)`,
		`INSERT INTO organisations (id, name, kind, created_at, updated_at) VALUES ('vnpt', 'VNPT', 'operating_unit', 1, 1)`,
		`INSERT INTO organisations (id, name, kind, created_at, updated_at) VALUES ('xa', 'Xã', 'commune', 1, 1)`,
		`INSERT INTO systems (id, name, tier, managing_org_id, operating_org_id, site_id, created_at, updated_at) VALUES ('ioc', 'IOC', 1, 'so', 'vnpt', 's', 1, 1)`,
		`INSERT INTO systems (id, name, tier, managing_org_id, operating_org_id, site_id, created_at, updated_at) VALUES ('sys-xa', 'Xã', 3, 'xa', 'xa', 's', 1, 1)`,
		`INSERT INTO cameras (id, system_id, name, area, area_bit, lat, lon, created_at, updated_at) VALUES ('cam-1', 'ioc', 'C1', 'road', 1, 21, 103, 1, 1)`,
		`INSERT INTO cameras (id, system_id, name, area, area_bit, lat, lon, created_at, updated_at) VALUES ('cam-2', 'ioc', 'C2', 'road', 1, 21, 103, 1, 1)`,
		`INSERT INTO cameras (id, system_id, name, area, area_bit, lat, lon, created_at, updated_at) VALUES ('cam-xa', 'sys-xa', 'C3', 'road', 1, 21, 103, 1, 1)`,
	} {
		if _, err := db.Q().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
}

type env struct {
	db  *store.DB
	clk *clock
	st  *states
	au  *recAudit
	svc *health.Service
}

func newEnv(t *testing.T, db *store.DB, n health.NotifyConfig) *env {
	seed(t, db)
	e := &env{db: db, clk: newClock(), st: &states{m: map[string]string{}}, au: &recAudit{}}
	e.svc = health.New(health.Options{DB: db, Audit: e.au, States: e.st.States, Now: e.clk.Now,
		OfflineAfter: 2 * time.Minute, Deadlines: map[string]time.Duration{health.CatPower: 48 * time.Hour},
		EscalateBefore: 4 * time.Hour, Notify: n})
	return e
}

func (e *env) sample(t *testing.T) {
	t.Helper()
	if err := e.svc.Sample(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOfflineCameraOpensAndReturnResolves(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, health.NotifyConfig{})
		t0 := e.clk.Now()
		e.st.set("cam-1", health.StatusOnline)
		e.st.set("cam-2", health.StatusOnline)
		e.sample(t)
		e.clk.Add(10 * time.Minute)
		e.st.set("cam-1", health.StatusOffline)
		e.sample(t) // down at t0+10m, under the threshold: no incident yet
		e.clk.Add(time.Minute)
		e.sample(t)
		if is, _ := e.svc.List(ctx, health.Filter{}); len(is) != 0 {
			t.Fatalf("incident before the threshold: %+v", is)
		}
		e.clk.Add(time.Minute) // down 2 min: open
		e.sample(t)
		e.sample(t) // and only once
		is, err := e.svc.List(ctx, health.Filter{State: "active"})
		if err != nil || len(is) != 1 {
			t.Fatalf("want one open incident: %v %+v", err, is)
		}
		inc := is[0]
		down := t0.Add(10 * time.Minute)
		if inc.Category != health.CatCameraOffline || inc.Source != "auto" || inc.CameraID != "cam-1" || inc.SystemID != "ioc" ||
			inc.AssignedOrgID != "vnpt" || !inc.DetectedAt.Equal(down) || !inc.DeadlineAt.Equal(down.Add(24*time.Hour)) {
			t.Fatalf("incident: %+v", inc)
		}
		e.clk.Add(8 * time.Minute) // back online at t0+20m
		e.st.set("cam-1", health.StatusOnline)
		e.sample(t)
		got, err := e.svc.Get(ctx, inc.ID)
		if err != nil || got.State != health.StateResolved || got.ResolvedBy != "system" || !got.WithinDeadline() {
			t.Fatalf("not resolved by the camera's return: %v %+v", err, got)
		}
		if e.au.count("incident.open") != 1 || e.au.count("incident.resolve") != 1 {
			t.Fatalf("audit: %+v", e.au.es)
		}
		// A second outage opens a new incident.
		e.clk.Add(10 * time.Minute)
		e.st.set("cam-1", health.StatusConnecting)
		e.sample(t)
		e.clk.Add(5 * time.Minute)
		e.sample(t)
		if is, _ := e.svc.List(ctx, health.Filter{State: "active", CameraID: "cam-1"}); len(is) != 1 || is[0].ID == inc.ID {
			t.Fatalf("second outage: %+v", is)
		}
		// Uptime over [t0, t0+35m): online 10+15 min, down 10 min.
		u, err := e.svc.CameraUptime(ctx, "cam-1", t0, t0.Add(35*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if u.Online != 20*time.Minute || u.Down != 15*time.Minute {
			t.Fatalf("uptime: online %v down %v", u.Online, u.Down)
		}
		if want := 20.0 / 35.0; u.Ratio < want-1e-9 || u.Ratio > want+1e-9 {
			t.Fatalf("ratio %v want %v", u.Ratio, want)
		}
		g, err := e.svc.GroupUptime(ctx, []string{"cam-1", "cam-2"}, t0, t0.Add(35*time.Minute))
		if err != nil || g.Online != 55*time.Minute || g.Down != 15*time.Minute {
			t.Fatalf("group uptime: %v %+v", err, g)
		}
		h, err := e.svc.History(ctx, "cam-1", t0, t0.Add(time.Hour), 0)
		if err != nil || len(h) != 4 {
			t.Fatalf("history: %v %+v", err, h)
		}
	})
}

func TestManualIncidentTransitions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, health.NotifyConfig{})
		police := health.Actor{ID: "u1", Name: "police", OrgID: "cong-an"}
		var ie *health.InputError
		if _, err := e.svc.Open(ctx, police, health.Report{Category: "bogus", CameraID: "cam-1", Title: "x"}); !errors.As(err, &ie) || ie.Field != "category" {
			t.Fatalf("bad category: %v", err)
		}
		if _, err := e.svc.Open(ctx, police, health.Report{Category: health.CatCameraDamaged, CameraID: "nope", Title: "x"}); !errors.As(err, &ie) || ie.Field != "camera_id" {
			t.Fatalf("unknown camera: %v", err)
		}
		if is, _ := e.svc.List(ctx, health.Filter{}); len(is) != 0 || e.au.count("incident.open") != 0 {
			t.Fatal("a refused report left something behind")
		}
		inc, err := e.svc.Open(ctx, police, health.Report{Category: health.CatPower, CameraID: "cam-xa", Title: "Mất điện cột", Description: "cột 12"})
		if err != nil {
			t.Fatal(err)
		}
		if inc.AssignedOrgID != "xa" || inc.ReporterOrgID != "cong-an" || inc.DeadlineAt.Sub(inc.DetectedAt) != 48*time.Hour {
			t.Fatalf("manual incident: %+v", inc)
		}
		var se *health.StateError
		if _, err := e.svc.Transition(ctx, police, inc.ID, health.ActClose, ""); !errors.As(err, &se) || se.Code != "invalid_transition" {
			t.Fatalf("close an open incident: %v", err)
		}
		op := health.Actor{ID: "u2", Name: "tech", OrgID: "xa"}
		if _, err := e.svc.Transition(ctx, op, inc.ID, health.ActAcknowledge, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Transition(ctx, op, inc.ID, health.ActAcknowledge, ""); !errors.As(err, &se) {
			t.Fatalf("acknowledge twice: %v", err)
		}
		if _, err := e.svc.Transition(ctx, op, inc.ID, health.ActResolve, " "); !errors.As(err, &ie) || ie.Field != "note" {
			t.Fatalf("resolve without a note: %v", err)
		}
		e.clk.Add(50 * time.Hour)
		got, err := e.svc.Transition(ctx, op, inc.ID, health.ActResolve, "thay nguồn")
		if err != nil || got.State != health.StateResolved || got.WithinDeadline() || !got.Overdue {
			t.Fatalf("late resolve: %v %+v", err, got)
		}
		got, err = e.svc.Transition(ctx, police, inc.ID, health.ActClose, "đã kiểm tra")
		if err != nil || got.State != health.StateClosed || got.ClosedBy != "police" || got.AcknowledgedBy != "tech" {
			t.Fatalf("close: %v %+v", err, got)
		}
		if _, err := e.svc.Transition(ctx, op, "inc-missing", health.ActResolve, "x"); !errors.Is(err, health.ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
		if e.au.count("incident.acknowledge") != 1 || e.au.count("incident.resolve") != 1 || e.au.count("incident.close") != 1 {
			t.Fatalf("audit: %+v", e.au.es)
		}
		if is, _ := e.svc.List(ctx, health.Filter{OrgID: "cong-an"}); len(is) != 1 {
			t.Fatalf("reporter's org sees its report: %+v", is)
		}
		if is, _ := e.svc.List(ctx, health.Filter{OrgID: "vnpt"}); len(is) != 0 {
			t.Fatalf("other org sees it: %+v", is)
		}
	})
}

func TestEscalationNearAndPastDeadline(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	e := newEnv(t, db, health.NotifyConfig{WebhookURL: "http://127.0.0.1:1/hook"})
	inc, err := e.svc.Open(ctx, health.Actor{ID: "u", Name: "u", OrgID: "so"}, health.Report{Category: health.CatNetwork, SystemID: "ioc", Title: "Mất kết nối"})
	if err != nil {
		t.Fatal(err)
	}
	step := func(d time.Duration, want int, level int) {
		t.Helper()
		e.clk.Add(d)
		n, err := e.svc.Escalate(ctx)
		if err != nil || n != want {
			t.Fatalf("escalate after %v: %d %v (want %d)", d, n, err, want)
		}
		got, _ := e.svc.Get(ctx, inc.ID)
		if got.EscalationLevel != level {
			t.Fatalf("level %d want %d", got.EscalationLevel, level)
		}
	}
	step(19*time.Hour, 0, 0)
	step(time.Hour, 1, 1) // 4 h before the deadline
	step(time.Hour, 0, 1)
	step(4*time.Hour, 1, 2) // at the deadline
	step(time.Hour, 0, 2)
	if is, _ := e.svc.List(ctx, health.Filter{Overdue: true}); len(is) != 1 || !is[0].Overdue {
		t.Fatalf("overdue list: %+v", is)
	}
	ns, err := e.svc.Notifications(ctx, inc.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	events := map[string]bool{}
	for _, n := range ns {
		events[n.Event] = true
	}
	if !events["incident.opened"] || !events["incident.deadline_near"] || !events["incident.overdue"] || len(ns) != 3 {
		t.Fatalf("notifications: %+v", ns)
	}
}
