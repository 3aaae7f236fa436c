// Package fedtest holds what the federation's tests share across packages
// (internal/federation's own tests, cmd/vigil's multi-process test). Only
// tests import it; TestNotInProduct checks that the binary never does.
package fedtest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// LinkProxy stands between lower sites and tier 1's leaf port so a test can
// cut the link and restore it, like a commune's 4G link dropping.
type LinkProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	target string
	cut    bool
	conns  map[net.Conn]struct{}
}

// NewLinkProxy listens on a free loopback port; it closes with the test.
func NewLinkProxy(t testing.TB) *LinkProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &LinkProxy{ln: ln, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.Cut() })
	return p
}

// Addr is where lower sites dial.
func (p *LinkProxy) Addr() string { return p.ln.Addr().String() }

// SetTarget is tier 1's leaf listener (known once tier 1 runs).
func (p *LinkProxy) SetTarget(addr string) { p.mu.Lock(); p.target = addr; p.mu.Unlock() }

func (p *LinkProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut, target := p.cut, p.target
		p.mu.Unlock()
		if cut || target == "" {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.cut { // cut while dialling
			p.mu.Unlock()
			c.Close()
			u.Close()
			continue
		}
		p.conns[c], p.conns[u] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go func() { _, _ = io.Copy(u, c); u.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, u); u.Close(); c.Close() }()
	}
}

// Cut drops every connection and refuses new ones until Restore.
func (p *LinkProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]struct{}{}
}

// Restore lets connections through again.
func (p *LinkProxy) Restore() { p.mu.Lock(); p.cut = false; p.mu.Unlock() }
