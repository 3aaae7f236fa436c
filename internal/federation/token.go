package federation

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// Enrollment tokens and leaf passwords are 32 random bytes in base64url
// (no padding) behind a prefix that says what they are. Tier 1 stores only
// their SHA-256: they are high-entropy, so a slow hash adds nothing.
const (
	tokenPrefix  = "vgle1_" // enrollment token
	secretPrefix = "vgls1_" // leaf password
	secretBytes  = 32
)

// ErrBadToken: not an enrollment token.
var ErrBadToken = errors.New("federation: malformed enrollment token")

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func newEnrollToken() string { return tokenPrefix + randomToken(secretBytes) }
func newLeafSecret() string  { return secretPrefix + randomToken(secretBytes) }

// ParseToken checks an enrollment token's form (prefix, length, alphabet)
// and returns it with surrounding space removed. It says nothing about
// whether tier 1 issued it.
func ParseToken(raw string) (string, error) {
	t := strings.TrimSpace(raw)
	body, ok := strings.CutPrefix(t, tokenPrefix)
	if !ok || len(body) != base64.RawURLEncoding.EncodedLen(secretBytes) {
		return "", ErrBadToken
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || len(b) != secretBytes {
		return "", ErrBadToken
	}
	return t, nil
}

func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
