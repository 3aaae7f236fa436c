package public

import (
	"context"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// gate answers "is this camera public now?" for every request. An LL-HLS
// player makes several requests a second, so a thousand viewers would be
// thousands of identical queries: the answer of the one SQL predicate is
// kept for ttl (0: ask the database every time), concurrent askers share one
// query, and Invalidate (called by the app after any registry change) drops
// every kept answer at once. A query that started before an Invalidate does
// not store its answer, so a change can never be undone by a slow query.
type gate struct {
	q   querier
	ttl time.Duration

	mu    sync.Mutex
	gen   uint64
	known map[string]gateEntry
	sf    singleflight.Group
}

type gateEntry struct {
	ok bool
	at time.Time
}

const maxGateEntries = 10000

func newGate(q querier, ttl time.Duration) *gate {
	return &gate{q: q, ttl: ttl, known: map[string]gateEntry{}}
}

func (g *gate) invalidate() {
	g.mu.Lock()
	g.gen++
	clear(g.known)
	g.mu.Unlock()
}

func (g *gate) allowed(ctx context.Context, id string) (bool, error) {
	if !ValidID(id) {
		return false, nil
	}
	if g.ttl <= 0 {
		return g.q.allowed(ctx, id)
	}
	now := time.Now()
	g.mu.Lock()
	e, hit := g.known[id]
	gen := g.gen
	g.mu.Unlock()
	if hit && now.Sub(e.at) < g.ttl {
		return e.ok, nil
	}
	// Keyed by generation too: a caller after an Invalidate never joins a
	// query that started before it.
	v, err, _ := g.sf.Do(strconv.FormatUint(gen, 10)+"/"+id, func() (any, error) {
		// Shared by several requests: not bound to the first one's context.
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		ok, err := g.q.allowed(qctx, id)
		if err != nil {
			return false, err
		}
		g.mu.Lock()
		if g.gen == gen {
			if len(g.known) >= maxGateEntries {
				clear(g.known)
			}
			g.known[id] = gateEntry{ok: ok, at: now}
		}
		g.mu.Unlock()
		return ok, nil
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}
