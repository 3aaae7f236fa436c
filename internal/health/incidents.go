package health

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// Incident categories. The automatic ones are opened by the rooms that detect
// the fault; any of them may also be reported by hand (R-OPS-5).
const (
	CatCameraOffline    = "camera_offline"
	CatNoFrames         = "no_frames"
	CatRecordingStopped = "recording_stopped"
	CatLinkDown         = "link_down"
	CatStorage          = "storage"
	CatCameraDamaged    = "camera_damaged"
	CatImageQuality     = "image_quality"
	CatPower            = "power"
	CatNetwork          = "network"
	CatSecurity         = "security"
	CatOther            = "other"
)

// Categories lists every category, in display order.
var Categories = []string{CatCameraOffline, CatNoFrames, CatRecordingStopped, CatLinkDown, CatStorage,
	CatCameraDamaged, CatImageQuality, CatPower, CatNetwork, CatSecurity, CatOther}

// ValidCategory reports whether c is a known category.
func ValidCategory(c string) bool {
	for _, k := range Categories {
		if k == c {
			return true
		}
	}
	return false
}

// Incident states: open → acknowledged → resolved → closed.
const (
	StateOpen         = "open"
	StateAcknowledged = "acknowledged"
	StateResolved     = "resolved"
	StateClosed       = "closed"
)

// Incident is one fault tracked against its deadline.
type Incident struct {
	ID              string    `json:"id"`
	Category        string    `json:"category"`
	Source          string    `json:"source" doc:"auto or manual"`
	Object          string    `json:"object,omitempty"`
	CameraID        string    `json:"camera_id,omitempty"`
	SystemID        string    `json:"system_id,omitempty"`
	AssignedOrgID   string    `json:"assigned_org_id" doc:"the system's operating unit"`
	ManagingOrgID   string    `json:"managing_org_id,omitempty"`
	Title           string    `json:"title"`
	Description     string    `json:"description,omitempty"`
	State           string    `json:"state"`
	DetectedAt      time.Time `json:"detected_at"`
	DeadlineAt      time.Time `json:"deadline_at"`
	ReporterID      string    `json:"reporter_id,omitempty"`
	ReporterName    string    `json:"reporter_name,omitempty"`
	ReporterOrgID   string    `json:"reporter_org_id,omitempty"`
	AcknowledgedAt  time.Time `json:"acknowledged_at,omitzero"`
	AcknowledgedBy  string    `json:"acknowledged_by,omitempty"`
	ResolvedAt      time.Time `json:"resolved_at,omitzero"`
	ResolvedBy      string    `json:"resolved_by,omitempty"`
	Resolution      string    `json:"resolution,omitempty"`
	ClosedAt        time.Time `json:"closed_at,omitzero"`
	ClosedBy        string    `json:"closed_by,omitempty"`
	EscalationLevel int       `json:"escalation_level" doc:"0 none, 1 deadline near, 2 overdue"`
	Version         int64     `json:"version"`
	// Overdue: unresolved past the deadline, or resolved after it.
	Overdue bool `json:"overdue"`
	// OriginSite is the lower site that opened the incident and ships its
	// state (a fault of one of its cameras); empty for this site's own.
	// Only that site moves it.
	OriginSite string `json:"origin_site,omitempty"`
}

// Active reports whether the fault is still unfixed.
func (i *Incident) Active() bool { return i.State == StateOpen || i.State == StateAcknowledged }

// WithinDeadline reports whether the incident was resolved in time.
func (i *Incident) WithinDeadline() bool {
	return !i.ResolvedAt.IsZero() && !i.ResolvedAt.After(i.DeadlineAt)
}

func (i *Incident) setOverdue(now time.Time) {
	if i.Active() {
		i.Overdue = now.After(i.DeadlineAt)
	} else {
		i.Overdue = !i.ResolvedAt.IsZero() && i.ResolvedAt.After(i.DeadlineAt)
	}
}

// Actor is who does something; the system itself for automatic changes.
type Actor struct {
	ID, Name, OrgID, Remote string
}

// System is the actor of automatic changes.
var System = Actor{ID: "system", Name: "system"}

const incCols = `id, category, source, object, camera_id, system_id, assigned_org_id, managing_org_id, title, description, state,
	detected_at, deadline_at, reporter_id, reporter_name, reporter_org_id, acknowledged_at, acknowledged_by, resolved_at, resolved_by,
	resolution, closed_at, closed_by, escalation_level, version, origin_site`

