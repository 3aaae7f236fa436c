package webrtc

import (
	"context"
	"testing"

	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/sim"
)

// simSources resolves every simulated camera to its main and sub URLs.
type simSources struct{ s *sim.Sim }

func (r simSources) Sources(context.Context) ([]media.Source, error) {
	var out []media.Source
	for id, u := range r.s.URLs() {
		out = append(out, media.Source{CameraID: id, MainURL: u[0], SubURL: u[1], Transport: media.TransportTCP})
	}
	return out, nil
}

// newTestHub starts the real hub on the simulator.
func newTestHub(t testing.TB, ctx context.Context, s *sim.Sim, a media.Authorizer) *media.Hub {
	h, err := media.New(media.Config{}, simSources{s}, a, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}
