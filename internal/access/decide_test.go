package access_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/registry"
)

var (
	now    = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	future = now.Add(90 * 24 * time.Hour)
	past   = now.Add(-24 * time.Hour)
)

func purposes(names ...string) int64 { return registry.MustMask(registry.Purposes, names...) }
func areas(names ...string) int64    { return registry.MustMask(registry.Areas, names...) }

// The world of the decision table. Systems: sysA (managed by "ma", operated
// by "ou"), sysB (a transport department outside the table), sysC (the
// commune's own), sysP (a private owner's).
func tableCameras() map[string]*access.Camera {
	cam := func(id, sys, p, area string) *access.Camera {
		c := &access.Camera{ID: id, SystemID: sys, Purposes: purposes(p), AreaBit: registry.AreaBit(area)}
		switch sys {
		case "sysA":
			c.ManagingOrg, c.OperatingOrg = "ma", "ou"
		case "sysB":
			c.ManagingOrg, c.OperatingOrg = "transport", "transport-ops"
		case "sysC":
			c.ManagingOrg, c.OperatingOrg = "commune", "commune"
		case "sysP":
			c.ManagingOrg, c.OperatingOrg, c.Private = "priv", "priv", true
		}
		return c
	}
	cs := map[string]*access.Camera{
		"ownA":        cam("ownA", "sysA", "security_order", "road"),
		"commune":     cam("commune", "sysC", "urban_order", "public_other"),
		"other":       cam("other", "sysB", "sector_management", "public_other"),
		"traffic":     cam("traffic", "sysB", "traffic_safety", "intersection"),
		"noMatch":     cam("noMatch", "sysB", "forest_fire", "road"),
		"areaOut":     cam("areaOut", "sysB", "traffic_safety", "internal"),
		"classified":  cam("classified", "sysA", "security_order", "road"),
		"approved":    cam("approved", "sysB", "rescue", "road"),
		"expired":     cam("expired", "sysB", "rescue", "public_crowded"),
		"private":     cam("private", "sysP", "security_order", "road"),
		"privConsent": cam("privConsent", "sysP", "security_order", "road"),
	}
	cs["classified"].Classified = true
	cs["privConsent"].Consent = true
	return cs
}

func approval(id string, exp time.Time) access.Approval {
	return access.Approval{ID: id, DecisionNo: "QĐ-" + id, DecisionDate: now.Add(-30 * 24 * time.Hour), ExpiresAt: exp}
}

// One organisation of each kind, each with an admin (so the role never
// stands in the way here; roles have their own table).
func tableSubjects() map[string]*access.Subject {
	adm := access.RoleAdmin
	return map[string]*access.Subject{
		"dept": {OrgID: "dept", OrgKind: registry.OrgDepartment, Roles: adm, Highest: true, Cleared: true,
			Functions: purposes(registry.Purposes...)},
		"ma": {OrgID: "ma", OrgKind: registry.OrgManagingAgency, Roles: adm, Cleared: true,
			Functions: purposes("security_order")},
		"ou": {OrgID: "ou", OrgKind: registry.OrgOperatingUnit, Roles: adm},
		"ua": {OrgID: "ua", OrgKind: registry.OrgUserAgency, Roles: adm,
			Functions: purposes("traffic_safety"), AreaLimit: areas("road", "intersection"),
			Grants: []access.Grant{
				// within the functions: adds export, needs no approval
				{ID: "g1", OrgID: "ua", Actions: access.SetOf(access.Export), Purposes: purposes("traffic_safety")},
				// beyond the functions, approved and in force
				{ID: "g2", OrgID: "ua", Actions: access.SetOf(access.ViewLive, access.Playback, access.Export),
					CameraID: "approved", Approval: approval("a1", future)},
				// beyond the functions, approval lapsed
				{ID: "g3", OrgID: "ua", Actions: access.SetOf(access.ViewLive, access.Playback),
					CameraID: "expired", Approval: approval("a2", past)},
			}},
		"commune": {OrgID: "commune", OrgKind: registry.OrgCommune, Roles: adm,
			Functions: purposes("urban_order"),
			Grants: []access.Grant{
				// approval in force but the grant's own end has passed
				{ID: "g4", OrgID: "commune", Actions: access.SetOf(access.ViewLive), SystemID: "sysA",
					Approval: approval("a3", future), ExpiresAt: past},
			}},
		"priv": {OrgID: "priv", OrgKind: registry.OrgPrivateOwner, Roles: adm},
	}
}

