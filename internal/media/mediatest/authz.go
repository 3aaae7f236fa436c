package mediatest

import (
	"context"
	"fmt"
	"sync"

	"github.com/vigil-vms/vigil/internal/media"
)

// Authz is a media.Authorizer for tests. It grants reads to the tokens it
// was made with until Revoke, refuses every other token and every publish,
// and counts what happened so a test can assert how often a reader asks
// and that every grant it got was ended.
type Authz struct {
	mu      sync.Mutex
	revoke  map[string]chan struct{} // the tokens still granted
	granted int
	denied  int
	ends    []string
}

// Counts is a snapshot of what an Authz has seen.
type Counts struct {
	Asks    int      // AuthorizeRead calls: Granted + Denied
	Granted int      // reads granted
	Denied  int      // reads refused
	Ends    []string // the reasons grants were ended with, in order
}

// NewAuthz grants tokens.
func NewAuthz(tokens ...string) *Authz {
	a := &Authz{revoke: map[string]chan struct{}{}}
	for _, t := range tokens {
		a.revoke[t] = make(chan struct{})
	}
	return a
}

// AuthorizeRead grants a token still granted and refuses any other. The
// grant's End records only its first reason: Ends counts grants ended,
// not calls.
func (a *Authz) AuthorizeRead(_ context.Context, req media.ReadRequest) (media.ReadGrant, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ch, ok := a.revoke[req.Token]
	if !ok {
		a.denied++
		return media.ReadGrant{}, fmt.Errorf("%w: unknown token", media.ErrDenied)
	}
	a.granted++
	var once sync.Once
	return media.ReadGrant{Subject: "tester", Revoked: ch, End: func(reason string) {
		once.Do(func() {
			a.mu.Lock()
			a.ends = append(a.ends, reason)
			a.mu.Unlock()
		})
	}}, nil
}

// AuthorizePublish refuses: no test here pushes into the hub.
func (a *Authz) AuthorizePublish(context.Context, media.PublishRequest) (media.ReadGrant, error) {
	return media.ReadGrant{}, media.ErrDenied
}

// Revoke ends the grants of token (their Revoked channel closes) and
// refuses it from now on. The token must be one still granted.
func (a *Authz) Revoke(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	close(a.revoke[token])
	delete(a.revoke, token)
}

// Counts returns what a has seen so far.
func (a *Authz) Counts() Counts {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Counts{Asks: a.granted + a.denied, Granted: a.granted, Denied: a.denied, Ends: append([]string(nil), a.ends...)}
}
