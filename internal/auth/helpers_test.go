package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
)

// fakeClock is a settable clock; tests move time instead of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder is an audit.Appender that keeps entries and notes whether each
// was written inside a transaction (the change and its entry must commit
// together). fail makes Append fail, to prove a change rolls back with it.
type recorder struct {
	mu      sync.Mutex
	entries []audit.Entry
	outside int
	fail    error
}

func (r *recorder) Append(_ context.Context, q store.Q, e audit.Entry) (audit.Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return e, r.fail
	}
	if _, ok := q.(*store.Tx); !ok {
		r.outside++
	}
	e.Seq = int64(len(r.entries) + 1)
	r.entries = append(r.entries, e)
	return e, nil
}

func (r *recorder) last(action string) (audit.Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.entries) - 1; i >= 0; i-- {
		if r.entries[i].Action == action {
			return r.entries[i], true
		}
	}
	return audit.Entry{}, false
}

func (r *recorder) count(action, outcome string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.entries {
		if e.Action == action && (outcome == "" || e.Outcome == outcome) {
			n++
		}
	}
	return n
}

// gcmSealer is a real AES-256-GCM sealer, like internal/secrets'.
type gcmSealer struct{ aead cipher.AEAD }

func newSealer(t testing.TB) *gcmSealer {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return &gcmSealer{aead: a}
}

func (g *gcmSealer) Seal(plain []byte) (string, error) {
	nonce := make([]byte, g.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawStdEncoding.EncodeToString(g.aead.Seal(nonce, nonce, plain, nil)), nil
}

func (g *gcmSealer) Open(sealed string) ([]byte, error) {
	b, err := base64.RawStdEncoding.DecodeString(sealed)
	if err != nil || len(b) < g.aead.NonceSize() {
		return nil, errors.New("bad sealed value")
	}
	return g.aead.Open(nil, b[:g.aead.NonceSize()], b[g.aead.NonceSize():], nil)
}

type env struct {
	t     *testing.T
	db    *store.DB
	s     *Service
	clock *fakeClock
	rec   *recorder
	ctx   context.Context
}

const testOrg = "org-dic"

func newEnv(t *testing.T, db *store.DB, mod func(*Policy)) *env {
	t.Helper()
	ctx := context.Background()
	if _, err := db.Q().Exec(ctx, `INSERT INTO organisations (id, name, kind, created_at, updated_at) VALUES (?, ?, ?, 0, 0)`,
		testOrg, "Sở Thông tin và Truyền thông", "department"); err != nil {
		t.Fatalf("org: %v", err)
	}
	clock := newClock()
	pol := Policy{Argon2: TestArgon2, Now: clock.Now, StreamKey: []byte("0123456789abcdef0123456789abcdef")}
	if mod != nil {
		mod(&pol)
	}
	rec := &recorder{}
	e := &env{t: t, db: db, s: New(db, rec, newSealer(t), pol), clock: clock, rec: rec, ctx: ctx}
	t.Cleanup(func() {
		if rec.outside != 0 {
			t.Errorf("%d audit entries were written outside a transaction", rec.outside)
		}
	})
	return e
}

const initialPW = "Init1al!pass"

// create makes a user who still has to change the initial password.
func (e *env) create(username string, roles ...string) *User {
	e.t.Helper()
	u, err := e.s.CreateUser(e.ctx, System, NewUser{Username: username, DisplayName: "Người dùng " + username,
		OrgID: testOrg, Roles: roles, InitialPassword: initialPW})
	if err != nil {
		e.t.Fatalf("create %s: %v", username, err)
	}
	return u
}

// ready makes a user who has logged in and changed the password; it
// returns the user and the current password.
func (e *env) ready(username string, roles ...string) (*User, string) {
	e.t.Helper()
	u := e.create(username, roles...)
	res, err := e.s.Login(e.ctx, username, initialPW, "", "10.0.0.1")
	if err != nil {
		e.t.Fatalf("first login %s: %v", username, err)
	}
	pw := "Ready#Pass1"
	if err := e.s.ChangePassword(e.ctx, res.Principal, initialPW, pw, "10.0.0.1"); err != nil {
		e.t.Fatalf("change %s: %v", username, err)
	}
	return u, pw
}

func (e *env) login(username, password, code string) (*LoginResult, error) {
	return e.s.Login(e.ctx, username, password, code, "192.0.2.7")
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode is a well-formed code valid at no step within ±1 of at (a fixed
// "000000" would be right once in a million runs).
func wrongCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	valid := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		valid[code(t, secret, at.Add(d))] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !valid[c] {
			return c
		}
	}
	t.Fatal("unreachable")
	return ""
}
