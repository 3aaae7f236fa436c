// Package ops holds the operating unit's and the department's workflows that
// the regulation asks for and video products lack: account review campaigns
// (R-ACC-5, R-ACC-6), shared poles and cabinets and installation requests
// with their consents and compatibility checks (R-INS-1..3), assets and
// maintenance (R-OPS-3), and the compliance report with the yearly cost
// estimate (R-OPS-4).
//
// Every change runs in one transaction with its audit entry. Errors use the
// health room's types (health.InputError → 422 with the field,
// health.StateError → 409, health.ErrNotFound → 404).
package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/store"
)

// Options configures the room.
type Options struct {
	DB     *store.DB
	Audit  audit.Appender
	Auth   *auth.Service
	Health *health.Service
	Log    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AdminPasswordMaxAge flags admins in a review (R-ACC-6); 90 days.
	AdminPasswordMaxAge time.Duration
	// RetentionDays is the site's configured retention (for the report).
	RetentionDays int
	// CameraRetention gives each of the site's cameras its effective
	// retention, its oldest footage and the footage held since `since`
	// (Kept), from the segment index, for the report; nil leaves it out
	// (and the report cannot call the site's retention compliant).
	CameraRetention func(ctx context.Context, since time.Time) ([]CameraRetention, error)
	// ConnectDeadline: a camera installed or changed connects to tier 1
	// within this (R-FED-2); 5 days.
	ConnectDeadline time.Duration
}

// Service is the ops room.
type Service struct{ opt Options }

// New returns a Service.
func New(opt Options) *Service {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.AdminPasswordMaxAge <= 0 {
		opt.AdminPasswordMaxAge = 90 * 24 * time.Hour
	}
	if opt.ConnectDeadline <= 0 {
		opt.ConnectDeadline = 5 * 24 * time.Hour
	}
	return &Service{opt: opt}
}

func (s *Service) now() time.Time { return s.opt.Now().UTC() }

// Actor is who makes a change.
type Actor = health.Actor

func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func inputErr(field, code, msg string) error {
	return &health.InputError{Field: field, Code: code, Msg: msg}
}

func stateErr(field, code, msg string) error {
	return &health.StateError{Field: field, Code: code, Msg: msg}
}

func (s *Service) audit(ctx context.Context, q store.Q, a Actor, action, object string, details map[string]any) error {
	if s.opt.Audit == nil {
		return nil
	}
	_, err := s.opt.Audit.Append(ctx, q, audit.Entry{ActorID: a.ID, Actor: a.Name, Org: a.OrgID, Action: action,
		Object: object, Outcome: "ok", Details: details, Remote: a.Remote})
	return err
}
