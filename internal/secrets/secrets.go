// Package secrets seals camera credentials, TOTP secrets and the site's
// signing key at rest (AES-256-GCM) and never lets them out: nothing here has
// a String or MarshalJSON that shows a secret, and RedactURL is what logs use.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// sealedPrefix marks the format, so the key or cipher can change later
// without guessing what an old value is.
const sealedPrefix = "v1:"

// Sealer encrypts small secrets with one site key.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer takes a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secrets: key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain; the empty secret seals to the empty string so "no
// credentials" stays visible as such in the database.
func (s *Sealer) Seal(plain []byte) (string, error) {
	if len(plain) == 0 {
		return "", nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, plain, nil)
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// ErrCorrupt means a sealed value was changed or sealed with another key.
var ErrCorrupt = errors.New("secrets: sealed value is corrupt or was sealed with another key")

// Open decrypts a value made by Seal.
func (s *Sealer) Open(sealed string) ([]byte, error) {
	if sealed == "" {
		return nil, nil
	}
	if !strings.HasPrefix(sealed, sealedPrefix) {
		return nil, ErrCorrupt
	}
	raw, err := base64.RawStdEncoding.DecodeString(sealed[len(sealedPrefix):])
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return nil, ErrCorrupt
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return nil, ErrCorrupt
	}
	return plain, nil
}

// LoadKey finds the site key: the base64 value given (from config or
// VIGIL_SECRETS_KEY), else the key file, else a new key written to
// <dataDir>/secret.key with mode 0600. It returns where the key came from.
func LoadKey(value, keyFile, dataDir string) ([]byte, string, error) {
	if value != "" {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
		if err != nil || len(k) != 32 {
			return nil, "", errors.New("config: secrets.key: must be base64 of exactly 32 bytes (openssl rand -base64 32)")
		}
		return k, "config", nil
	}
	if keyFile == "" {
		keyFile = filepath.Join(dataDir, "secret.key")
	}
	data, err := os.ReadFile(keyFile)
	if err == nil {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(k) != 32 {
			return nil, "", fmt.Errorf("config: secrets.key_file: %s must hold base64 of exactly 32 bytes", keyFile)
		}
		return k, keyFile, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("secrets: read %s: %w", keyFile, err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, "", fmt.Errorf("secrets: write %s: %w", keyFile, err)
	}
	return k, keyFile + " (new)", nil
}

// SiteKey loads or creates the site's Ed25519 signing key (audit checkpoints,
// evidence manifests), sealed in <dataDir>/site-signing.key. The public key
// is also written beside it in the clear, for offline verification.
func SiteKey(s *Sealer, dataDir string) (ed25519.PrivateKey, string, error) {
	path := filepath.Join(dataDir, "site-signing.key")
	data, err := os.ReadFile(path)
	if err == nil {
		seed, err := s.Open(strings.TrimSpace(string(data)))
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, "", fmt.Errorf("secrets: %s cannot be opened with this site's secret key", path)
		}
		priv := ed25519.NewKeyFromSeed(seed)
		return priv, KeyID(priv.Public().(ed25519.PublicKey)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, "", err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	sealed, err := s.Seal(priv.Seed())
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(path, []byte(sealed+"\n"), 0o600); err != nil {
		return nil, "", err
	}
	pub := priv.Public().(ed25519.PublicKey)
	_ = os.WriteFile(filepath.Join(dataDir, "site-signing.pub"), []byte(base64.StdEncoding.EncodeToString(pub)+"\n"), 0o644)
	return priv, KeyID(pub), nil
}

// KeyID is a short, stable name for a public key.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// RedactURL removes the password (and user) from a URL for logs and API
// answers. Unparseable input is replaced entirely: better lose a log detail
// than leak a credential.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid url>"
	}
	if u.User != nil {
		u.User = url.User("***")
	}
	q := u.Query()
	for _, k := range []string{"token", "password", "pass", "pwd", "key"} {
		if q.Has(k) {
			q.Set(k, "***")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
