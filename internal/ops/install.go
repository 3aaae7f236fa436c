package ops

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/store"
)

// Pole is shared infrastructure: a pole or a cabinet (R-INS-2).
type Pole struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind" enum:"pole,cabinet"`
	Name       string    `json:"name"`
	OwnerOrgID string    `json:"owner_org_id"`
	Lat        float64   `json:"lat"`
	Lon        float64   `json:"lon"`
	Address    string    `json:"address,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

var idRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

func checkLatLon(lat, lon float64) error {
	if math.IsNaN(lat) || lat < -90 || lat > 90 || lat == 0 && lon == 0 {
		return inputErr("lat", "out_of_range", "must be a WGS-84 latitude (−90…90)")
	}
	if math.IsNaN(lon) || lon < -180 || lon > 180 {
		return inputErr("lon", "out_of_range", "must be a WGS-84 longitude (−180…180)")
	}
	return nil
}

// CreatePole registers a pole or cabinet.
func (s *Service) CreatePole(ctx context.Context, a Actor, p Pole) (Pole, error) {
	p.Name = strings.TrimSpace(p.Name)
	switch {
	case !idRe.MatchString(p.ID):
		return p, inputErr("id", "invalid", "1–64 lowercase letters, digits, '.', '_' or '-'")
	case p.Kind != "pole" && p.Kind != "cabinet":
		return p, inputErr("kind", "invalid", "must be pole or cabinet")
	case p.Name == "":
		return p, inputErr("name", "required", "must not be empty")
	case p.OwnerOrgID == "":
		return p, inputErr("owner_org_id", "required", "must not be empty")
	}
	if err := checkLatLon(p.Lat, p.Lon); err != nil {
		return p, err
	}
	p.CreatedAt = s.now()
	err := s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM organisations WHERE id = ?`, p.OwnerOrgID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return inputErr("owner_org_id", "unknown_org", "no such organisation")
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM poles WHERE id = ?`, p.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return stateErr("id", "duplicate_id", "a pole or cabinet with this id exists")
		}
		if _, err := tx.Exec(ctx, `INSERT INTO poles (id, kind, name, owner_org_id, lat, lon, address, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.Kind, p.Name, p.OwnerOrgID, p.Lat, p.Lon, p.Address, store.MS(p.CreatedAt)); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "pole.create", "pole/"+p.ID, map[string]any{"kind": p.Kind, "name": p.Name, "owner": p.OwnerOrgID})
	})
	return p, err
}

