package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// With the real hash-chained log: every auth event lands in the chain, the
// chain verifies after concurrent logins (no deadlock between the lockout
// row lock and the log's head lock), the true failure reasons are there and
// no secret is.
func TestWithRealAuditLog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.Q().Exec(ctx, `INSERT INTO organisations (id, name, kind, created_at, updated_at) VALUES (?, 'Sở', 'department', 0, 0)`, testOrg); err != nil {
			t.Fatal(err)
		}
		clock := newClock()
		pub, priv, _ := ed25519.GenerateKey(nil)
		log := audit.New(audit.Options{Key: priv, KeyID: "k1", EveryEntries: 10, Now: clock.Now, DB: db})
		s := New(db, log, newSealer(t), Policy{Argon2: TestArgon2, Now: clock.Now})

		u, err := s.CreateUser(ctx, System, NewUser{Username: "yen", OrgID: testOrg, Roles: []string{"admin"}, InitialPassword: initialPW})
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Login(ctx, "yen", initialPW, "", "10.1.1.1")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ChangePassword(ctx, res.Principal, initialPW, "Secret#Pass7", "10.1.1.1"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				name := []string{"yen", "nobody"}[i%2]
				if _, err := s.Login(ctx, name, "Wrong#Pass1", "", "10.9.9.9"); !errors.Is(err, ErrInvalidCredentials) {
					t.Errorf("login %s: %v", name, err)
				}
			}(i)
		}
		wg.Wait()
		tok, _, err := s.CreateToken(ctx, System, u.ID, "nvr", 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Disable(ctx, System, u.ID); err != nil {
			t.Fatal(err)
		}

		rep, err := audit.Verify(ctx, db, pub)
		if err != nil || !rep.OK {
			t.Fatalf("verify: %v %v", rep, err)
		}
		entries, _, err := audit.List(ctx, db.Q(), audit.Filter{ActionPrefix: "auth.", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		reasons := map[string]int{}
		for _, e := range entries {
			if e.Action == "auth.login" {
				reasons[e.Outcome+"/"+e.Reason]++
			}
		}
		if reasons["ok/"] != 1 || reasons["failed/"+ReasonUnknownUser] != 4 ||
			reasons["failed/"+ReasonBadPassword] != 4 {
			t.Fatalf("login entries %v", reasons)
		}
		all, _, _ := audit.List(ctx, db.Q(), audit.Filter{Limit: 1000})
		raw, _ := json.Marshal(all)
		for _, secret := range []string{initialPW, "Secret#Pass7", "Wrong#Pass1", res.SessionID, tok, res.Principal.CSRF} {
			if strings.Contains(string(raw), secret) {
				t.Fatalf("a secret is in the audit log")
			}
		}
	})
}
