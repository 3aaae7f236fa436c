package registry_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
)

// recAudit records entries; fail makes Append fail (to prove rollback).
type recAudit struct {
	mu      sync.Mutex
	entries []audit.Entry
	fail    bool
}

func (r *recAudit) Append(_ context.Context, q store.Q, e audit.Entry) (audit.Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if q == nil {
		return e, errors.New("no transaction")
	}
	if r.fail {
		return e, errors.New("audit down")
	}
	e.Seq = int64(len(r.entries) + 1)
	r.entries = append(r.entries, e)
	return e, nil
}

func (r *recAudit) actions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.entries {
		out = append(out, e.Action)
	}
	return out
}

func (r *recAudit) json(t *testing.T) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := json.Marshal(r.entries)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeSealer is reversible but not the identity, so a test can tell sealed
// from plain text in the database.
type fakeSealer struct{}

func (fakeSealer) Seal(p []byte) (string, error) {
	b := make([]byte, len(p))
	for i, c := range p {
		b[i] = c ^ 0x5a
	}
	return "fake:" + base64.StdEncoding.EncodeToString(b), nil
}

func (fakeSealer) Open(s string) ([]byte, error) {
	if !strings.HasPrefix(s, "fake:") {
		return nil, errors.New("not sealed by fakeSealer")
	}
	b, err := base64.StdEncoding.DecodeString(s[5:])
	for i := range b {
		b[i] ^= 0x5a
	}
	return b, err
}

var (
	ctx   = context.Background()
	actor = registry.Actor{UserID: "u-1", Username: "nguyen.van.a", OrgID: "so-tttt", Remote: "10.0.0.9"}
)

// fixture is a registry with three organisations and two systems.
type fixture struct {
	db  *store.DB
	svc *registry.Service
	log *recAudit
	now time.Time
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	f := &fixture{db: db, log: &recAudit{}, now: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)}
	f.svc = registry.New(db, f.log, fakeSealer{})
	registry.SetClock(f.svc, func() time.Time { return f.now })
	for _, o := range []registry.Organisation{
		{ID: "so-tttt", Name: "Sở Thông tin và Truyền thông tỉnh Điện Biên", Kind: registry.OrgDepartment},
		{ID: "cong-an", Name: "Công an tỉnh Điện Biên", Kind: registry.OrgUserAgency, Functions: []string{"security_order"}},
		{ID: "vnpt", Name: "VNPT Điện Biên", Kind: registry.OrgOperatingUnit, ParentID: "so-tttt"},
		{ID: "chu-nha", Name: "Hộ kinh doanh Lò Văn Đức", Kind: registry.OrgPrivateOwner},
	} {
		if _, err := f.svc.CreateOrganisation(ctx, actor, o); err != nil {
			t.Fatalf("org %s: %v", o.ID, err)
		}
	}
	for _, y := range []registry.System{
		{ID: "sys-ioc", Name: "Hệ thống IOC cấp I", Tier: 1, ManagingOrgID: "so-tttt", OperatingOrgID: "vnpt", SiteID: "db-ioc"},
		{ID: "sys-private", Name: "Camera tư nhân Lò Văn Đức", Tier: 3, ManagingOrgID: "chu-nha", OperatingOrgID: "chu-nha", SiteID: "xa-thanh-minh"},
	} {
		if _, err := f.svc.CreateSystem(ctx, actor, y); err != nil {
			t.Fatalf("system %s: %v", y.ID, err)
		}
	}
	return f
}

// validCamera is a camera input that passes every rule.
func validCamera(id string) registry.CameraInput {
	return registry.CameraInput{
		ID: id, SystemID: "sys-ioc", Name: "Ngã tư Mường Thanh " + id,
		Kinds: []string{"security", "traffic_counting"}, Purposes: []string{"security_order", "traffic_safety"},
		Area: "intersection", Lat: 21.3856, Lon: 103.0169,
		AdminUnit: "Phường Mường Thanh", Address: "Đường Võ Nguyên Giáp, TP. Điện Biên Phủ",
		MainURL: "rtsp://10.1.2.3:554/Streaming/Channels/101",
	}
}

// fieldErr finds the validation error on field in err.
func fieldErr(err error, field string) *registry.ValidationError {
	var es registry.ValidationErrors
	if errors.As(err, &es) {
		for _, e := range es {
			if e.Field == field {
				return e
			}
		}
	}
	var e *registry.ValidationError
	if errors.As(err, &e) && e.Field == field {
		return e
	}
	return nil
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
