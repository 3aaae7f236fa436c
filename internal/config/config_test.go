package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
}

func TestLoadFileAndEnv(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vigil.yaml")
	yml := "site:\n  id: dien-bien-ioc\n  name: \"Trung tâm IOC tỉnh Điện Biên\"\n  tier: 1\naccess:\n  highest_org: so-khcn\nauth:\n  lockout_window: 45s\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, []string{"VIGIL_SITE_TIER=2", "VIGIL_AUTH_SESSION_IDLE=10m", "OTHER=1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Site.Name != "Trung tâm IOC tỉnh Điện Biên" || c.Site.Tier != 2 || c.Auth.LockoutWindow != 45*time.Second || c.Auth.SessionIdle != 10*time.Minute {
		t.Fatalf("unexpected config: %+v", c)
	}
}

func TestInvalidNamesFieldAndRule(t *testing.T) {
	cases := []struct {
		yaml, env, field, rule string
	}{
		{"site:\n  tier: 4\n", "", "site.tier", "must be 1, 2 or 3"},
		{"recording:\n  retention_days: 7\n", "", "recording.retention_days", "at least 30 days"},
		{"http:\n  listen: 0.0.0.0:8443\n", "", "http.listen", "only allowed on loopback"},
		{"site:\n  id: \"Bad ID\"\n", "", "site.id", "lowercase"},
		{"database:\n  dsn: mysql://x\n", "", "database.dsn", "postgres://"},
		{"", "VIGIL_SITE_TIER=abc", "site.tier", "whole number"},
		{"", "VIGIL_AUTH_LOCKOUT_WINDOW=soon", "auth.lockout_window", "duration"},
		{"site:\n  timezone: Mars/Olympus\n", "", "site.timezone", "IANA"},
		{"web:\n  map_tile_url: \"ftp://tiles/{z}/{x}/{y}.png\"\n", "", "web.map_tile_url", "{z}, {x} and {y}"},
		{"web:\n  map_tile_url: \"https://tiles.example/{z}/{x}.png\"\n", "", "web.map_tile_url", "{z}, {x} and {y}"},
		{"audit:\n  witness_every: 1000\n", "", "audit.witness_every", "between 1 and 100"},
		{"", "VIGIL_AUDIT_WITNESS_INTERVAL=1m", "audit.witness_interval", "between 1s and 10s"},
		{"data_dir: /d\naudit:\n  external_witness_file: /d/audit-witness.jsonl\n", "", "audit.external_witness_file", "another file"},
		{"audit:\n  witness_syslog: syslog.example:514\n", "", "audit.witness_syslog", "tcp://host:port"},
	}
	for _, tc := range cases {
		path := filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(path, []byte(tc.yaml), 0o600)
		var env []string
		if tc.env != "" {
			env = []string{tc.env}
		}
		_, err := Load(path, env)
		if err == nil {
			t.Errorf("%q %q: want error", tc.yaml, tc.env)
			continue
		}
		var es Errors
		if !errors.As(err, &es) {
			t.Errorf("%q: want config.Errors, got %T %v", tc.yaml, err, err)
			continue
		}
		found := false
		for _, e := range es {
			if e.Field == tc.field && strings.Contains(e.Rule, tc.rule) {
				found = true
			}
		}
		if !found {
			t.Errorf("%q %q: want field %s with rule containing %q, got %v", tc.yaml, tc.env, tc.field, tc.rule, err)
		}
	}
}

func TestUnknownFieldRefused(t *testing.T) {
	var c Config
	err := Parse([]byte("site:\n  tierr: 1\n"), &c)
	if err == nil || !strings.Contains(err.Error(), "tierr") {
		t.Fatalf("want an error naming the unknown field, got %v", err)
	}
}

func TestLegalOverrideAllowsShortRetention(t *testing.T) {
	c := Default()
	c.Recording.RetentionDays = 14
	c.Recording.LegalOverrideReason = "Luật chuyên ngành X cho phép 14 ngày"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestEnvNamesCoverFields(t *testing.T) {
	names := strings.Join(EnvNames(), " ")
	for _, want := range []string{"VIGIL_SITE_ID", "VIGIL_DATABASE_DSN", "VIGIL_ACCESS_HIGHEST_ORG", "VIGIL_HTTP_LISTEN", "VIGIL_AUTH_ADMIN_PASSWORD_MAX_AGE"} {
		if !strings.Contains(names, want) {
			t.Errorf("missing %s", want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("site:\n  id: a\n  tier: 2\n"))
	f.Add([]byte("auth:\n  lockout_window: 30s\n"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Default()
		if err := Parse(data, &c); err != nil {
			return
		}
		_ = c.Validate() // must not panic
	})
}
