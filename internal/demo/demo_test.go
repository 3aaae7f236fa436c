package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/demo"
)

// TestDemoRunsAndScopes starts the one-command demo on free ports and checks
// what a newcomer is promised: demo.json with the URLs and credentials, the
// admin sees every camera, the police officer only the police's, and a
// second start on the same folder keeps the accounts.
func TestDemoRunsAndScopes(t *testing.T) {
	dir := t.TempDir()
	opt := demo.Options{DataDir: dir, HTTPAddr: "127.0.0.1:0", RTSPAddr: "127.0.0.1:0", SimAddr: "127.0.0.1:0", Argon2: auth.TestArgon2}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, s, info, err := demo.Run(ctx, opt, log)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"console_url", "api_url", "rtsp_url", "admin_user", "admin_password"} {
		if v, _ := j[k].(string); v == "" {
			t.Errorf("demo.json lacks %s", k)
		}
	}
	api := info.APIURL
	count := func(user, pw string) int {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		body, _ := json.Marshal(map[string]string{"username": user, "password": pw})
		res, err := c.Post(api+"/auth/login", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("login %s: %v", user, err)
		}
		if res.StatusCode != 200 {
			b, _ := io.ReadAll(res.Body)
			t.Fatalf("login %s: %d %s", user, res.StatusCode, b)
		}
		res.Body.Close()
		res, err = c.Get(api + "/cameras?limit=100")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var p struct{ Total int }
		_ = json.NewDecoder(res.Body).Decode(&p)
		return p.Total
	}
	if n := count(info.AdminUser, info.AdminPassword); n != 8 {
		t.Errorf("admin sees %d cameras, want all 8", n)
	}
	if n := count("congan", info.Users["congan"]); n == 0 || n >= 8 {
		t.Errorf("police officer sees %d cameras: want some, not all (no classified one)", n)
	}
	if n := count("kiemlam", info.Users["kiemlam"]); n != 1 {
		t.Errorf("forest rangers see %d cameras, want the forest one", n)
	}
	a.Close()
	s.Close()

	// A second start keeps the accounts and their passwords.
	a2, s2, info2, err := demo.Run(ctx, opt, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	defer a2.Close()
	api = info2.APIURL
	if info2.AdminPassword != info.AdminPassword {
		t.Fatal("restart changed the admin password")
	}
	if n := count(info2.AdminUser, info2.AdminPassword); n != 8 {
		t.Errorf("after restart admin sees %d cameras", n)
	}
}
