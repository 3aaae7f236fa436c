package mediatest

import (
	"context"
	"testing"

	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/sim"
)

// Rig is what a reader of the hub (LL-HLS, WebRTC) is tested on: simulated
// cameras, the real hub pulling them, and an Authz deciding every read.
// Its cameras are "cam264" (H.264 with audio) and "cam265" (H.265).
type Rig struct {
	Sim   *sim.Sim
	Hub   *media.Hub
	Authz *Authz
}

// NewRig starts a Rig whose Authz grants tokens. Everything stops when the
// test ends, after whatever the test registered for cleanup later.
func NewRig(t testing.TB, tokens ...string) *Rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := sim.Start(ctx, sim.Config{Addr: "127.0.0.1:0", Logger: Logger(t), Cameras: []sim.CameraSpec{
		{ID: "cam264", Audio: true},
		{ID: "cam265", Codec: "h265"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	r := &Rig{Sim: s, Authz: NewAuthz(tokens...)}
	r.Hub, err = media.New(media.Config{}, simSources{s}, r.Authz, Logger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Hub.Close)
	return r
}

// simSources resolves every simulated camera to its main and sub URLs.
type simSources struct{ s *sim.Sim }

func (r simSources) Sources(context.Context) ([]media.Source, error) {
	var out []media.Source
	for id, u := range r.s.URLs() {
		out = append(out, media.Source{CameraID: id, MainURL: u[0], SubURL: u[1], Transport: media.TransportTCP})
	}
	return out, nil
}
