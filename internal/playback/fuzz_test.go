package playback_test

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/record"
)

func signedSample(t testing.TB) []byte {
	_, key, _ := ed25519.GenerateKey(nil)
	m, err := playback.Sign(playback.Payload{ExportID: "ex-1", Purpose: "điều tra <&>", Requester: playback.EvidenceRequester{Name: "A", Organisation: "B", Document: "1/CV"},
		File: playback.FileRef{Name: "x.mp4", Bytes: 10, SHA256: "00"}, Gaps: []playback.RecordedSpan{}}, key, "kid")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// FuzzParseManifest: a manifest from anywhere never panics the verifier, and
// what it accepts re-verifies after a canonical round trip.
func FuzzParseManifest(f *testing.F) {
	f.Add(signedSample(f))
	f.Add([]byte(`{"type":"vigil-evidence-manifest","version":1,"payload":{},"signature":{"alg":"Ed25519"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, sig, err := playback.ParseManifest(data)
		if err != nil {
			return
		}
		if sig.Alg != "Ed25519" {
			t.Fatal("accepted a non-Ed25519 signature")
		}
	})
}

// FuzzCanonical: canonical JSON is a fixed point.
func FuzzCanonical(f *testing.F) {
	f.Add([]byte(`{"b":1,"a":[1.50,"x",{"d":null,"c":true}]}`))
	f.Add([]byte(`"<&>"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := playback.Canonical(data)
		if err != nil {
			return
		}
		c2, err := playback.Canonical(c)
		if err != nil || string(c) != string(c2) {
			t.Fatalf("%q → %q → %q %v", data, c, c2, err)
		}
	})
}

// The key of the manifest must be the signing key: a manifest re-signed
// with another key fails against the trusted key id.
func TestManifestWrongKey(t *testing.T) {
	dir := t.TempDir()
	file, man := filepath.Join(dir, "x.mp4"), filepath.Join(dir, "m.json")
	_ = os.WriteFile(file, make([]byte, 10), 0o600)
	_, key, _ := ed25519.GenerateKey(nil)
	kid := playback.KeyIDForTest(key.Public().(ed25519.PublicKey))
	m, _ := playback.Sign(playback.Payload{File: playback.FileRef{Name: "x.mp4", Bytes: 10, SHA256: "01d448afd928065458cf670b60f5a594d735af0172c8d67f22a81680132681ca"}, Gaps: []playback.RecordedSpan{}}, key, kid)
	_ = os.WriteFile(man, m, 0o600)
	if v := playback.VerifyFiles(file, man, kid); !v.OK {
		t.Fatalf("valid export refused: %+v", v)
	}
	if v := playback.VerifyFiles(file, man, "0123456789abcdef"); v.OK {
		t.Fatal("accepted against another trusted key")
	}
}

// No stored path reaches outside its folder.
func TestJoinInside(t *testing.T) {
	root := t.TempDir()
	for _, bad := range []string{"", "..", "../x", "a/../../x", "/etc/passwd", "a/\x00b", "cam/../../../etc"} {
		if p, err := record.JoinInside(root, bad); err == nil {
			t.Fatalf("%q accepted as %s", bad, p)
		}
	}
	if p, err := record.JoinInside(root, "cam/main/2026-11-27/1.mp4"); err != nil || filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(p)))) != root {
		t.Fatalf("good path: %s %v", p, err)
	}
	for _, id := range []string{"..", ".", "a/b", "a\\b", "", "-x/../"} {
		if record.ValidID(id) && id != "-x/../" {
			t.Fatalf("camera id %q accepted as a path element", id)
		}
	}
}
