// Package console is the operator console: a single-page application of
// plain ES modules and CSS, embedded in the binary (no CDN, no bundler; the
// only third-party browser code is the map library under static/vendor,
// copied from the npm registry with its licence, see vendor/README.md). It talks only to the site's own REST API under
// /api/v1, WHEP under /whep/ and LL-HLS under /hls/.
//
// Layout of the URL space it owns (mounted at "/"):
//
//	/                  the page (index.html); views are chosen by the #fragment
//	/ui/<file>         the modules, styles and icons
//	/ui/settings.json  what the page needs of the site configuration
//
// Every response carries a strict Content-Security-Policy: scripts and styles
// come only from this origin, nothing inline.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/config"
)

//go:embed static
var static embed.FS

// Settings are the parts of the site configuration the page reads from
// /ui/settings.json. Nothing secret belongs here: the file is public.
type Settings struct {
	SiteID   string `json:"site_id"`
	SiteName string `json:"site_name"`
	Tier     int    `json:"tier"`
	Province string `json:"province"`
	// Timezone is the display time zone (IANA name); storage is UTC.
	Timezone string `json:"timezone"`
	// Language is the default language of the page: vi or en.
	Language string `json:"language"`
	// IdleSeconds: the page signs out after this long without input (the
	// server ends idle sessions too; the page's timer is the visible part).
	IdleSeconds int `json:"idle_seconds"`
	// MapTileURL is an optional XYZ tile template
	// (https://tiles.example/{z}/{x}/{y}.png). Empty: the map shows camera
	// positions on a plain background.
	MapTileURL string `json:"map_tile_url,omitempty"`
	// Federation is this site's part in the link between tiers: "hub"
	// (tier 1 accepting lower sites), "lower" (a tier-2/3 site linking up),
	// or empty (no federation); the console offers its pages accordingly.
	Federation string `json:"federation,omitempty"`
}

// SettingsOf derives the page settings from a site configuration.
func SettingsOf(cfg config.Config) Settings {
	s := Settings{SiteID: cfg.Site.ID, SiteName: cfg.Site.Name, Tier: cfg.Site.Tier, Province: cfg.Site.Province,
		Timezone: cfg.Site.Timezone, Language: cfg.Site.Language, IdleSeconds: int(cfg.Auth.SessionIdle / time.Second),
		MapTileURL: cfg.Web.MapTileURL}
	switch f := cfg.Federation; {
	case !f.Enabled:
	case cfg.Site.Tier == 1 && (f.LeafListen != "" || f.NatsURL != ""):
		s.Federation = "hub"
	case cfg.Site.Tier > 1:
		s.Federation = "lower"
	}
	if s.Timezone == "" {
		s.Timezone = "Asia/Ho_Chi_Minh"
	}
	if s.Language != "en" {
		s.Language = "vi"
	}
	if s.IdleSeconds <= 0 {
		s.IdleSeconds = 30 * 60
	}
	return s
}

// Handler serves the console for a site configured by cfg. Mount it at "/".
func Handler(cfg config.Config) http.Handler { return New(SettingsOf(cfg)) }

type file struct {
	data  []byte
	etag  string
	ctype string
}

// New serves the console with explicit settings.
func New(s Settings) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // embedded at build time
	}
	files := map[string]file{}
	_ = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		files[p] = newFile(b, mime.TypeByExtension(path.Ext(p)))
		return nil
	})
	js, _ := json.Marshal(s)
	files["settings.json"] = newFile(js, "application/json; charset=utf-8")
	csp := contentSecurityPolicy(s.MapTileURL)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var name string
		switch p := r.URL.Path; {
		case p == "/" || p == "/index.html":
			name = "index.html"
		case strings.HasPrefix(p, "/ui/"):
			name = strings.TrimPrefix(p, "/ui/")
		default:
			http.NotFound(w, r)
			return
		}
		f, ok := files[name]
		if !ok || name == "index.html" && r.URL.Path != "/" && r.URL.Path != "/index.html" {
			http.NotFound(w, r)
			return
		}
		// Revalidate every time (cheap with the ETag): an upgraded binary
		// must never run a stale module next to a new one.
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		if f.ctype != "" {
			h.Set("Content-Type", f.ctype)
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
	})
}

func newFile(b []byte, ctype string) file {
	sum := sha256.Sum256(b)
	if strings.HasPrefix(ctype, "text/javascript") {
		ctype = "text/javascript; charset=utf-8"
	}
	return file{data: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ctype: ctype}
}

// contentSecurityPolicy allows this origin only (plus the tile server for
// images when one is configured). blob: is for media elements; data: for the
// generated icons.
func contentSecurityPolicy(tileURL string) string {
	img := "'self' data: blob:"
	if u, err := url.Parse(strings.NewReplacer("{", "", "}", "").Replace(tileURL)); err == nil && tileURL != "" && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		img += " " + u.Scheme + "://" + u.Host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src " + img +
		"; media-src 'self' blob:; connect-src 'self'; font-src 'self'; manifest-src 'self'" +
		"; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}
