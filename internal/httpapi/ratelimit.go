package httpapi

import (
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimiter gives each client address its own token bucket, so one abusive
// address cannot lock out everybody else (login, public endpoints). Buckets
// idle for ten minutes are forgotten so the map cannot grow without bound.
type ipLimiter struct {
	mu      sync.Mutex
	perMin  int
	burst   int
	buckets map[string]*bucket
	sweep   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newIPLimiter(perMinute, burst int) *ipLimiter {
	return &ipLimiter{perMin: perMinute, burst: burst, buckets: map[string]*bucket{}}
}

func (l *ipLimiter) allow(addr string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.sweep = now
	}
	b := l.buckets[addr]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(float64(l.perMin)/60), l.burst)}
		l.buckets[addr] = b
	}
	b.seen = now
	return b.lim.Allow()
}

// clientIP is the peer address without the port. Proxies are not trusted:
// a deployment behind one sets it up to pass the real address at the TCP
// level, since X-Forwarded-For is trivially forged.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
