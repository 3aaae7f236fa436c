package registry_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

func ids(p registry.CameraPage) []string {
	out := []string{}
	for _, c := range p.Items {
		out = append(out, c.ID)
	}
	return out
}

func TestSearchIgnoresDiacritics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		for id, name := range map[string]string{
			"c-dbp":  "Ngã ba Điện Biên Phủ",
			"c-ml":   "Chợ Mường Lay",
			"c-tg":   "TUẦN GIÁO trung tâm",
			"c-pct":  "Cổng 100% an toàn",
			"c-und":  "cam_under",
			"c-dien": "Trạm điện Nà Tấu",
		} {
			in := validCamera(id)
			in.Name, in.Address, in.AdminUnit = name, "", ""
			if _, err := f.svc.CreateCamera(ctx, actor, in); err != nil {
				t.Fatal(err)
			}
		}
		for q, want := range map[string][]string{
			"dien bien":    {"c-dbp"},
			"ĐIỆN BIÊN":    {"c-dbp"},
			"bien   dien":  {"c-dbp"},
			"đien":         {"c-dbp", "c-dien"},
			"muong":        {"c-ml"},
			"tuan giao":    {"c-tg"},
			"Tuần":         {"c-tg"},
			"100%":         {"c-pct"},
			"%":            {"c-pct"},
			"_":            {"c-und"},
			"c-ml":         {"c-ml"},
			"' OR 1=1 --":  {},
			"nothing here": {},
		} {
			p, err := f.svc.ListCameras(ctx, registry.Unscoped(), registry.CameraFilter{Q: q})
			if err != nil {
				t.Fatal(err)
			}
			got := ids(p)
			if len(got) == 0 {
				got = []string{}
			}
			// Ordered by name: sort the expectation the same way.
			if len(want) == 2 && want[0] == "c-dbp" {
				want = []string{"c-dbp", "c-dien"}
			}
			if fmt.Sprint(sortedCopy(got)) != fmt.Sprint(sortedCopy(want)) || p.Total != len(want) {
				t.Errorf("q %q: got %v (total %d), want %v", q, got, p.Total, want)
			}
		}
	})
}