// Expected answers: "+reason" allows, "-reason" denies, for view-live,
// playback, export, ptz, manage in that order.
const (
	nfm  = "-no_function_match"
	eng  = "-export_needs_grant"
	png  = "-ptz_needs_grant"
	nown = "-not_owner"
	hi   = "+highest_access"
	own  = "+system_owner"
	cls  = "-classified"
	noc  = "-no_owner_consent"
)

var noMatchRow = [5]string{nfm, nfm, eng, png, nown}

var decideTable = []struct {
	org, cam string
	want     [5]string // view-live, playback, export, ptz, manage
}{
	// the department: everything (R-ACC-1) except footage of a private camera without consent
	{"dept", "ownA", [5]string{hi, hi, hi, hi, hi}},
	{"dept", "commune", [5]string{hi, hi, hi, hi, hi}},
	{"dept", "other", [5]string{hi, hi, hi, hi, hi}},
	{"dept", "traffic", [5]string{hi, hi, hi, hi, hi}},
	{"dept", "noMatch", [5]string{hi, hi, hi, hi, hi}},
	{"dept", "areaOut", [5]string{hi, hi, hi, hi, hi}},
	{"dept", "classified", [5]string{hi, hi, hi, hi, hi}},
	{"dept", "approved", [5]string{hi, hi, hi, hi, hi}},
	{"dept", "expired", [5]string{hi, hi, hi, hi, hi}},
	{"dept", "private", [5]string{noc, noc, noc, noc, hi}},
	{"dept", "privConsent", [5]string{hi, hi, hi, hi, hi}},

	// managing agency of sysA, cleared, functions: security
	{"ma", "ownA", [5]string{own, own, own, own, own}},
	{"ma", "commune", noMatchRow},
	{"ma", "other", noMatchRow},
	{"ma", "traffic", noMatchRow},
	{"ma", "noMatch", noMatchRow},
	{"ma", "areaOut", noMatchRow},
	{"ma", "classified", [5]string{own, own, own, own, own}},
	{"ma", "approved", noMatchRow},
	{"ma", "expired", noMatchRow},
	{"ma", "private", [5]string{noc, noc, noc, noc, nown}},
	{"ma", "privConsent", [5]string{"+function_match", "+function_match", eng, png, nown}},

	// operating unit of sysA, not cleared, no functions of its own
	{"ou", "ownA", [5]string{own, own, own, own, own}},
	{"ou", "commune", noMatchRow},
	{"ou", "other", noMatchRow},
	{"ou", "traffic", noMatchRow},
	{"ou", "noMatch", noMatchRow},
	{"ou", "areaOut", noMatchRow},
	{"ou", "classified", [5]string{cls, cls, cls, cls, cls}},
	{"ou", "approved", noMatchRow},
	{"ou", "expired", noMatchRow},
	{"ou", "private", [5]string{noc, noc, noc, noc, nown}},
	{"ou", "privConsent", noMatchRow},

	// user agency (traffic police): functions traffic, roads and intersections only
	{"ua", "ownA", noMatchRow},
	{"ua", "commune", noMatchRow},
	{"ua", "other", noMatchRow},
	{"ua", "traffic", [5]string{"+function_match", "+function_match", "+grant", png, nown}},
	{"ua", "noMatch", noMatchRow},
	{"ua", "areaOut", [5]string{"-area_outside", "-area_outside", "-approval_required", png, nown}},
	{"ua", "classified", [5]string{cls, cls, cls, cls, cls}},
	{"ua", "approved", [5]string{"+grant", "+grant", "+grant", png, nown}},
	{"ua", "expired", [5]string{"-approval_expired", "-approval_expired", eng, png, nown}},
	{"ua", "private", [5]string{noc, noc, noc, noc, nown}},
	{"ua", "privConsent", noMatchRow},

	// commune: owns sysC; a view-live grant on sysA whose own end has passed
	{"commune", "ownA", [5]string{"-grant_expired", nfm, eng, png, nown}},
	{"commune", "commune", [5]string{own, own, own, own, own}},
	{"commune", "other", noMatchRow},
	{"commune", "traffic", noMatchRow},
	{"commune", "noMatch", noMatchRow},
	{"commune", "areaOut", noMatchRow},
	{"commune", "classified", [5]string{cls, cls, cls, cls, cls}},
	{"commune", "approved", noMatchRow},
	{"commune", "expired", noMatchRow},
	{"commune", "private", [5]string{noc, noc, noc, noc, nown}},
	{"commune", "privConsent", noMatchRow},

	// private owner: its own cameras, consent or not; nothing else
	{"priv", "ownA", noMatchRow},
	{"priv", "commune", noMatchRow},
	{"priv", "other", noMatchRow},
	{"priv", "traffic", noMatchRow},
	{"priv", "noMatch", noMatchRow},
	{"priv", "areaOut", noMatchRow},
	{"priv", "classified", [5]string{cls, cls, cls, cls, cls}},
	{"priv", "approved", noMatchRow},
	{"priv", "expired", noMatchRow},
	{"priv", "private", [5]string{own, own, own, own, own}},
	{"priv", "privConsent", [5]string{own, own, own, own, own}},
}

