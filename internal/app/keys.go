package app

import (
	"crypto/hmac"
	"crypto/sha256"
)

// deriveKey makes a purpose-bound subkey of the site secret, so one leaked
// subkey (say, the stream-token key) reveals nothing of the others.
func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
