package access_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

type world struct {
	orgs    []string
	kinds   map[string]string
	systems []string
	cams    []*access.Camera
}

// randomMask picks a mask over n bits, now and then empty.
func randomMask(r *rand.Rand, n int) int64 {
	if r.IntN(8) == 0 {
		return 0
	}
	return r.Int64N(1 << n)
}

// seedWorld inserts random organisations, systems and cameras straight into
// the registry tables (registry's own code is not needed, nor trusted here)
// and returns the same facts as Go values, built independently of
// access.ScanCamera.
func seedWorld(t *testing.T, db *store.DB, r *rand.Rand, nOrgs, nSys, nCams int) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{kinds: map[string]string{}}
	ms := store.MS(now)
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for i := 0; i < nOrgs; i++ {
			id := fmt.Sprintf("org%02d", i)
			kind := registry.OrgKinds[r.IntN(len(registry.OrgKinds))]
			w.orgs = append(w.orgs, id)
			w.kinds[id] = kind
			if _, err := tx.Exec(ctx, `INSERT INTO organisations (id, name, kind, functions, area_limit, cleared_classified, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, "Org "+id, kind, randomMask(r, 6), randomMask(r, 5), r.IntN(3) == 0, ms, ms); err != nil {
				return err
			}
		}
		for i := 0; i < nSys; i++ {
			id := fmt.Sprintf("sys%02d", i)
			w.systems = append(w.systems, id)
			if _, err := tx.Exec(ctx, `INSERT INTO systems (id, name, tier, managing_org_id, operating_org_id, site_id, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, 'site', ?, ?)`, id, "System "+id, 1+r.IntN(3),
				w.orgs[r.IntN(len(w.orgs))], w.orgs[r.IntN(len(w.orgs))], ms, ms); err != nil {
				return err
			}
		}
		sysOrgs := map[string][2]string{}
		rows, err := tx.Query(ctx, `SELECT id, managing_org_id, operating_org_id FROM systems`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, m, o string
			if err := rows.Scan(&id, &m, &o); err != nil {
				return err
			}
			sysOrgs[id] = [2]string{m, o}
		}
		rows.Close()
		for i := 0; i < nCams; i++ {
			c := &access.Camera{
				ID:         fmt.Sprintf("cam%03d", i),
				SystemID:   w.systems[r.IntN(len(w.systems))],
				Purposes:   randomMask(r, 6),
				Kinds:      randomMask(r, 6),
				AreaBit:    1 << r.IntN(5),
				Classified: r.IntN(6) == 0,
			}
			c.ManagingOrg, c.OperatingOrg = sysOrgs[c.SystemID][0], sysOrgs[c.SystemID][1]
			c.Private = w.kinds[c.ManagingOrg] == registry.OrgPrivateOwner
			consent := ""
			if r.IntN(2) == 0 {
				consent = "CV-" + c.ID
				c.Consent = true
			}
			w.cams = append(w.cams, c)
			if _, err := tx.Exec(ctx, `INSERT INTO cameras (id, system_id, name, kinds, purposes, area, area_bit, lat, lon, classified, consent_doc, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, 21.4, 103.0, ?, ?, ?, ?)`, c.ID, c.SystemID, "Camera "+c.ID, c.Kinds, c.Purposes,
				registry.Areas[bitIndex(c.AreaBit)], c.AreaBit, c.Classified, consent, ms, ms); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	return w
}

func bitIndex(m int64) int {
	for i := 0; i < 64; i++ {
		if m == 1<<i {
			return i
		}
	}
	return -1
}

func randomGrant(r *rand.Rand, w *world, org string) access.Grant {
	g := access.Grant{ID: fmt.Sprintf("g%d", r.Int()), OrgID: org}
	if r.IntN(10) == 0 {
		g.OrgID = w.orgs[r.IntN(len(w.orgs))] // another organisation's grant slipped in
	}
	// any actions, including ones a grant may not carry (manage, site
	// actions), so both forms must ignore them the same way
	g.Actions = access.ActionSet(r.Int64N(1 << 10))
	// coverage: one to three criteria, sometimes none
	for n := r.IntN(4); n > 0; n-- {
		switch r.IntN(5) {
		case 0:
			if r.IntN(10) == 0 {
				g.CameraID = "cam-missing"
			} else {
				g.CameraID = w.cams[r.IntN(len(w.cams))].ID
			}
		case 1:
			g.SystemID = w.systems[r.IntN(len(w.systems))]
		case 2:
			g.Purposes = randomMask(r, 6)
		case 3:
			g.Kinds = randomMask(r, 6)
		case 4:
			g.Areas = randomMask(r, 5)
		}
	}
	switch r.IntN(3) {
	case 1:
		g.Approval = approval(fmt.Sprintf("a%d", r.Int()), future)
	case 2:
		g.Approval = approval(fmt.Sprintf("a%d", r.Int()), now.Add(-time.Duration(r.IntN(3))*time.Hour)) // at or before now
	}
	switch r.IntN(4) {
	case 1:
		g.ExpiresAt = future
	case 2:
		g.ExpiresAt = now.Add(-time.Duration(r.IntN(2)) * time.Minute) // at or before now
	}
	if r.IntN(10) == 0 {
		g.RevokedAt = past
	}
	return g
}

func randomSubject(r *rand.Rand, w *world) *access.Subject {
	s := &access.Subject{
		UserID:    fmt.Sprintf("u%d", r.Int()),
		OrgID:     w.orgs[r.IntN(len(w.orgs))],
		Roles:     access.Roles(r.IntN(16)),
		Functions: randomMask(r, 6),
		Cleared:   r.IntN(3) == 0,
		Highest:   r.IntN(8) == 0,
		Disabled:  r.IntN(20) == 0,
	}
	if r.IntN(2) == 0 {
		s.AreaLimit = randomMask(r, 5)
	}
	if r.IntN(15) == 0 {
		s.OrgID = "" // a user with no organisation owns nothing
	}
	if r.IntN(3) == 0 {
		s.Roles = access.RoleAdmin // give the camera rules room to show
	}
	// many per-camera and per-system grants now and then, to exercise the
	// IN-list folding
	n := r.IntN(5)
	if r.IntN(6) == 0 {
		n = 30
	}
	for i := 0; i < n; i++ {
		s.Grants = append(s.Grants, randomGrant(r, w, s.OrgID))
	}
	return s
}

// TestScopeAgreesWithDecide: for random worlds and subjects, the cameras the
// SQL scope returns are exactly those Decide allows, for every action, on
// both engines.
func TestScopeAgreesWithDecide(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(20260301, 7))
		w := seedWorld(t, db, r, 14, 24, 400)

		// ScanCamera over ScopeFrom reads back the facts we inserted
		rows, err := db.Q().Query(ctx, "SELECT "+access.CameraColumns+" FROM "+access.ScopeFrom+" ORDER BY c.id")
		if err != nil {
			t.Fatal(err)
		}
		var scanned []*access.Camera
		for rows.Next() {
			c, err := access.ScanCamera(rows)
			if err != nil {
				t.Fatal(err)
			}
			scanned = append(scanned, &c)
		}
		rows.Close()
		if len(scanned) != len(w.cams) {
			t.Fatalf("scanned %d cameras, inserted %d", len(scanned), len(w.cams))
		}
		for i := range scanned {
			if *scanned[i] != *w.cams[i] {
				t.Fatalf("ScanCamera: got %+v, want %+v", *scanned[i], *w.cams[i])
			}
		}

		actions := append(append([]access.Action{access.ActionNone}, access.CameraActions...), access.SiteActions...)
		const nSubjects = 120
		allowed := 0
		reasons := map[access.Reason]int{}
		for i := 0; i < nSubjects; i++ {
			s := randomSubject(r, w)
			for _, a := range actions {
				var want []string
				for _, c := range w.cams {
					d := access.Decide(s, a, c, now)
					reasons[d.Reason]++
					if d.Allow {
						want = append(want, c.ID)
					}
				}
				where, args := access.Scope(s, a, now)
				got := queryIDs(t, db, "SELECT c.id FROM "+access.ScopeFrom+" WHERE "+where, args...)
				if !slices.Equal(got, want) {
					t.Fatalf("subject %d %+v action %s:\nwhere %s %v\nSQL only: %v\nDecide only: %v",
						i, *s, a, where, args, minus(got, want), minus(want, got))
				}
				allowed += len(want)
			}
		}
		// guard against a vacuous pass (everything denied on both sides)
		total := nSubjects * len(actions) * len(w.cams)
		if allowed < total/20 || allowed > total*9/10 {
			t.Fatalf("allowed %d of %d pairs: the random world does not exercise the rules", allowed, total)
		}
		// and every rule must have been reached a fair number of times, or
		// agreement proves little about it
		for _, r := range []access.Reason{access.ReasonHighestAccess, access.ReasonSystemOwner, access.ReasonFunctionMatch,
			access.ReasonGrant, access.ReasonClassified, access.ReasonNoOwnerConsent, access.ReasonAreaOutside,
			access.ReasonApprovalExpired, access.ReasonGrantExpired, access.ReasonApprovalRequired,
			access.ReasonExportNeedsGrant, access.ReasonPTZNeedsGrant, access.ReasonNotOwner, access.ReasonRoleForbids,
			access.ReasonDisabled} {
			if reasons[r] < 50 {
				t.Errorf("reason %s reached only %d times", r, reasons[r])
			}
		}
		t.Logf("%s: %d subject×action×camera pairs, %d allowed; reasons %v", db.Engine, total, allowed, reasons)
	})
}

func queryIDs(t *testing.T, db *store.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Q().Query(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// The decision table again, this time through SQL: the world of
// decide_test.go inserted as rows, and each row of the table checked against
// Scope (allow/deny only; SQL has no reasons).
func TestScopeMatchesTable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ms := store.MS(now)
		cams := tableCameras()
		subs := tableSubjects()
		orgs := map[string]string{"transport": registry.OrgManagingAgency, "transport-ops": registry.OrgOperatingUnit}
		for id, s := range subs {
			orgs[id] = s.OrgKind
		}
		systems := map[string][2]string{}
		for _, c := range cams {
			systems[c.SystemID] = [2]string{c.ManagingOrg, c.OperatingOrg}
		}
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for id, kind := range orgs {
				if _, err := tx.Exec(ctx, `INSERT INTO organisations (id, name, kind, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
					id, id, kind, ms, ms); err != nil {
					return err
				}
			}
			for id, o := range systems {
				if _, err := tx.Exec(ctx, `INSERT INTO systems (id, name, tier, managing_org_id, operating_org_id, site_id, created_at, updated_at)
					VALUES (?, ?, 2, ?, ?, 'site', ?, ?)`, id, id, o[0], o[1], ms, ms); err != nil {
					return err
				}
			}
			for _, c := range cams {
				consent := ""
				if c.Consent {
					consent = "CV-1"
				}
				if _, err := tx.Exec(ctx, `INSERT INTO cameras (id, system_id, name, kinds, purposes, area, area_bit, lat, lon, classified, consent_doc, created_at, updated_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?)`, c.ID, c.SystemID, c.ID, c.Kinds, c.Purposes,
					registry.Areas[bitIndex(c.AreaBit)], c.AreaBit, c.Classified, consent, ms, ms); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range decideTable {
			for i, a := range access.CameraActions {
				where, args := access.Scope(subs[row.org], a, now)
				got := queryIDs(t, db, "SELECT c.id FROM "+access.ScopeFrom+" WHERE c.id = ? AND ("+where+")",
					append([]any{row.cam}, args...)...)
				if allow := strings.HasPrefix(row.want[i], "+"); allow != (len(got) == 1) {
					t.Errorf("%s %s %s: SQL says %v, table says %s", row.org, a, row.cam, len(got) == 1, row.want[i])
				}
			}
		}
	})
}
