package httpread

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTokenAndCORS(t *testing.T) {
	r := httptest.NewRequest("GET", "/hls/c/main/index.m3u8?token=q", nil)
	if Token(r) != "q" {
		t.Fatal("query token")
	}
	r.Header.Set("Authorization", "Bearer  h ")
	if Token(r) != "h" {
		t.Fatal("bearer token wins")
	}
	r.Header.Set("Authorization", "Basic Zm9v")
	if Token(r) != "" {
		t.Fatal("another scheme must give no token, not the query's")
	}
	w := httptest.NewRecorder()
	r.Header.Set("Origin", "https://app.example")
	if AllowOrigin(w, r, []string{"https://other.example"}) || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("origin not in list allowed")
	}
	if !AllowOrigin(w, r, []string{"https://APP.example"}) || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatal("listed origin refused")
	}
	w = httptest.NewRecorder()
	WriteError(w, 403, "forbidden", "không có quyền")
	if w.Code != 403 || !strings.Contains(w.Body.String(), `"code":"forbidden"`) || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("error body: %d %s", w.Code, w.Body)
	}
}

func FuzzToken(f *testing.F) {
	f.Add("Bearer abc", "")
	f.Add("", "tok")
	f.Add("bearer   x  ", "y")
	f.Add("Basic Zm9v", "z")
	f.Fuzz(func(t *testing.T, auth, query string) {
		r, err := http.NewRequest(http.MethodGet, "http://x/hls/c/main/index.m3u8", nil)
		if err != nil {
			t.Skip()
		}
		q := r.URL.Query()
		q.Set("token", query)
		r.URL.RawQuery = q.Encode()
		if auth != "" {
			r.Header["Authorization"] = []string{auth}
		}
		tok := Token(r)
		if auth == "" && tok != query {
			t.Fatalf("query token lost: %q", tok)
		}
		if auth != "" && tok != "" && !strings.Contains(auth, tok) {
			t.Fatalf("token %q not from header %q", tok, auth)
		}
	})
}
