package auth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

func TestUsersCRUD(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		vi := "Nguyễn Thị Đoàn Ánh — Sở TT&TT Điện Biên"
		u, err := e.s.CreateUser(e.ctx, System, NewUser{Username: "Anh.Nguyen", DisplayName: vi, OrgID: testOrg,
			Roles: []string{"operator", "viewer"}, InitialPassword: initialPW})
		if err != nil {
			t.Fatal(err)
		}
		if u.DisplayName != vi || u.Username != "Anh.Nguyen" || !u.MustChangePassword || u.Disabled {
			t.Fatalf("created %+v", u)
		}
		if !slices.Equal(u.Roles, []string{"operator", "viewer"}) {
			t.Fatalf("roles %v", u.Roles)
		}
		got, err := e.s.GetByUsername(e.ctx, "ANH.NGUYEN")
		if err != nil || got.ID != u.ID || got.DisplayName != vi {
			t.Fatalf("get by name: %+v %v", got, err)
		}
		if _, err := e.s.CreateUser(e.ctx, System, NewUser{Username: "anh.nguyen", OrgID: testOrg, InitialPassword: initialPW}); !errors.Is(err, ErrUsernameTaken) {
			t.Fatalf("case-insensitive duplicate: %v", err)
		}
		if _, err := e.s.CreateUser(e.ctx, System, NewUser{Username: "bob", OrgID: "nope", InitialPassword: initialPW}); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("unknown org: %v", err)
		}
		if _, err := e.s.CreateUser(e.ctx, System, NewUser{Username: "bob", OrgID: testOrg, Roles: []string{"god"}, InitialPassword: initialPW}); !errors.Is(err, ErrInvalidRole) {
			t.Fatalf("bad role: %v", err)
		}
		if _, err := e.s.CreateUser(e.ctx, System, NewUser{Username: "bob", OrgID: testOrg, InitialPassword: "short"}); !errors.Is(err, ErrPasswordPolicy) {
			t.Fatalf("weak initial: %v", err)
		}
		if _, err := e.s.CreateUser(e.ctx, System, NewUser{Username: "bad name", OrgID: testOrg, InitialPassword: initialPW}); !errors.Is(err, ErrInvalidUsername) {
			t.Fatalf("bad username: %v", err)
		}
		e.create("zed", "admin")
		e.create("carol", "auditor")

		u2, err := e.s.UpdateRoles(e.ctx, System, u.ID, []string{"admin"})
		if err != nil || !slices.Equal(u2.Roles, []string{"admin"}) {
			t.Fatalf("update roles: %+v %v", u2, err)
		}
		admins, err := e.s.List(e.ctx, ListFilter{Role: "admin"})
		if err != nil {
			t.Fatal(err)
		}
		if names := usernames(admins); !slices.Equal(names, []string{"Anh.Nguyen", "zed"}) {
			t.Fatalf("admins %v", names)
		}
		if err := e.s.Disable(e.ctx, System, u.ID); err != nil {
			t.Fatal(err)
		}
		all, _ := e.s.List(e.ctx, ListFilter{})
		withDisabled, _ := e.s.List(e.ctx, ListFilter{IncludeDisabled: true, OrgID: testOrg})
		if len(all) != 2 || len(withDisabled) != 3 {
			t.Fatalf("list %v / %v", usernames(all), usernames(withDisabled))
		}
		if _, err := e.s.Get(e.ctx, "usr_missing"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
		if err := e.s.Disable(e.ctx, System, "usr_missing"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("disable missing: %v", err)
		}
		u3, err := e.s.UpdateDisplayName(e.ctx, System, u.ID, "Lò Văn Phúc")
		if err != nil || u3.DisplayName != "Lò Văn Phúc" {
			t.Fatalf("display: %+v %v", u3, err)
		}
		for _, a := range []string{"user.create", "user.update_roles", "user.disable", "user.update"} {
			if e.rec.count(a, audit.OK) == 0 {
				t.Errorf("no audit %s", a)
			}
		}
		if ent, _ := e.rec.last("user.update_roles"); ent.Object != "user/"+u.ID {
			t.Errorf("audit object %q", ent.Object)
		}
	})
}

func usernames(us []User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Username)
	}
	return out
}

// A change and its audit entry commit together: when the log refuses the
// entry, the change does not happen.
func TestAuditFailureRollsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		u := e.create("dana", "viewer")
		e.rec.fail = errors.New("log full")
		if _, err := e.s.CreateUser(e.ctx, System, NewUser{Username: "eve", OrgID: testOrg, InitialPassword: initialPW}); err == nil {
			t.Fatal("create succeeded without its audit entry")
		}
		if err := e.s.Disable(e.ctx, System, u.ID); err == nil {
			t.Fatal("disable succeeded without its audit entry")
		}
		e.rec.fail = nil
		if _, err := e.s.GetByUsername(e.ctx, "eve"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("eve exists after a failed audit: %v", err)
		}
		if got, _ := e.s.Get(e.ctx, u.ID); got.Disabled {
			t.Fatal("dana disabled after a failed audit")
		}
	})
}