// Poles lists poles and cabinets with how many installations use each.
func (s *Service) Poles(ctx context.Context) ([]Pole, error) {
	rows, err := s.opt.DB.Q().Query(ctx, `SELECT id, kind, name, owner_org_id, lat, lon, address, created_at FROM poles ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Pole{}
	for rows.Next() {
		var p Pole
		var c int64
		if err := rows.Scan(&p.ID, &p.Kind, &p.Name, &p.OwnerOrgID, &p.Lat, &p.Lon, &p.Address, &c); err != nil {
			return nil, err
		}
		p.CreatedAt = store.Time(c)
		out = append(out, p)
	}
	return out, rows.Err()
}

// Installation states.
const (
	InstRequested = "requested"
	InstApproved  = "approved"
	InstRejected  = "rejected"
	InstInstalled = "installed"
)

// Installation is a request to install cameras at a place (R-INS-1).
type Installation struct {
	ID            string        `json:"id"`
	SystemID      string        `json:"system_id"`
	PoleID        string        `json:"pole_id,omitempty"`
	Title         string        `json:"title"`
	Lat           float64       `json:"lat"`
	Lon           float64       `json:"lon"`
	Address       string        `json:"address,omitempty"`
	TechnicalPlan string        `json:"technical_plan"`
	StateArea     bool          `json:"state_area" doc:"in an area managed by a State body: the area manager's consent is needed too"`
	PublicPlace   bool          `json:"public_place" doc:"in a public place: the department's consent is needed"`
	State         string        `json:"state"`
	Consents      []InstConsent `json:"consents"`
	Probe         *ProbeReport  `json:"probe,omitempty"`
	ProbedAt      time.Time     `json:"probed_at,omitzero"`
	Missing       []string      `json:"missing_consents,omitempty"`
	CreatedBy     string        `json:"created_by"`
	CreatedAt     time.Time     `json:"created_at"`
	UpdatedAt     time.Time     `json:"updated_at"`
}

// InstConsent is a written consent on record: document number, date, signer and
// the SHA-256 of the scanned document.
type InstConsent struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind" doc:"department or area_manager"`
	DocNo     string    `json:"doc_no"`
	DocDate   string    `json:"doc_date" doc:"YYYY-MM-DD"`
	Signer    string    `json:"signer"`
	DocSHA256 string    `json:"doc_sha256"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidateConsent checks a consent's fields; now bounds the document date
// (a consent signed in the future is a typo).
func ValidateConsent(c *InstConsent, now time.Time) error {
	c.DocNo, c.Signer = strings.TrimSpace(c.DocNo), strings.TrimSpace(c.Signer)
	c.DocSHA256 = strings.ToLower(strings.TrimSpace(c.DocSHA256))
	switch {
	case c.Kind != "department" && c.Kind != "area_manager":
		return inputErr("kind", "invalid", "must be department or area_manager")
	case c.DocNo == "" || len(c.DocNo) > 100:
		return inputErr("doc_no", "required", "the document number is required (at most 100 characters)")
	case c.Signer == "" || len(c.Signer) > 200:
		return inputErr("signer", "required", "the signer is required (at most 200 characters)")
	case !sha256Re.MatchString(c.DocSHA256):
		return inputErr("doc_sha256", "invalid_hash", "must be the SHA-256 of the scanned document: 64 hexadecimal characters")
	}
	d, err := time.Parse("2006-01-02", c.DocDate)
	if err != nil {
		return inputErr("doc_date", "invalid_date", "must be a date YYYY-MM-DD")
	}
	if d.Year() < 2000 || d.After(now.Add(24*time.Hour)) {
		return inputErr("doc_date", "invalid_date", "must not be in the future or before 2000")
	}
	return nil
}

// InstallationInput is a new request.
type InstallationInput struct {
	SystemID, PoleID, Title, Address, TechnicalPlan string
	Lat, Lon                                        float64
	StateArea, PublicPlace                          bool
}

// CreateInstallation records a request.
func (s *Service) CreateInstallation(ctx context.Context, a Actor, in InstallationInput) (Installation, error) {
	in.Title, in.TechnicalPlan = strings.TrimSpace(in.Title), strings.TrimSpace(in.TechnicalPlan)
	switch {
	case in.Title == "":
		return Installation{}, inputErr("title", "required", "must not be empty")
	case in.TechnicalPlan == "":
		return Installation{}, inputErr("technical_plan", "required", "describe the technical plan (cameras, mounting, power, link)")
	}
	if err := checkLatLon(in.Lat, in.Lon); err != nil {
		return Installation{}, err
	}
	now := s.now()
	inst := Installation{ID: newID("ins-"), SystemID: in.SystemID, PoleID: in.PoleID, Title: in.Title, Lat: in.Lat, Lon: in.Lon,
		Address: in.Address, TechnicalPlan: in.TechnicalPlan, StateArea: in.StateArea, PublicPlace: in.PublicPlace,
		State: InstRequested, Consents: []InstConsent{}, CreatedBy: a.Name, CreatedAt: now, UpdatedAt: now}
	err := s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM systems WHERE id = ?`, in.SystemID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return inputErr("system_id", "unknown_system", "no such system")
		}
		if in.PoleID != "" {
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM poles WHERE id = ?`, in.PoleID).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return inputErr("pole_id", "unknown_pole", "no such pole or cabinet; register it first")
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO installations (id, system_id, pole_id, title, lat, lon, address, technical_plan, state_area, public_place,
			state, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			inst.ID, inst.SystemID, inst.PoleID, inst.Title, inst.Lat, inst.Lon, inst.Address, inst.TechnicalPlan, inst.StateArea, inst.PublicPlace,
			inst.State, a.Name, store.MS(now), store.MS(now)); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, "installation.create", "installation/"+inst.ID, map[string]any{"system": inst.SystemID, "pole": inst.PoleID, "title": inst.Title})
	})
	inst.Missing = inst.missing()
	return inst, err
}

func (i *Installation) missing() []string {
	have := map[string]bool{}
	for _, c := range i.Consents {
		have[c.Kind] = true
	}
	var out []string
	if i.PublicPlace && !have["department"] {
		out = append(out, "department")
	}
	if i.StateArea && !have["area_manager"] {
		out = append(out, "area_manager")
	}
	return out
}

const instCols = `id, system_id, pole_id, title, lat, lon, address, technical_plan, state_area, public_place, state, probe_json, probed_at, created_by, created_at, updated_at`

func scanInst(sc interface{ Scan(...any) error }) (Installation, error) {
	var i Installation
	var pj string
	var probed, c, u int64
	err := sc.Scan(&i.ID, &i.SystemID, &i.PoleID, &i.Title, &i.Lat, &i.Lon, &i.Address, &i.TechnicalPlan, &i.StateArea, &i.PublicPlace,
		&i.State, &pj, &probed, &i.CreatedBy, &c, &u)
	if err != nil {
		return i, err
	}
	i.ProbedAt, i.CreatedAt, i.UpdatedAt = store.Time(probed), store.Time(c), store.Time(u)
	if pj != "" {
		var p ProbeReport
		if json.Unmarshal([]byte(pj), &p) == nil {
			i.Probe = &p
		}
	}
	return i, nil
}

// Installation reads one request with its consents.
func (s *Service) Installation(ctx context.Context, id string) (Installation, error) {
	return s.installation(ctx, s.opt.DB.Q(), id)
}

func (s *Service) installation(ctx context.Context, q store.Q, id string) (Installation, error) {
	i, err := scanInst(q.QueryRow(ctx, `SELECT `+instCols+` FROM installations WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return i, health.ErrNotFound
	}
	if err != nil {
		return i, err
	}
	rows, err := q.Query(ctx, `SELECT id, kind, doc_no, doc_date, signer, doc_sha256, created_by, created_at FROM installation_consents WHERE installation_id = ? ORDER BY kind`, id)
	if err != nil {
		return i, err
	}
	defer rows.Close()
	i.Consents = []InstConsent{}
	for rows.Next() {
		var c InstConsent
		var at int64
		if err := rows.Scan(&c.ID, &c.Kind, &c.DocNo, &c.DocDate, &c.Signer, &c.DocSHA256, &c.CreatedBy, &at); err != nil {
			return i, err
		}
		c.CreatedAt = store.Time(at)
		i.Consents = append(i.Consents, c)
	}
	i.Missing = i.missing()
	return i, rows.Err()
}

