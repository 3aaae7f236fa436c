// Package registry owns the inventory: organisations, systems (tier, managing
// agency, operating unit) and cameras (kinds, purposes, area, location,
// classified and public flags, stream endpoints) — R-CAM-1..5.
//
// Every change is written together with its audit entry in one transaction
// (R-SEC-1). Camera credentials are split off the stream URLs on input and
// sealed by a Sealer; no read of this package returns them except
// StreamSources, which exists for the media hub alone (R-SEC-3).
package registry

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// Sealer encrypts small secrets at rest (internal/secrets implements it).
type Sealer interface {
	Seal(plain []byte) (string, error)
	Open(sealed string) ([]byte, error)
}

// Actor is who makes a change, as recorded in the audit log.
type Actor struct {
	UserID   string
	Username string
	OrgID    string
	Remote   string
}

// Service is the registry room's API.
type Service struct {
	db     *store.DB
	audit  audit.Appender
	sealer Sealer
	now    func() time.Time
	siteID string
}

// New returns the registry over db. appender records every change in the
// change's own transaction; sealer protects camera credentials.
func New(db *store.DB, appender audit.Appender, sealer Sealer) *Service {
	return &Service{db: db, audit: appender, sealer: sealer, now: time.Now}
}

// SetSiteID names the site this registry serves. Cameras are registered
// here only in this site's own systems (site_id empty or this id); tier 1
// also holds its lower sites' systems, whose cameras arrive through the
// federation. Unset (tests of the registry alone): no such check.
func (s *Service) SetSiteID(id string) { s.siteID = id }

// Organisation is an agency, unit, commune or private owner.
type Organisation struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	ParentID string `json:"parent_id,omitempty"`
	// Functions are the purposes the organisation serves (R-ACC-3).
	Functions []string `json:"functions"`
	// AreaLimit narrows a user agency to these area categories; empty means
	// no limit by area.
	AreaLimit         []string  `json:"area_limit"`
	ClearedClassified bool      `json:"cleared_classified"`
	Version           int64     `json:"version"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// System is a tier-1/2/3 camera system (R-CAM-2).
type System struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Tier           int       `json:"tier"`
	ManagingOrgID  string    `json:"managing_org_id"`
	OperatingOrgID string    `json:"operating_org_id"`
	SiteID         string    `json:"site_id"`
	PublicSharing  bool      `json:"public_sharing"`
	Version        int64     `json:"version"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Consent is the owner's or manager's written consent on record.
type Consent struct {
	Doc   string `json:"doc,omitempty"`   // document number
	Date  string `json:"date,omitempty"`  // YYYY-MM-DD
	Scope string `json:"scope,omitempty"` // what was consented to
}

// OnRecord reports whether a consent document is recorded.
func (c Consent) OnRecord() bool { return c.Doc != "" && c.Date != "" }