func TestLockout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		_, pw := e.ready("frank", "operator")

		// Four failures spread so no 30 s window holds five: no lock.
		for i := 0; i < 8; i++ {
			if _, err := e.login("frank", "Wrong#Pass1", ""); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("bad password: %v", err)
			}
			e.clock.Advance(8 * time.Second)
		}
		if _, err := e.login("frank", pw, ""); err != nil {
			t.Fatalf("spread failures locked the account: %v", err)
		}
		// Five in 30 s lock it, even against the right password.
		for i := 0; i < 5; i++ {
			if i > 0 {
				e.clock.Advance(5 * time.Second)
			}
			_, _ = e.login("FRANK", "Wrong#Pass1", "")
		}
		_, err := e.login("frank", pw, "")
		if !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("locked account logged in: %v", err)
		}
		if ent, _ := e.rec.last("auth.login"); ent.Reason != ReasonLocked || ent.Outcome != audit.Failed {
			t.Fatalf("audit %+v", ent)
		}
		if e.rec.count("auth.lockout", "") != 1 {
			t.Fatalf("lockout entries %d", e.rec.count("auth.lockout", ""))
		}
		e.clock.Advance(5*time.Minute - time.Second)
		if _, err := e.login("frank", pw, ""); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("unlocked early: %v", err)
		}
		e.clock.Advance(time.Second)
		if _, err := e.login("frank", pw, ""); err != nil {
			t.Fatalf("still locked after 5 min: %v", err)
		}
		// Unknown names lock too, so lockout does not reveal which exist.
		for i := 0; i < 5; i++ {
			_, _ = e.login("ghost", "Wrong#Pass1", "")
		}
		_, _ = e.login("ghost", "Wrong#Pass1", "")
		if ent, _ := e.rec.last("auth.login"); ent.Reason != ReasonLocked {
			t.Fatalf("unknown name not locked: %+v", ent)
		}
	})
}

// Concurrent failures (as from several nodes) still lock after exactly the
// threshold: the count cannot be raced.
func TestLockoutConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		_, pw := e.ready("gina", "viewer")
		other := New(db, e.rec, newSealer(t), e.s.Policy()) // a second node
		var wg sync.WaitGroup
		var errs atomic.Int32
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				s := e.s
				if i%2 == 1 {
					s = other
				}
				if _, err := s.Login(e.ctx, "gina", "Wrong#Pass1", "", "x"); !errors.Is(err, ErrInvalidCredentials) {
					errs.Add(1)
					t.Errorf("login: %v", err)
				}
			}(i)
		}
		wg.Wait()
		if _, err := e.login("gina", pw, ""); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("10 concurrent failures did not lock: %v", err)
		}
		if n := e.rec.count("auth.lockout", ""); n < 1 {
			t.Fatalf("lockouts %d", n)
		}
	})
}

// Every failure cause gives the same error and message; only the audit log
// knows the cause.
func TestGenericFailure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		_, pw := e.ready("hana", "viewer")
		dis, dpw := e.ready("ivan", "viewer")
		if err := e.s.Disable(e.ctx, System, dis.ID); err != nil {
			t.Fatal(err)
		}
		tu, tpw := e.ready("jack", "viewer")
		secret := e.enrollTOTP(tu.ID, "jack", tpw)
		e.create("kim", "viewer")

		cases := []struct {
			name, user, pass, code, reason string
		}{
			{"unknown user", "nobody", pw, "", ReasonUnknownUser},
			{"malformed user", "a b$", pw, "", ReasonUnknownUser},
			{"bad password", "hana", "Wrong#Pass1", "", ReasonBadPassword},
			{"disabled", "ivan", dpw, "", ReasonDisabled},
			{"bad totp", "jack", tpw, "wrong", ReasonBadTOTP},
		}
		for _, c := range cases {
			if c.code == "wrong" {
				c.code = wrongCode(t, secret, e.clock.Now())
			}
			res, err := e.login(c.user, c.pass, c.code)
			if res != nil || err != ErrInvalidCredentials { //nolint:errorlint // the very same value
				t.Fatalf("%s: %v %v", c.name, res, err)
			}
			var ae *Error
			if !errors.As(err, &ae) || ae.Code != "invalid_credentials" || ae.MessageVI != "Tên đăng nhập hoặc mật khẩu không đúng" {
				t.Fatalf("%s: %+v", c.name, ae)
			}
			ent, _ := e.rec.last("auth.login")
			if ent.Reason != c.reason || ent.Outcome != audit.Failed || ent.Remote != "192.0.2.7" {
				t.Fatalf("%s: audit %+v", c.name, ent)
			}
			if strings.Contains(ent.Reason+ent.Actor+ent.Object, c.pass) {
				t.Fatalf("%s: password in audit", c.name)
			}
			e.clock.Advance(time.Minute) // keep the lockout out of it
		}
		// An over-long password is refused (and costs one hash, no more).
		if _, err := e.login("hana", pw+strings.Repeat("x", 300), ""); err != ErrInvalidCredentials { //nolint:errorlint
			t.Fatalf("over-long: %v", err)
		}
		if ent, _ := e.rec.last("auth.login"); ent.Reason != ReasonBadPassword {
			t.Fatalf("over-long audit %+v", ent)
		}
		e.clock.Advance(time.Minute)
		// Locked: the fifth failure in the window locks hana.
		for i := 0; i < 5; i++ {
			_, _ = e.login("hana", "Wrong#Pass1", "")
		}
		if _, err := e.login("hana", pw, ""); err != ErrInvalidCredentials { //nolint:errorlint
			t.Fatalf("locked: %v", err)
		}
		if ent, _ := e.rec.last("auth.login"); ent.Reason != ReasonLocked {
			t.Fatalf("locked audit %+v", ent)
		}
	})
}

func TestPasswordHistoryAndChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		u := e.create("lan", "viewer")
		res, err := e.login("lan", initialPW, "")
		if err != nil || res.State != LoginMustChangePassword || !res.Principal.MustChange || !res.Principal.Restricted() {
			t.Fatalf("first login: %+v %v", res, err)
		}
		// The restriction lives in the session, not only in the login answer.
		p, err := e.s.Authenticate(e.ctx, res.SessionID)
		if err != nil || !p.MustChange || !p.Restricted() {
			t.Fatalf("restricted session: %+v %v", p, err)
		}
		if err := e.s.ChangePassword(e.ctx, p, "Wrong#Pass1", "Brand#New1", ""); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("wrong old password: %v", err)
		}
		if err := e.s.ChangePassword(e.ctx, p, initialPW, initialPW, ""); !errors.Is(err, ErrPasswordPolicy) {
			t.Fatalf("reuse of the initial password: %v", err)
		}
		if err := e.s.ChangePassword(e.ctx, p, initialPW, "weakpass", ""); !errors.Is(err, ErrPasswordPolicy) {
			t.Fatalf("weak: %v", err)
		}
		pws := []string{initialPW}
		for i := 1; i <= 6; i++ {
			next := "Passw0rd#" + string(rune('a'+i))
			if err := e.s.ChangePassword(e.ctx, p, pws[len(pws)-1], next, ""); err != nil {
				t.Fatalf("change %d: %v", i, err)
			}
			pws = append(pws, next)
		}
		// The last five (including the current one) are refused …
		cur := pws[len(pws)-1]
		for _, old := range pws[len(pws)-5:] {
			err := e.s.ChangePassword(e.ctx, p, cur, old, "")
			var ae *Error
			if !errors.As(err, &ae) || !slices.Equal(ae.Violations, []string{RuleReused}) {
				t.Fatalf("reuse of %q allowed: %v", old, err)
			}
		}
		// … the sixth-newest is allowed again.
		if err := e.s.ChangePassword(e.ctx, p, cur, pws[len(pws)-6], ""); err != nil {
			t.Fatalf("sixth-newest refused: %v", err)
		}
		// The session that changed it is no longer restricted.
		ap, err := e.s.Authenticate(e.ctx, res.SessionID)
		if err != nil || ap.MustChange {
			t.Fatalf("after change: %+v %v", ap, err)
		}
		res2, err := e.login("lan", pws[len(pws)-6], "")
		if err != nil || res2.State != LoginOK {
			t.Fatalf("login after change: %+v %v", res2, err)
		}
		var n int
		_ = db.Q().QueryRow(e.ctx, `SELECT COUNT(*) FROM password_history WHERE user_id = ?`, u.ID).Scan(&n)
		if n != 5 {
			t.Fatalf("history keeps %d hashes, want 5", n)
		}

		// An admin reset forces a change and ends the user's sessions.
		if err := e.s.SetPassword(e.ctx, System, u.ID, "Reset#Pass9"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Authenticate(e.ctx, res2.SessionID); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("session survived reset: %v", err)
		}
		res3, err := e.login("lan", "Reset#Pass9", "")
		if err != nil || res3.State != LoginMustChangePassword {
			t.Fatalf("after reset: %+v %v", res3, err)
		}
		if e.rec.count("user.set_password", audit.OK) != 1 || e.rec.count("user.change_password", audit.OK) != 7 {
			t.Fatalf("audit counts")
		}
	})
}

func TestChangePasswordEndsOtherSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		_, pw := e.ready("mai", "viewer")
		a, _ := e.login("mai", pw, "")
		b, _ := e.login("mai", pw, "")
		if err := e.s.ChangePassword(e.ctx, a.Principal, pw, "Other#Pass2", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Authenticate(e.ctx, a.SessionID); err != nil {
			t.Fatalf("own session ended: %v", err)
		}
		if _, err := e.s.Authenticate(e.ctx, b.SessionID); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("other session survived: %v", err)
		}
	})
}

func TestAdminPasswordExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		_, apw := e.ready("admin1", "admin")
		_, vpw := e.ready("viewer1", "viewer")
		e.clock.Advance(89 * 24 * time.Hour)
		if r, err := e.login("admin1", apw, ""); err != nil || r.State != LoginOK {
			t.Fatalf("day 89: %+v %v", r, err)
		}
		if ex, _ := e.s.AdminsPasswordExpired(e.ctx); len(ex) != 0 {
			t.Fatalf("expired early: %v", usernames(ex))
		}
		e.clock.Advance(2 * 24 * time.Hour)
		r, err := e.login("admin1", apw, "")
		if err != nil || r.State != LoginMustChangePassword || !r.PasswordExpired || !r.Principal.MustChange {
			t.Fatalf("day 91 admin: %+v %v", r, err)
		}
		if ent, _ := e.rec.last("auth.login"); ent.Details["password_expired"] != true {
			t.Fatalf("audit %+v", ent)
		}
		// Max age is for administrators (R-ACC-6).
		if r, err := e.login("viewer1", vpw, ""); err != nil || r.State != LoginOK {
			t.Fatalf("day 91 viewer: %+v %v", r, err)
		}
		ex, err := e.s.AdminsPasswordExpired(e.ctx)
		if err != nil || !slices.Equal(usernames(ex), []string{"admin1"}) {
			t.Fatalf("expired admins %v %v", usernames(ex), err)
		}
		// The restricted session changes the password and becomes a full one.
		if err := e.s.ChangePassword(e.ctx, r.Principal, apw, "Fresh#Admin3", ""); err != nil {
			t.Fatal(err)
		}
		if ap, err := e.s.Authenticate(e.ctx, r.SessionID); err != nil || ap.MustChange {
			t.Fatalf("after change: %+v %v", ap, err)
		}
		if ex, _ := e.s.AdminsPasswordExpired(e.ctx); len(ex) != 0 {
			t.Fatalf("still expired: %v", usernames(ex))
		}
		if r, err := e.login("admin1", "Fresh#Admin3", ""); err != nil || r.State != LoginOK {
			t.Fatalf("after change: %+v %v", r, err)
		}
	})
}

// enrollTOTP enrols and confirms TOTP for a ready user and returns the
// secret; the clock is moved to the next step so the confirming code is not
// the one the test uses next.
func (e *env) enrollTOTP(userID, username, pw string) string {
	e.t.Helper()
	res, err := e.login(username, pw, "")
	if err != nil {
		e.t.Fatal(err)
	}
	en, err := e.s.EnrollTOTP(e.ctx, res.Principal, "")
	if err != nil {
		e.t.Fatal(err)
	}
	if !strings.HasPrefix(en.URL, "otpauth://totp/") || !strings.Contains(en.URL, en.Secret) {
		e.t.Fatalf("url %q", en.URL)
	}
	if err := e.s.ConfirmTOTP(e.ctx, res.Principal, code(e.t, en.Secret, e.clock.Now()), ""); err != nil {
		e.t.Fatal(err)
	}
	e.clock.Advance(30 * time.Second)
	return en.Secret
}

func TestTOTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		u, pw := e.ready("nam", "operator")

		// Confirming needs a pending enrolment and the right code.
		res, _ := e.login("nam", pw, "")
		if err := e.s.ConfirmTOTP(e.ctx, res.Principal, "123456", ""); !errors.Is(err, ErrTOTPNotPending) {
			t.Fatalf("confirm without enrol: %v", err)
		}
		en, err := e.s.EnrollTOTP(e.ctx, res.Principal, "")
		if err != nil {
			t.Fatal(err)
		}
		var sealed string
		_ = db.Q().QueryRow(e.ctx, `SELECT totp_pending_sealed FROM users WHERE id = ?`, u.ID).Scan(&sealed)
		if sealed == "" || strings.Contains(sealed, en.Secret) {
			t.Fatal("TOTP secret not sealed")
		}
		// Not active until confirmed.
		if r, err := e.login("nam", pw, ""); err != nil || r.State != LoginOK {
			t.Fatalf("before confirm: %+v %v", r, err)
		}
		if err := e.s.ConfirmTOTP(e.ctx, res.Principal, wrongCode(t, en.Secret, e.clock.Now()), ""); !errors.Is(err, ErrTOTPInvalid) {
			t.Fatalf("bad confirm: %v", err)
		}
		now := e.clock.Now()
		if err := e.s.ConfirmTOTP(e.ctx, res.Principal, code(t, en.Secret, now), ""); err != nil {
			t.Fatal(err)
		}
		// The confirming code cannot log in (same step).
		if _, err := e.login("nam", pw, code(t, en.Secret, now)); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("confirm code replayed: %v", err)
		}
		e.clock.Advance(30 * time.Second)
		now = e.clock.Now()

		r, err := e.login("nam", pw, "")
		if err != nil || r.State != LoginTOTPRequired || r.SessionID != "" || r.Principal != nil {
			t.Fatalf("no code: %+v %v", r, err)
		}
		c := code(t, en.Secret, now)
		r, err = e.login("nam", pw, c)
		if err != nil || r.State != LoginOK {
			t.Fatalf("with code: %+v %v", r, err)
		}
		// Replay of the same code within its step is refused.
		if _, err := e.login("nam", pw, c); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("replay: %v", err)
		}
		if ent, _ := e.rec.last("auth.login"); ent.Reason != ReasonBadTOTP {
			t.Fatalf("replay audit %+v", ent)
		}
		// ±1 step of skew: the next step's code is accepted now …
		if _, err := e.login("nam", pw, code(t, en.Secret, now.Add(30*time.Second))); err != nil {
			t.Fatalf("+1 step: %v", err)
		}
		// … but then the previous step's code is not (older than the last used).
		e.clock.Advance(30 * time.Second)
		if _, err := e.login("nam", pw, code(t, en.Secret, now)); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("older step after newer: %v", err)
		}
		// Two steps away is refused.
		e.clock.Advance(30 * time.Second)
		if _, err := e.login("nam", pw, code(t, en.Secret, e.clock.Now().Add(90*time.Second))); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("+3 steps: %v", err)
		}
		e.clock.Advance(time.Minute) // out of the lockout window
		// -1 step accepted.
		if _, err := e.login("nam", pw, code(t, en.Secret, e.clock.Now().Add(-30*time.Second))); err != nil {
			t.Fatalf("-1 step: %v", err)
		}
		if err := e.s.DisableTOTP(e.ctx, System, u.ID); err != nil {
			t.Fatal(err)
		}
		if r, err := e.login("nam", pw, ""); err != nil || r.State != LoginOK {
			t.Fatalf("after disable: %+v %v", r, err)
		}
		for _, a := range []string{"auth.totp_enroll", "auth.totp_confirm", "auth.totp_disable"} {
			if e.rec.count(a, audit.OK) == 0 {
				t.Errorf("no audit %s", a)
			}
		}
		for _, ent := range e.rec.entries {
			for _, v := range ent.Details {
				if s, ok := v.(string); ok && strings.Contains(s, en.Secret) {
					t.Fatal("TOTP secret in the audit log")
				}
			}
		}
	})
}

func TestRequireTOTPForAdmins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, func(p *Policy) { p.RequireTOTPForAdmins = true })
		_, pw := e.ready("oanh", "admin")
		r, err := e.login("oanh", pw, "")
		if err != nil || r.State != LoginMustEnrollTOTP || !r.Principal.MustEnrollTOTP || !r.Principal.Restricted() {
			t.Fatalf("admin without TOTP: %+v %v", r, err)
		}
		en, err := e.s.EnrollTOTP(e.ctx, r.Principal, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.s.ConfirmTOTP(e.ctx, r.Principal, code(t, en.Secret, e.clock.Now()), ""); err != nil {
			t.Fatal(err)
		}
		p, err := e.s.Authenticate(e.ctx, r.SessionID)
		if err != nil || p.Restricted() {
			t.Fatalf("after enrolment: %+v %v", p, err)
		}
	})
}

func TestSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		u, pw := e.ready("phuong", "viewer", "auditor")
		r, err := e.login("phuong", pw, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(r.SessionID) != 43 {
			t.Fatalf("session secret %d chars", len(r.SessionID))
		}
		var stored string
		_ = db.Q().QueryRow(e.ctx, `SELECT id_hash FROM sessions WHERE user_id = ? AND id_hash = ?`, u.ID, r.Principal.SessionID).Scan(&stored)
		if stored == "" || stored == r.SessionID || strings.Contains(stored, r.SessionID) {
			t.Fatal("session secret stored, or its hash missing")
		}
		p, err := e.s.Authenticate(e.ctx, r.SessionID)
		if err != nil || p.UserID != u.ID || !slices.Equal(p.Roles, []string{"viewer", "auditor"}) || p.OrgID != testOrg {
			t.Fatalf("auth: %+v %v", p, err)
		}
		if !p.CheckCSRF(r.Principal.CSRF) || p.CheckCSRF("x") || p.CheckCSRF("") || p.CSRF == r.SessionID {
			t.Fatal("csrf")
		}
		other, _ := e.login("phuong", pw, "")
		if p.CheckCSRF(other.Principal.CSRF) {
			t.Fatal("CSRF token of another session accepted")
		}
		// Idle: used every 29 min the session lives on (sliding) …
		for i := 0; i < 4; i++ {
			e.clock.Advance(29 * time.Minute)
			if _, err := e.s.Authenticate(e.ctx, r.SessionID); err != nil {
				t.Fatalf("slide %d: %v", i, err)
			}
		}
		// … and 30 min untouched ends it.
		e.clock.Advance(30 * time.Minute)
		if _, err := e.s.Authenticate(e.ctx, r.SessionID); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("idle session alive: %v", err)
		}
		// Absolute: even when busy, 12 h after login it ends.
		r, _ = e.login("phuong", pw, "")
		for elapsed := time.Duration(0); elapsed < 12*time.Hour-20*time.Minute; elapsed += 20 * time.Minute {
			e.clock.Advance(20 * time.Minute)
			if _, err := e.s.Authenticate(e.ctx, r.SessionID); err != nil {
				t.Fatalf("busy session ended at %v: %v", elapsed, err)
			}
		}
		e.clock.Advance(20 * time.Minute)
		if _, err := e.s.Authenticate(e.ctx, r.SessionID); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("session past 12 h: %v", err)
		}
		// Logout.
		r, _ = e.login("phuong", pw, "")
		if ss, _ := e.s.ListSessions(e.ctx, u.ID); len(ss) != 1 || ss[0].ID != r.Principal.SessionID {
			t.Fatalf("sessions %+v", ss)
		}
		if err := e.s.Logout(e.ctx, r.SessionID, "1.2.3.4"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Authenticate(e.ctx, r.SessionID); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("after logout: %v", err)
		}
		if e.rec.count("auth.logout", audit.OK) != 1 {
			t.Fatal("logout not audited")
		}
		for _, bad := range []string{"", "x", strings.Repeat("a", 4096)} {
			if _, err := e.s.Authenticate(e.ctx, bad); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("%q: %v", bad, err)
			}
		}
		// Revoke by handle; sweep clears the dead ones.
		r, _ = e.login("phuong", pw, "")
		if err := e.s.RevokeSession(e.ctx, System, r.Principal.SessionID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Authenticate(e.ctx, r.SessionID); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("after revoke: %v", err)
		}
		_, _ = e.login("phuong", pw, "")
		e.clock.Advance(13 * time.Hour)
		if err := e.s.Sweep(e.ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		_ = db.Q().QueryRow(e.ctx, `SELECT COUNT(*) FROM sessions`).Scan(&n)
		if n != 0 {
			t.Fatalf("%d sessions after sweep", n)
		}
	})
}

func TestAPITokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		u, _ := e.ready("quan", "operator")
		plain, tok, err := e.s.CreateToken(e.ctx, System, u.ID, "Tích hợp VMS", 30*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(plain, APITokenPrefix) || !strings.HasPrefix(plain, tok.Prefix) || len(plain) < 40 {
			t.Fatalf("token %q / %+v", tok.Prefix, tok)
		}
		p, err := e.s.AuthenticateToken(e.ctx, plain)
		if err != nil || p.UserID != u.ID || p.TokenID != tok.ID || p.SessionID != "" || !p.HasRole("operator") {
			t.Fatalf("auth: %+v %v", p, err)
		}
		altered := []byte(plain)
		altered[len(altered)-1] ^= 0x01 // always a different character
		if _, err := e.s.AuthenticateToken(e.ctx, string(altered)); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("altered token: %v", err)
		}
		list, err := e.s.ListTokens(e.ctx, u.ID)
		if err != nil || len(list) != 1 || list[0].Name != "Tích hợp VMS" || list[0].LastUsedAt.IsZero() {
			t.Fatalf("list %+v %v", list, err)
		}
		var stored string
		_ = db.Q().QueryRow(e.ctx, `SELECT token_hash FROM api_tokens WHERE id = ?`, tok.ID).Scan(&stored)
		if stored == plain || strings.Contains(stored, plain[len(APITokenPrefix):]) {
			t.Fatal("token stored in the clear")
		}
		if err := e.s.RevokeToken(e.ctx, System, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.AuthenticateToken(e.ctx, plain); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("revoked: %v", err)
		}
		if err := e.s.RevokeToken(e.ctx, System, "tok_missing"); !errors.Is(err, ErrTokenNotFound) {
			t.Fatalf("missing: %v", err)
		}
		// Expiry.
		plain2, _, _ := e.s.CreateToken(e.ctx, System, u.ID, "short", time.Hour)
		e.clock.Advance(59 * time.Minute)
		if _, err := e.s.AuthenticateToken(e.ctx, plain2); err != nil {
			t.Fatalf("before expiry: %v", err)
		}
		e.clock.Advance(time.Minute)
		if _, err := e.s.AuthenticateToken(e.ctx, plain2); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("expired: %v", err)
		}
		// A disabled owner's tokens stop working.
		plain3, t3, _ := e.s.CreateToken(e.ctx, System, u.ID, "long", 0)
		if want := e.clock.Now().Add(365 * 24 * time.Hour); !t3.ExpiresAt.Equal(want) {
			t.Fatalf("default expiry %v want %v", t3.ExpiresAt, want)
		}
		if err := e.s.Disable(e.ctx, System, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.AuthenticateToken(e.ctx, plain3); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("disabled owner: %v", err)
		}
		if _, _, err := e.s.CreateToken(e.ctx, System, "usr_missing", "x", 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("token for missing user: %v", err)
		}
		if e.rec.count("token.create", audit.OK) != 3 || e.rec.count("token.revoke", audit.OK) != 1 {
			t.Fatal("token audit")
		}
	})
}

func TestDisableEndsEverything(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		u, pw := e.ready("rin", "viewer")
		r, _ := e.login("rin", pw, "")
		st, _, err := e.s.IssueStreamToken(u.ID, "cam-01", 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.VerifyStreamToken(e.ctx, st); err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 4)
		cancel := e.s.OnUserDisabled(func(id string) { got <- id })
		defer cancel()

		// Another node sharing the database learns by polling.
		node2 := New(db, e.rec, newSealer(t), e.s.Policy())
		got2 := make(chan string, 4)
		node2.OnUserDisabled(func(id string) { got2 <- id })
		cursor := e.clock.Now().UnixMilli()

		if err := e.s.Disable(e.ctx, System, u.ID); err != nil {
			t.Fatal(err)
		}
		select {
		case id := <-got:
			if id != u.ID {
				t.Fatalf("announced %q", id)
			}
		default:
			t.Fatal("disable not announced after commit")
		}
		if _, err := e.s.Authenticate(e.ctx, r.SessionID); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("session of a disabled user: %v", err)
		}
		if _, err := e.s.VerifyStreamToken(e.ctx, st); !errors.Is(err, ErrStreamTokenInvalid) {
			t.Fatalf("stream token of a disabled user: %v", err)
		}
		if _, err := e.login("rin", pw, ""); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("disabled login: %v", err)
		}
		if _, err := node2.pollRevocations(e.ctx, cursor); err != nil {
			t.Fatal(err)
		}
		select {
		case id := <-got2:
			if id != u.ID {
				t.Fatalf("node2 announced %q", id)
			}
		default:
			t.Fatal("node2 did not learn of the disable")
		}
		// Polling again does not re-announce.
		_, _ = node2.pollRevocations(e.ctx, cursor)
		if len(got2) != 0 {
			t.Fatal("announced twice")
		}
		// A session that slipped through (say, a login racing the disable on
		// another node) still does not authenticate while the user is disabled.
		if _, err := db.Q().Exec(e.ctx, `INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at)
			VALUES (?, ?, ?, ?, ?)`, hashHex("raced"), u.ID, cursor, cursor, cursor+3600_000); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Authenticate(e.ctx, "raced"); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("raced session of a disabled user: %v", err)
		}
		// Enabling does not revive old sessions.
		if err := e.s.Enable(e.ctx, System, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Authenticate(e.ctx, r.SessionID); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("old session after enable: %v", err)
		}
		if _, err := e.login("rin", pw, ""); err != nil {
			t.Fatalf("login after enable: %v", err)
		}
		if e.rec.count("user.enable", audit.OK) != 1 {
			t.Fatal("enable not audited")
		}
	})
}

