package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// ProductionArgon2 costs about 70 ms per hash on an idle node of the 2-core
// reference machine (BenchmarkHashProduction: ~140 CPU-ms over 2 lanes):
// inside the 50–100 ms budget a login can afford, and expensive to guess
// offline. 64 MiB defeats GPU farms (memory hardness first); a second pass
// buys the rest of the budget without more memory per concurrent login.
var ProductionArgon2 = Argon2Params{Memory: 64 * 1024, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}

// TestArgon2 is a light cost for tests only (never in production: fast hashes
// are cheap to guess).
var TestArgon2 = Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits on parsed hashes: a hash string comes from the database, but a
// tampered row must not make one login allocate gigabytes or spin forever.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 64
	minSaltLen   = 8
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 128
	maxPHCLen    = 512
)

var b64 = base64.RawStdEncoding

// HashPassword returns the PHC string of password under p with a fresh salt:
// $argon2id$v=19$m=65536,t=1,p=2$<salt>$<hash> (unpadded standard base64).
func HashPassword(password string, p Argon2Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// PHC is a parsed argon2id hash string.
type PHC struct {
	Params Argon2Params
	Salt   []byte
	Key    []byte
}

var errBadPHC = errors.New("auth: malformed argon2id hash")

// ParsePHC parses an argon2id PHC string, refusing other algorithms, versions
// and parameters outside sane bounds.
func ParsePHC(s string) (PHC, error) {
	var h PHC
	if len(s) > maxPHCLen {
		return h, errBadPHC
	}
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, errBadPHC
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, errBadPHC
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return h, errBadPHC
	}
	vals := [3]uint64{}
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(params[i], name)
		if !ok || v == "" || (len(v) > 1 && v[0] == '0') {
			return h, errBadPHC
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return h, errBadPHC
		}
		vals[i] = n
	}
	m, t, p := vals[0], vals[1], vals[2]
	if t < 1 || t > maxTime || p < 1 || p > 255 || m < 8*p || m > maxMemoryKiB {
		return h, errBadPHC
	}
	salt, err := b64.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return h, errBadPHC
	}
	key, err := b64.Strict().DecodeString(parts[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return h, errBadPHC
	}
	h.Params = Argon2Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	h.Salt, h.Key = salt, key
	return h, nil
}

// String is the PHC form of h.
func (h PHC) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.Params.Memory, h.Params.Time, h.Params.Threads, b64.EncodeToString(h.Salt), b64.EncodeToString(h.Key))
}

// VerifyPassword reports whether password matches the PHC string encoded,
// comparing in constant time. A malformed hash is an error, never a match.
func VerifyPassword(password, encoded string) (bool, error) {
	h, err := ParsePHC(encoded)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), h.Salt, h.Params.Time, h.Params.Memory, h.Params.Threads, uint32(len(h.Key)))
	return subtle.ConstantTimeCompare(key, h.Key) == 1, nil
}

// needsRehash reports whether encoded was made with parameters other than p,
// so a successful login can upgrade it.
func needsRehash(encoded string, p Argon2Params) bool {
	h, err := ParsePHC(encoded)
	if err != nil {
		return true
	}
	return h.Params.Memory != p.Memory || h.Params.Time != p.Time || h.Params.Threads != p.Threads ||
		uint32(len(h.Key)) != p.KeyLen || uint32(len(h.Salt)) != p.SaltLen
}

// Password rule codes, reported in PolicyError.Violations.
const (
	RuleTooShort         = "too_short"
	RuleTooLong          = "too_long"
	RuleNeedsUpper       = "needs_upper"
	RuleNeedsLower       = "needs_lower"
	RuleNeedsDigit       = "needs_digit"
	RuleNeedsSymbol      = "needs_symbol"
	RuleContainsUsername = "contains_username"
	RuleReused           = "reused"
	RuleInvalidUTF8      = "invalid_utf8"
)

// maxPasswordBytes bounds the work one request can ask of argon2 and keeps
// pasted garbage out.
const maxPasswordBytes = 256

// CheckComplexity returns the violated rules (nil when password is
// acceptable). Letters and digits of any script count (Vietnamese "Đ" is an
// upper-case letter); a symbol is any punctuation or symbol character.
func CheckComplexity(password, username string, minLen int) []string {
	var v []string
	if !utf8.ValidString(password) {
		return []string{RuleInvalidUTF8}
	}
	if utf8.RuneCountInString(password) < minLen {
		v = append(v, RuleTooShort)
	}
	if len(password) > maxPasswordBytes {
		v = append(v, RuleTooLong)
	}
	var up, lo, dig, sym bool
	for _, r := range password {
		switch {
		case unicode.IsUpper(r):
			up = true
		case unicode.IsLower(r):
			lo = true
		case unicode.IsDigit(r):
			dig = true
		case unicode.IsPunct(r) || unicode.IsSymbol(r):
			sym = true
		}
	}
	if !up {
		v = append(v, RuleNeedsUpper)
	}
	if !lo {
		v = append(v, RuleNeedsLower)
	}
	if !dig {
		v = append(v, RuleNeedsDigit)
	}
	if !sym {
		v = append(v, RuleNeedsSymbol)
	}
	if u := strings.ToLower(strings.TrimSpace(username)); len(u) >= 3 && strings.Contains(strings.ToLower(password), u) {
		v = append(v, RuleContainsUsername)
	}
	return v
}
