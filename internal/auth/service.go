// Package auth owns users, passwords (argon2id), TOTP, sessions, API tokens,
// stream tokens, login lockout and password age: the Decision 724/QĐ-BTTTT
// baseline (5 failures in 30 s lock the account for 5 min; one generic failure
// message; complexity; first-login change) and R-ACC-5/R-ACC-6.
//
// Authorisation is not decided here: whether an actor may create a user or
// open a camera is internal/access's and the handlers' job. This package
// answers "who is this?" and keeps the accounts.
//
// Nothing secret leaves the package except where the caller must hand it to
// the user exactly once (a new session id, a new API token, a TOTP secret at
// enrolment). Session ids and tokens are stored as SHA-256, passwords as
// argon2id, TOTP secrets sealed by the Sealer.
//
// Wiring (for httpapi and cmd/vigil):
//   - Login → set LoginResult.SessionID as an HttpOnly, Secure, SameSite
//     cookie; hand Principal.CSRF to the console (it is json:"-" on purpose:
//     send it deliberately, e.g. in the login and /me bodies) and require it
//     back in a header on unsafe methods (Principal.CheckCSRF).
//   - Every request → Authenticate(cookie) or AuthenticateToken(bearer). A
//     Restricted() principal may only change the password / enrol TOTP / log
//     out: the middleware must refuse everything else.
//   - Map errors by (*Error).Code; ErrInvalidCredentials is the only login
//     failure a client ever sees.
//   - Start go svc.Run(ctx) once per process (revocation polling, sweeping).
//   - Give every media node the same Policy.StreamKey; the media hub calls
//     VerifyStreamToken (or ParseStreamToken without a database) and
//     OnUserDisabled to drop a disabled user's readers.
//   - Per-IP rate limiting is httpapi's; lockout here is per username.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// Sealer encrypts small secrets at rest (internal/secrets implements it with
// AES-GCM). Sealed strings are safe to store; the plaintext never is.
type Sealer interface {
	Seal(plain []byte) (string, error)
	Open(sealed string) ([]byte, error)
}

// Policy is the account policy and the service's tunables. Zero fields take
// the defaults of DefaultPolicy, so Policy{} is the regulation baseline.
type Policy struct {
	// Lockout (Decision 724): LockoutFailures failed logins for one username
	// within LockoutWindow lock it for LockoutDuration.
	LockoutFailures int
	LockoutWindow   time.Duration
	LockoutDuration time.Duration

	// Passwords: minimum length (upper, lower, digit and symbol are always
	// required), how many recent passwords may not be reused, and the maximum
	// age of an administrator's password (R-ACC-6).
	MinPasswordLength   int
	PasswordHistory     int
	AdminPasswordMaxAge time.Duration

	// RequireTOTPForAdmins: an admin without TOTP gets a session restricted to
	// enrolling it.
	RequireTOTPForAdmins bool
	// TOTPIssuer names the site in authenticator apps.
	TOTPIssuer string

	// Sessions end after SessionIdle without use or SessionMax after login.
	SessionIdle time.Duration
	SessionMax  time.Duration

	// APITokenMaxAge caps (and defaults) an API token's lifetime.
	APITokenMaxAge time.Duration

	// StreamKey signs stream tokens (HMAC-SHA256). Every media node of a site
	// needs the same key; when empty a random per-process key is used, so
	// tokens verify only in this process.
	StreamKey []byte `json:"-"`
	// StreamTokenTTL is the default stream-token lifetime.
	StreamTokenTTL time.Duration

	// RevocationPoll is how often Run looks for users disabled on other nodes.
	RevocationPoll time.Duration

	// Argon2 is the password-hash cost; zero means ProductionArgon2. Tests
	// use TestArgon2.
	Argon2 Argon2Params
	// MaxConcurrentHashes bounds simultaneous argon2 computations (each holds
	// Argon2.Memory), so a login flood queues instead of exhausting memory.
	MaxConcurrentHashes int

	// Now is the clock (tests pass a fake one).
	Now func() time.Time `json:"-"`
}