// Camera is the API shape of a camera. It never carries credentials.
type Camera struct {
	ID                 string    `json:"id"`
	SystemID           string    `json:"system_id"`
	Name               string    `json:"name"`
	Kinds              []string  `json:"kinds"`
	Purposes           []string  `json:"purposes"`
	Area               string    `json:"area"`
	Lat                float64   `json:"lat"`
	Lon                float64   `json:"lon"`
	AdminUnit          string    `json:"admin_unit"`
	Address            string    `json:"address"`
	Classified         bool      `json:"classified"`
	Public             bool      `json:"public"`
	MainURL            string    `json:"main_url"`
	SubURL             string    `json:"sub_url"`
	HasMainCredentials bool      `json:"has_main_credentials"`
	HasSubCredentials  bool      `json:"has_sub_credentials"`
	Transport          string    `json:"transport"`
	OnDemand           bool      `json:"on_demand"`
	Push               bool      `json:"push"`
	Consent            Consent   `json:"consent"`
	InstalledAt        time.Time `json:"installed_at,omitzero"`
	// ChangedAt is when the camera was created or its location or streams
	// last changed: the start of the 5-day connection deadline (R-FED-2).
	ChangedAt        time.Time `json:"changed_at,omitzero"`
	FirstConnectedAt time.Time `json:"first_connected_at,omitzero"`
	Version          int64     `json:"version"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

// CameraInput is what a client sends to create or replace a camera. MainURL
// and SubURL may carry user:pass@; Username/Password, when given, apply to
// the URLs that carry none. On update, a URL without credentials and empty
// Username/Password keep the stored credentials (clients never see them, so
// a read-modify-write must not wipe them); ClearCredentials removes them.
type CameraInput struct {
	ID               string    `json:"id,omitempty"`
	SystemID         string    `json:"system_id"`
	Name             string    `json:"name"`
	Kinds            []string  `json:"kinds"`
	Purposes         []string  `json:"purposes"`
	Area             string    `json:"area"`
	Lat              float64   `json:"lat"`
	Lon              float64   `json:"lon"`
	AdminUnit        string    `json:"admin_unit,omitempty"`
	Address          string    `json:"address,omitempty"`
	Classified       bool      `json:"classified,omitempty"`
	Public           bool      `json:"public,omitempty"`
	MainURL          string    `json:"main_url,omitempty"`
	SubURL           string    `json:"sub_url,omitempty"`
	Username         string    `json:"username,omitempty"`
	Password         string    `json:"password,omitempty"`
	ClearCredentials bool      `json:"clear_credentials,omitempty"`
	Transport        string    `json:"transport,omitempty"`
	OnDemand         bool      `json:"on_demand,omitempty"`
	Push             bool      `json:"push,omitempty"`
	Consent          Consent   `json:"consent,omitzero"`
	InstalledAt      time.Time `json:"installed_at,omitzero"`
}

// Errors.
var (
	// ErrNotFound: no such organisation, system or camera.
	ErrNotFound = errors.New("registry: not found")
	// ErrConflict is matched by every *ConflictError (errors.Is).
	ErrConflict = errors.New("registry: conflict")
	// ErrNoScope: a camera list was asked without an access scope. A zero
	// Scope fails instead of listing everything, so a forgotten scope can
	// never leak cameras; use Unscoped() deliberately.
	ErrNoScope = errors.New("registry: camera list without an access scope")
)

// ValidationError names the field, the rule broken (Code) and a message.
// Line is set by the CSV import (1 is the header line).
type ValidationError struct {
	Line    int    `json:"line,omitempty"`
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *ValidationError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Message)
	}
	return e.Field + ": " + e.Message
}

// ValidationErrors is every problem found in one input (or one CSV file).
// errors.As(err, &ve) with ve *ValidationError yields the first.
type ValidationErrors []*ValidationError

func (es ValidationErrors) Error() string {
	switch len(es) {
	case 0:
		return "registry: invalid input"
	case 1:
		return es[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems: ", len(es))
	for i, e := range es {
		if i == 5 {
			fmt.Fprintf(&b, "; … %d more", len(es)-5)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find the individual errors.
func (es ValidationErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (es *ValidationErrors) add(field, code, format string, a ...any) {
	*es = append(*es, &ValidationError{Field: field, Code: code, Message: fmt.Sprintf(format, a...)})
}

func (es ValidationErrors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// ConflictError is a 409: a duplicate id ("duplicate"), a stale version
// ("version_mismatch") or a delete of something still referenced ("in_use").
type ConflictError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *ConflictError) Error() string        { return e.Field + ": " + e.Message }
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

func conflict(field, code, format string, a ...any) error {
	return &ConflictError{Field: field, Code: code, Message: fmt.Sprintf(format, a...)}
}

// newID makes an id for a client that supplied none: prefix plus 50 random
// bits in lower-case base32, which matches the id rule.
func newID(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])[:10])
}

func (s *Service) nowMS() int64 { return s.now().UnixMilli() }

// record appends one audit entry in q (the change's transaction).
func (s *Service) record(ctx context.Context, q store.Q, a Actor, action, object string, details map[string]any) error {
	id := a.UserID
	if id == "" {
		id = "system"
	}
	_, err := s.audit.Append(ctx, q, audit.Entry{
		At: s.now().UTC(), ActorID: id, Actor: a.Username, Org: a.OrgID,
		Action: action, Object: object, Outcome: audit.OK, Details: details, Remote: a.Remote,
	})
	if err != nil {
		return fmt.Errorf("registry: audit %s: %w", action, err)
	}
	return nil
}
