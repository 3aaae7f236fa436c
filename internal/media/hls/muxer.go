package hls

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/vigil-vms/vigil/internal/media"
)

var errCodec = errors.New("Luồng không có mã hoá phát được qua HLS (cần H.264/H.265/AAC). The stream has no codec HLS can carry (H.264, H.265, AAC)")

// muxer is one shared gohlslib muxer fed by one hub reader.
type muxer struct {
	s       *Server
	key     muxKey
	ready   chan struct{} // closed when mx/err are set
	mx      *gohlslib.Muxer
	err     error
	handle  media.ReaderHandle
	video   *gohlslib.Track
	audio   *gohlslib.Track
	vFormat format.Format
	aFormat format.Format

	inflight atomic.Int64
	lastReq  atomic.Int64

	closeOnce sync.Once
	encErrs   atomic.Int64
	// writeMu serialises Write* with Close: gohlslib does not allow them
	// concurrently, and the hub's reader goroutine may still be inside
	// OnUnit when the handle is closed.
	writeMu sync.Mutex
	closed  bool
}

// muxerFor returns the shared muxer of a camera variant, creating it on the
// first request. Concurrent first requests wait for the same creation.
func (s *Server) muxerFor(ctx context.Context, camera string, v media.Variant) (*muxer, error) {
	k := muxKey{camera, v}
	s.mu.Lock()
	m, ok := s.muxers[k]
	if !ok {
		if s.closed {
			s.mu.Unlock()
			return nil, errors.New("hls: closed")
		}
		m = &muxer{s: s, key: k, ready: make(chan struct{})}
		m.lastReq.Store(time.Now().UnixNano())
		s.muxers[k] = m
		s.mu.Unlock()
		go m.open()
	} else {
		s.mu.Unlock()
	}
	select {
	case <-m.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if m.err != nil {
		return nil, m.err
	}
	return m, nil
}

// open attaches to the hub. It runs detached from any one request so that a
// viewer giving up does not fail the creation for the others.
func (m *muxer) open() {
	ctx, cancel := context.WithTimeout(context.Background(), m.s.opts.OpenTimeout)
	defer cancel()
	h, err := m.s.opener.OpenInternalReader(ctx, m.key.camera, m.key.variant, media.ProtoHLS, m)
	if err == nil {
		m.handle = h
		err = m.start(h.Session())
		if err != nil {
			h.Close()
		}
	}
	if err != nil {
		m.err = err
		m.s.mu.Lock()
		if m.s.muxers[m.key] == m {
			delete(m.s.muxers, m.key)
		}
		m.s.mu.Unlock()
		close(m.ready)
		return
	}
	close(m.ready)
	m.s.log.Info("hls muxer started", "camera", m.key.camera, "variant", m.key.variant,
		"video", codecName(m.vFormat), "audio", codecName(m.aFormat))
	go func() {
		// The stream went away or the hub closed: drop the muxer so the
		// next request starts a fresh one (players then reload).
		<-h.Done()
		m.s.mu.Lock()
		if m.s.muxers[m.key] == m {
			delete(m.s.muxers, m.key)
		}
		m.s.mu.Unlock()
		m.close("hub reader ended")
	}()
}

func codecName(f format.Format) string {
	if f == nil {
		return "none"
	}
	return f.Codec()
}

// start builds the gohlslib tracks from the stream description.
func (m *muxer) start(sd *description.Session) error {
	if sd == nil {
		return errCodec
	}
	for _, md := range sd.Medias {
		for _, f := range md.Formats {
			switch f := f.(type) {
			case *format.H264:
				if m.video == nil {
					sps, pps := f.SafeParams()
					m.video = &gohlslib.Track{Codec: &codecs.H264{SPS: sps, PPS: pps}, ClockRate: 90000}
					m.vFormat = f
				}
			case *format.H265:
				if m.video == nil {
					vps, sps, pps := f.SafeParams()
					m.video = &gohlslib.Track{Codec: &codecs.H265{VPS: vps, SPS: sps, PPS: pps}, ClockRate: 90000}
					m.vFormat = f
				}
			case *format.MPEG4Audio:
				if m.audio == nil && f.Config != nil {
					m.audio = &gohlslib.Track{Codec: &codecs.MPEG4Audio{Config: *f.Config}, ClockRate: f.ClockRate()}
					m.aFormat = f
				}
			case *format.Opus:
				if m.audio == nil {
					m.audio = &gohlslib.Track{Codec: &codecs.Opus{ChannelCount: f.ChannelCount}, ClockRate: 48000}
					m.aFormat = f
				}
				// G.711 has no place in fMP4 HLS: dropped (docs/playback-compat.md).
			}
		}
	}
	var tracks []*gohlslib.Track
	if m.video != nil {
		tracks = append(tracks, m.video)
	}
	if m.audio != nil {
		tracks = append(tracks, m.audio)
	}
	if m.video == nil {
		// Audio-only cameras do not exist in this platform; refusing keeps
		// the player's error clear.
		return errCodec
	}
	mx := &gohlslib.Muxer{
		Tracks:             tracks,
		Variant:            gohlslib.MuxerVariantLowLatency,
		SegmentCount:       7,
		SegmentMinDuration: m.s.opts.SegmentMinDuration,
		PartMinDuration:    m.s.opts.PartMinDuration,
		OnEncodeError: func(err error) {
			// Rate-limited: a broken camera would otherwise log per frame.
			if n := m.encErrs.Add(1); n == 1 || n%500 == 0 {
				m.s.log.Warn("hls encode error", "camera", m.key.camera, "variant", m.key.variant, "count", n, "err", err)
			}
		},
	}
	if err := mx.Start(); err != nil {
		return fmt.Errorf("hls muxer: %w", err)
	}
	m.mx = mx
	return nil
}

// OnUnit implements media.UnitReader. The hub replays its GOP cache during
// OpenInternalReader, before the muxer exists, so the first units wait for
// start; the hub delivers from a per-reader goroutine with its own queue, so
// that short wait never stalls the camera.
func (m *muxer) OnUnit(u *media.Unit) {
	<-m.ready
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	if m.mx == nil || m.closed {
		return
	}
	ntp := u.NTP
	if ntp.IsZero() {
		ntp = time.Now()
	}
	var err error
	switch {
	case u.Format == m.vFormat && m.vFormat != nil:
		switch m.vFormat.(type) {
		case *format.H264:
			err = m.mx.WriteH264(m.video, ntp, u.PTS, u.AU)
		case *format.H265:
			err = m.mx.WriteH265(m.video, ntp, u.PTS, u.AU)
		}
	case u.Format == m.aFormat && m.aFormat != nil:
		switch m.aFormat.(type) {
		case *format.MPEG4Audio:
			err = m.mx.WriteMPEG4Audio(m.audio, ntp, u.PTS, u.AU)
		case *format.Opus:
			err = m.mx.WriteOpus(m.audio, ntp, u.PTS, u.AU)
		}
	}
	if err != nil {
		m.mx.OnEncodeError(err)
	}
}

func (m *muxer) close(reason string) {
	m.closeOnce.Do(func() {
		<-m.ready
		if m.handle != nil {
			m.handle.Close()
		}
		m.writeMu.Lock()
		m.closed = true
		if m.mx != nil {
			m.mx.Close()
		}
		m.writeMu.Unlock()
		m.s.log.Info("hls muxer closed", "camera", m.key.camera, "variant", m.key.variant, "reason", reason)
	})
}
