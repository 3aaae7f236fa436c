package playback

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ManifestType names the document.
const ManifestType = "vigil-evidence-manifest"

// Manifest is the signed description of an export. The signature covers the
// canonical JSON of Payload (object keys sorted at every depth, no
// insignificant space, numbers as written, no HTML escaping), so any tool
// can verify it; `vigil evidence verify` is one.
type Manifest struct {
	Type      string          `json:"type"`
	Version   int             `json:"version"`
	Payload   json.RawMessage `json:"payload"`
	Signature Signature       `json:"signature"`
}

// Signature is the Ed25519 signature of the payload.
type Signature struct {
	Alg       string `json:"alg"`
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key" doc:"base64 of the site's Ed25519 public key"`
	Value     string `json:"value" doc:"base64 signature of the canonical payload"`
}

// Payload is what an export states (R-SEC-2).
type Payload struct {
	ExportID       string            `json:"export_id"`
	Site           SiteRef           `json:"site"`
	Camera         CameraRef         `json:"camera"`
	RequestedFrom  string            `json:"requested_from"`
	RequestedTo    string            `json:"requested_to"`
	From           string            `json:"from" doc:"wall time of the first frame"`
	To             string            `json:"to" doc:"wall time after the last frame"`
	DurationMS     int64             `json:"duration_ms"`
	Gaps           []RecordedSpan    `json:"gaps"`
	File           FileRef           `json:"file"`
	Performer      EvidencePerson    `json:"performer"`
	Requester      EvidenceRequester `json:"requester"`
	Purpose        string            `json:"purpose"`
	CreatedAt      string            `json:"created_at"`
	Codec          string            `json:"codec"`
	LockID         string            `json:"lock_id"`
	SoftwareVendor string            `json:"software"`
}

type SiteRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}
type CameraRef struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	SystemID string `json:"system_id"`
}
type FileRef struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}
type EvidencePerson struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Org  string `json:"org"`
}

// Requester is who asked for the footage.
type EvidenceRequester struct {
	Name         string `json:"name" minLength:"1" maxLength:"200"`
	Organisation string `json:"organisation" minLength:"1" maxLength:"200"`
	Document     string `json:"document" minLength:"1" maxLength:"200" doc:"the written request's number/reference"`
}

// Canonical re-encodes JSON with sorted keys and no insignificant space.
func Canonical(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func signedMessage(canon []byte) []byte {
	return append([]byte(ManifestType+" v1\n"), canon...)
}

// Sign makes the manifest of p.
func Sign(p Payload, key ed25519.PrivateKey, keyID string) ([]byte, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	canon, err := Canonical(raw)
	if err != nil {
		return nil, err
	}
	m := Manifest{Type: ManifestType, Version: 1, Payload: canon, Signature: Signature{
		Alg: "Ed25519", KeyID: keyID, PublicKey: base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)),
		Value: base64.StdEncoding.EncodeToString(ed25519.Sign(key, signedMessage(canon))),
	}}
	return json.MarshalIndent(m, "", "  ")
}

// maxManifest bounds what ParseManifest reads.
const maxManifest = 1 << 20

// ParseManifest decodes a manifest and checks its signature against its own
// public key (whether that key is the site's is for the caller to check:
// Verification.KeyID). It returns the payload.
func ParseManifest(data []byte) (Payload, Signature, error) {
	var m Manifest
	var p Payload
	if len(data) > maxManifest {
		return p, m.Signature, errors.New("manifest too large")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return p, m.Signature, fmt.Errorf("not a manifest: %w", err)
	}
	if m.Type != ManifestType || m.Version != 1 {
		return p, m.Signature, errors.New("not a vigil evidence manifest v1")
	}
	if m.Signature.Alg != "Ed25519" {
		return p, m.Signature, fmt.Errorf("unsupported signature algorithm %q", m.Signature.Alg)
	}
	pub, err := base64.StdEncoding.DecodeString(m.Signature.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return p, m.Signature, errors.New("bad public key")
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature.Value)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return p, m.Signature, errors.New("bad signature encoding")
	}
	canon, err := Canonical(m.Payload)
	if err != nil {
		return p, m.Signature, fmt.Errorf("bad payload: %w", err)
	}
	if !ed25519.Verify(ed25519.PublicKey(pub), signedMessage(canon), sig) {
		return p, m.Signature, errors.New("SIGNATURE INVALID: the manifest was changed after signing")
	}
	if kid := keyID(pub); m.Signature.KeyID != kid {
		return p, m.Signature, fmt.Errorf("key id %q does not match the public key (%s)", m.Signature.KeyID, kid)
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		return p, m.Signature, fmt.Errorf("bad payload: %w", err)
	}
	return p, m.Signature, nil
}

func keyID(pub []byte) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Verification is the result of VerifyFiles.
type Verification struct {
	OK      bool
	Payload Payload
	KeyID   string
	Problem string
}

// VerifyFiles checks an exported file against its manifest, offline: the
// signature, then the file's size and SHA-256. trustedKeyID, when not
// empty, must match the signing key (the site's published key id).
func VerifyFiles(filePath, manifestPath, trustedKeyID string) Verification {
	data, err := os.ReadFile(manifestPath)
	if err != nil {
		return Verification{Problem: err.Error()}
	}
	p, sig, err := ParseManifest(data)
	v := Verification{Payload: p, KeyID: sig.KeyID}
	if err != nil {
		v.Problem = err.Error()
		return v
	}
	if trustedKeyID != "" && !strings.EqualFold(trustedKeyID, sig.KeyID) {
		v.Problem = fmt.Sprintf("signed by key %s, not by the trusted key %s", sig.KeyID, trustedKeyID)
		return v
	}
	f, err := os.Open(filePath)
	if err != nil {
		v.Problem = err.Error()
		return v
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		v.Problem = err.Error()
		return v
	}
	if n != p.File.Bytes {
		v.Problem = fmt.Sprintf("FILE CHANGED: %d bytes, the manifest says %d", n, p.File.Bytes)
		return v
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != p.File.SHA256 {
		v.Problem = fmt.Sprintf("FILE CHANGED: SHA-256 %s, the manifest says %s", got, p.File.SHA256)
		return v
	}
	v.OK = true
	return v
}
