package access_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

var admin = access.Actor{ID: "u-dept-admin", Name: "dept admin", OrgID: "dept", Remote: "127.0.0.1"}

const docHash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// seedSmall: the department, a police user agency (functions: security), a
// commune with one system holding a security camera and a forest-fire one.
func seedSmall(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	ms := store.NowMS()
	stmts := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO organisations (id, name, kind, functions, cleared_classified, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			[]any{"dept", "Sở TT&TT", registry.OrgDepartment, purposes(registry.Purposes...), true, ms, ms}},
		{`INSERT INTO organisations (id, name, kind, functions, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			[]any{"police", "Công an tỉnh", registry.OrgUserAgency, purposes("security_order"), ms, ms}},
		{`INSERT INTO organisations (id, name, kind, functions, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			[]any{"commune", "UBND xã", registry.OrgCommune, purposes("urban_order"), ms, ms}},
		{`INSERT INTO systems (id, name, tier, managing_org_id, operating_org_id, site_id, created_at, updated_at) VALUES ('sysC', 'xã', 3, 'commune', 'commune', 'site', ?, ?)`,
			[]any{ms, ms}},
		{`INSERT INTO cameras (id, system_id, name, purposes, area, area_bit, lat, lon, created_at, updated_at) VALUES ('camSec', 'sysC', 'chợ', ?, 'public_crowded', ?, 0, 0, ?, ?)`,
			[]any{purposes("security_order"), areas("public_crowded"), ms, ms}},
		{`INSERT INTO cameras (id, system_id, name, purposes, area, area_bit, lat, lon, created_at, updated_at) VALUES ('camFire', 'sysC', 'rừng', ?, 'public_other', ?, 0, 0, ?, ?)`,
			[]any{purposes("forest_fire"), areas("public_other"), ms, ms}},
	}
	for _, s := range stmts {
		if _, err := db.Q().Exec(ctx, s.q, s.args...); err != nil {
			t.Fatalf("seed: %v\n%s", err, s.q)
		}
	}
}

func validApproval(org string) access.Approval {
	return access.Approval{
		OrgID: org, DecisionNo: "123/QĐ-UBND", DecisionDate: time.Now().Add(-48 * time.Hour),
		Signer: "Chủ tịch UBND tỉnh", Scope: "forest-fire cameras of the commune",
		ExpiresAt: time.Now().Add(180 * 24 * time.Hour), DocSHA256: strings.ToUpper(docHash),
	}
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var fe *access.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("want a FieldError on %s, got %v", field, err)
	}
	if fe.Field != field {
		t.Fatalf("want a FieldError on %s, got one on %s (%v)", field, fe.Field, err)
	}
}

func TestCreateApproval(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedSmall(t, db)
		rec := &recorder{}
		st := access.NewStore(db, rec)

		bad := []struct {
			field string
			edit  func(a *access.Approval)
		}{
			{"org_id", func(a *access.Approval) { a.OrgID = "" }},
			{"org_id", func(a *access.Approval) { a.OrgID = "nobody" }},
			{"decision_no", func(a *access.Approval) { a.DecisionNo = "  " }},
			{"decision_date", func(a *access.Approval) { a.DecisionDate = time.Time{} }},
			{"signer", func(a *access.Approval) { a.Signer = "" }},
			{"scope", func(a *access.Approval) { a.Scope = "" }},
			{"expires_at", func(a *access.Approval) { a.ExpiresAt = time.Time{} }},
			{"expires_at", func(a *access.Approval) { a.ExpiresAt = a.DecisionDate.Add(-time.Hour) }},
			{"expires_at", func(a *access.Approval) { a.ExpiresAt = time.Now().Add(-time.Minute) }},
			{"doc_sha256", func(a *access.Approval) { a.DocSHA256 = "abc" }},
			{"doc_sha256", func(a *access.Approval) { a.DocSHA256 = strings.Repeat("z", 64) }},
		}
		for _, b := range bad {
			a := validApproval("police")
			b.edit(&a)
			_, err := st.CreateApproval(ctx, admin, a)
			wantField(t, err, b.field)
		}
		if n := len(rec.actions()); n != 0 {
			t.Fatalf("refused approvals were audited: %v", rec.actions())
		}

		a, err := st.CreateApproval(ctx, admin, validApproval("police"))
		if err != nil {
			t.Fatal(err)
		}
		if a.ID == "" || a.DocSHA256 != docHash || a.CreatedBy != admin.ID {
			t.Fatalf("created approval: %+v", a)
		}
		_, err = st.CreateApproval(ctx, admin, validApproval("police"))
		wantField(t, err, "decision_no")

		list, err := st.ListApprovals(ctx, "police")
		if err != nil || len(list) != 1 || list[0] != a {
			t.Fatalf("list: %v %+v, want %+v", err, list, a)
		}
		if list, _ := st.ListApprovals(ctx, "commune"); len(list) != 0 {
			t.Fatalf("commune has approvals: %+v", list)
		}
		got, err := st.GetApproval(ctx, a.ID)
		if err != nil || got != a {
			t.Fatalf("get: %v %+v", err, got)
		}
		if _, err := st.GetApproval(ctx, "apv_none"); !errors.Is(err, access.ErrNotFound) {
			t.Fatalf("missing approval: %v", err)
		}
		if acts := rec.actions(); len(acts) != 1 || acts[0] != "access.approval.create approval/"+a.ID {
			t.Fatalf("audit: %v", acts)
		}
	})
}