func scanIncident(sc interface{ Scan(...any) error }) (Incident, error) {
	var i Incident
	var det, dl, ack, res, clo int64
	err := sc.Scan(&i.ID, &i.Category, &i.Source, &i.Object, &i.CameraID, &i.SystemID, &i.AssignedOrgID, &i.ManagingOrgID,
		&i.Title, &i.Description, &i.State, &det, &dl, &i.ReporterID, &i.ReporterName, &i.ReporterOrgID, &ack, &i.AcknowledgedBy,
		&res, &i.ResolvedBy, &i.Resolution, &clo, &i.ClosedBy, &i.EscalationLevel, &i.Version, &i.OriginSite)
	i.DetectedAt, i.DeadlineAt, i.AcknowledgedAt, i.ResolvedAt, i.ClosedAt = store.Time(det), store.Time(dl), store.Time(ack), store.Time(res), store.Time(clo)
	return i, err
}

// Get reads one incident.
func (s *Service) Get(ctx context.Context, id string) (Incident, error) {
	return s.get(ctx, s.opt.DB.Q(), id)
}

func (s *Service) get(ctx context.Context, q store.Q, id string) (Incident, error) {
	i, err := scanIncident(q.QueryRow(ctx, `SELECT `+incCols+` FROM incidents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return i, ErrNotFound
	}
	i.setOverdue(s.now())
	return i, err
}

// Filter narrows List. OrgID, when set, keeps the incidents that concern the
// organisation: assigned to it, of a system it manages, or reported by it.
type Filter struct {
	OrgID    string
	State    string // "", a state, or "active" (open or acknowledged)
	CameraID string
	Category string
	From, To time.Time // detected_at range; zero = unbounded
	Overdue  bool
	Limit    int
}

// List lists incidents, newest first.
func (s *Service) List(ctx context.Context, f Filter) ([]Incident, error) {
	var where []string
	var args []any
	if f.OrgID != "" {
		where = append(where, "(assigned_org_id = ? OR managing_org_id = ? OR reporter_org_id = ?)")
		args = append(args, f.OrgID, f.OrgID, f.OrgID)
	}
	switch f.State {
	case "":
	case "active":
		where = append(where, "state IN ('open', 'acknowledged')")
	default:
		where = append(where, "state = ?")
		args = append(args, f.State)
	}
	if f.CameraID != "" {
		where = append(where, "camera_id = ?")
		args = append(args, f.CameraID)
	}
	if f.Category != "" {
		where = append(where, "category = ?")
		args = append(args, f.Category)
	}
	if !f.From.IsZero() {
		where = append(where, "detected_at >= ?")
		args = append(args, store.MS(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "detected_at < ?")
		args = append(args, store.MS(f.To))
	}
	if f.Overdue {
		where = append(where, "((state IN ('open', 'acknowledged') AND deadline_at < ?) OR resolved_at > deadline_at)")
		args = append(args, store.MS(s.now()))
	}
	q := `SELECT ` + incCols + ` FROM incidents`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Limit <= 0 || f.Limit > 5000 {
		f.Limit = 500
	}
	q += " ORDER BY detected_at DESC, id LIMIT ?"
	args = append(args, f.Limit)
	rows, err := s.opt.DB.Q().Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	now := s.now()
	out := []Incident{}
	for rows.Next() {
		i, err := scanIncident(rows)
		if err != nil {
			return nil, err
		}
		i.setOverdue(now)
		out = append(out, i)
	}
	return out, rows.Err()
}

// target is what an incident is about, resolved from the registry.
type target struct {
	cameraID, systemID, operating, managing string
}

func lookupTarget(ctx context.Context, q store.Q, cameraID, systemID string) (target, error) {
	t := target{cameraID: cameraID, systemID: systemID}
	if cameraID != "" {
		err := q.QueryRow(ctx, `SELECT s.id, s.operating_org_id, s.managing_org_id FROM cameras c JOIN systems s ON s.id = c.system_id WHERE c.id = ?`,
			cameraID).Scan(&t.systemID, &t.operating, &t.managing)
		if errors.Is(err, sql.ErrNoRows) {
			return t, &InputError{Field: "camera_id", Code: "unknown_camera", Msg: "no such camera"}
		}
		return t, err
	}
	if systemID != "" {
		err := q.QueryRow(ctx, `SELECT operating_org_id, managing_org_id FROM systems WHERE id = ?`, systemID).Scan(&t.operating, &t.managing)
		if errors.Is(err, sql.ErrNoRows) {
			return t, &InputError{Field: "system_id", Code: "unknown_system", Msg: "no such system"}
		}
		return t, err
	}
	return t, nil
}

// Report is a hand-made incident (R-OPS-5).
type Report struct {
	Category    string
	CameraID    string
	SystemID    string
	Title       string
	Description string
}

// Open records an incident reported by a user: detected now, deadline by
// category, assigned to the system's operating unit.
func (s *Service) Open(ctx context.Context, a Actor, r Report) (Incident, error) {
	r.Title = strings.TrimSpace(r.Title)
	switch {
	case !ValidCategory(r.Category):
		return Incident{}, &InputError{Field: "category", Code: "unknown_category", Msg: "must be one of " + strings.Join(Categories, ", ")}
	case r.Title == "":
		return Incident{}, &InputError{Field: "title", Code: "required", Msg: "must not be empty"}
	case r.CameraID == "" && r.SystemID == "":
		return Incident{}, &InputError{Field: "camera_id", Code: "required", Msg: "name the camera or the system affected"}
	}
	now := s.now()
	inc := Incident{
		ID: newID("inc-"), Category: r.Category, Source: "manual", Title: r.Title, Description: r.Description,
		State: StateOpen, DetectedAt: now, DeadlineAt: now.Add(s.Deadline(r.Category)),
		ReporterID: a.ID, ReporterName: a.Name, ReporterOrgID: a.OrgID, Version: 1,
	}
	err := s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
		t, err := lookupTarget(ctx, tx, r.CameraID, r.SystemID)
		if err != nil {
			return err
		}
		inc.fill(t)
		return s.insert(ctx, tx, a, &inc, "")
	})
	return inc, err
}

func (i *Incident) fill(t target) {
	i.CameraID, i.SystemID, i.AssignedOrgID, i.ManagingOrgID = t.cameraID, t.systemID, t.operating, t.managing
	if i.Object == "" {
		switch {
		case t.cameraID != "":
			i.Object = "camera/" + t.cameraID
		case t.systemID != "":
			i.Object = "system/" + t.systemID
		}
	}
}

func (s *Service) insert(ctx context.Context, tx *store.Tx, a Actor, i *Incident, autoKey string) error {
	var key any
	if autoKey != "" {
		key = autoKey
	}
	_, err := tx.Exec(ctx, `INSERT INTO incidents (id, category, source, object, camera_id, system_id, assigned_org_id, managing_org_id,
		title, description, state, detected_at, deadline_at, reporter_id, reporter_name, reporter_org_id, auto_key, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
		i.ID, i.Category, i.Source, i.Object, i.CameraID, i.SystemID, i.AssignedOrgID, i.ManagingOrgID, i.Title, i.Description,
		i.State, store.MS(i.DetectedAt), store.MS(i.DeadlineAt), i.ReporterID, i.ReporterName, i.ReporterOrgID, key)
	if err != nil {
		return err
	}
	if err := s.enqueue(ctx, tx, "incident.opened", i); err != nil {
		return err
	}
	return s.audit(ctx, tx, a, "incident.open", i, map[string]any{
		"category": i.Category, "source": i.Source, "object": i.Object, "assigned_org": i.AssignedOrgID,
		"deadline": i.DeadlineAt.Format(time.RFC3339),
	})
}

func (s *Service) audit(ctx context.Context, q store.Q, a Actor, action string, i *Incident, details map[string]any) error {
	if s.opt.Audit == nil {
		return nil
	}
	_, err := s.opt.Audit.Append(ctx, q, audit.Entry{ActorID: a.ID, Actor: a.Name, Org: a.OrgID, Action: action,
		Object: "incident/" + i.ID, Outcome: "ok", Details: details, Remote: a.Remote})
	return err
}

func autoKey(category, object string) string { return category + "|" + object }

// AutoInfo describes an automatically detected fault.
type AutoInfo struct {
	Title       string
	Description string
	// SystemID names the system when object is not a camera (a link, a
	// storage volume); the incident goes to its operating unit.
	SystemID string
	// DetectedAt is when the fault began; zero = now.
	DetectedAt time.Time
}

// OpenAuto opens the automatic incident for (category, object) unless one is
// already unresolved, which it returns with opened = false. object is
// "camera/<id>" for a camera fault (assigned to its system's operating unit),
// or anything else ("link/<site>", "volume/<name>") with info.SystemID.
// Recording, federation and storage call it when they detect a fault.
func (s *Service) OpenAuto(ctx context.Context, category, object string, info AutoInfo) (inc Incident, opened bool, err error) {
	if category == "" || object == "" {
		return inc, false, &InputError{Field: "category", Code: "required", Msg: "category and object are required"}
	}
	key := autoKey(category, object)
	if i, err := s.byAutoKey(ctx, s.opt.DB.Q(), key); err == nil {
		return i, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return i, false, err
	}
	now := s.now()
	det := info.DetectedAt
	if det.IsZero() || det.After(now) {
		det = now
	}
	if info.Title == "" {
		info.Title = fmt.Sprintf("%s: %s", category, object)
	}
	inc = Incident{ID: newID("inc-"), Category: category, Source: "auto", Object: object, Title: info.Title,
		Description: info.Description, State: StateOpen, DetectedAt: det, DeadlineAt: det.Add(s.Deadline(category)),
		ReporterID: System.ID, ReporterName: System.Name, Version: 1}
	camID := ""
	if c, ok := strings.CutPrefix(object, "camera/"); ok {
		camID = c
	}
	err = s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
		t, err := lookupTarget(ctx, tx, camID, info.SystemID)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				return err
			}
			t = target{cameraID: camID, systemID: info.SystemID} // a camera gone from the registry still gets its incident
		}
		inc.fill(t)
		return s.insert(ctx, tx, System, &inc, key)
	})
	if err != nil && store.IsUniqueViolation(err) {
		// another node opened it first
		i, gerr := s.byAutoKey(ctx, s.opt.DB.Q(), key)
		return i, false, gerr
	}
	if err != nil {
		return inc, false, err
	}
	s.poke()
	return inc, true, nil
}