func sortedCopy(s []string) []string {
	c := append([]string{}, s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

func TestListFiltersAndScope(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		mk := func(id, sys, area string, kinds, purposes []string, public, classified bool, unit string) {
			in := validCamera(id)
			in.SystemID, in.Area, in.Kinds, in.Purposes, in.Public, in.Classified, in.AdminUnit = sys, area, kinds, purposes, public, classified, unit
			if public && sys == "sys-private" {
				in.Consent = registry.Consent{Doc: "1", Date: "2025-01-01"}
			}
			if _, err := f.svc.CreateCamera(ctx, actor, in); err != nil {
				t.Fatalf("%s: %v", id, err)
			}
		}
		mk("a1", "sys-ioc", "road", []string{"security"}, []string{"security_order"}, true, false, "Phường Him Lam")
		mk("a2", "sys-ioc", "internal", []string{"face_recognition"}, []string{"security_order"}, false, true, "Phường Him Lam")
		mk("a3", "sys-ioc", "intersection", []string{"traffic_violation"}, []string{"traffic_safety"}, false, false, "Xã Thanh Minh")
		mk("b1", "sys-private", "road", []string{"security"}, []string{"urban_order"}, true, false, "Xã Thanh Minh")
		tr, fa := true, false
		for name, tc := range map[string]struct {
			f    registry.CameraFilter
			want []string
		}{
			"all":        {registry.CameraFilter{}, []string{"a1", "a2", "a3", "b1"}},
			"system":     {registry.CameraFilter{SystemID: "sys-private"}, []string{"b1"}},
			"area":       {registry.CameraFilter{Area: "road"}, []string{"a1", "b1"}},
			"kind":       {registry.CameraFilter{Kind: "traffic_violation"}, []string{"a3"}},
			"purpose":    {registry.CameraFilter{Purpose: "security_order"}, []string{"a1", "a2"}},
			"unit":       {registry.CameraFilter{AdminUnit: "Xã Thanh Minh"}, []string{"a3", "b1"}},
			"public":     {registry.CameraFilter{Public: &tr}, []string{"a1", "b1"}},
			"classified": {registry.CameraFilter{Classified: &tr}, []string{"a2"}},
			"open":       {registry.CameraFilter{Classified: &fa, Area: "road", Purpose: "urban_order"}, []string{"b1"}},
			"page":       {registry.CameraFilter{Limit: 2, Offset: 1}, []string{"a2", "a3"}},
		} {
			p, err := f.svc.ListCameras(ctx, registry.Unscoped(), tc.f)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !reflect.DeepEqual(sortedCopy(ids(p)), tc.want) {
				t.Errorf("%s: got %v want %v", name, ids(p), tc.want)
			}
		}
		for _, bad := range []registry.CameraFilter{{Kind: "x"}, {Area: "moon"}, {Purpose: "y"}} {
			if _, err := f.svc.ListCameras(ctx, registry.Unscoped(), bad); err == nil {
				t.Errorf("unknown filter value %+v accepted", bad)
			}
		}

		// A scope of the shape access.Scope produces: a user agency sees
		// cameras serving its functions that are not classified, plus the
		// systems its organisation manages or operates.
		scope := registry.Scope{
			Where: "s.managing_org_id = ? OR s.operating_org_id = ? OR ((c.purposes & ?) <> 0 AND c.classified = ?)",
			Args:  []any{"chu-nha", "chu-nha", registry.MustMask(registry.Purposes, "security_order"), false},
		}
		p, err := f.svc.ListCameras(ctx, scope, registry.CameraFilter{})
		if err != nil || !reflect.DeepEqual(ids(p), []string{"a1", "b1"}) && !reflect.DeepEqual(sortedCopy(ids(p)), []string{"a1", "b1"}) {
			t.Fatalf("scoped: %v %v", ids(p), err)
		}
		// The scope's top-level OR must not swallow the filters.
		p, err = f.svc.ListCameras(ctx, scope, registry.CameraFilter{SystemID: "sys-ioc"})
		if err != nil || !reflect.DeepEqual(ids(p), []string{"a1"}) || p.Total != 1 {
			t.Fatalf("scoped+filter: %v %d %v", ids(p), p.Total, err)
		}
		// A scope needing another join brings its own FROM.
		p, err = f.svc.ListCameras(ctx, registry.Scope{
			From:  registry.CameraFrom + " JOIN organisations mo ON mo.id = s.managing_org_id",
			Where: "mo.kind = ?", Args: []any{registry.OrgPrivateOwner},
		}, registry.CameraFilter{})
		if err != nil || !reflect.DeepEqual(ids(p), []string{"b1"}) {
			t.Fatalf("scope with From: %v %v", ids(p), err)
		}
		if _, err := f.svc.ListCameras(ctx, registry.Scope{}, registry.CameraFilter{}); !errors.Is(err, registry.ErrNoScope) {
			t.Fatalf("zero scope: %v", err)
		}
	})
}

