package auth

import (
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// FuzzParsePHC: parsing never panics, accepts only what it can re-encode
// exactly, and never accepts parameters outside the bounds (a tampered row
// must not make a login allocate gigabytes).
func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=4294967295,t=1,p=1$c29tZXNhbHQ$CTFh")
	f.Add("$argon2i$v=19$m=64,t=1,p=1$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParsePHC(s)
		if err != nil {
			return
		}
		if h.String() != s {
			t.Fatalf("accepted %q but re-encodes as %q", s, h.String())
		}
		p := h.Params
		if p.Memory > maxMemoryKiB || p.Time < 1 || p.Time > maxTime || p.Threads < 1 ||
			len(h.Salt) < minSaltLen || len(h.Salt) > maxSaltLen || len(h.Key) < minKeyLen || len(h.Key) > maxKeyLen {
			t.Fatalf("out-of-bounds params accepted: %+v salt %d key %d", p, len(h.Salt), len(h.Key))
		}
	})
}

// FuzzParseStreamToken: never panics; anything that verifies is exactly
// what the key signed (re-signing the claims gives the same token), so no
// malleable encoding slips through.
func FuzzParseStreamToken(f *testing.F) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	good, _ := SignStreamToken(testKey, StreamClaims{UserID: "usr_1", CameraID: "cam-01", ExpiresAt: now.Add(time.Minute)})
	f.Add(good)
	f.Add("vst1.dXNyXzE.Y2FtLTAx.1772352060.AAAA")
	f.Add("vst1....")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := ParseStreamToken(testKey, tok, now)
		if err != nil {
			return
		}
		again, err := SignStreamToken(testKey, c)
		if err != nil || again != tok {
			t.Fatalf("accepted %q, which re-signs as %q (%v)", tok, again, err)
		}
		if !now.Before(c.ExpiresAt) {
			t.Fatalf("expired token accepted: %v", c.ExpiresAt)
		}
	})
}

// FuzzNormalizeUsername: keys are lower-case ASCII of bounded length, and
// normalising is idempotent (so two spellings of one key cannot coexist).
func FuzzNormalizeUsername(f *testing.F) {
	for _, s := range []string{"Alice", " op.01@dic ", "nguyễn", "K\u212a", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := NormalizeUsername(s)
		if err != nil {
			return
		}
		if len(k) < 2 || len(k) > 64 || k != strings.ToLower(k) {
			t.Fatalf("key %q", k)
		}
		for i := 0; i < len(k); i++ {
			if k[i] >= 0x80 {
				t.Fatalf("non-ASCII key %q", k)
			}
		}
		if k2, err := NormalizeUsername(k); err != nil || k2 != k {
			t.Fatalf("not idempotent: %q → %q (%v)", k, k2, err)
		}
	})
}

// FuzzCheckComplexity: never panics, and anything it accepts really has
// the four classes and the minimum length.
func FuzzCheckComplexity(f *testing.F) {
	for _, s := range []string{"Abcdef1!", "Mật#Khẩu9", "short", "\xff\xfe"} {
		f.Add(s, "admin")
	}
	f.Fuzz(func(t *testing.T, pw, user string) {
		if v := CheckComplexity(pw, user, 8); len(v) == 0 {
			if !utf8.ValidString(pw) || utf8.RuneCountInString(pw) < 8 || len(pw) > maxPasswordBytes {
				t.Fatalf("accepted %q", pw)
			}
			if !strings.ContainsFunc(pw, isUpperRune) || !strings.ContainsFunc(pw, isDigitRune) {
				t.Fatalf("accepted %q without upper or digit", pw)
			}
		}
	})
}

func isUpperRune(r rune) bool { return unicode.IsUpper(r) }
func isDigitRune(r rune) bool { return unicode.IsDigit(r) }