func TestCreateGrant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedSmall(t, db)
		rec := &recorder{}
		st := access.NewStore(db, rec)
		apv, err := st.CreateApproval(ctx, admin, validApproval("police"))
		if err != nil {
			t.Fatal(err)
		}
		otherApv, err := st.CreateApproval(ctx, admin, validApproval("commune"))
		if err != nil {
			t.Fatal(err)
		}
		view := access.SetOf(access.ViewLive, access.Playback)
		exp := access.SetOf(access.Export)

		refused := []struct {
			field string
			g     access.Grant
		}{
			{"org_id", access.Grant{Actions: view, CameraID: "camSec"}},
			{"org_id", access.Grant{OrgID: "nobody", Actions: view, CameraID: "camSec"}},
			{"actions", access.Grant{OrgID: "police", CameraID: "camSec"}},
			{"actions", access.Grant{OrgID: "police", Actions: access.SetOf(access.Manage), CameraID: "camSec"}},
			{"actions", access.Grant{OrgID: "police", Actions: access.SetOf(access.ApproveGrants), CameraID: "camSec"}},
			{"scope", access.Grant{OrgID: "police", Actions: view}},
			{"scope", access.Grant{OrgID: "police", Actions: view, Purposes: -1}},
			{"expires_at", access.Grant{OrgID: "police", Actions: exp, CameraID: "camSec", ExpiresAt: time.Now().Add(-time.Second)}},
			{"camera_id", access.Grant{OrgID: "police", Actions: exp, CameraID: "camNone"}},
			{"system_id", access.Grant{OrgID: "police", Actions: exp, SystemID: "sysNone"}},
			// beyond the functions without an approval (R-ACC-4)
			{"approval_id", access.Grant{OrgID: "police", Actions: view, CameraID: "camFire"}},
			{"approval_id", access.Grant{OrgID: "police", Actions: view, SystemID: "sysC"}},
			{"approval_id", access.Grant{OrgID: "police", Actions: view, Purposes: purposes("forest_fire")}},
			{"approval_id", access.Grant{OrgID: "police", Actions: view, Areas: areas("road")}},
			// an approval that is not the organisation's, or not there
			{"approval_id", access.Grant{OrgID: "police", Actions: view, CameraID: "camFire", Approval: otherApv}},
			{"approval_id", access.Grant{OrgID: "police", Actions: view, CameraID: "camFire", Approval: access.Approval{ID: "apv_none"}}},
		}
		for _, r := range refused {
			_, err := st.CreateGrant(ctx, admin, r.g)
			wantField(t, err, r.field)
		}
		if n := len(rec.actions()); n != 2 {
			t.Fatalf("refused grants were audited: %v", rec.actions())
		}

		// within the functions: no approval needed
		g1, err := st.CreateGrant(ctx, admin, access.Grant{OrgID: "police", Actions: exp, CameraID: "camSec", Note: "export for case 42"})
		if err != nil {
			t.Fatal(err)
		}
		g2, err := st.CreateGrant(ctx, admin, access.Grant{OrgID: "police", Actions: exp, Purposes: purposes("security_order")})
		if err != nil {
			t.Fatal(err)
		}
		// beyond, with the committee's approval
		g3, err := st.CreateGrant(ctx, admin, access.Grant{OrgID: "police", Actions: view, SystemID: "sysC", Approval: access.Approval{ID: apv.ID}})
		if err != nil {
			t.Fatal(err)
		}
		if g3.Approval != apv || g3.Until() != apv.ExpiresAt {
			t.Fatalf("grant's approval %+v until %v, want %+v", g3.Approval, g3.Until(), apv)
		}
		list, err := st.ListGrants(ctx, access.GrantFilter{OrgID: "police"})
		if err != nil || len(list) != 3 {
			t.Fatalf("list: %v %d", err, len(list))
		}
		byID := map[string]access.Grant{}
		for _, g := range list {
			byID[g.ID] = g
		}
		for _, want := range []access.Grant{g1, g2, g3} {
			if got := byID[want.ID]; !equalGrant(got, want) {
				t.Errorf("stored grant\n got %+v\nwant %+v", got, want)
			}
		}
		if list, _ := st.ListGrants(ctx, access.GrantFilter{ApprovalID: apv.ID}); len(list) != 1 || list[0].ID != g3.ID {
			t.Errorf("by approval: %+v", list)
		}

		// the police subject, loaded from the database, through both forms
		sub, err := access.LoadOrgSubject(ctx, db.Q(), "police", "dept", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		sub.UserID, sub.Roles = "u-police", access.RoleOperator
		if len(sub.Grants) != 3 || sub.Highest || sub.Functions != purposes("security_order") {
			t.Fatalf("subject: %+v", sub)
		}
		for _, a := range []access.Action{access.ViewLive, access.Export} {
			where, args := access.Scope(&sub, a, time.Now())
			got := queryIDs(t, db, "SELECT c.id FROM "+access.ScopeFrom+" WHERE "+where+" ORDER BY c.id", args...)
			want := map[access.Action]string{access.ViewLive: "[camFire camSec]", access.Export: "[camSec]"}[a]
			if s := strings.Join(got, " "); "["+s+"]" != want {
				t.Errorf("%s scope: %v, want %s", a, got, want)
			}
		}
		if _, err := access.LoadOrgSubject(ctx, db.Q(), "nobody", "dept", time.Now()); !errors.Is(err, access.ErrNotFound) {
			t.Errorf("missing org: %v", err)
		}
	})
}

