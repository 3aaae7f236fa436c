package secrets

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	k, src, err := LoadKey("", "", t.TempDir())
	if err != nil || !strings.Contains(src, "new") {
		t.Fatalf("LoadKey: %v %s", err, src)
	}
	s, err := NewSealer(k)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal([]byte("admin:Mật-khẩu!123"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "admin") || strings.Contains(sealed, "123") {
		t.Fatal("sealed value shows the secret")
	}
	plain, err := s.Open(sealed)
	if err != nil || string(plain) != "admin:Mật-khẩu!123" {
		t.Fatalf("Open: %q %v", plain, err)
	}
	// Tampering is detected.
	bad := sealed[:len(sealed)-2] + "AA"
	if _, err := s.Open(bad); err == nil {
		t.Fatal("tampered value opened")
	}
	// Another key cannot open it.
	k2 := bytes.Repeat([]byte{7}, 32)
	s2, _ := NewSealer(k2)
	if _, err := s2.Open(sealed); err != ErrCorrupt {
		t.Fatalf("other key: %v", err)
	}
}

func TestKeyFilePersistsAndSiteKey(t *testing.T) {
	dir := t.TempDir()
	k1, _, _ := LoadKey("", "", dir)
	k2, src, err := LoadKey("", "", dir)
	if err != nil || !bytes.Equal(k1, k2) || strings.Contains(src, "new") {
		t.Fatalf("key not persisted: %v %s", err, src)
	}
	fi, _ := os.Stat(filepath.Join(dir, "secret.key"))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	s, _ := NewSealer(k1)
	p1, id1, err := SiteKey(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	p2, id2, err := SiteKey(s, dir)
	if err != nil || id1 != id2 || !bytes.Equal(p1, p2) {
		t.Fatal("site key not stable")
	}
	if _, _, err := LoadKey("not-base64", "", dir); err == nil || !strings.Contains(err.Error(), "secrets.key") {
		t.Fatalf("bad key value: %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"rtsp://admin:hunter2@10.0.0.5:554/Streaming/Channels/101": "rtsp://%2A%2A%2A@10.0.0.5:554/Streaming/Channels/101",
		"rtsp://10.0.0.5/live?token=abc":                           "rtsp://10.0.0.5/live?token=%2A%2A%2A",
		"::bad":                                                    "<invalid url>",
	} {
		got := RedactURL(in)
		if got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(got, "hunter2") || strings.Contains(got, "abc") {
			t.Errorf("secret survived: %q", got)
		}
	}
}

func FuzzOpen(f *testing.F) {
	s, _ := NewSealer(bytes.Repeat([]byte{1}, 32))
	v, _ := s.Seal([]byte("x"))
	f.Add(v)
	f.Add("v1:")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		_, _ = s.Open(in)
		_ = RedactURL(in)
	})
}
