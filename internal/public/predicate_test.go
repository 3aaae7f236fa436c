package public

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// matrixCam is one row of the flag matrix and what R-PUB-2 says about it.
type matrixCam struct {
	id                             string
	sharing, privateOwner, consent bool
	public, classified             bool
	area                           string
}

// shouldBePublic is the rule written out in Go, independently of the SQL.
func (m matrixCam) shouldBePublic() bool {
	return m.public && !m.classified && m.sharing &&
		(m.area == "road" || m.area == "intersection" || m.area == "public_crowded") &&
		(!m.privateOwner || m.consent)
}

// seedMatrix writes every combination straight into the tables, bypassing
// the registry's validation (which already refuses, e.g., a public
// classified camera): the predicate must hold even for rows that arrive some
// other way (an old row, a federated copy, a manual fix in the database).
func seedMatrix(t *testing.T, db *store.DB) []matrixCam {
	t.Helper()
	ctx := context.Background()
	q := db.Q()
	now := time.Now().UnixMilli()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := q.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("INSERT INTO organisations (id, name, kind, created_at, updated_at) VALUES (?, ?, ?, ?, ?)", "org-dept", "Sở", registry.OrgDepartment, now, now)
	exec("INSERT INTO organisations (id, name, kind, created_at, updated_at) VALUES (?, ?, ?, ?, ?)", "org-owner", "Chủ tư nhân", registry.OrgPrivateOwner, now, now)
	var out []matrixCam
	n := 0
	for _, sharing := range []bool{false, true} {
		for _, owner := range []bool{false, true} {
			sys := fmt.Sprintf("sys-%t-%t", sharing, owner)
			mo := "org-dept"
			if owner {
				mo = "org-owner"
			}
			exec("INSERT INTO systems (id, name, tier, managing_org_id, operating_org_id, site_id, public_sharing, created_at, updated_at) VALUES (?, ?, 3, ?, ?, 's', ?, ?, ?)",
				sys, sys, mo, mo, sharing, now, now)
			for _, consent := range []bool{false, true} {
				for _, public := range []bool{false, true} {
					for _, classified := range []bool{false, true} {
						for _, area := range registry.Areas {
							n++
							m := matrixCam{id: fmt.Sprintf("cam-%03d", n), sharing: sharing, privateOwner: owner, consent: consent,
								public: public, classified: classified, area: area}
							doc := ""
							if consent {
								doc = "QD-1"
							}
							exec("INSERT INTO cameras (id, system_id, name, area, area_bit, lat, lon, classified, public, consent_doc, consent_date, main_url, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 21.38, 103.01, ?, ?, ?, ?, ?, ?, ?)",
								m.id, sys, "Camera "+m.id, area, registry.AreaBit(area), classified, public, doc, map[bool]string{true: "2025-01-01", false: ""}[consent],
								"rtsp://10.9.8.7/"+m.id, now, now)
							out = append(out, m)
						}
					}
				}
			}
		}
	}
	return out
}

func TestPredicateMatchesTheRuleOnBothEngines(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cams := seedMatrix(t, db)
		q := querier{db}
		var want []string
		for _, m := range cams {
			if m.shouldBePublic() {
				want = append(want, m.id)
			}
		}
		if len(want) == 0 || len(want) == len(cams) {
			t.Fatalf("matrix is degenerate: %d of %d public", len(want), len(cams))
		}
		list, err := q.list(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range list {
			got = append(got, c.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("list = %v\nwant %v", got, want)
		}
		for _, m := range cams {
			ok, err := q.allowed(ctx, m.id)
			if err != nil {
				t.Fatal(err)
			}
			_, gerr := q.get(ctx, m.id)
			if ok != m.shouldBePublic() || (gerr == nil) != m.shouldBePublic() {
				t.Errorf("%+v: allowed=%v get=%v", m, ok, gerr)
			}
		}
	})
}

func TestGateInvalidate(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	cams := seedMatrix(t, db)
	var id string
	for _, m := range cams {
		if m.shouldBePublic() {
			id = m.id
			break
		}
	}
	// A TTL far longer than the test: only Invalidate can change the answer.
	g := newGate(querier{db}, time.Hour)
	if ok, err := g.allowed(ctx, id); err != nil || !ok {
		t.Fatalf("public camera not allowed: %v %v", ok, err)
	}
	if _, err := db.Q().Exec(ctx, "UPDATE cameras SET public = FALSE WHERE id = ?", id); err != nil {
		t.Fatal(err)
	}
	if ok, _ := g.allowed(ctx, id); !ok {
		t.Fatal("kept answer was not used (the test proves nothing)")
	}
	g.invalidate()
	if ok, err := g.allowed(ctx, id); err != nil || ok {
		t.Fatalf("after invalidate: allowed=%v err=%v", ok, err)
	}
	// TTL 0 asks the database every time.
	g0 := newGate(querier{db}, 0)
	if _, err := db.Q().Exec(ctx, "UPDATE cameras SET public = TRUE WHERE id = ?", id); err != nil {
		t.Fatal(err)
	}
	if ok, _ := g0.allowed(ctx, id); !ok {
		t.Fatal("ttl 0: not allowed after re-enabling")
	}
	for _, bad := range []string{"", "..", "../x", "CAM", "a/b", "x%00", string(make([]byte, 70))} {
		if ok, _ := g.allowed(ctx, bad); ok {
			t.Fatalf("id %q allowed", bad)
		}
	}
}