func show(d access.Decision) string {
	if d.Allow {
		return "+" + string(d.Reason)
	}
	return "-" + string(d.Reason)
}

func TestDecideTable(t *testing.T) {
	subs, cams := tableSubjects(), tableCameras()
	seen := map[string]bool{}
	for _, row := range decideTable {
		s, c := subs[row.org], cams[row.cam]
		if s == nil || c == nil {
			t.Fatalf("table names unknown org %q or camera %q", row.org, row.cam)
		}
		seen[row.org+"/"+row.cam] = true
		for i, a := range access.CameraActions {
			if got := show(access.Decide(s, a, c, now)); got != row.want[i] {
				t.Errorf("%s %s %s: got %s, want %s", row.org, a, row.cam, got, row.want[i])
			}
		}
	}
	// every organisation against every camera, so a new camera class
	// cannot be added without its row
	for o := range subs {
		for c := range cams {
			if !seen[o+"/"+c] {
				t.Errorf("no table row for %s × %s", o, c)
			}
		}
	}
}

// The role is the outer fence: even the department's user can do only what
// the role permits, and the reason says so.
func TestDecideRoles(t *testing.T) {
	c := tableCameras()["ownA"]
	base := tableSubjects()["dept"]
	cases := []struct {
		roles access.Roles
		want  string // one letter per camera action: view-live, playback, export, ptz, manage
	}{
		{0, "-----"},
		{access.RoleViewer, "++---"},
		{access.RoleOperator, "++++-"},
		{access.RoleAdmin, "+++++"},
		{access.RoleAuditor, "-----"},
		{access.RoleViewer | access.RoleAuditor, "++---"},
	}
	for _, tc := range cases {
		s := *base
		s.Roles = tc.roles
		var got strings.Builder
		for _, a := range access.CameraActions {
			d := access.Decide(&s, a, c, now)
			if d.Allow {
				got.WriteByte('+')
			} else {
				got.WriteByte('-')
				if d.Reason != access.ReasonRoleForbids {
					t.Errorf("roles %v %s: reason %s, want role_forbids", tc.roles.Names(), a, d.Reason)
				}
			}
		}
		if got.String() != tc.want {
			t.Errorf("roles %v: got %s, want %s", tc.roles.Names(), got.String(), tc.want)
		}
	}
}

func TestDecideDisabledAndBadInput(t *testing.T) {
	c := tableCameras()["ownA"]
	s := *tableSubjects()["dept"]
	s.Disabled = true
	for _, a := range append(access.CameraActions, access.SiteActions...) {
		if d := access.Decide(&s, a, c, now); d.Allow || d.Reason != access.ReasonDisabled {
			t.Errorf("disabled %s: %v", a, d)
		}
		if d := access.DecideSite(&s, a); d.Allow || d.Reason != access.ReasonDisabled {
			t.Errorf("disabled site %s: %v", a, d)
		}
	}
	if d := access.Decide(nil, access.ViewLive, c, now); d.Allow {
		t.Errorf("nil subject allowed")
	}
	s.Disabled = false
	for _, a := range append(access.SiteActions, access.ActionNone, access.Action(200)) {
		if d := access.Decide(&s, a, c, now); d.Allow || d.Reason != access.ReasonUnknownAction {
			t.Errorf("site action %s per camera: %v", a, d)
		}
	}
	for _, a := range append(access.CameraActions, access.ActionNone) {
		if d := access.DecideSite(&s, a); d.Allow || d.Reason != access.ReasonUnknownAction {
			t.Errorf("camera action %s as site action: %v", a, d)
		}
	}
}

