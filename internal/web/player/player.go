// Package player is a minimal live-video page: WebRTC (WHEP) first, LL-HLS
// where the browser plays HLS natively (Safari). Plain ES module, no CDN, no
// bundler, embedded in the binary.
//
// URL: /player/?camera=<id>&variant=main|sub&token=<stream token>[&lang=en]
package player

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"time"
)

//go:embed static
var static embed.FS

// Handler serves the page. Mount it at /player/ (with or without
// http.StripPrefix): it only looks at the last path segment.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // embedded at build time; cannot fail at run time
	}
	files := http.FileServer(http.FS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := path.Base(r.URL.Path)
		switch name {
		case "player.js", "player.css":
		default:
			name = "index.html"
		}
		h := w.Header()
		// The token travels in the page URL; keep it out of Referer headers
		// and out of shared caches.
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'self'; media-src 'self' blob:; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'")
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		if name == "index.html" {
			// FileServer redirects /index.html to ./, which loops under
			// /player/; serve the bytes directly.
			b, _ := fs.ReadFile(sub, "index.html")
			h.Set("Content-Type", "text/html; charset=utf-8")
			http.ServeContent(w, r2, "index.html", time.Time{}, bytes.NewReader(b))
			return
		}
		files.ServeHTTP(w, r2)
	})
}
