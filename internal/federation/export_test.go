package federation

import "context"

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
