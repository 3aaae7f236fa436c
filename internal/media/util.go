package media

import (
	"math/rand/v2"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
)

// secretParams are query parameters whose values are credentials.
var secretParams = map[string]bool{
	"token": true, "password": true, "pass": true, "pwd": true, "passwd": true,
	"secret": true, "key": true, "auth": true, "access_token": true, "sig": true, "signature": true,
}

var reUserinfo = regexp.MustCompile(`(?i)(^|[a-z][a-z0-9+.-]*://)[^/?#@\s]*@`)

// RedactURL returns u fit for a log line: any user:password is replaced by
// *** and credential-like query parameters (token, password, …) lose their
// values. Input that does not parse as a URL is still scrubbed of anything
// that looks like userinfo, so a malformed camera URL cannot leak either.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Opaque != "" {
		return redactLoose(u)
	}
	if p.User != nil {
		p.User = url.User("***")
	}
	if p.RawQuery != "" {
		q, err := url.ParseQuery(p.RawQuery)
		if err != nil {
			p.RawQuery = "***"
		} else {
			for k := range q {
				if secretParams[strings.ToLower(k)] {
					q[k] = []string{"***"}
				}
			}
			p.RawQuery = q.Encode()
		}
	}
	p.Fragment, p.RawFragment = "", ""
	out := p.String()
	// url.String re-escapes "***" in userinfo as "%2A%2A%2A"; keep it readable.
	out = strings.Replace(out, "%2A%2A%2A@", "***@", 1)
	return strings.ReplaceAll(out, "=%2A%2A%2A", "=***")
}

func redactLoose(u string) string {
	out := reUserinfo.ReplaceAllString(u, "${1}***@")
	if i := strings.IndexAny(out, "?#"); i >= 0 {
		out = out[:i] + "?***"
	}
	return out
}

// redactErr renders err for logs and State.LastError without the camera's
// credentials, whatever the library put into the message.
func redactErr(err error, rawURL string) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if p, perr := url.Parse(rawURL); perr == nil && p.User != nil {
		if pw, ok := p.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "***")
		}
		msg = strings.ReplaceAll(msg, p.User.String()+"@", "***@")
	}
	return redactLoose(msg)
}

// tokenFromRequest finds a reader's token: the `token` query parameter wins,
// then the password of Basic authentication (any user name). Digest cannot
// carry a token (the server never sees the password), so the hub offers
// Basic only.
func tokenFromRequest(query string, authz base.HeaderValue) string {
	if t := tokenFromQuery(query); t != "" {
		return t
	}
	_, pass, ok := basicCredentials(authz)
	if ok {
		return pass
	}
	return ""
}

func tokenFromQuery(query string) string {
	if query == "" {
		return ""
	}
	// FFmpeg appends "/trackID=N" to the query in SETUP URLs; gortsplib strips
	// it, but a trailing slash may stay.
	query = strings.TrimSuffix(query, "/")
	q, err := url.ParseQuery(query)
	if err != nil && len(q) == 0 {
		return ""
	}
	return q.Get("token")
}

func basicCredentials(authz base.HeaderValue) (user, pass string, ok bool) {
	if len(authz) == 0 {
		return "", "", false
	}
	var a headers.Authorization
	if err := a.Unmarshal(authz); err != nil || a.Method != headers.AuthMethodBasic {
		return "", "", false
	}
	return a.Username, a.BasicPass, true
}

// parsePath splits an RTSP path into a read target (<camera>/<main|sub>) or
// a push target (push/<camera>, the main stream, or push/<camera>/<main|sub>).
func parsePath(p string) (cameraID string, v Variant, push bool, ok bool) {
	p = strings.Trim(p, "/")
	parts := strings.Split(p, "/")
	switch {
	case len(parts) == 2 && parts[0] == "push" && parts[1] != "":
		return parts[1], Main, true, true
	case len(parts) == 3 && parts[0] == "push" && parts[1] != "" && (parts[2] == string(Main) || parts[2] == string(Sub)):
		return parts[1], Variant(parts[2]), true, true
	case len(parts) == 2 && parts[0] != "" && parts[0] != "push" && (parts[1] == string(Main) || parts[1] == string(Sub)):
		return parts[0], Variant(parts[1]), false, true
	}
	return "", "", false, false
}

// backoff returns the wait before reconnect attempt n (0-based): exponential
// from min to max with "equal jitter" (between half the ceiling and the
// ceiling), so cameras that fell at once (a switch reboot) do not all come
// back in lockstep. The ceiling is capped at max, so a camera back from any
// outage is tried again within max, and one that stays down is tried at
// most once every max/2.
func backoff(n int, min, max time.Duration) time.Duration {
	d := backoffCeil(n, min, max)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// backoffCeil is backoff's ceiling for attempt n: min·2ⁿ, at most max.
func backoffCeil(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// rateLog drops repeats of the same log key within an interval and reports
// how many were dropped, so 1,000 bad clients cannot flood the log.
type rateLog struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
	count map[string]int
}

func newRateLog(every time.Duration) *rateLog {
	return &rateLog{every: every, last: map[string]time.Time{}, count: map[string]int{}}
}

// allow reports whether to log key now, and how many were suppressed since.
func (r *rateLog) allow(key string) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if t, ok := r.last[key]; ok && now.Sub(t) < r.every {
		r.count[key]++
		return false, 0
	}
	if len(r.last) > 10000 { // bound memory against key explosion
		clear(r.last)
		clear(r.count)
	}
	n := r.count[key]
	r.last[key] = now
	r.count[key] = 0
	return true, n
}
