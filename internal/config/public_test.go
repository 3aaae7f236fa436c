package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPublicSectionLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	yml := "public:\n  listen: 127.0.0.1:8081\n  allowed_origins: [\"https://app.dienbien.gov.vn\", \"http://localhost:5173\"]\n  snapshot_interval: 5s\n  rate_per_second: 30\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, []string{"VIGIL_PUBLIC_TRUSTED_PROXIES=10.0.0.0/8, 192.0.2.1", "VIGIL_PUBLIC_BURST=50"})
	if err != nil {
		t.Fatal(err)
	}
	p := c.Public
	if p.Listen != "127.0.0.1:8081" || len(p.AllowedOrigins) != 2 || p.SnapshotInterval != 5*time.Second ||
		p.RatePerSecond != 30 || p.Burst != 50 || len(p.TrustedProxies) != 2 || p.TrustedProxies[1] != "192.0.2.1" {
		t.Fatalf("public = %+v", p)
	}
	// Disabled by default, and the default limits are valid once enabled.
	d := Default()
	if d.Public.Listen != "" {
		t.Fatal("public endpoint enabled by default")
	}
	d.Public.Listen = "127.0.0.1:0"
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestPublicSectionRules(t *testing.T) {
	cases := []struct{ yaml, field, rule string }{
		{"public:\n  listen: 0.0.0.0:8081\n", "public.listen", "only allowed on loopback"},
		{"public:\n  listen: nonsense\n", "public.listen", "host:port"},
		{"http:\n  listen: 127.0.0.1:9000\npublic:\n  listen: 127.0.0.1:9000\n", "public.listen", "its own address"},
		{"public:\n  listen: 0.0.0.0:8554\n  trusted_proxies: [10.0.0.0/8]\n", "public.listen", "rtsp.listen"},
		{"public:\n  tls_cert: a.pem\n", "public.tls_cert", "go together"},
		{"public:\n  allowed_origins: [\"https://app.vn/path\"]\n", "public.allowed_origins[0]", "no path"},
		{"public:\n  allowed_origins: [\"app.vn\"]\n", "public.allowed_origins[0]", "origin"},
		{"public:\n  trusted_proxies: [\"10.0.0.0/33\"]\n", "public.trusted_proxies[0]", "CIDR"},
		{"public:\n  snapshot_interval: 100ms\n", "public.snapshot_interval", "between 1s and 10m"},
		{"public:\n  live_variant: hd\n", "public.live_variant", "main or sub"},
		{"public:\n  rate_per_second: 0\n", "public.rate_per_second", "1–1000000"},
		{"public:\n  burst: 0\n", "public.burst", "1–1000000"},
		{"public:\n  rate_per_second: 50\n  global_rate_per_second: 10\n", "public.global_rate_per_second", "at least public.rate_per_second"},
		{"public:\n  max_inflight: 0\n", "public.max_inflight", "1–1000000"},
		{"public:\n  decision_ttl: 1m\n", "public.decision_ttl", "at once"},
	}
	for _, tc := range cases {
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path, nil)
		var es Errors
		if !errors.As(err, &es) {
			t.Errorf("%q: want config.Errors, got %v", tc.yaml, err)
			continue
		}
		found := false
		for _, e := range es {
			if e.Field == tc.field && strings.Contains(e.Rule, tc.rule) {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: want %s with %q, got %v", tc.yaml, tc.field, tc.rule, err)
		}
	}
	// Behind a trusted proxy, or with TLS, a public address is fine.
	c := Default()
	c.Public.Listen, c.Public.TrustedProxies = "0.0.0.0:8081", []string{"10.0.0.0/8"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