func (s *Service) byAutoKey(ctx context.Context, q store.Q, key string) (Incident, error) {
	i, err := scanIncident(q.QueryRow(ctx, `SELECT `+incCols+` FROM incidents WHERE auto_key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return i, ErrNotFound
	}
	i.setOverdue(s.now())
	return i, err
}

func (s *Service) openAutoKeys(ctx context.Context) (map[string]bool, error) {
	rows, err := s.opt.DB.Q().Query(ctx, `SELECT auto_key FROM incidents WHERE auto_key IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, rows.Err()
}

// ResolveAuto resolves the unresolved automatic incident for (category,
// object), if any, as the system: the fault went away on its own or was
// fixed. It reports whether one was resolved.
func (s *Service) ResolveAuto(ctx context.Context, category, object, note string) (bool, error) {
	key := autoKey(category, object)
	var done bool
	err := s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
		i, err := s.byAutoKey(ctx, tx, key)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		now := s.now()
		res, err := tx.Exec(ctx, `UPDATE incidents SET state = ?, resolved_at = ?, resolved_by = ?, resolution = ?, auto_key = NULL,
			version = version + 1 WHERE id = ? AND version = ?`, StateResolved, store.MS(now), System.Name, note, i.ID, i.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // someone else moved it meanwhile
		}
		i.State, i.ResolvedAt, i.ResolvedBy, i.Resolution = StateResolved, now, System.Name, note
		i.setOverdue(now)
		if err := s.enqueue(ctx, tx, "incident.resolved", &i); err != nil {
			return err
		}
		done = true
		return s.audit(ctx, tx, System, "incident.resolve", &i, map[string]any{"auto": true, "note": note, "within_deadline": i.WithinDeadline()})
	})
	if done {
		s.poke()
	}
	return done, err
}

