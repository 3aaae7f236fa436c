package console

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/registry"
)

func TestHandlerServesPageWithCSP(t *testing.T) {
	cfg := config.Default()
	cfg.Site.Name = "Trung tâm IOC"
	srv := httptest.NewServer(Handler(cfg))
	defer srv.Close()
	for path, want := range map[string]string{
		"/":                 "text/html",
		"/index.html":       "text/html",
		"/ui/app.js":        "text/javascript",
		"/ui/style.css":     "text/css",
		"/ui/settings.json": "application/json",
		"/ui/icon.svg":      "image/svg+xml",
	} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), want) {
			t.Fatalf("%s: %d %q", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Fatalf("%s: weak CSP %q", path, csp)
		}
		if path == "/ui/settings.json" && !strings.Contains(string(body), `"timezone":"Asia/Ho_Chi_Minh"`) {
			t.Fatalf("settings: %s", body)
		}
		// A second request with the ETag is answered 304.
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("If-None-Match", res.Header.Get("ETag"))
		res2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res2.Body.Close()
		if res2.StatusCode != http.StatusNotModified {
			t.Fatalf("%s: revalidation %d", path, res2.StatusCode)
		}
	}
	for _, path := range []string{"/nope", "/ui/nope.js", "/ui/../console.go", "/ui/index.html/x"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 404 {
			t.Fatalf("%s: %d, want 404", path, res.StatusCode)
		}
	}
	res, _ := http.Post(srv.URL+"/", "text/plain", nil)
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", res.StatusCode)
	}
}

func TestNoInlineScriptOrStyle(t *testing.T) {
	b, _ := fs.ReadFile(static, "static/index.html")
	s := string(b)
	if regexp.MustCompile(`<script(?:[^>]*)>[^<]+</script>`).MatchString(s) || strings.Contains(s, "style=") || strings.Contains(s, "<style") {
		t.Fatal("index.html has inline script or style, which the CSP forbids")
	}
	for _, name := range jsFiles(t) {
		src := read(t, name)
		if strings.Contains(src, "innerHTML") || strings.Contains(src, "eval(") || strings.Contains(src, "new Function") {
			t.Fatalf("%s: innerHTML/eval are not used in the console", name)
		}
		if strings.Contains(src, "setAttribute(\"style\"") || regexp.MustCompile(`\bh\("[a-z]+", \{[^}]*\bstyle:`).MatchString(src) || strings.Contains(src, "http://") && !strings.Contains(name, "dom.js") {
			t.Fatalf("%s: inline style attribute or absolute http URL", name)
		}
	}
}

func jsFiles(t *testing.T) []string {
	t.Helper()
	es, err := fs.ReadDir(static, "static")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if strings.HasSuffix(e.Name(), ".js") {
			out = append(out, e.Name())
		}
	}
	return out
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(static, "static/"+name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dictKeys parses dict.js: the keys of the vi and en blocks.
func dictKeys(t *testing.T) (vi, en map[string]bool) {
	src := read(t, "dict.js")
	i, j := strings.Index(src, "\n  vi: {"), strings.Index(src, "\n  en: {")
	if i < 0 || j < 0 {
		t.Fatal("dict.js: no vi/en blocks")
	}
	key := regexp.MustCompile(`"([a-zA-Z][\w.-]*)":`)
	grab := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, k := range key.FindAllStringSubmatch(s, -1) {
			m[k[1]] = true
		}
		return m
	}
	return grab(src[i:j]), grab(src[j:])
}

// Every string shown is in the dictionary, in both languages.
func TestDictionaryComplete(t *testing.T) {
	vi, en := dictKeys(t)
	var missing []string
	for k := range vi {
		if !en[k] {
			missing = append(missing, "en:"+k)
		}
	}
	for k := range en {
		if !vi[k] {
			missing = append(missing, "vi:"+k)
		}
	}
	use := regexp.MustCompile(`\bt\("([a-zA-Z][\w.-]*)"`)
	for _, name := range jsFiles(t) {
		for _, m := range use.FindAllStringSubmatch(read(t, name), -1) {
			if !strings.HasSuffix(m[1], ".") && !vi[m[1]] {
				missing = append(missing, name+":"+m[1])
			}
		}
	}
	// Keys built at run time.
	dyn := []string{"tier.1", "tier.2", "tier.3", "live.variant.main", "live.variant.sub", "live.err.forbidden", "live.err.codec", "live.err.failed",
		"audit.outcome.ok", "audit.outcome.denied", "audit.outcome.failed", "nav.playback", "nav.incidents"}
	for _, s := range []string{"active", "open", "acknowledged", "resolved", "closed"} {
		dyn = append(dyn, "inc.st."+s)
	}
	for _, s := range []string{"camera_offline", "no_frames", "recording_stopped", "link_down", "storage", "camera_damaged", "image_quality", "power", "network", "security", "other"} {
		dyn = append(dyn, "inc.cat."+s)
	}
	for _, s := range []string{"requested", "approved", "rejected", "installed"} {
		dyn = append(dyn, "inst.st."+s)
	}
	for _, s := range []string{"department", "area_manager"} {
		dyn = append(dyn, "inst.kind."+s)
	}
	for _, s := range []string{"online", "offline", "connecting", "idle", "unknown"} {
		dyn = append(dyn, "status."+s)
	}
	for group, list := range map[string][]string{"purpose": registry.Purposes, "kind": registry.Kinds, "area": registry.Areas, "orgKind": registry.OrgKinds,
		"role": {"admin", "operator", "viewer", "auditor"}, "action": {"view-live", "playback", "export", "ptz"}} {
		for _, v := range list {
			dyn = append(dyn, "enum."+group+"."+v)
		}
	}
	for _, k := range dyn {
		if !vi[k] {
			missing = append(missing, "dynamic:"+k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("dictionary gaps: %v", missing)
	}
}

// The page's value lists are the registry's, in the same order (bit masks
// of grants are decoded by index).
func TestEnumsMatchRegistry(t *testing.T) {
	src := read(t, "enums.js")
	for name, want := range map[string][]string{"PURPOSES": registry.Purposes, "KINDS": registry.Kinds, "AREAS": registry.Areas, "ORG_KINDS": registry.OrgKinds} {
		m := regexp.MustCompile(`export const ` + name + ` = \[([^\]]*)\]`).FindStringSubmatch(src)
		if m == nil {
			t.Fatalf("enums.js: no %s", name)
		}
		var got []string
		for _, q := range regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(m[1], -1) {
			got = append(got, q[1])
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: %v, registry has %v", name, got, want)
		}
	}
}

func TestContentSecurityPolicyTiles(t *testing.T) {
	if csp := contentSecurityPolicy("https://tiles.example.vn/{z}/{x}/{y}.png"); !strings.Contains(csp, "img-src 'self' data: blob: https://tiles.example.vn;") {
		t.Fatal(csp)
	}
	if csp := contentSecurityPolicy("javascript:alert(1)"); strings.Contains(csp, "javascript") {
		t.Fatal(csp)
	}
}

func TestSettingsCarryTheMapTiles(t *testing.T) {
	cfg := config.Default()
	cfg.Web.MapTileURL = "https://tiles.example.vn/{z}/{x}/{y}.png"
	if s := SettingsOf(cfg); s.MapTileURL != cfg.Web.MapTileURL {
		t.Fatalf("map tiles not passed to the page: %+v", s)
	}
	if s := SettingsOf(config.Default()); s.MapTileURL != "" {
		t.Fatalf("no tiles configured, but the page gets %q", s.MapTileURL)
	}
}
