package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// TestChecksReadWhenWritesFail: with a database that cannot write (issue 15:
// a full disk made sessions 401 and tokens "invalid"), checks that only need
// to read keep working even when their bookkeeping write (the session's
// slide, the token's last use) is due and fails; what must write (a login,
// a failed login's count) fails with an error that says the database cannot
// write, never "invalid credentials".
func TestChecksReadWhenWritesFail(t *testing.T) {
	storetest.EachReadOnly(t, func(t *testing.T, rw, ro *store.DB) {
		e := newEnv(t, rw, nil)
		u, pw := e.ready("canbo")
		res, err := e.login("canbo", pw, "")
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := e.s.CreateToken(e.ctx, System, u.ID, "nvr", 0)
		if err != nil {
			t.Fatal(err)
		}
		// The same site, its database now refusing writes; time has moved
		// so that the session slide and the token stamp are both due.
		e.clock.Advance(2 * time.Minute)
		s := New(ro, e.rec, newSealer(t), Policy{Argon2: TestArgon2, Now: e.clock.Now, StreamKey: []byte("0123456789abcdef0123456789abcdef")})

		p, err := s.Authenticate(e.ctx, res.SessionID)
		if err != nil || p.UserID != u.ID {
			t.Fatalf("session check on a read-only database: %v", err)
		}
		tp, err := s.AuthenticateToken(e.ctx, tok)
		if err != nil || tp.UserID != u.ID {
			t.Fatalf("token check on a read-only database: %v", err)
		}
		st, _, err := s.IssueStreamToken(u.ID, "cam-1", 0)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := s.VerifyStreamToken(e.ctx, st); err != nil || c.UserID != u.ID {
			t.Fatalf("stream token on a read-only database: %v", err)
		}
		// The stamps were not written (the database refused them)…
		var lastSeen, used int64
		if err := rw.Q().QueryRow(e.ctx, `SELECT last_seen_at FROM sessions WHERE id_hash = ?`, p.SessionID).Scan(&lastSeen); err != nil {
			t.Fatal(err)
		}
		if err := rw.Q().QueryRow(e.ctx, `SELECT last_used_at FROM api_tokens WHERE token_hash = ?`, hashHex(tok)).Scan(&used); err != nil {
			t.Fatal(err)
		}
		if lastSeen >= e.clock.Now().UnixMilli() || used >= e.clock.Now().UnixMilli() {
			t.Fatalf("a read-only handle wrote: last_seen %d, last_used %d", lastSeen, used)
		}
		// …and what must write says why it cannot.
		for _, try := range []struct{ name, pw string }{{"right password", pw}, {"wrong password", "Wrong#Pass9"}} {
			_, err := s.Login(e.ctx, "canbo", try.pw, "", "192.0.2.7")
			if errors.Is(err, ErrInvalidCredentials) || store.Unwritable(err) != store.ReadOnly {
				t.Fatalf("login (%s) on a read-only database: %v (Unwritable %q)", try.name, err, store.Unwritable(err))
			}
		}
		// Writes back: the slide is written at the next check.
		if _, err := e.s.Authenticate(e.ctx, res.SessionID); err != nil {
			t.Fatal(err)
		}
		if err := rw.Q().QueryRow(e.ctx, `SELECT last_seen_at FROM sessions WHERE id_hash = ?`, p.SessionID).Scan(&lastSeen); err != nil {
			t.Fatal(err)
		}
		if lastSeen != e.clock.Now().UnixMilli() {
			t.Fatalf("slide not written once writes are back: %d", lastSeen)
		}
	})
}
