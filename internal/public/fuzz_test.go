package public

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// FuzzCleanPath: whatever the request target, an accepted path is canonical
// and has no way to climb (no dot segment, no encoded slash or dot).
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/api/cameras", "/api/cameras/cam-1/snapshot.jpg", "/live/c/sub/index.m3u8",
		"/../x", "/%2e%2e/x", "//x", "/a/./b", "/a\\b", "/%252e", "/a/%2F", "/static/app.js", "/a/.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		r := &http.Request{Method: "GET", URL: u}
		if !cleanPath(r) {
			return
		}
		p := r.URL.Path
		for _, seg := range strings.Split(p, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("accepted %q with a dot segment (path %q)", target, p)
			}
		}
		if strings.Contains(p, "//") || strings.Contains(p, "\\") || strings.ContainsRune(p, 0) {
			t.Fatalf("accepted %q (path %q)", target, p)
		}
		low := strings.ToLower(r.URL.EscapedPath())
		if strings.Contains(low, "%2f") || strings.Contains(low, "%2e") || strings.Contains(low, "%5c") {
			t.Fatalf("accepted encoded separator in %q", target)
		}
	})
}

// FuzzClientKey: forged forwarding headers never panic, and a peer that is
// not a trusted proxy is always limited as itself.
func FuzzClientKey(f *testing.F) {
	f.Add("203.0.113.7:5000", "198.51.100.1")
	f.Add("10.1.2.3:443", "198.51.100.1, 10.0.0.1")
	f.Add("[2001:db8::1]:1", "::ffff:1.2.3.4,  ,garbage")
	f.Add("10.1.2.3:443", "")
	f.Add("not an address", "1.1.1.1")
	l := newLimiter(1, 1, 1, 1, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		k := l.clientKey(r)
		if l.trusted(peer(r)) {
			return
		}
		r2 := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		if k2 := l.clientKey(r2); k2 != k {
			t.Fatalf("untrusted peer %q chose its key with %q: %v vs %v", remote, xff, k, k2)
		}
	})
}
