package access

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// ErrNotFound: no approval or grant with that id.
var ErrNotFound = errors.New("access: not found")

// FieldError is a refused input, naming the field (for a 422 with the field).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return "access: " + e.Field + ": " + e.Msg }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// Actor is who makes a change, as the audit log records it.
type Actor struct {
	ID     string // user id, or "system"
	Name   string
	OrgID  string
	Remote string
}

// LapsedKeep is how long after lapsing a grant is still loaded by LoadGrants:
// long enough for Decide to answer "approval_expired" rather than a bare
// "no_function_match", short enough that old grants do not pile up in every
// subject.
const LapsedKeep = 30 * 24 * time.Hour

// Store keeps approvals and grants. Every change is written with its audit
// entry in one transaction.
type Store struct {
	db  *store.DB
	log audit.Appender

	mu      sync.Mutex
	nextSub int
	revoked map[int]func(Grant)
}

// NewStore returns the store over db, auditing through log.
func NewStore(db *store.DB, log audit.Appender) *Store {
	return &Store{db: db, log: log, revoked: map[int]func(Grant){}}
}

// OnGrantRevoked registers fn to be called after each committed revocation,
// so that live sessions resting on the grant can be ended (the media hub
// re-decides its readers). fn runs synchronously on the revoking goroutine
// and must not block; hand off to a goroutine or channel for slow work. The
// returned func unregisters. Lapse by expiry fires nothing: use Grant.Until.
func (s *Store) OnGrantRevoked(fn func(Grant)) (cancel func()) {
	s.mu.Lock()
	id := s.nextSub
	s.nextSub++
	s.revoked[id] = fn
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.revoked, id)
		s.mu.Unlock()
	}
}

func (s *Store) fireRevoked(g Grant) {
	s.mu.Lock()
	fns := make([]func(Grant), 0, len(s.revoked))
	for _, fn := range s.revoked {
		fns = append(fns, fn)
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn(g)
	}
}

func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (s *Store) entry(by Actor, action, object string, details map[string]any) audit.Entry {
	return audit.Entry{
		At: time.Now().UTC(), ActorID: by.ID, Actor: by.Name, Org: by.OrgID, Remote: by.Remote,
		Action: action, Object: object, Outcome: audit.OK, Details: details,
	}
}

// CreateApproval records a committee decision (R-ACC-4). The id, creator and
// creation time are set here.
func (s *Store) CreateApproval(ctx context.Context, by Actor, a Approval) (Approval, error) {
	now := time.Now()
	a.DecisionNo = strings.TrimSpace(a.DecisionNo)
	a.Signer = strings.TrimSpace(a.Signer)
	a.Scope = strings.TrimSpace(a.Scope)
	a.DocSHA256 = strings.ToLower(strings.TrimSpace(a.DocSHA256))
	switch {
	case a.OrgID == "":
		return Approval{}, fieldErr("org_id", "required")
	case a.DecisionNo == "":
		return Approval{}, fieldErr("decision_no", "required: the committee decision number")
	case a.DecisionDate.IsZero():
		return Approval{}, fieldErr("decision_date", "required")
	case a.Signer == "":
		return Approval{}, fieldErr("signer", "required")
	case a.Scope == "":
		return Approval{}, fieldErr("scope", "required: what the decision approves")
	case a.ExpiresAt.IsZero():
		return Approval{}, fieldErr("expires_at", "required: an approval always ends")
	case !a.ExpiresAt.After(a.DecisionDate):
		return Approval{}, fieldErr("expires_at", "must be after the decision date")
	case !a.ExpiresAt.After(now):
		return Approval{}, fieldErr("expires_at", "already past")
	case len(a.DocSHA256) != 64 || !isHex(a.DocSHA256):
		return Approval{}, fieldErr("doc_sha256", "must be the SHA-256 of the scanned document, 64 hex digits")
	}
	a.ID = newID("apv_")
	a.CreatedBy = by.ID
	a.CreatedAt = time.UnixMilli(now.UnixMilli()).UTC()
	a.DecisionDate = store.Time(store.MS(a.DecisionDate))
	a.ExpiresAt = store.Time(store.MS(a.ExpiresAt))
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := orgExists(ctx, tx, a.OrgID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO approvals (id, org_id, decision_no, decision_date, signer, scope,
			expires_at, doc_sha256, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.OrgID, a.DecisionNo, store.MS(a.DecisionDate), a.Signer, a.Scope,
			store.MS(a.ExpiresAt), a.DocSHA256, a.CreatedBy, store.MS(a.CreatedAt))
		if store.IsUniqueViolation(err) {
			return fieldErr("decision_no", "decision %s is already recorded for this organisation", a.DecisionNo)
		}
		if err != nil {
			return fmt.Errorf("access: insert approval: %w", err)
		}
		_, err = s.log.Append(ctx, tx, s.entry(by, "access.approval.create", "approval/"+a.ID, map[string]any{
			"org_id": a.OrgID, "decision_no": a.DecisionNo, "decision_date": a.DecisionDate.Format(time.DateOnly),
			"signer": a.Signer, "scope": a.Scope, "expires_at": a.ExpiresAt.Format(time.RFC3339), "doc_sha256": a.DocSHA256,
		}))
		return err
	})
	if err != nil {
		return Approval{}, err
	}
	return a, nil
}