func TestOrganisationsAndSystems(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		o, err := f.svc.GetOrganisation(ctx, "cong-an")
		if err != nil || o.Name != "Công an tỉnh Điện Biên" || !reflect.DeepEqual(o.Functions, []string{"security_order"}) || o.Version != 1 {
			t.Fatalf("get org: %+v %v", o, err)
		}
		o.Functions = []string{"security_order", "traffic_safety"}
		o.AreaLimit = []string{"road", "intersection"}
		o.ClearedClassified = true
		o2, err := f.svc.UpdateOrganisation(ctx, actor, "cong-an", 1, o)
		if err != nil || o2.Version != 2 || !reflect.DeepEqual(o2.AreaLimit, []string{"road", "intersection"}) || !o2.ClearedClassified {
			t.Fatalf("update org: %+v %v", o2, err)
		}
		if _, err := f.svc.UpdateOrganisation(ctx, actor, "cong-an", 1, o); !errors.Is(err, registry.ErrConflict) {
			t.Fatalf("stale org update: %v", err)
		}
		// Parent rules.
		if _, err := f.svc.CreateOrganisation(ctx, actor, registry.Organisation{Name: "x", Kind: "commune", ParentID: "nope"}); fieldErr(err, "parent_id") == nil {
			t.Errorf("missing parent: %v", err)
		}
		so, _ := f.svc.GetOrganisation(ctx, "so-tttt")
		so.ParentID = "vnpt" // vnpt's parent is so-tttt: a loop
		if _, err := f.svc.UpdateOrganisation(ctx, actor, "so-tttt", so.Version, so); fieldErr(err, "parent_id") == nil || fieldErr(err, "parent_id").Code != "cycle" {
			t.Errorf("cycle: %v", err)
		}
		for _, bad := range []struct {
			o     registry.Organisation
			field string
		}{
			{registry.Organisation{Name: "x", Kind: "bank"}, "kind"},
			{registry.Organisation{Name: "x", Kind: "commune", Functions: []string{"fun"}}, "functions"},
			{registry.Organisation{Name: "x", Kind: "commune", AreaLimit: []string{"sea"}}, "area_limit"},
			{registry.Organisation{Name: "", Kind: "commune"}, "name"},
		} {
			if _, err := f.svc.CreateOrganisation(ctx, actor, bad.o); fieldErr(err, bad.field) == nil {
				t.Errorf("org %+v: want error on %s, got %v", bad.o, bad.field, err)
			}
		}
		// Systems.
		for _, bad := range []struct {
			y     registry.System
			field string
		}{
			{registry.System{Name: "x", Tier: 4, ManagingOrgID: "so-tttt", OperatingOrgID: "vnpt", SiteID: "s"}, "tier"},
			{registry.System{Name: "x", Tier: 0, ManagingOrgID: "so-tttt", OperatingOrgID: "vnpt", SiteID: "s"}, "tier"},
			{registry.System{Name: "x", Tier: 2, ManagingOrgID: "nope", OperatingOrgID: "vnpt", SiteID: "s"}, "managing_org_id"},
			{registry.System{Name: "x", Tier: 2, ManagingOrgID: "so-tttt", OperatingOrgID: "nope", SiteID: "s"}, "operating_org_id"},
			{registry.System{Name: "x", Tier: 2, ManagingOrgID: "so-tttt", OperatingOrgID: "vnpt", SiteID: "Bad Site"}, "site_id"},
		} {
			if _, err := f.svc.CreateSystem(ctx, actor, bad.y); fieldErr(err, bad.field) == nil {
				t.Errorf("system %+v: want error on %s, got %v", bad.y, bad.field, err)
			}
		}
		y, _ := f.svc.GetSystem(ctx, "sys-ioc")
		y.PublicSharing = true
		y2, err := f.svc.UpdateSystem(ctx, actor, "sys-ioc", 1, y)
		if err != nil || !y2.PublicSharing || y2.Version != 2 {
			t.Fatalf("update system: %+v %v", y2, err)
		}
		sp, err := f.svc.ListSystems(ctx, registry.SystemFilter{Q: "cap i"})
		if err != nil || sp.Total != 1 || sp.Items[0].ID != "sys-ioc" {
			t.Fatalf("list systems: %+v %v", sp, err)
		}
		op, err := f.svc.ListOrganisations(ctx, registry.OrgFilter{Q: "dien bien"})
		if err != nil || op.Total != 3 || op.Items[0].ID != "cong-an" {
			t.Fatalf("list orgs: %+v %v", op, err)
		}
		// Referenced things cannot be deleted; unreferenced ones can.
		if _, err := f.svc.CreateCamera(ctx, actor, validCamera("c1")); err != nil {
			t.Fatal(err)
		}
		var ce *registry.ConflictError
		if err := f.svc.DeleteSystem(ctx, actor, "sys-ioc"); !errors.As(err, &ce) || ce.Code != "in_use" {
			t.Errorf("delete system with cameras: %v", err)
		}
		if err := f.svc.DeleteOrganisation(ctx, actor, "so-tttt"); !errors.As(err, &ce) || ce.Code != "in_use" {
			t.Errorf("delete org in use: %v", err)
		}
		if err := f.svc.DeleteOrganisation(ctx, actor, "cong-an"); err != nil {
			t.Errorf("delete org: %v", err)
		}
		if err := f.svc.DeleteSystem(ctx, actor, "nope"); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("delete missing system: %v", err)
		}
	})
}
