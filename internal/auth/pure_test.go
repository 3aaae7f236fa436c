package auth

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheckComplexity(t *testing.T) {
	cases := []struct {
		pw, user string
		want     []string
	}{
		{"Abcdef1!", "", nil},
		{"Mật#Khẩu9", "", nil}, // Vietnamese letters count as letters
		{"ĐIỆNbiên#2024", "", nil},
		{"Ab1!", "", []string{RuleTooShort}},
		{"Abc1!xy", "", []string{RuleTooShort}}, // 7
		{"abcdef1!", "", []string{RuleNeedsUpper}},
		{"ABCDEF1!", "", []string{RuleNeedsLower}},
		{"Abcdefg!", "", []string{RuleNeedsDigit}},
		{"Abcdefg1", "", []string{RuleNeedsSymbol}},
		{"Abcdef 1", "", []string{RuleNeedsSymbol}}, // a space is not a symbol
		{"", "", []string{RuleTooShort, RuleNeedsUpper, RuleNeedsLower, RuleNeedsDigit, RuleNeedsSymbol}},
		{"12345678", "", []string{RuleNeedsUpper, RuleNeedsLower, RuleNeedsSymbol}},
		{"Xx1!" + "admin.dic" + "Q", "Admin.DIC", []string{RuleContainsUsername}},
		{"Ab1!" + strings.Repeat("x", 300), "", []string{RuleTooLong}},
		{"Ab1!\xff\xfeabc", "", []string{RuleInvalidUTF8}},
		{"Ṁ€ṁ1ṁṁṁṁ", "", nil}, // € is a symbol
	}
	for _, c := range cases {
		got := CheckComplexity(c.pw, c.user, 8)
		if !slices.Equal(got, c.want) {
			t.Errorf("CheckComplexity(%q, %q) = %v, want %v", c.pw, c.user, got, c.want)
		}
	}
	// A policy may raise the minimum length.
	if got := CheckComplexity("Abcdef1!", "", 12); !slices.Equal(got, []string{RuleTooShort}) {
		t.Errorf("min 12: %v", got)
	}
}

func TestPolicyFloor(t *testing.T) {
	p := Policy{MinPasswordLength: 4}.withDefaults()
	if p.MinPasswordLength != 8 || p.LockoutFailures != 5 || p.LockoutWindow != 30*time.Second ||
		p.LockoutDuration != 5*time.Minute || p.PasswordHistory != 5 || p.AdminPasswordMaxAge != 90*24*time.Hour ||
		p.SessionIdle != 30*time.Minute || p.SessionMax != 12*time.Hour || p.StreamTokenTTL != 5*time.Minute {
		t.Fatalf("defaults %+v", p)
	}
}

func TestHashAndParse(t *testing.T) {
	h, err := HashPassword("Mật#Khẩu9", TestArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("format %s", h)
	}
	if ok, err := VerifyPassword("Mật#Khẩu9", h); !ok || err != nil {
		t.Fatalf("verify: %v %v", ok, err)
	}
	if ok, _ := VerifyPassword("Mật#Khẩu8", h); ok {
		t.Fatal("wrong password verified")
	}
	h2, _ := HashPassword("Mật#Khẩu9", TestArgon2)
	if h2 == h {
		t.Fatal("salt not random")
	}
	p, err := ParsePHC(h)
	if err != nil || p.String() != h {
		t.Fatalf("round trip: %v", err)
	}
	// RFC 9106-style known answer from another implementation (the
	// reference CLI: echo -n password | argon2 somesalt -id -t 2 -m 16 -p 1 -l 32).
	ref := "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	if ok, err := VerifyPassword("password", ref); !ok || err != nil {
		t.Fatalf("reference vector: %v %v", ok, err)
	}
	bad := []string{
		"",
		"$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=16$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=99999999,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=64,t=0,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=64,t=1,p=0$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=064,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$t=1,m=64,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2id$v=19$m=64,t=1,p=1$c29tZQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",      // short salt
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPP=", // padded
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$CTFh",
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc$",
	}
	for _, b := range bad {
		if _, err := ParsePHC(b); err == nil {
			t.Errorf("parsed %q", b)
		}
		if ok, _ := VerifyPassword("password", b); ok {
			t.Errorf("verified against %q", b)
		}
	}
	if needsRehash(h, TestArgon2) || !needsRehash(h, ProductionArgon2) || !needsRehash("junk", TestArgon2) {
		t.Fatal("needsRehash")
	}
}

