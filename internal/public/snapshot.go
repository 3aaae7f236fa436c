package public

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/vigil-vms/vigil/internal/media"
)

// ProtoSnapshot names the snapshot reader in the hub's metrics.
const ProtoSnapshot media.Protocol = "snapshot"

// Errors of the snapshot path, each answered with its own code.
var (
	ErrNoFFmpeg      = errors.New("Máy chủ chưa cài ffmpeg nên không tạo được ảnh chụp. Snapshots need ffmpeg on the server's PATH")
	errNoKeyframe    = errors.New("public: no keyframe from the camera in time")
	errSnapshotCodec = errors.New("public: the stream has no H.264/H.265 video")
)

// snapshots keeps one JPEG per camera, made from the hub's cached keyframe
// at most once per interval, whatever the number of requests: a request
// finds the cached picture, or waits for the one refresh in progress.
type snapshots struct {
	hub      Hub
	variant  media.Variant
	interval time.Duration
	ffmpeg   string // path, "" when not installed
	sem      chan struct{}

	mu   sync.Mutex
	byID map[string]*snapEntry
}

type snapEntry struct {
	mu    sync.Mutex // held while refreshing
	jpeg  []byte
	at    time.Time // when jpeg was taken
	err   error
	errAt time.Time
}

func newSnapshots(hub Hub, v media.Variant, interval time.Duration, ffmpeg string, workers int) *snapshots {
	return &snapshots{hub: hub, variant: v, interval: interval, ffmpeg: ffmpeg,
		sem: make(chan struct{}, max(1, workers)), byID: map[string]*snapEntry{}}
}

// get returns the camera's current JPEG and when it was taken. A failed
// refresh is remembered for a few seconds, so an offline camera does not
// start a hub reader per request; meanwhile the last good picture (if not
// older than three intervals) is served.
func (s *snapshots) get(ctx context.Context, id string) ([]byte, time.Time, error) {
	if s.ffmpeg == "" {
		return nil, time.Time{}, ErrNoFFmpeg
	}
	s.mu.Lock()
	e, ok := s.byID[id]
	if !ok {
		e = &snapEntry{}
		s.byID[id] = e
	}
	s.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	if e.jpeg != nil && now.Sub(e.at) < s.interval {
		return e.jpeg, e.at, nil
	}
	if e.err != nil && now.Sub(e.errAt) < min(s.interval, 3*time.Second) {
		return e.stale(now, s.interval)
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, time.Time{}, ctx.Err()
	}
	// Detached from the request: the picture serves everyone after it.
	jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	jpeg, err := s.take(jctx, id)
	cancel()
	<-s.sem
	if err != nil {
		e.err, e.errAt = err, time.Now()
		return e.stale(e.errAt, s.interval)
	}
	e.jpeg, e.at, e.err = jpeg, time.Now(), nil
	return e.jpeg, e.at, nil
}

func (e *snapEntry) stale(now time.Time, interval time.Duration) ([]byte, time.Time, error) {
	if e.jpeg != nil && now.Sub(e.at) < 3*interval {
		return e.jpeg, e.at, nil
	}
	return nil, time.Time{}, e.err
}

// forget drops pictures not asked for in a while (bounded memory).
func (s *snapshots) forget(olderThan time.Duration) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.byID {
		if e.mu.TryLock() {
			if now.Sub(e.at) > olderThan {
				delete(s.byID, id)
			}
			e.mu.Unlock()
		}
	}
}

// keyframeReader takes the first video keyframe the hub hands over (the GOP
// cache starts with one, so this is immediate for a running camera).
type keyframeReader struct {
	once sync.Once
	ch   chan *media.Unit
}

func (k *keyframeReader) OnUnit(u *media.Unit) {
	if !u.RandomAccess || len(u.AU) == 0 {
		return
	}
	switch u.Format.(type) {
	case *format.H264, *format.H265:
		k.once.Do(func() { k.ch <- u })
	}
}

func (s *snapshots) take(ctx context.Context, id string) ([]byte, error) {
	kr := &keyframeReader{ch: make(chan *media.Unit, 1)}
	h, err := s.hub.OpenInternalReader(ctx, id, s.variant, ProtoSnapshot, kr)
	if err != nil {
		return nil, err
	}
	var u *media.Unit
	select {
	case u = <-kr.ch:
	case <-h.Done():
	case <-ctx.Done():
	}
	h.Close()
	if u == nil {
		return nil, errNoKeyframe
	}
	stream, demuxer, err := annexB(u)
	if err != nil {
		return nil, err
	}
	return decodeJPEG(ctx, s.ffmpeg, demuxer, stream)
}

// annexB writes the parameter sets and the keyframe's NAL units as an
// Annex-B elementary stream that ffmpeg can decode on its own.
func annexB(u *media.Unit) ([]byte, string, error) {
	var params [][]byte
	var demuxer string
	switch f := u.Format.(type) {
	case *format.H264:
		sps, pps := f.SafeParams()
		params, demuxer = [][]byte{sps, pps}, "h264"
	case *format.H265:
		vps, sps, pps := f.SafeParams()
		params, demuxer = [][]byte{vps, sps, pps}, "hevc"
	default:
		return nil, "", errSnapshotCodec
	}
	var b bytes.Buffer
	for _, n := range append(params, u.AU...) {
		if len(n) == 0 {
			continue
		}
		b.Write([]byte{0, 0, 0, 1})
		b.Write(n)
	}
	return b.Bytes(), demuxer, nil
}

// decodeJPEG runs ffmpeg on one keyframe; the input is written on stdin and
// the JPEG read from stdout, no temporary file.
func decodeJPEG(ctx context.Context, ffmpeg, demuxer string, stream []byte) ([]byte, error) {
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
		"-f", demuxer, "-i", "pipe:0", "-frames:v", "1", "-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "5", "pipe:1")
	cmd.Stdin = bytes.NewReader(stream)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		msg := stderr.String()
		if len(msg) > 300 {
			msg = msg[:300]
		}
		return nil, fmt.Errorf("public: ffmpeg: %w: %s", err, msg)
	}
	jpeg := out.Bytes()
	if len(jpeg) < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
		return nil, fmt.Errorf("public: ffmpeg produced no JPEG")
	}
	return jpeg, nil
}

// Snapshotter makes JPEG pictures of cameras from the hub's cached keyframe,
// at most one per camera per interval, for callers outside this package
// (the operator console's snapshot and thumbnail route). Access is the
// caller's business: it answers for any camera id.
type Snapshotter struct{ s *snapshots }

// NewSnapshotter uses ffmpeg from PATH (Get answers ErrNoFFmpeg without it).
func NewSnapshotter(hub Hub, v media.Variant, interval time.Duration) *Snapshotter {
	ff, _ := exec.LookPath("ffmpeg")
	return &Snapshotter{s: newSnapshots(hub, v, max(interval, time.Second), ff, 2)}
}

// Get returns the camera's picture and when it was taken.
func (p *Snapshotter) Get(ctx context.Context, id string) ([]byte, time.Time, error) {
	jpeg, at, err := p.s.get(ctx, id)
	p.s.forget(10 * p.s.interval)
	return jpeg, at, err
}
