package media

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
)

// OverflowReader may be implemented by a UnitReader that wants to know when
// its queue overflowed and units were dropped (the hub then skips to the next
// keyframe for that reader, so what it gets stays decodable).
type OverflowReader interface {
	OnOverflow(dropped int)
}

// reader is one attached consumer with its own bounded queue and goroutine.
type reader struct {
	s       *stream
	proto   Protocol
	subject string
	desc    *description.Session
	ch      chan *frame
	done    chan struct{}
	deliver func(*frame)
	ovf     OverflowReader
	onClose func(reason string)
	grant   ReadGrant
	// internal readers (recorder, relay) survive camera outages
	internal bool

	waitKey   bool // guarded by s.mu: skip to the next keyframe after a loss
	dropped   atomic.Uint64
	closeOnce sync.Once
}

// push queues a frame without ever blocking the camera's goroutine. Called
// with s.mu held.
func (r *reader) push(f *frame) {
	if r.waitKey {
		if !f.t.video || !f.u.RandomAccess {
			r.drop()
			return
		}
		r.waitKey = false
	}
	select {
	case r.ch <- f:
	default:
		r.waitKey = r.s.hasVideo
		r.drop()
	}
}

func (r *reader) drop() {
	r.dropped.Add(1)
	r.s.dropped.Add(1)
	r.s.hub.m.droppedUnits.WithLabelValues(string(r.proto)).Inc()
}

func (r *reader) run() {
	for {
		select {
		case <-r.done:
			return
		case f := <-r.ch:
			r.deliver(f)
			if r.ovf != nil {
				if d := r.dropped.Swap(0); d > 0 {
					r.ovf.OnOverflow(int(d))
				}
			}
		}
	}
}

// close detaches the reader; the grant's End is called exactly once.
func (r *reader) close(reason string) {
	r.closeOnce.Do(func() {
		r.s.mu.Lock()
		delete(r.s.readers, r)
		r.s.mu.Unlock()
		close(r.done)
		r.s.removeDemand()
		if r.onClose != nil {
			r.onClose(reason)
		}
		if r.grant.End != nil {
			r.grant.End(reason)
		}
		r.s.log.Debug("reader closed", "protocol", string(r.proto), "subject", r.subject, "reason", reason)
	})
}

// attach waits for the stream, then registers a reader whose queue starts
// with the GOP cache, so it can decode from the first unit it gets. The
// caller has already counted the reader in the stream's demand.
func (h *Hub) attach(ctx context.Context, s *stream, r *reader) error {
	wctx, cancel := context.WithTimeout(ctx, h.cfg.WaitReady)
	defer cancel()
	if err := s.waitReady(wctx); err != nil {
		return err
	}
	s.mu.Lock()
	if s.status != StatusOnline || s.desc == nil {
		s.mu.Unlock()
		return ErrUnavailable
	}
	r.s = s
	r.desc = s.desc
	r.ch = make(chan *frame, max(h.cfg.ReaderQueue, len(s.gop)+h.cfg.ReaderQueue/2))
	r.done = make(chan struct{})
	for _, f := range s.gop {
		r.ch <- f
	}
	s.readers[r] = struct{}{}
	s.mu.Unlock()

	go r.run()
	if rev := r.grant.Revoked; rev != nil {
		go func() {
			select {
			case <-rev:
				r.close("access revoked")
			case <-r.done:
			}
		}()
	}
	return nil
}

type handle struct{ r *reader }

func (h handle) Session() *description.Session { return h.r.desc }
func (h handle) Done() <-chan struct{}         { return h.r.done }
func (h handle) Close()                        { h.r.close("closed by reader") }