// A revoked grant, a grant of another organisation and a grant with no
// coverage criterion all count for nothing.
func TestDecideIgnoresUnusableGrants(t *testing.T) {
	c := tableCameras()["approved"]
	ok := access.Grant{ID: "g", OrgID: "ua", Actions: access.SetOf(access.ViewLive), CameraID: "approved", Approval: approval("a", future)}
	revoked, other, empty := ok, ok, ok
	revoked.RevokedAt = past
	other.OrgID = "someone-else"
	empty.CameraID = ""
	for name, g := range map[string]access.Grant{"revoked": revoked, "other org": other, "no criteria": empty} {
		s := *tableSubjects()["ua"]
		s.Grants = []access.Grant{g}
		if d := access.Decide(&s, access.ViewLive, c, now); d.Allow {
			t.Errorf("%s grant allowed: %v", name, d)
		}
	}
	s := *tableSubjects()["ua"]
	s.Grants = []access.Grant{ok}
	if d := access.Decide(&s, access.ViewLive, c, now); !d.Allow {
		t.Errorf("control grant denied: %v", d)
	}
	// at the approval's expiry instant the grant has lapsed
	if d := access.Decide(&s, access.ViewLive, c, future); d.Allow || d.Reason != access.ReasonApprovalExpired {
		t.Errorf("at expiry: %v", d)
	}
}

func TestDecideSite(t *testing.T) {
	type who struct {
		roles   access.Roles
		highest bool
	}
	subjects := []struct {
		name string
		who
	}{
		{"highest admin", who{access.RoleAdmin, true}},
		{"highest auditor", who{access.RoleAuditor, true}},
		{"highest operator", who{access.RoleOperator, true}},
		{"agency admin", who{access.RoleAdmin, false}},
		{"agency auditor", who{access.RoleAuditor, false}},
		{"agency viewer", who{access.RoleViewer, false}},
	}
	// manage-users, read-audit, approve-grants, manage-registry
	want := map[string][4]string{
		"highest admin":    {hi, hi, hi, hi},
		"highest auditor":  {"-role_forbids", "+auditor_role", "-role_forbids", "-role_forbids"},
		"highest operator": {"-role_forbids", "-role_forbids", "-role_forbids", "-role_forbids"},
		"agency admin":     {"+own_org", "-not_highest", "-not_highest", "-not_highest"},
		"agency auditor":   {"-role_forbids", "+auditor_role", "-role_forbids", "-role_forbids"},
		"agency viewer":    {"-role_forbids", "-role_forbids", "-role_forbids", "-role_forbids"},
	}
	for _, sub := range subjects {
		s := &access.Subject{OrgID: "o1", Roles: sub.roles, Highest: sub.highest}
		for i, a := range access.SiteActions {
			if got := show(access.DecideSite(s, a)); got != want[sub.name][i] {
				t.Errorf("%s %s: got %s, want %s", sub.name, a, got, want[sub.name][i])
			}
		}
	}
	agencyAdmin := &access.Subject{OrgID: "o1", Roles: access.RoleAdmin}
	if d := access.DecideManageUser(agencyAdmin, "o1"); !d.Allow {
		t.Errorf("admin on own org users: %v", d)
	}
	if d := access.DecideManageUser(agencyAdmin, "o2"); d.Allow || d.Reason != access.ReasonOtherOrg {
		t.Errorf("admin on another org's users: %v", d)
	}
	top := &access.Subject{OrgID: "o1", Roles: access.RoleAdmin, Highest: true}
	if d := access.DecideManageUser(top, "o2"); !d.Allow {
		t.Errorf("highest admin on another org's users: %v", d)
	}
}

func TestNamesRoundTrip(t *testing.T) {
	if access.PrivateOwnerKind != registry.OrgPrivateOwner {
		t.Fatalf("PrivateOwnerKind %q drifted from registry %q", access.PrivateOwnerKind, registry.OrgPrivateOwner)
	}
	for _, a := range append(access.CameraActions, access.SiteActions...) {
		b, err := access.ParseAction(a.String())
		if err != nil || b != a {
			t.Errorf("action %s: %v %v", a, b, err)
		}
	}
	if _, err := access.ParseAction("delete-everything"); err == nil {
		t.Errorf("unknown action parsed")
	}
	r, err := access.ParseRoles([]string{"viewer", "auditor"})
	if err != nil || r != access.RoleViewer|access.RoleAuditor || fmt.Sprint(r.Names()) != "[viewer auditor]" {
		t.Errorf("roles: %v %v %v", r, r.Names(), err)
	}
	if _, err := access.ParseRoles([]string{"root"}); err == nil {
		t.Errorf("unknown role parsed")
	}
}