// DefaultPolicy is the regulation baseline.
var DefaultPolicy = Policy{
	LockoutFailures:     5,
	LockoutWindow:       30 * time.Second,
	LockoutDuration:     5 * time.Minute,
	MinPasswordLength:   8,
	PasswordHistory:     5,
	AdminPasswordMaxAge: 90 * 24 * time.Hour,
	TOTPIssuer:          "Vigil",
	SessionIdle:         30 * time.Minute,
	SessionMax:          12 * time.Hour,
	APITokenMaxAge:      365 * 24 * time.Hour,
	StreamTokenTTL:      5 * time.Minute,
	RevocationPoll:      2 * time.Second,
	Argon2:              ProductionArgon2,
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy
	if p.LockoutFailures <= 0 {
		p.LockoutFailures = d.LockoutFailures
	}
	if p.LockoutWindow <= 0 {
		p.LockoutWindow = d.LockoutWindow
	}
	if p.LockoutDuration <= 0 {
		p.LockoutDuration = d.LockoutDuration
	}
	if p.MinPasswordLength < d.MinPasswordLength {
		// The regulation's floor: a config can raise it, never lower it.
		p.MinPasswordLength = d.MinPasswordLength
	}
	if p.PasswordHistory <= 0 {
		p.PasswordHistory = d.PasswordHistory
	}
	if p.AdminPasswordMaxAge <= 0 {
		p.AdminPasswordMaxAge = d.AdminPasswordMaxAge
	}
	if p.TOTPIssuer == "" {
		p.TOTPIssuer = d.TOTPIssuer
	}
	if p.SessionIdle <= 0 {
		p.SessionIdle = d.SessionIdle
	}
	if p.SessionMax <= 0 {
		p.SessionMax = d.SessionMax
	}
	if p.APITokenMaxAge <= 0 {
		p.APITokenMaxAge = d.APITokenMaxAge
	}
	if p.StreamTokenTTL <= 0 {
		p.StreamTokenTTL = d.StreamTokenTTL
	}
	if p.RevocationPoll <= 0 {
		p.RevocationPoll = d.RevocationPoll
	}
	if p.Argon2 == (Argon2Params{}) {
		p.Argon2 = d.Argon2
	}
	if p.Argon2.SaltLen == 0 {
		p.Argon2.SaltLen = 16
	}
	if p.Argon2.KeyLen == 0 {
		p.Argon2.KeyLen = 32
	}
	if p.MaxConcurrentHashes <= 0 {
		p.MaxConcurrentHashes = 2 * runtime.NumCPU()
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return p
}

// Roles. A user holds a set of them, stored as a bit mask (append only,
// never reorder: the bit of a role is its index).
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
	RoleViewer   = "viewer"
	RoleAuditor  = "auditor"
)

// Roles lists every role in bit order.
var Roles = []string{RoleAdmin, RoleOperator, RoleViewer, RoleAuditor}

const adminBit = 1

func roleMask(roles []string) (int64, error) {
	var m int64
	for _, r := range roles {
		i := indexOf(Roles, strings.TrimSpace(strings.ToLower(r)))
		if i < 0 {
			return 0, ErrInvalidRole
		}
		m |= 1 << uint(i)
	}
	return m, nil
}

