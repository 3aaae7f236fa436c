package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFederationValidation(t *testing.T) {
	cases := []struct{ yaml, field, rule string }{
		{"federation:\n  leaf_listen: 0.0.0.0:7422\n", "federation.leaf_listen", "must use TLS"},
		{"site:\n  tier: 2\nfederation:\n  leaf_listen: 127.0.0.1:7422\n", "federation.leaf_listen", "only a tier-1 site"},
		{"federation:\n  leaf_tls_cert: a.pem\n", "federation.leaf_tls_cert", "go together"},
		{"site:\n  tier: 3\nfederation:\n  enroll_token: x\n", "federation.enroll_token", "go together"},
		{"site:\n  tier: 3\nfederation:\n  enroll_token: x\n  upstream: ftp://x\n", "federation.upstream", "http(s)://"},
		{"federation:\n  enroll_token: x\n  upstream: https://x\n", "federation.enroll_token", "tier-1 site does not enroll"},
		{"federation:\n  connect_deadline: 200h\n", "federation.connect_deadline", "within 5 days"},
		{"federation:\n  link_down_alert: 10ms\n", "federation.link_down_alert", "at least 1s"},
		{"federation:\n  status_interval: 1ms\n", "federation.status_interval", "between"},
		{"site:\n  tier: 2\nfederation:\n  nats_url: nats://n1:4222\n", "federation.nats_url", "only a tier-1 site"},
		{"federation:\n  nats_url: nats://n1:4222\n  leaf_listen: 127.0.0.1:7422\n", "federation.nats_url", "exclude each other"},
		{"federation:\n  nats_url: nats://n1:4222\n", "federation.leaf_url", "required with nats_url"},
		{"federation:\n  nats_url: nats://n1:4222\n", "federation.nats_operator_seed_file", "required with nats_url"},
		{"federation:\n  nats_url: nats://n1:4222\n", "federation.nats_system_creds", "required with nats_url"},
		{"federation:\n  nats_url: n1:4222\n", "federation.nats_url", "nats://"},
		{"federation:\n  nats_system_creds: sys.creds\n", "federation.nats_system_creds", "only with federation.nats_url"},
		{"federation:\n  nats_ca: ca.pem\n", "federation.nats_ca", "only with federation.nats_url"},
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
			found = found || (e.Field == tc.field && strings.Contains(e.Rule, tc.rule))
		}
		if !found {
			t.Errorf("%q: want %s ~ %q, got %v", tc.yaml, tc.field, tc.rule, err)
		}
	}
	ok := "federation:\n  leaf_listen: 127.0.0.1:7422\n  link_down_alert: 2m\n"
	path := filepath.Join(t.TempDir(), "ok.yaml")
	_ = os.WriteFile(path, []byte(ok), 0o600)
	if _, err := Load(path, []string{"VIGIL_FEDERATION_SHARE_SYSTEMS=a, b"}); err != nil {
		t.Fatalf("valid federation config refused: %v", err)
	}
	ext := "federation:\n  nats_url: nats://n1:4222, tls://n2:4222\n  leaf_url: tls://nats.example.vn:7422\n" +
		"  nats_operator_seed_file: op.nk\n  nats_system_creds: sys.creds\n  nats_ca: /etc/vigil/nats-ca.pem\n"
	path = filepath.Join(t.TempDir(), "ext.yaml")
	_ = os.WriteFile(path, []byte(ext), 0o600)
	if _, err := Load(path, nil); err != nil {
		t.Fatalf("valid external NATS config refused: %v", err)
	}
}