// Transition actions a user may take.
const (
	ActAcknowledge = "acknowledge"
	ActResolve     = "resolve"
	ActClose       = "close"
	ActReopen      = "reopen"
)

// transitions: action → allowed from-states and the state it leads to.
var transitions = map[string]struct {
	from []string
	to   string
}{
	ActAcknowledge: {[]string{StateOpen}, StateAcknowledged},
	ActResolve:     {[]string{StateOpen, StateAcknowledged}, StateResolved},
	ActClose:       {[]string{StateResolved}, StateClosed},
	ActReopen:      {[]string{StateResolved}, StateOpen},
}

// Transition moves an incident: acknowledge, resolve (with a resolution
// note), close, or reopen a resolved one. The caller has decided the actor
// may; an action the current state does not allow is a StateError.
func (s *Service) Transition(ctx context.Context, a Actor, id, action, note string) (Incident, error) {
	tr, ok := transitions[action]
	if !ok {
		return Incident{}, &InputError{Field: "action", Code: "unknown_action", Msg: "must be acknowledge, resolve, close or reopen"}
	}
	note = strings.TrimSpace(note)
	if action == ActResolve && note == "" {
		return Incident{}, &InputError{Field: "note", Code: "required", Msg: "say what was done to fix it"}
	}
	var out Incident
	err := s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
		i, err := s.get(ctx, tx, id)
		if err != nil {
			return err
		}
		if i.OriginSite != "" {
			return &StateError{Field: "id", Code: "federated",
				Msg: "sự cố do hệ thống cấp dưới " + i.OriginSite + " quản lý và xử lý / handled by lower site " + i.OriginSite}
		}
		allowed := false
		for _, f := range tr.from {
			allowed = allowed || f == i.State
		}
		if !allowed {
			return &StateError{Field: "state", Code: "invalid_transition",
				Msg: fmt.Sprintf("cannot %s an incident that is %s", action, i.State)}
		}
		now := s.now()
		ms := store.MS(now)
		var set string
		var args []any
		switch action {
		case ActAcknowledge:
			set, args = "acknowledged_at = ?, acknowledged_by = ?", []any{ms, a.Name}
			i.AcknowledgedAt, i.AcknowledgedBy = now, a.Name
		case ActResolve:
			set, args = "resolved_at = ?, resolved_by = ?, resolution = ?, auto_key = NULL", []any{ms, a.Name, note}
			i.ResolvedAt, i.ResolvedBy, i.Resolution = now, a.Name, note
		case ActClose:
			set, args = "closed_at = ?, closed_by = ?", []any{ms, a.Name}
			i.ClosedAt, i.ClosedBy = now, a.Name
		case ActReopen:
			set, args = "resolved_at = 0, resolved_by = '', escalation_level = 0", nil
			i.ResolvedAt, i.ResolvedBy, i.EscalationLevel = time.Time{}, "", 0
		}
		args = append([]any{tr.to}, args...)
		args = append(args, i.ID, i.Version)
		res, err := tx.Exec(ctx, `UPDATE incidents SET state = ?, `+set+`, version = version + 1 WHERE id = ? AND version = ?`, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &StateError{Field: "state", Code: "version_conflict", Msg: "the incident changed meanwhile; reload it"}
		}
		from := i.State
		i.State, i.Version = tr.to, i.Version+1
		i.setOverdue(now)
		if err := s.enqueue(ctx, tx, "incident."+tr.to, &i); err != nil {
			return err
		}
		d := map[string]any{"from": from, "to": tr.to}
		if note != "" {
			d["note"] = note
		}
		if action == ActResolve {
			d["within_deadline"] = i.WithinDeadline()
		}
		out = i
		return s.audit(ctx, tx, a, "incident."+action, &i, d)
	})
	if err == nil {
		s.poke()
	}
	return out, err
}