func TestNormalizeUsername(t *testing.T) {
	good := map[string]string{"Alice": "alice", " bob.smith ": "bob.smith", "op_01@dic": "op_01@dic", "X-1": "x-1"}
	for in, want := range good {
		if got, err := NormalizeUsername(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"", "a", ".alice", "al ice", "nguyễn", strings.Repeat("a", 65), "a\x00b", "a/b", "K\u212a"} {
		if _, err := NormalizeUsername(in); !errors.Is(err, ErrInvalidUsername) {
			t.Errorf("%q accepted", in)
		}
	}
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestStreamToken(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	c := StreamClaims{UserID: "usr_1", CameraID: "cam/ĐB-01.main", ExpiresAt: now.Add(5 * time.Minute)}
	tok, err := SignStreamToken(testKey, c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseStreamToken(testKey, tok, now)
	if err != nil || got != c {
		t.Fatalf("round trip %+v %v", got, err)
	}
	if _, err := ParseStreamToken(testKey, tok, now.Add(5*time.Minute-time.Second)); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	if _, err := ParseStreamToken(testKey, tok, now.Add(5*time.Minute)); !errors.Is(err, ErrStreamTokenExpired) {
		t.Fatalf("at expiry: %v", err)
	}
	if _, err := ParseStreamToken([]byte("another key, 32 bytes long......"), tok, now); !errors.Is(err, ErrStreamTokenInvalid) {
		t.Fatalf("other key: %v", err)
	}
	// Flip every character: nothing verifies.
	for i := 0; i < len(tok); i++ {
		b := []byte(tok)
		b[i] ^= 0x01
		if _, err := ParseStreamToken(testKey, string(b), now); err == nil {
			t.Fatalf("tampered at %d verified: %s", i, b)
		}
	}
	// Swapping in another camera or a later expiry breaks the MAC.
	parts := strings.Split(tok, ".")
	other := StreamClaims{UserID: "usr_2", CameraID: "cam-02", ExpiresAt: now.Add(time.Hour)}
	otok, _ := SignStreamToken(testKey, other)
	oparts := strings.Split(otok, ".")
	for _, i := range []int{1, 2, 3} {
		p := slices.Clone(parts)
		p[i] = oparts[i]
		if _, err := ParseStreamToken(testKey, strings.Join(p, "."), now); !errors.Is(err, ErrStreamTokenInvalid) {
			t.Fatalf("part %d swapped: %v", i, err)
		}
	}
	for _, bad := range []string{"", ".", "vst1", "vst1....", strings.Repeat("a", 5000)} {
		if _, err := ParseStreamToken(testKey, bad, now); !errors.Is(err, ErrStreamTokenInvalid) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	if _, err := SignStreamToken([]byte("short"), c); err == nil {
		t.Fatal("short key accepted")
	}
}

// BenchmarkHashProduction reports wall time (ns/op) and CPU time per hash
// (cpu-ms/op): on a shared, loaded machine the wall time says more about the
// neighbours than about argon2, while CPU time divided by the lanes that run
// in parallel (Threads, at most the cores) is what an idle node will see.
func BenchmarkHashProduction(b *testing.B) {
	start := cpuTime()
	for b.Loop() {
		if _, err := HashPassword("Benchmark#Pass1", ProductionArgon2); err != nil {
			b.Fatal(err)
		}
	}
	cpu := float64((cpuTime() - start).Microseconds()) / 1000 / float64(b.N)
	b.ReportMetric(cpu, "cpu-ms/op")
	lanes := min(int(ProductionArgon2.Threads), runtime.NumCPU())
	b.ReportMetric(cpu/float64(lanes), "idle-ms/op")
}

func BenchmarkVerifyProduction(b *testing.B) {
	h, _ := HashPassword("Benchmark#Pass1", ProductionArgon2)
	for b.Loop() {
		if ok, _ := VerifyPassword("Benchmark#Pass1", h); !ok {
			b.Fatal("no match")
		}
	}
}

func BenchmarkStreamTokenVerify(b *testing.B) {
	now := time.Now()
	tok, _ := SignStreamToken(testKey, StreamClaims{UserID: "usr_1", CameraID: "cam-01", ExpiresAt: now.Add(time.Minute)})
	for b.Loop() {
		if _, err := ParseStreamToken(testKey, tok, now); err != nil {
			b.Fatal(err)
		}
	}
}

// matchTOTP itself refuses steps at or before the last used one (the
// conditional UPDATE at login is a second line for races between nodes).
func TestMatchTOTPSteps(t *testing.T) {
	sealer := newSealer(t)
	s := &Service{sealer: sealer}
	secret := "JBSWY3DPEHPK3PXP"
	sealed, _ := sealer.Seal([]byte(secret))
	now := time.Unix(1_772_352_000, 0) // a step boundary
	cur := now.Unix() / totpPeriod
	for _, c := range []struct {
		at       time.Time
		last     int64
		wantStep int64
	}{
		{now, 0, cur},
		{now.Add(-30 * time.Second), 0, cur - 1},
		{now.Add(30 * time.Second), 0, cur + 1},
		{now.Add(60 * time.Second), 0, 0},
		{now.Add(-60 * time.Second), 0, 0},
		{now, cur, 0}, // replay
		{now, cur - 1, cur},
		{now.Add(-30 * time.Second), cur - 1, 0},
	} {
		got, ok := s.matchTOTP(sealed, code(t, secret, c.at), now, c.last)
		if got != c.wantStep || ok != (c.wantStep != 0) {
			t.Errorf("code at %v, last %d: step %d %v, want %d", c.at.Sub(now), c.last-cur, got-cur, ok, c.wantStep-cur)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := s.matchTOTP(sealed, bad, now, 0); ok {
			t.Errorf("%q matched", bad)
		}
	}
	if _, ok := s.matchTOTP("not sealed", code(t, secret, now), now, 0); ok {
		t.Error("unopenable secret matched")
	}
}

func TestRuleTextComplete(t *testing.T) {
	for _, r := range []string{RuleTooShort, RuleTooLong, RuleNeedsUpper, RuleNeedsLower, RuleNeedsDigit,
		RuleNeedsSymbol, RuleContainsUsername, RuleReused, RuleInvalidUTF8} {
		if tx, ok := RuleText[r]; !ok || tx[0] == "" || tx[1] == "" {
			t.Errorf("no text for %s", r)
		}
	}
}

func TestCleanForLog(t *testing.T) {
	for in, want := range map[string]string{
		"ok":                    "ok",
		"a\x00b\nc":             "a?b?c",
		"\xff\xfex":             "?x",
		strings.Repeat("ễ", 30): strings.Repeat("ễ", 21), // 3 bytes each, cut on a rune boundary
	} {
		if got := cleanForLog(in, 64); got != want {
			t.Errorf("cleanForLog(%q) = %q, want %q", in, got, want)
		}
	}
}

// A login flood queues for argon2 slots; a caller that gives up leaves the
// queue with its context's error instead of waiting on.
func TestHashQueueHonoursContext(t *testing.T) {
	s := &Service{hashSem: make(chan struct{}, 1), pol: Policy{Argon2: TestArgon2}}
	s.hashSem <- struct{}{} // the only slot is busy
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.verify(ctx, "x", "y"); !errors.Is(err, context.Canceled) {
		t.Fatalf("verify: %v", err)
	}
	if _, err := s.hash(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("hash: %v", err)
	}
	<-s.hashSem
	if _, err := s.hash(context.Background(), "x"); err != nil {
		t.Fatalf("free slot: %v", err)
	}
}
