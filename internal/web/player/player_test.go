package player

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerServesPage(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/player/", Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for path, want := range map[string]string{
		"/player/?camera=c&token=x": "text/html",
		"/player/index.html":        "text/html",
		"/player/player.js":         "javascript",
		"/player/player.css":        "text/css",
	} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Type"), want) {
			t.Fatalf("%s: %d %q", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("%s: token could leak via Referer", path)
		}
	}
	res, _ := http.Post(srv.URL+"/player/", "text/plain", nil)
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", res.StatusCode)
	}
}
