// Package apptest starts a real site (every room wired as in `vigil serve`)
// for end-to-end tests, on a database of either engine, and gives tests an
// HTTP client that logs in like a browser (cookie + CSRF) or uses a token.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/app"
	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
)

// Password is the password every seeded test user ends up with.
const Password = "Mật-khẩu-Thử-1"

// Site is a running site.
type Site struct {
	T    testing.TB
	App  *app.App
	Base string // http://127.0.0.1:port
}

// Options tune Start.
type Options struct {
	Sources map[string][2]string // camera id → main/sub URL for Seed
	Mutate  func(*config.Config)
}

// Start opens and serves a site on db with loopback listeners on free ports.
func Start(t testing.TB, db *store.DB, opt Options) *Site {
	t.Helper()
	cfg := config.Default()
	cfg.Site.ID, cfg.Site.Name = "test-site", "Trung tâm thử nghiệm"
	cfg.DataDir = t.TempDir()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.RTSP.Listen = "127.0.0.1:0"
	cfg.Access.HighestOrg = "so-khcn"
	cfg.Auth.LoginRatePerMinute = 600
	if opt.Mutate != nil {
		opt.Mutate(&cfg)
	}
	lvl := slog.LevelWarn
	if os.Getenv("VIGIL_TEST_LOG") != "" {
		lvl = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	ctx := context.Background()
	a, err := app.Open(ctx, cfg, log, app.Options{Argon2: auth.TestArgon2, DB: db})
	if err != nil {
		t.Fatalf("open site: %v", err)
	}
	if err := a.Serve(ctx); err != nil {
		a.Close()
		t.Fatalf("serve site: %v", err)
	}
	t.Cleanup(a.Close)
	return &Site{T: t, App: a, Base: a.URL()}
}

var seedActor = registry.Actor{UserID: "system", Username: "test-seed", Remote: "local"}

// SeedWorld creates a small province: the department (highest access), the
// police (user agency: security and traffic), a commune with its own tier-3
// system, an operating unit, and cameras of several classes. Camera stream
// URLs come from urls (id → main, sub) when given.
func (s *Site) SeedWorld(urls map[string][2]string) {
	t, ctx, r := s.T, context.Background(), s.App.Registry
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []registry.Organisation{
		{ID: "so-khcn", Name: "Sở Khoa học và Công nghệ", Kind: registry.OrgDepartment, ClearedClassified: true},
		{ID: "cong-an", Name: "Công an tỉnh", Kind: registry.OrgUserAgency, Functions: []string{"security_order", "traffic_safety"}},
		{ID: "ubnd-xa", Name: "UBND xã Mường Phăng", Kind: registry.OrgCommune, Functions: []string{"urban_order"}},
		{ID: "vnpt", Name: "VNPT Điện Biên", Kind: registry.OrgOperatingUnit},
	} {
		_, err := r.CreateOrganisation(ctx, seedActor, o)
		must(err)
	}
	for _, sy := range []registry.System{
		{ID: "ioc", Name: "IOC tỉnh", Tier: 1, ManagingOrgID: "so-khcn", OperatingOrgID: "vnpt", SiteID: "test-site"},
		{ID: "xa", Name: "Camera xã Mường Phăng", Tier: 3, ManagingOrgID: "ubnd-xa", OperatingOrgID: "vnpt", SiteID: "test-site"},
	} {
		_, err := r.CreateSystem(ctx, seedActor, sy)
		must(err)
	}
	for _, c := range []registry.CameraInput{
		{ID: "cam-traffic", SystemID: "ioc", Name: "Ngã tư Điện Biên Phủ", Kinds: []string{"traffic_counting"}, Purposes: []string{"traffic_safety"}, Area: "intersection", Lat: 21.386, Lon: 103.019},
		{ID: "cam-urban", SystemID: "ioc", Name: "Phố đi bộ", Kinds: []string{"security"}, Purposes: []string{"urban_order"}, Area: "public_other", Lat: 21.387, Lon: 103.016},
		{ID: "cam-secret", SystemID: "ioc", Name: "Khu vực mật", Kinds: []string{"security"}, Purposes: []string{"security_order"}, Area: "internal", Lat: 21.39, Lon: 103.018, Classified: true},
		{ID: "cam-xa", SystemID: "xa", Name: "Trụ sở xã", Kinds: []string{"security"}, Purposes: []string{"urban_order"}, Area: "public_other", Lat: 21.453, Lon: 103.156},
	} {
		if u, ok := urls[c.ID]; ok {
			c.MainURL, c.SubURL = u[0], u[1]
		} else {
			c.Push = true // no stream source: the camera would push to us
		}
		_, err := r.CreateCamera(ctx, seedActor, c)
		must(err)
	}
	s.App.ReloadMedia(ctx)
}

// User creates a user whose password is Password (first-login change done).
func (s *Site) User(username, org string, roles ...string) *auth.User {
	t, ctx := s.T, context.Background()
	t.Helper()
	by := auth.Actor{UserID: "system", Username: "test-seed", Remote: "local"}
	initial := "Khởi-tạo-9!x"
	u, err := s.App.Auth.CreateUser(ctx, by, auth.NewUser{Username: username, DisplayName: username, OrgID: org, Roles: roles, InitialPassword: initial})
	if err != nil {
		t.Fatalf("create user %s: %v", username, err)
	}
	res, err := s.App.Auth.Login(ctx, username, initial, "", "local")
	if err != nil {
		t.Fatalf("first login %s: %v", username, err)
	}
	if err := s.App.Auth.ChangePassword(ctx, res.Principal, initial, Password, "local"); err != nil {
		t.Fatalf("change password %s: %v", username, err)
	}
	return u
}

// Client is a browser-like API client.
type Client struct {
	s     *Site
	http  *http.Client
	csrf  string
	token string
	Lang  string
	extra http.Header
}

// Anonymous is a client with no identity.
func (s *Site) Anonymous() *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{s: s, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// Login signs in with Password and fails the test otherwise.
func (s *Site) Login(username string) *Client {
	s.T.Helper()
	c := s.Anonymous()
	var out struct {
		State     string `json:"state"`
		CSRFToken string `json:"csrf_token"`
	}
	st := c.Do("POST", "/api/v1/auth/login", map[string]string{"username": username, "password": Password}, &out)
	if st != 200 || out.State != "ok" {
		s.T.Fatalf("login %s: status %d state %q", username, st, out.State)
	}
	c.csrf = out.CSRFToken
	return c
}

// WithToken is a client that sends an API token.
func (s *Site) WithToken(tok string) *Client {
	c := s.Anonymous()
	c.token = tok
	return c
}

// WithHeader is a copy of the client that also sends header k: v (a Range
// request, say).
func (c *Client) WithHeader(k, v string) *Client {
	cp := *c
	cp.extra = c.extra.Clone()
	if cp.extra == nil {
		cp.extra = http.Header{}
	}
	cp.extra.Set(k, v)
	return &cp
}

// NoCSRF drops the CSRF token (to test its enforcement).
func (c *Client) NoCSRF() *Client { cp := *c; cp.csrf = ""; return &cp }

// Do sends a JSON request (body may be nil, []byte or a value) and decodes
// the JSON answer into out when out is not nil. It returns the status.
func (c *Client) Do(method, path string, body any, out any) int {
	c.s.T.Helper()
	st, data, _ := c.Raw(method, path, "application/json", body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			c.s.T.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return st
}

// Raw sends a request and returns status, body and headers.
func (c *Client) Raw(method, path, contentType string, body any) (int, []byte, http.Header) {
	c.s.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.s.T.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.s.Base+path, rd)
	if err != nil {
		c.s.T.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.Lang != "" {
		req.Header.Set("Accept-Language", c.Lang)
	}
	for k, v := range c.extra {
		req.Header[k] = v
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.s.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, data, res.Header
}

// Stream opens a long response (server-sent events) with the client's
// session; the caller reads and closes the body, and ctx ends it.
func (c *Client) Stream(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.s.Base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := *c.http
	hc.Timeout = 0 // the stream lasts; ctx bounds it
	return hc.Do(req)
}