func equalGrant(a, b access.Grant) bool {
	return a.ID == b.ID && a.OrgID == b.OrgID && a.Actions == b.Actions && a.CameraID == b.CameraID &&
		a.SystemID == b.SystemID && a.Purposes == b.Purposes && a.Kinds == b.Kinds && a.Areas == b.Areas &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.Approval == b.Approval && a.Note == b.Note &&
		a.CreatedBy == b.CreatedBy && a.CreatedAt.Equal(b.CreatedAt) && a.RevokedAt.Equal(b.RevokedAt)
}

// The approval lapses: a loaded subject is told "approval_expired" for a
// while, then the grant is no longer loaded at all.
func TestLoadGrantsLapse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedSmall(t, db)
		st := access.NewStore(db, &recorder{})
		apv, err := st.CreateApproval(ctx, admin, validApproval("police"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateGrant(ctx, admin, access.Grant{OrgID: "police", Actions: access.SetOf(access.ViewLive),
			CameraID: "camFire", Approval: access.Approval{ID: apv.ID}}); err != nil {
			t.Fatal(err)
		}
		cam := &access.Camera{ID: "camFire", SystemID: "sysC", ManagingOrg: "commune", OperatingOrg: "commune",
			Purposes: purposes("forest_fire"), AreaBit: areas("public_other")}
		for _, tc := range []struct {
			at     time.Time
			loaded int
			want   string
		}{
			{time.Now(), 1, "+grant"},
			{apv.ExpiresAt.Add(-time.Millisecond), 1, "+grant"},
			{apv.ExpiresAt, 1, "-approval_expired"},
			{apv.ExpiresAt.Add(access.LapsedKeep - time.Hour), 1, "-approval_expired"},
			{apv.ExpiresAt.Add(access.LapsedKeep + time.Hour), 0, "-no_function_match"},
		} {
			sub, err := access.LoadOrgSubject(ctx, db.Q(), "police", "dept", tc.at)
			if err != nil {
				t.Fatal(err)
			}
			sub.Roles = access.RoleViewer
			if len(sub.Grants) != tc.loaded {
				t.Errorf("at %v: loaded %d grants, want %d", tc.at, len(sub.Grants), tc.loaded)
			}
			if got := show(access.Decide(&sub, access.ViewLive, cam, tc.at)); got != tc.want {
				t.Errorf("at %v: %s, want %s", tc.at, got, tc.want)
			}
		}
	})
}