// Escalate raises unresolved incidents near their deadline (level 1,
// EscalateBefore ahead) and past it (level 2), notifying each step once. It
// returns how many were raised.
func (s *Service) Escalate(ctx context.Context) (int, error) {
	now := s.now()
	// A shipped incident escalates at the site that handles it; its level
	// arrives with its state.
	rows, err := s.opt.DB.Q().Query(ctx, `SELECT `+incCols+` FROM incidents WHERE state IN ('open', 'acknowledged')
		AND escalation_level < 2 AND deadline_at <= ? AND origin_site = '' ORDER BY deadline_at`, store.MS(now.Add(s.opt.EscalateBefore)))
	if err != nil {
		return 0, err
	}
	var due []Incident
	for rows.Next() {
		i, err := scanIncident(rows)
		if err != nil {
			rows.Close()
			return 0, err
		}
		due = append(due, i)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n := 0
	for _, i := range due {
		level := 1
		if !now.Before(i.DeadlineAt) {
			level = 2
		}
		if level <= i.EscalationLevel {
			continue
		}
		err := s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
			res, err := tx.Exec(ctx, `UPDATE incidents SET escalation_level = ?, version = version + 1 WHERE id = ? AND version = ?`, level, i.ID, i.Version)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k == 0 {
				return nil
			}
			i.EscalationLevel, i.Version = level, i.Version+1
			i.setOverdue(now)
			ev := "incident.deadline_near"
			if level == 2 {
				ev = "incident.overdue"
			}
			if err := s.enqueue(ctx, tx, ev, &i); err != nil {
				return err
			}
			n++
			return s.audit(ctx, tx, System, "incident.escalate", &i, map[string]any{"level": level, "deadline": i.DeadlineAt.Format(time.RFC3339)})
		})
		if err != nil {
			return n, err
		}
	}
	if n > 0 {
		s.poke()
	}
	return n, nil
}