func TestAccountReview(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		a, pw := e.ready("son", "viewer") // logged in now
		e.create("tam", "viewer")         // never logged in
		e.clock.Advance(40 * 24 * time.Hour)
		_, pw2 := e.ready("uyen", "viewer")
		_ = pw2
		last, err := e.s.LastLogin(e.ctx, a.ID)
		if err != nil || !last.Equal(newClock().Now()) {
			t.Fatalf("last login %v %v", last, err)
		}
		in, err := e.s.InactiveUsers(e.ctx, 30*24*time.Hour)
		if err != nil || !slices.Equal(usernames(in), []string{"son", "tam"}) {
			t.Fatalf("inactive %v %v", usernames(in), err)
		}
		if _, err := e.login("son", pw, ""); err != nil {
			t.Fatal(err)
		}
		in, _ = e.s.InactiveUsers(e.ctx, 30*24*time.Hour)
		if !slices.Equal(usernames(in), []string{"tam"}) {
			t.Fatalf("inactive after login %v", usernames(in))
		}
		if _, err := e.s.LastLogin(e.ctx, "usr_missing"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing: %v", err)
		}
	})
}

// A hash made with older (cheaper) parameters is upgraded at login.
func TestRehashOnLogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		u, pw := e.ready("vy", "viewer")
		stronger := Policy{Argon2: Argon2Params{Memory: 128, Time: 2, Threads: 1}, Now: e.clock.Now}
		s2 := New(db, e.rec, newSealer(t), stronger)
		if _, err := s2.Login(e.ctx, "vy", pw, "", ""); err != nil {
			t.Fatal(err)
		}
		var h string
		_ = db.Q().QueryRow(e.ctx, `SELECT password_hash FROM users WHERE id = ?`, u.ID).Scan(&h)
		if !strings.Contains(h, "m=128,t=2,p=1") {
			t.Fatalf("not rehashed: %s", h[:30])
		}
		if _, err := s2.Login(e.ctx, "vy", pw, "", ""); err != nil {
			t.Fatalf("login with the new hash: %v", err)
		}
	})
}

// Run, on another node, learns of a disable made elsewhere by polling the
// shared database. No timing assertion: the test waits for the callback
// (bounded by the test deadline).
func TestRunAnnouncesRemoteDisable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		u := e.create("xuan", "viewer")
		pol := e.s.Policy()
		pol.RevocationPoll = 5 * time.Millisecond
		node2 := New(db, e.rec, newSealer(t), pol)
		started := make(chan struct{})
		node2.runReady = func() { close(started) }
		got := make(chan string, 4)
		node2.OnUserDisabled(func(id string) { got <- id })
		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan error, 1)
		go func() { done <- node2.Run(ctx) }()
		<-started
		e.clock.Advance(time.Second) // after Run's starting cursor
		if err := e.s.Disable(e.ctx, System, u.ID); err != nil {
			t.Fatal(err)
		}
		if id := <-got; id != u.ID {
			t.Fatalf("announced %q", id)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v", err)
		}
	})
}

// BenchmarkLoginProduction is one full login (lock check, user lookup,
// argon2id verify with the production cost, session insert, audit) on
// SQLite. cpu-ms/op is the process CPU per login; see BenchmarkHashProduction.
func BenchmarkLoginProduction(b *testing.B) {
	db := storetest.SQLite(b)
	ctx := context.Background()
	if _, err := db.Q().Exec(ctx, `INSERT INTO organisations (id, name, kind, created_at, updated_at) VALUES ('o', 'o', 'department', 0, 0)`); err != nil {
		b.Fatal(err)
	}
	s := New(db, &recorder{}, newSealer(b), Policy{})
	if _, err := s.CreateUser(ctx, System, NewUser{Username: "bench", OrgID: "o", Roles: []string{"viewer"}, InitialPassword: initialPW}); err != nil {
		b.Fatal(err)
	}
	start := cpuTime()
	for b.Loop() {
		if _, err := s.Login(ctx, "bench", initialPW, "", "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// A stolen session cannot guess the password through the change form: wrong
// current passwords count towards the lockout, which then holds for both.
func TestChangePasswordCountsTowardsLockout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, nil)
		_, pw := e.ready("zoe", "viewer")
		r, _ := e.login("zoe", pw, "")
		for i := 0; i < 5; i++ {
			if err := e.s.ChangePassword(e.ctx, r.Principal, "Guess#Pass"+string(rune('0'+i)), "Next#Pass99", "6.6.6.6"); !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("guess %d: %v", i, err)
			}
		}
		if err := e.s.ChangePassword(e.ctx, r.Principal, pw, "Next#Pass99", ""); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("change while locked: %v", err)
		}
		if ent, _ := e.rec.last("user.change_password"); ent.Reason != ReasonLocked || ent.Outcome != audit.Failed {
			t.Fatalf("audit %+v", ent)
		}
		if _, err := e.login("zoe", pw, ""); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("login while locked: %v", err)
		}
		e.clock.Advance(5 * time.Minute)
		if err := e.s.ChangePassword(e.ctx, r.Principal, pw, "Next#Pass99", ""); err != nil {
			t.Fatalf("after the lock: %v", err)
		}
	})
}