func TestRevokeGrant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedSmall(t, db)
		rec := &recorder{}
		st := access.NewStore(db, rec)
		var (
			mu   sync.Mutex
			seen []access.Grant
		)
		cancel := st.OnGrantRevoked(func(g access.Grant) {
			mu.Lock()
			seen = append(seen, g)
			mu.Unlock()
		})
		defer cancel()
		g, err := st.CreateGrant(ctx, admin, access.Grant{OrgID: "police", Actions: access.SetOf(access.Export), CameraID: "camSec"})
		if err != nil {
			t.Fatal(err)
		}

		// the audit log refuses: the revocation rolls back, no hook fires
		rec.fail = true
		if _, err := st.RevokeGrant(ctx, admin, g.ID, "case closed"); !errors.Is(err, errAudit) {
			t.Fatalf("revoke with audit down: %v", err)
		}
		rec.fail = false
		if cur, _ := st.GetGrant(ctx, g.ID); !cur.RevokedAt.IsZero() || len(seen) != 0 {
			t.Fatalf("revocation survived a failed audit append: %+v, hooks %d", cur, len(seen))
		}

		r, err := st.RevokeGrant(ctx, admin, g.ID, "case closed")
		if err != nil {
			t.Fatal(err)
		}
		if r.RevokedAt.IsZero() || r.RevokedBy != admin.ID || r.RevokeReason != "case closed" {
			t.Fatalf("revoked grant: %+v", r)
		}
		if len(seen) != 1 || seen[0].ID != g.ID || seen[0].RevokedAt.IsZero() {
			t.Fatalf("hook calls: %+v", seen)
		}
		// again: nothing changes, nothing fires, nothing is audited
		if _, err := st.RevokeGrant(ctx, admin, g.ID, "twice"); err != nil {
			t.Fatal(err)
		}
		if len(seen) != 1 {
			t.Fatalf("second revoke fired the hook")
		}
		if _, err := st.RevokeGrant(ctx, admin, "grt_none", ""); !errors.Is(err, access.ErrNotFound) {
			t.Fatalf("missing grant: %v", err)
		}
		want := []string{"access.grant.create grant/" + g.ID, "access.grant.revoke grant/" + g.ID}
		if got := rec.actions(); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("audit: %v, want %v", got, want)
		}

		if gs, _ := access.LoadGrants(ctx, db.Q(), "police", time.Now()); len(gs) != 0 {
			t.Fatalf("revoked grant still loaded: %+v", gs)
		}
		if gs, _ := st.ListGrants(ctx, access.GrantFilter{OrgID: "police"}); len(gs) != 0 {
			t.Fatalf("revoked grant listed as active: %+v", gs)
		}
		if gs, _ := st.ListGrants(ctx, access.GrantFilter{OrgID: "police", IncludeRevoked: true}); len(gs) != 1 {
			t.Fatalf("revoked grant not in full list: %+v", gs)
		}

		// after cancel the hook is gone
		cancel()
		g2, err := st.CreateGrant(ctx, admin, access.Grant{OrgID: "police", Actions: access.SetOf(access.Export), CameraID: "camSec"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.RevokeGrant(ctx, admin, g2.ID, ""); err != nil {
			t.Fatal(err)
		}
		if len(seen) != 1 {
			t.Fatalf("cancelled hook fired")
		}
	})
}

// A grant whose audit entry cannot be written is not created.
func TestCreateGrantRollsBackWithAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedSmall(t, db)
		st := access.NewStore(db, &recorder{fail: true})
		if _, err := st.CreateGrant(ctx, admin, access.Grant{OrgID: "police", Actions: access.SetOf(access.Export), CameraID: "camSec"}); !errors.Is(err, errAudit) {
			t.Fatalf("create with audit down: %v", err)
		}
		if _, err := st.CreateApproval(ctx, admin, validApproval("police")); !errors.Is(err, errAudit) {
			t.Fatalf("approval with audit down: %v", err)
		}
		if gs, _ := st.ListGrants(ctx, access.GrantFilter{IncludeRevoked: true}); len(gs) != 0 {
			t.Fatalf("grant kept without its audit entry: %+v", gs)
		}
		if as, _ := st.ListApprovals(ctx, ""); len(as) != 0 {
			t.Fatalf("approval kept without its audit entry: %+v", as)
		}
	})
}

// With the real audit log: every change lands in the chain, in order, inside
// the change's transaction.
func TestStoreWithRealAuditLog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		seedSmall(t, db)
		st := access.NewStore(db, audit.New(audit.Options{DB: db}))
		apv, err := st.CreateApproval(ctx, admin, validApproval("police"))
		if err != nil {
			t.Fatal(err)
		}
		g, err := st.CreateGrant(ctx, admin, access.Grant{OrgID: "police", Actions: access.SetOf(access.ViewLive),
			CameraID: "camFire", Approval: access.Approval{ID: apv.ID}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.RevokeGrant(ctx, admin, g.ID, "done"); err != nil {
			t.Fatal(err)
		}
		es, _, err := audit.List(ctx, db.Q(), audit.Filter{ActionPrefix: "access.", Oldest: true})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range es {
			got = append(got, e.Action+" "+e.Object+" "+e.ActorID+" "+e.Outcome)
		}
		want := []string{
			"access.approval.create approval/" + apv.ID + " " + admin.ID + " ok",
			"access.grant.create grant/" + g.ID + " " + admin.ID + " ok",
			"access.grant.revoke grant/" + g.ID + " " + admin.ID + " ok",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("audit entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if es[1].Details["decision_no"] != apv.DecisionNo {
			t.Errorf("grant entry details: %v", es[1].Details)
		}
	})
}