func roleNames(m int64) []string {
	out := []string{}
	for i, r := range Roles {
		if m&(1<<uint(i)) != 0 {
			out = append(out, r)
		}
	}
	return out
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// Actor is who performs a change, for the audit log.
type Actor struct {
	UserID   string
	Username string
	OrgID    string
	Remote   string
}

// System is the actor for changes made by the server itself or the CLI.
var System = Actor{UserID: "system", Username: "system"}

// Principal is an authenticated caller: a user through a session or an API
// token.
type Principal struct {
	UserID   string   `json:"user_id"`
	Username string   `json:"username"`
	OrgID    string   `json:"org_id"`
	Roles    []string `json:"roles"`
	// MustChange: the session may only change the password (and log out).
	MustChange bool `json:"must_change"`
	// MustEnrollTOTP: the session may only enrol TOTP (and log out).
	MustEnrollTOTP bool `json:"must_enroll_totp"`
	// SessionID is the session's public handle (SHA-256 of the cookie value,
	// hex), safe to log; empty for a token principal.
	SessionID string `json:"session_id,omitempty"`
	// CSRF is the anti-CSRF token bound to the session.
	CSRF string `json:"-"`
	// TokenID is the API token's id; empty for a session principal.
	TokenID   string    `json:"token_id,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

// HasRole reports whether the principal holds role.
func (p *Principal) HasRole(role string) bool {
	for _, r := range p.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Restricted reports whether the session may do only what lifts the
// restriction (change the password or enrol TOTP) and log out.
func (p *Principal) Restricted() bool { return p.MustChange || p.MustEnrollTOTP }

// Actor is the principal as the actor of a change made from remote.
func (p *Principal) Actor(remote string) Actor {
	return Actor{UserID: p.UserID, Username: p.Username, OrgID: p.OrgID, Remote: remote}
}

// Service is the auth room.
type Service struct {
	db     *store.DB
	audit  audit.Appender
	sealer Sealer
	pol    Policy
	now    func() time.Time

	hashSem   chan struct{}
	dummyHash string // verified against for unknown users, so timing matches

	streamKey []byte

	mu        sync.Mutex
	listeners map[int]func(userID string)
	nextID    int
	announced map[string]int64 // user id → disabled_at already announced

	runReady func() // test hook: Run has set its starting cursor
}

// New returns the service. db must be migrated; audit receives an entry for
// every login and change, in the change's transaction.
func New(db *store.DB, ap audit.Appender, sealer Sealer, policy Policy) *Service {
	pol := policy.withDefaults()
	s := &Service{
		db: db, audit: ap, sealer: sealer, pol: pol, now: pol.Now,
		hashSem:   make(chan struct{}, pol.MaxConcurrentHashes),
		listeners: map[int]func(string){},
		announced: map[string]int64{},
	}
	if len(pol.StreamKey) > 0 {
		s.streamKey = append([]byte(nil), pol.StreamKey...)
	} else {
		s.streamKey = make([]byte, 32)
		_, _ = rand.Read(s.streamKey)
	}
	// A real hash with the production cost, so an unknown user costs what a
	// known one does. The password is random and forgotten.
	h, err := HashPassword(rand.Text(), pol.Argon2)
	if err != nil {
		panic(fmt.Sprintf("auth: dummy hash: %v", err)) // only if the OS has no randomness
	}
	s.dummyHash = h
	return s
}

// Policy returns the effective policy (defaults filled in).
func (s *Service) Policy() Policy { return s.pol }

// hash and verify hold a slot of hashSem while argon2 runs; a caller whose
// request is abandoned gives up its place in the queue.
func (s *Service) hash(ctx context.Context, password string) (string, error) {
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer func() { <-s.hashSem }()
	return HashPassword(password, s.pol.Argon2)
}

func (s *Service) verify(ctx context.Context, password, encoded string) (bool, error) {
	if err := s.acquire(ctx); err != nil {
		return false, err
	}
	defer func() { <-s.hashSem }()
	ok, err := VerifyPassword(password, encoded)
	return err == nil && ok, nil
}

func (s *Service) acquire(ctx context.Context) error {
	select {
	case s.hashSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (s *Service) nowMS() int64 { return s.now().UnixMilli() }

// appendAudit writes e in q, filling the actor and time.
func (s *Service) appendAudit(ctx context.Context, q store.Q, a Actor, e audit.Entry) error {
	if s.audit == nil {
		return nil
	}
	e.At = s.now().UTC()
	if e.ActorID == "" {
		e.ActorID = a.UserID
	}
	if e.Actor == "" {
		e.Actor = a.Username
	}
	if e.Org == "" {
		e.Org = a.OrgID
	}
	if e.Remote == "" {
		e.Remote = a.Remote
	}
	if e.Outcome == "" {
		e.Outcome = audit.OK
	}
	_, err := s.audit.Append(ctx, q, e)
	if err != nil {
		return fmt.Errorf("auth: audit: %w", err)
	}
	return nil
}
