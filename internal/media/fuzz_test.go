package media

import (
	"net/url"
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"rtsp://admin:hunter2@10.0.0.5:554/Streaming/101": "rtsp://***@10.0.0.5:554/Streaming/101",
		"rtsp://10.0.0.5/live?token=abc&ch=1":             "rtsp://10.0.0.5/live?ch=1&token=***",
		"rtsp://user@host/x":                              "rtsp://***@host/x",
		"not a url with user:pw@host":                     "not a url with user:pw@host",
		"rtsp://a:b@h/p%zz":                               "rtsp://***@h/p%zz",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzRedactURL(f *testing.F) {
	f.Add("rtsp://admin:hunter2@10.0.0.5:554/Streaming/101?token=abcdef")
	f.Add("rtsps://u:p@[::1]:322/x")
	f.Add("rtsp://a:b@h/p%zz")
	f.Fuzz(func(t *testing.T, in string) {
		out := RedactURL(in)
		p, err := url.Parse(in)
		if err != nil || p.User == nil {
			return
		}
		pw, ok := p.User.Password()
		// Only check passwords that cannot appear elsewhere by coincidence.
		if ok && len(pw) >= 6 && strings.Count(in, pw) == 1 && strings.Contains(out, pw) {
			t.Fatalf("password %q survives in %q", pw, out)
		}
	})
}

func FuzzTokenFromRequest(f *testing.F) {
	f.Add("token=abc", "Basic dXNlcjpnb29k")
	f.Add("", "Basic dXNlcjpnb29k")
	f.Add("token=%zz&token=x", "Digest username=\"a\"")
	f.Add("a=b/", "")
	f.Fuzz(func(t *testing.T, query, authz string) {
		var h base.HeaderValue
		if authz != "" {
			h = base.HeaderValue{authz}
		}
		_ = tokenFromRequest(query, h)
	})
}

func FuzzParsePath(f *testing.F) {
	f.Add("/cam1/main")
	f.Add("/push/cam1")
	f.Add("//sub")
	f.Add("/push/")
	f.Add("/push/cam1/sub")
	f.Add("/push/cam1/main/")
	f.Add("/push/cam1/other")
	f.Fuzz(func(t *testing.T, p string) {
		id, v, push, ok := parsePath(p)
		if !ok {
			return
		}
		if id == "" || strings.Contains(id, "/") {
			t.Fatalf("bad id %q from %q", id, p)
		}
		// Reads and pushes alike name main or sub (a bare push path is main).
		if v != Main && v != Sub {
			t.Fatalf("bad variant %q from %q", v, p)
		}
		if push && v == Sub && !strings.HasSuffix(strings.TrimRight(p, "/"), "/sub") {
			t.Fatalf("sub push from %q", p)
		}
	})
}
