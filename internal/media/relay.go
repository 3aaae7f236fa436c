package media

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// ErrRelayEnded is returned by Relay when the camera's stream ended on our
// side (camera removed, hub closing).
var ErrRelayEnded = errors.New("media: relayed stream ended")

// relayQueue is how many units wait between the hub and the RTSP client; a
// relay that falls further behind drops units until the next keyframe.
const relayQueue = 512

type relayReader struct {
	ch      chan *Unit
	dropped atomic.Bool
}

// OnUnit must not block (it runs on the hub's goroutine for this reader).
func (r *relayReader) OnUnit(u *Unit) {
	select {
	case r.ch <- u:
	default:
		r.dropped.Store(true)
	}
}

type relayTrack struct {
	media  *description.Media
	base   uint32
	encode func(u *Unit) ([]*rtp.Packet, error)
}

// Relay publishes camera cameraID's stream v (main or sub; a camera without
// a sub stream gives its main), read from the hub with an internal reader,
// to pushURL with RTSP ANNOUNCE/RECORD, until ctx ends (nil returned), the
// stream ends here, or the server closes the session (tier 1 does so when
// nobody watches that variant any more). It is how a lower site sends a
// camera to tier 1's push-in: the lower site dials out, so NAT does not
// matter. pushURL carries credentials: errors never include it.
func Relay(ctx context.Context, o ReaderOpener, cameraID string, v Variant, pushURL string) error {
	rr := &relayReader{ch: make(chan *Unit, relayQueue)}
	h, err := o.OpenInternalReader(ctx, cameraID, v, ProtoRelay, rr)
	if err != nil {
		return err
	}
	defer h.Close()

	// Units are re-packetised with fresh encoders: the hub's RTP packets
	// are per reader protocol and not handed to UnitReaders.
	tracks := map[format.Format]*relayTrack{}
	desc := &description.Session{}
	for _, m := range h.Session().Medias {
		for _, f := range m.Formats {
			t := &relayTrack{media: &description.Media{Type: m.Type, Formats: []format.Format{f}}, base: randU32()}
			switch ff := f.(type) {
			case *format.H264:
				e, err := ff.CreateEncoder()
				if err != nil {
					return err
				}
				t.encode = func(u *Unit) ([]*rtp.Packet, error) { return e.Encode(u.AU) }
			case *format.H265:
				e, err := ff.CreateEncoder()
				if err != nil {
					return err
				}
				t.encode = func(u *Unit) ([]*rtp.Packet, error) { return e.Encode(u.AU) }
			case *format.MPEG4Audio:
				e, err := ff.CreateEncoder()
				if err != nil {
					return err
				}
				t.encode = func(u *Unit) ([]*rtp.Packet, error) { return e.Encode(u.AU) }
			case *format.G711:
				e, err := ff.CreateEncoder()
				if err != nil {
					return err
				}
				t.encode = func(u *Unit) ([]*rtp.Packet, error) { return e.Encode(u.Payload) }
			default:
				continue
			}
			tracks[f] = t
			desc.Medias = append(desc.Medias, t.media)
		}
	}
	if len(desc.Medias) == 0 {
		return errors.New("media: relay: no supported track")
	}

	// TCP: one outgoing connection, which is what crosses NAT.
	tcp := gortsplib.ProtocolTCP
	c := gortsplib.Client{Protocol: &tcp}
	if err := c.StartRecording(pushURL, desc); err != nil {
		return fmt.Errorf("media: relay to %s: %s", RedactURL(pushURL), redactLoose(err.Error()))
	}
	defer c.Close()
	closed := make(chan error, 1)
	go func() { closed <- c.Wait() }()

	needKey := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.Done():
			return ErrRelayEnded
		case err := <-closed:
			return fmt.Errorf("media: relay session closed: %s", redactLoose(err.Error()))
		case u := <-rr.ch:
			t := tracks[u.Format]
			if t == nil {
				continue
			}
			// After a drop, wait for a keyframe so the far side does not
			// decode garbage.
			if rr.dropped.Swap(false) {
				needKey = true
			}
			if needKey && t.media.Type == description.MediaTypeVideo {
				if !u.RandomAccess {
					continue
				}
				needKey = false
			}
			pkts, err := t.encode(u)
			if err != nil {
				continue
			}
			for _, p := range pkts {
				p.Timestamp += t.base + uint32(u.PTS)
				if err := c.WritePacketRTPWithNTP(t.media, p, u.NTP); err != nil {
					return fmt.Errorf("media: relay write: %s", redactLoose(err.Error()))
				}
			}
		}
	}
}
