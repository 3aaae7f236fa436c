package federation

import (
	"context"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublishRawForTest publishes env on this lower site's upward stream with
// the next outbox sequence, as a misbehaving site with valid credentials
// could.
func (s *Service) PublishRawForTest(ctx context.Context, env Envelope) error {
	q := s.d.DB.Q()
	_, out, err := readCursor(ctx, q)
	if err != nil {
		return err
	}
	env.V, env.Seq, env.At = envelopeVersion, out+1, nowMS()
	if env.Site == "" {
		env.Site = s.d.Cfg.Site.ID
	}
	if err := s.shipper.publish(ctx, []Envelope{env}); err != nil {
		return err
	}
	_, err = q.Exec(ctx, `UPDATE federation_cursor SET out_seq = ? WHERE id = 1`, out+1)
	return err
}

// UpstreamRequestForTest sends a request from this lower site's NATS (as a
// compromised lower site could) and returns the reply's data.
func (s *Service) UpstreamRequestForTest(ctx context.Context, subject string, data []byte) ([]byte, error) {
	m, err := s.shipper.nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}

// InStreamMessagesForTest reports how many messages tier 1 holds in a
// site's sourced stream.
func (s *Service) InStreamMessagesForTest(ctx context.Context, site string) (uint64, error) {
	s.mu.Lock()
	a := s.appliers[site]
	s.mu.Unlock()
	js, err := jetstream.New(a.nc)
	if err != nil {
		return 0, err
	}
	st, err := js.Stream(ctx, inStream)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// PublishUpstreamForTest publishes from this lower site's NATS (as a
// compromised lower site could).
func (s *Service) PublishUpstreamForTest(subject string, data []byte) error {
	if err := s.shipper.nc.Publish(subject, data); err != nil {
		return err
	}
	return s.shipper.nc.Flush()
}

// ListenSiteForTest subscribes tier 1 to subject in a lower site's account
// and returns how many messages arrived so far.
func (s *Service) ListenSiteForTest(site, subject string) (func() int, error) {
	s.mu.Lock()
	a := s.appliers[site]
	s.mu.Unlock()
	var mu sync.Mutex
	n := 0
	if _, err := a.nc.Subscribe(subject, func(*nats.Msg) { mu.Lock(); n++; mu.Unlock() }); err != nil {
		return nil, err
	}
	if err := a.nc.Flush(); err != nil {
		return nil, err
	}
	return func() int { mu.Lock(); defer mu.Unlock(); return n }, nil
}

// SourceResumesForTest reports how many times tier 1's current applier of
// site re-added the site's source (0 when there is none).
func (s *Service) SourceResumesForTest(site string) int64 {
	s.mu.Lock()
	a := s.appliers[site]
	s.mu.Unlock()
	if a == nil {
		return 0
	}
	return a.resumes.Load()
}
