package public

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is the abuse protection of R-PUB-2: a token bucket per client
// address (IPv6 clients by /64, since one subscriber holds a whole /64), a
// global bucket, and a cap on requests in flight. Buckets idle for ten
// minutes are forgotten, and the table is bounded, so an attacker rotating
// addresses costs memory only up to maxBuckets.
type limiter struct {
	perSec  rate.Limit
	burst   int
	global  *rate.Limiter
	slots   chan struct{}
	proxies []netip.Prefix

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
	sweep   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

const maxBuckets = 200000

func newLimiter(perSec, burst, globalPerSec, maxInflight int, proxies []netip.Prefix) *limiter {
	return &limiter{
		perSec: rate.Limit(perSec), burst: burst,
		global:  rate.NewLimiter(rate.Limit(globalPerSec), globalPerSec), // one second's worth
		slots:   make(chan struct{}, maxInflight),
		proxies: proxies,
		buckets: map[netip.Addr]*bucket{},
	}
}

// clientKey is the address the limits apply to: the peer, or, when the peer
// is a trusted proxy (the CDN), the right-most X-Forwarded-For address that
// is not itself a trusted proxy. Untrusted peers cannot choose their key.
func (l *limiter) clientKey(r *http.Request) netip.Addr {
	addr := peer(r)
	if !addr.IsValid() {
		return addr
	}
	if l.trusted(addr) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			a = a.Unmap()
			addr = a
			if !l.trusted(a) {
				break
			}
		}
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.Addr()
	}
	return addr
}

// peer is the address of the TCP peer (invalid if unparsable).
func peer(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return addr.Unmap()
}

func (l *limiter) trusted(a netip.Addr) bool {
	for _, p := range l.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// allow reports whether the client may make one more request now.
func (l *limiter) allow(key netip.Addr) bool {
	now := time.Now()
	l.mu.Lock()
	if now.Sub(l.sweep) > time.Minute || len(l.buckets) >= maxBuckets {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		if len(l.buckets) >= maxBuckets {
			clear(l.buckets) // under an address-rotation flood, forget all
		}
		l.sweep = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.perSec, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	ok = b.lim.AllowN(now, 1)
	l.mu.Unlock()
	return ok
}

// acquire takes an in-flight slot without waiting.
func (l *limiter) acquire() bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (l *limiter) release() { <-l.slots }