func orgExists(ctx context.Context, q store.Q, id string) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM organisations WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fieldErr("org_id", "no organisation %q", id)
	}
	return err
}

// grantable are the actions a grant may carry: manage stays with the
// system's organisations (R-ACC-2), site actions come from roles.
const grantable = ActionSet(1<<ViewLive | 1<<Playback | 1<<Export | 1<<PTZ)

// CreateGrant records a grant. A grant that reaches beyond the organisation's
// functions must name an approval of the same organisation that is in force
// (R-ACC-4); without one it is refused with a FieldError on approval_id. The
// approval in the returned grant is filled in.
func (s *Store) CreateGrant(ctx context.Context, by Actor, g Grant) (Grant, error) {
	now := time.Now()
	switch {
	case g.OrgID == "":
		return Grant{}, fieldErr("org_id", "required")
	case g.Actions == 0:
		return Grant{}, fieldErr("actions", "at least one action")
	case g.Actions&^grantable != 0:
		return Grant{}, fieldErr("actions", "a grant may carry only view-live, playback, export, ptz")
	case g.Purposes < 0 || g.Kinds < 0 || g.Areas < 0:
		return Grant{}, fieldErr("scope", "negative mask")
	case !g.hasCriteria():
		return Grant{}, fieldErr("scope", "name a camera, a system, purposes, kinds or areas")
	case !g.ExpiresAt.IsZero() && !g.ExpiresAt.After(now):
		return Grant{}, fieldErr("expires_at", "already past")
	}
	approvalID := g.Approval.ID
	g.Approval = Approval{}
	g.ID = newID("grt_")
	g.CreatedBy = by.ID
	g.CreatedAt = time.UnixMilli(now.UnixMilli()).UTC()
	g.ExpiresAt = store.Time(store.MS(g.ExpiresAt))
	g.RevokedAt, g.RevokedBy, g.RevokeReason = time.Time{}, "", ""
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var functions, areaLimit int64
		err := tx.QueryRow(ctx, `SELECT functions, area_limit FROM organisations WHERE id = ?`, g.OrgID).Scan(&functions, &areaLimit)
		if errors.Is(err, sql.ErrNoRows) {
			return fieldErr("org_id", "no organisation %q", g.OrgID)
		}
		if err != nil {
			return err
		}
		if g.CameraID != "" {
			if err := exists(ctx, tx, "cameras", g.CameraID); err != nil {
				return fieldErr("camera_id", "no camera %q", g.CameraID)
			}
		}
		if g.SystemID != "" {
			if err := exists(ctx, tx, "systems", g.SystemID); err != nil {
				return fieldErr("system_id", "no system %q", g.SystemID)
			}
		}
		if approvalID != "" {
			a, err := getApproval(ctx, tx, approvalID)
			if errors.Is(err, ErrNotFound) {
				return fieldErr("approval_id", "no approval %q", approvalID)
			}
			if err != nil {
				return err
			}
			if a.OrgID != g.OrgID {
				return fieldErr("approval_id", "approval %s was given to another organisation", a.DecisionNo)
			}
			if !a.Valid(now) {
				return fieldErr("approval_id", "approval %s expired on %s", a.DecisionNo, a.ExpiresAt.Format(time.RFC3339))
			}
			g.Approval = a
		} else {
			beyond, err := beyondFunctions(ctx, tx, &g, functions, areaLimit)
			if err != nil {
				return err
			}
			if beyond {
				return fieldErr("approval_id", "the grant reaches cameras beyond the organisation's functions: the provincial committee's approval is required")
			}
		}
		var apv any
		if g.Approval.ID != "" {
			apv = g.Approval.ID
		}
		_, err = tx.Exec(ctx, `INSERT INTO grants (id, org_id, actions, camera_id, system_id, purposes, kinds, areas,
			approval_id, expires_at, note, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			g.ID, g.OrgID, int64(g.Actions), g.CameraID, g.SystemID, g.Purposes, g.Kinds, g.Areas,
			apv, store.MS(g.ExpiresAt), g.Note, g.CreatedBy, store.MS(g.CreatedAt))
		if err != nil {
			return fmt.Errorf("access: insert grant: %w", err)
		}
		_, err = s.log.Append(ctx, tx, s.entry(by, "access.grant.create", "grant/"+g.ID, grantDetails(&g)))
		return err
	})
	if err != nil {
		return Grant{}, err
	}
	return g, nil
}

func grantDetails(g *Grant) map[string]any {
	d := map[string]any{"org_id": g.OrgID, "actions": g.Actions.Names()}
	if g.CameraID != "" {
		d["camera_id"] = g.CameraID
	}
	if g.SystemID != "" {
		d["system_id"] = g.SystemID
	}
	if g.Purposes != 0 {
		d["purposes"] = g.Purposes
	}
	if g.Kinds != 0 {
		d["kinds"] = g.Kinds
	}
	if g.Areas != 0 {
		d["areas"] = g.Areas
	}
	if g.Approval.ID != "" {
		d["approval_id"] = g.Approval.ID
		d["decision_no"] = g.Approval.DecisionNo
	}
	if !g.ExpiresAt.IsZero() {
		d["expires_at"] = g.ExpiresAt.Format(time.RFC3339)
	}
	return d
}

func exists(ctx context.Context, q store.Q, table, id string) error {
	var one int
	// table is one of two constants above, never input
	return q.QueryRow(ctx, `SELECT 1 FROM `+table+` WHERE id = ?`, id).Scan(&one)
}

// beyondFunctions: could the grant, without an approval, be meant to reach a
// camera outside the organisation's functions? A purposes grant within the
// functions (and within the area limit, if any) cannot. A grant naming a
// camera or system is checked against the cameras it covers today; a camera
// added later outside the functions is still refused by Decide, which only
// lets an unapproved grant reach cameras within the functions.
func beyondFunctions(ctx context.Context, q store.Q, g *Grant, functions, areaLimit int64) (bool, error) {
	within := g.Purposes != 0 && g.Purposes&^functions == 0 &&
		(areaLimit == 0 || (g.Areas != 0 && g.Areas&^areaLimit == 0))
	if within {
		return false, nil
	}
	if g.CameraID == "" && g.SystemID == "" {
		return true, nil
	}
	conds, args := coverSQL(g)
	fm, fmArgs := functionMatchSQL(&Subject{Functions: functions, AreaLimit: areaLimit})
	where := strings.Join(conds, " AND ")
	if fm != "" {
		where += " AND NOT (" + fm + ")"
		args = append(args, fmArgs...)
	}
	var n int64
	if err := q.QueryRow(ctx, `SELECT COUNT(*) FROM cameras c WHERE `+where, args...).Scan(&n); err != nil {
		return false, fmt.Errorf("access: check grant scope: %w", err)
	}
	return n > 0, nil
}

// RevokeGrant ends a grant now. Revoking a revoked grant changes nothing and
// returns it as it is. The OnGrantRevoked hooks run after the commit.
func (s *Store) RevokeGrant(ctx context.Context, by Actor, id, reason string) (Grant, error) {
	var g Grant
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		g, err = getGrant(ctx, tx, id)
		if err != nil {
			return err
		}
		if !g.RevokedAt.IsZero() {
			return nil
		}
		now := store.NowMS()
		if _, err := tx.Exec(ctx, `UPDATE grants SET revoked_at = ?, revoked_by = ?, revoke_reason = ? WHERE id = ? AND revoked_at = 0`,
			now, by.ID, reason, id); err != nil {
			return fmt.Errorf("access: revoke grant: %w", err)
		}
		g.RevokedAt, g.RevokedBy, g.RevokeReason = store.Time(now), by.ID, reason
		d := grantDetails(&g)
		d["reason"] = reason
		if _, err := s.log.Append(ctx, tx, s.entry(by, "access.grant.revoke", "grant/"+g.ID, d)); err != nil {
			return err
		}
		tx.AfterCommit(func() { s.fireRevoked(g) })
		return nil
	})
	if err != nil {
		return Grant{}, err
	}
	return g, nil
}

const grantSelect = `SELECT g.id, g.org_id, g.actions, g.camera_id, g.system_id, g.purposes, g.kinds, g.areas,
	g.expires_at, g.note, g.created_by, g.created_at, g.revoked_at, g.revoked_by, g.revoke_reason,
	COALESCE(a.id, ''), COALESCE(a.org_id, ''), COALESCE(a.decision_no, ''), COALESCE(a.decision_date, 0),
	COALESCE(a.signer, ''), COALESCE(a.scope, ''), COALESCE(a.expires_at, 0), COALESCE(a.doc_sha256, ''),
	COALESCE(a.created_by, ''), COALESCE(a.created_at, 0)
	FROM grants g LEFT JOIN approvals a ON a.id = g.approval_id`

func scanGrant(r Scanner) (Grant, error) {
	var (
		g                              Grant
		actions, exp, created, revoked int64
		aDate, aExp, aCreated          int64
	)
	err := r.Scan(&g.ID, &g.OrgID, &actions, &g.CameraID, &g.SystemID, &g.Purposes, &g.Kinds, &g.Areas,
		&exp, &g.Note, &g.CreatedBy, &created, &revoked, &g.RevokedBy, &g.RevokeReason,
		&g.Approval.ID, &g.Approval.OrgID, &g.Approval.DecisionNo, &aDate,
		&g.Approval.Signer, &g.Approval.Scope, &aExp, &g.Approval.DocSHA256,
		&g.Approval.CreatedBy, &aCreated)
	g.Actions = ActionSet(actions)
	g.ExpiresAt, g.CreatedAt, g.RevokedAt = store.Time(exp), store.Time(created), store.Time(revoked)
	g.Approval.DecisionDate, g.Approval.ExpiresAt, g.Approval.CreatedAt = store.Time(aDate), store.Time(aExp), store.Time(aCreated)
	return g, err
}

func queryGrants(ctx context.Context, q store.Q, where string, args ...any) ([]Grant, error) {
	rows, err := q.Query(ctx, grantSelect+" WHERE "+where+" ORDER BY g.created_at, g.id", args...)
	if err != nil {
		return nil, fmt.Errorf("access: list grants: %w", err)
	}
	defer rows.Close()
	var out []Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, fmt.Errorf("access: read grant: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

func getGrant(ctx context.Context, q store.Q, id string) (Grant, error) {
	gs, err := queryGrants(ctx, q, "g.id = ?", id)
	if err != nil {
		return Grant{}, err
	}
	if len(gs) == 0 {
		return Grant{}, ErrNotFound
	}
	return gs[0], nil
}

// GetGrant reads one grant (revoked or not) with its approval.
func (s *Store) GetGrant(ctx context.Context, id string) (Grant, error) {
	return getGrant(ctx, s.db.Q(), id)
}

// GrantFilter selects grants for ListGrants; zero fields select everything.
type GrantFilter struct {
	OrgID          string
	ApprovalID     string
	IncludeRevoked bool
}

// ListGrants lists grants, oldest first.
func (s *Store) ListGrants(ctx context.Context, f GrantFilter) ([]Grant, error) {
	where := []string{"1 = 1"}
	var args []any
	if f.OrgID != "" {
		where = append(where, "g.org_id = ?")
		args = append(args, f.OrgID)
	}
	if f.ApprovalID != "" {
		where = append(where, "g.approval_id = ?")
		args = append(args, f.ApprovalID)
	}
	if !f.IncludeRevoked {
		where = append(where, "g.revoked_at = 0")
	}
	return queryGrants(ctx, s.db.Q(), strings.Join(where, " AND "), args...)
}

// LoadGrants loads what Subject.Grants needs for organisation orgID at now:
// the grants not revoked, with their approvals, leaving out those that
// lapsed more than LapsedKeep ago.
func LoadGrants(ctx context.Context, q store.Q, orgID string, now time.Time) ([]Grant, error) {
	cut := store.MS(now.Add(-LapsedKeep))
	return queryGrants(ctx, q, `g.org_id = ? AND g.revoked_at = 0 AND (g.expires_at = 0 OR g.expires_at > ?)
		AND (g.approval_id IS NULL OR a.expires_at > ?)`, orgID, cut, cut)
}

// LoadOrgSubject fills a Subject with the facts of organisation orgID and its
// grants. The caller adds the user's id, roles and disabled flag. highestOrg
// is the configured highest-access organisation (R-ACC-1).
func LoadOrgSubject(ctx context.Context, q store.Q, orgID, highestOrg string, now time.Time) (Subject, error) {
	sub := Subject{OrgID: orgID, Highest: orgID != "" && orgID == highestOrg}
	err := q.QueryRow(ctx, `SELECT kind, functions, area_limit, cleared_classified FROM organisations WHERE id = ?`, orgID).
		Scan(&sub.OrgKind, &sub.Functions, &sub.AreaLimit, &sub.Cleared)
	if errors.Is(err, sql.ErrNoRows) {
		return Subject{}, ErrNotFound
	}
	if err != nil {
		return Subject{}, fmt.Errorf("access: load organisation: %w", err)
	}
	sub.Grants, err = LoadGrants(ctx, q, orgID, now)
	if err != nil {
		return Subject{}, err
	}
	return sub, nil
}

func getApproval(ctx context.Context, q store.Q, id string) (Approval, error) {
	as, err := queryApprovals(ctx, q, "id = ?", id)
	if err != nil {
		return Approval{}, err
	}
	if len(as) == 0 {
		return Approval{}, ErrNotFound
	}
	return as[0], nil
}

func queryApprovals(ctx context.Context, q store.Q, where string, args ...any) ([]Approval, error) {
	rows, err := q.Query(ctx, `SELECT id, org_id, decision_no, decision_date, signer, scope, expires_at, doc_sha256,
		created_by, created_at FROM approvals WHERE `+where+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("access: list approvals: %w", err)
	}
	defer rows.Close()
	var out []Approval
	for rows.Next() {
		var (
			a                  Approval
			date, exp, created int64
		)
		if err := rows.Scan(&a.ID, &a.OrgID, &a.DecisionNo, &date, &a.Signer, &a.Scope, &exp, &a.DocSHA256,
			&a.CreatedBy, &created); err != nil {
			return nil, fmt.Errorf("access: read approval: %w", err)
		}
		a.DecisionDate, a.ExpiresAt, a.CreatedAt = store.Time(date), store.Time(exp), store.Time(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

// GetApproval reads one approval.
func (s *Store) GetApproval(ctx context.Context, id string) (Approval, error) {
	return getApproval(ctx, s.db.Q(), id)
}

// ListApprovals lists the approvals of orgID ("" = all), oldest first.
func (s *Store) ListApprovals(ctx context.Context, orgID string) ([]Approval, error) {
	if orgID == "" {
		return queryApprovals(ctx, s.db.Q(), "1 = 1")
	}
	return queryApprovals(ctx, s.db.Q(), "org_id = ?", orgID)
}
