package access

import (
	"strings"
	"time"
)

// ScopeFrom is the FROM clause the Scope fragment is written against. The
// aliases are fixed: c (cameras), s (systems), mo (the system's managing
// organisation, for the private-owner rule). Use it as
//
//	SELECT c.id, … FROM ` + access.ScopeFrom + ` WHERE ` + where
//
// Other joins may be added after it with other aliases.
const ScopeFrom = "cameras c JOIN systems s ON s.id = c.system_id JOIN organisations mo ON mo.id = s.managing_org_id"

// CameraColumns selects, over ScopeFrom, the facts of a Camera in the order
// ScanCamera reads them.
const CameraColumns = "c.id, c.system_id, s.managing_org_id, s.operating_org_id, c.purposes, c.kinds, c.area_bit, c.classified, mo.kind, c.consent_doc"

// Scanner is *sql.Row or *sql.Rows.
type Scanner interface{ Scan(dest ...any) error }

// ScanCamera reads the CameraColumns of one row.
func ScanCamera(r Scanner) (Camera, error) {
	var (
		c       Camera
		kind    string
		consent string
	)
	err := r.Scan(&c.ID, &c.SystemID, &c.ManagingOrg, &c.OperatingOrg, &c.Purposes, &c.Kinds,
		&c.AreaBit, &c.Classified, &kind, &consent)
	c.Private = kind == PrivateOwnerKind
	c.Consent = consent != ""
	return c, err
}

const (
	sqlFalse = "1 = 0"
	sqlTrue  = "1 = 1"
	// R-CAM-2: a private owner's camera without consent on record.
	sqlShareable = "NOT (mo.kind = '" + PrivateOwnerKind + "' AND c.consent_doc = '')"
)

// Scope is Decide as an SQL WHERE fragment over ScopeFrom: a camera row
// satisfies it exactly when Decide(s, a, camera, now) allows. Placeholders
// are `?` (store rebinds them for PostgreSQL); the subject's masks, ids and
// grants go in as arguments, evaluated against now in Go (so which grants are
// in force is decided once, by the same code Decide uses). Only `=`, `IN`,
// `&`, `<>`, AND/OR/NOT are used, which read the same on SQLite and
// PostgreSQL. Wrap it in parentheses when combining with other conditions.
func Scope(s *Subject, a Action, now time.Time) (where string, args []any) {
	if s == nil || s.Disabled || !a.Camera() || !s.Roles.Permits().Has(a) {
		return sqlFalse, nil
	}
	var alts []string // the allow rules; the camera passes if any holds
	if s.OrgID != "" {
		alts = append(alts, "s.managing_org_id = ? OR s.operating_org_id = ?")
		args = append(args, s.OrgID, s.OrgID)
	}
	if a == Manage {
		if s.Highest {
			alts = append(alts, sqlTrue)
		}
	} else {
		var inner []string // the rules that come after the consent rule
		if s.Highest {
			inner = append(inner, sqlTrue)
		} else {
			fm, fmArgs := functionMatchSQL(s)
			if fm != "" && (a == ViewLive || a == Playback) {
				inner = append(inner, fm)
				args = append(args, fmArgs...)
			}
			gs, gArgs := grantsSQL(s, a, now, fm, fmArgs)
			inner = append(inner, gs...)
			args = append(args, gArgs...)
		}
		if len(inner) > 0 {
			alts = append(alts, sqlShareable+" AND ("+orJoin(inner)+")")
		}
	}
	if len(alts) == 0 {
		return sqlFalse, nil
	}
	where = orJoin(alts)
	if !s.Cleared {
		where = "c.classified = FALSE AND (" + where + ")"
	}
	return where, args
}

// functionMatchSQL is functionMatch; "" when it can never hold.
func functionMatchSQL(s *Subject) (string, []any) {
	if s.Functions == 0 {
		return "", nil
	}
	if s.AreaLimit == 0 {
		return "(c.purposes & ?) <> 0", []any{s.Functions}
	}
	return "(c.purposes & ?) <> 0 AND (c.area_bit & ?) <> 0", []any{s.Functions, s.AreaLimit}
}

// grantsSQL turns the grants in force into alternatives. Grants that only
// name cameras (or only systems) are folded into one IN list each, so a
// subject with hundreds of per-camera grants still gives a short query.
func grantsSQL(s *Subject, a Action, now time.Time, fm string, fmArgs []any) (alts []string, args []any) {
	// [0]: with an approval in force (any covered camera); [1]: without
	// (only cameras within the functions)
	var camIDs, sysIDs [2][]any
	type key struct {
		col, approved int
		id            string
	}
	seen := map[key]bool{}
	for i := range s.Grants {
		g := &s.Grants[i]
		if !g.usable(s.OrgID, a) || g.lapse(now) != "" {
			continue
		}
		k := 0
		if g.Approval.ID == "" {
			if fm == "" {
				continue // can reach no camera
			}
			k = 1
		}
		onlyCam := g.CameraID != "" && g.SystemID == "" && g.Purposes == 0 && g.Kinds == 0 && g.Areas == 0
		onlySys := g.CameraID == "" && g.SystemID != "" && g.Purposes == 0 && g.Kinds == 0 && g.Areas == 0
		switch {
		case onlyCam:
			if kk := (key{0, k, g.CameraID}); !seen[kk] {
				seen[kk] = true
				camIDs[k] = append(camIDs[k], g.CameraID)
			}
			continue
		case onlySys:
			if kk := (key{1, k, g.SystemID}); !seen[kk] {
				seen[kk] = true
				sysIDs[k] = append(sysIDs[k], g.SystemID)
			}
			continue
		}
		conds, cargs := coverSQL(g)
		args = append(args, cargs...)
		if k == 1 {
			conds = append(conds, fm)
			args = append(args, fmArgs...)
		}
		alts = append(alts, strings.Join(conds, " AND "))
	}
	for k := 0; k < 2; k++ {
		for _, col := range []struct {
			name string
			ids  []any
		}{{"c.id", camIDs[k]}, {"c.system_id", sysIDs[k]}} {
			if len(col.ids) == 0 {
				continue
			}
			cond := col.name + " IN (" + placeholders(len(col.ids)) + ")"
			args = append(args, col.ids...)
			if k == 1 {
				cond += " AND " + fm
				args = append(args, fmArgs...)
			}
			alts = append(alts, cond)
		}
	}
	return alts, args
}

// coverSQL is Grant.covers: the conditions (ANDed) and their arguments.
func coverSQL(g *Grant) (conds []string, args []any) {
	if g.CameraID != "" {
		conds = append(conds, "c.id = ?")
		args = append(args, g.CameraID)
	}
	if g.SystemID != "" {
		conds = append(conds, "c.system_id = ?")
		args = append(args, g.SystemID)
	}
	if g.Purposes != 0 {
		conds = append(conds, "(c.purposes & ?) <> 0")
		args = append(args, g.Purposes)
	}
	if g.Kinds != 0 {
		conds = append(conds, "(c.kinds & ?) <> 0")
		args = append(args, g.Kinds)
	}
	if g.Areas != 0 {
		conds = append(conds, "(c.area_bit & ?) <> 0")
		args = append(args, g.Areas)
	}
	if len(conds) == 0 {
		conds = append(conds, sqlFalse) // fail closed, as usable does
	}
	return conds, args
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// orJoin joins alternatives with OR, each in parentheses.
func orJoin(parts []string) string {
	if len(parts) == 1 {
		return "(" + parts[0] + ")"
	}
	return "(" + strings.Join(parts, ") OR (") + ")"
}