// Installations lists the requests (systemIDs empty: all), newest first.
func (s *Service) Installations(ctx context.Context, systemID string) ([]Installation, error) {
	q := `SELECT ` + instCols + ` FROM installations`
	var args []any
	if systemID != "" {
		q += ` WHERE system_id = ?`
		args = append(args, systemID)
	}
	rows, err := s.opt.DB.Q().Query(ctx, q+` ORDER BY created_at DESC, id`, args...)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		i, err := scanInst(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, i.ID)
	}
	rows.Close()
	out := []Installation{}
	for _, id := range ids {
		i, err := s.Installation(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, nil
}

// AddConsent records a consent document; one per kind per request, and
// only while the request awaits a decision.
func (s *Service) AddConsent(ctx context.Context, a Actor, instID string, c InstConsent) (Installation, error) {
	if err := ValidateConsent(&c, s.now()); err != nil {
		return Installation{}, err
	}
	var out Installation
	err := s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
		i, err := s.installation(ctx, tx, instID)
		if err != nil {
			return err
		}
		if i.State != InstRequested {
			return stateErr("state", "invalid_transition", "consents are added while the request is "+InstRequested)
		}
		for _, x := range i.Consents {
			if x.Kind == c.Kind {
				return stateErr("kind", "duplicate", "a "+c.Kind+" consent is already on record")
			}
		}
		c.ID, c.CreatedBy, c.CreatedAt = newID("cns-"), a.Name, s.now()
		if _, err := tx.Exec(ctx, `INSERT INTO installation_consents (id, installation_id, kind, doc_no, doc_date, signer, doc_sha256, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, instID, c.Kind, c.DocNo, c.DocDate, c.Signer, c.DocSHA256, a.Name, store.MS(c.CreatedAt)); err != nil {
			return err
		}
		i.Consents = append(i.Consents, c)
		i.Missing = i.missing()
		out = i
		return s.audit(ctx, tx, a, "installation.consent", "installation/"+instID, map[string]any{"kind": c.Kind, "doc_no": c.DocNo,
			"doc_date": c.DocDate, "signer": c.Signer, "doc_sha256": c.DocSHA256})
	})
	return out, err
}

var instTransitions = map[string]struct{ from, to string }{
	"approve": {InstRequested, InstApproved},
	"reject":  {InstRequested, InstRejected},
	"install": {InstApproved, InstInstalled},
}

// TransitionInstallation approves (every consent the place needs must be on
// record), rejects, or marks an approved request installed.
func (s *Service) TransitionInstallation(ctx context.Context, a Actor, id, action, note string) (Installation, error) {
	tr, ok := instTransitions[action]
	if !ok {
		return Installation{}, inputErr("action", "unknown_action", "must be approve, reject or install")
	}
	var out Installation
	err := s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
		i, err := s.installation(ctx, tx, id)
		if err != nil {
			return err
		}
		if i.State != tr.from {
			return stateErr("state", "invalid_transition", "cannot "+action+" a request that is "+i.State)
		}
		if action == "approve" && len(i.Missing) > 0 {
			return stateErr("consents", "consent_missing", "written consent missing: "+strings.Join(i.Missing, ", ")+" (R-INS-1)")
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE installations SET state = ?, updated_at = ? WHERE id = ? AND state = ?`, tr.to, store.MS(now), id, tr.from); err != nil {
			return err
		}
		i.State, i.UpdatedAt = tr.to, now
		out = i
		return s.audit(ctx, tx, a, "installation."+action, "installation/"+id, map[string]any{"from": tr.from, "to": tr.to, "note": note})
	})
	return out, err
}

// StoreProbe keeps a compatibility check's result with the request (R-INS-3).
func (s *Service) StoreProbe(ctx context.Context, a Actor, id string, p ProbeReport) (Installation, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return Installation{}, err
	}
	var out Installation
	err = s.opt.DB.InTx(ctx, func(tx *store.Tx) error {
		i, err := s.installation(ctx, tx, id)
		if err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE installations SET probe_json = ?, probed_at = ?, updated_at = ? WHERE id = ?`, string(b), store.MS(now), store.MS(now), id); err != nil {
			return err
		}
		i.Probe, i.ProbedAt = &p, now
		out = i
		codes := []string{}
		for _, f := range p.Findings {
			codes = append(codes, f.Code)
		}
		return s.audit(ctx, tx, a, "installation.probe", "installation/"+id, map[string]any{"target": p.Target, "compatible": p.Compatible, "findings": codes})
	})
	return out, err
}
