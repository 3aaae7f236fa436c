// Package playback answers from the recorder's index: the timeline of one
// or many cameras, MP4 playback of any range (starting anywhere, crossing
// segments and gaps, with HTTP range requests), HLS VOD for long ranges,
// and evidence export: an MP4 and a manifest signed with the site's Ed25519
// key that `vigil evidence verify` checks offline.
package playback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/store"
)

// ErrNoFootage is returned for a range with nothing recorded.
var ErrNoFootage = errors.New("playback: no footage in this range")

// ErrTooLong is returned for a range over the limit of one MP4.
var ErrTooLong = errors.New("playback: range too long for one MP4 (use HLS)")

// maxMP4Bytes keeps the progressive MP4 within 32-bit chunk offsets.
const maxMP4Bytes = 4<<30 - 64<<20

// Span is a time range.
type RecordedSpan struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Plan is a progressive MP4 of a range, assembled on demand: the header
// (ftyp, moov, mdat header) is built in memory from the segments' fragment
// tables; the media bytes are read from the segment files when asked for.
// It is an io.ReadSeeker, so http.ServeContent answers range requests.
type Plan struct {
	CameraID string
	Codec    string
	Start    time.Time // wall time of the first frame (a keyframe at or before the asked start)
	End      time.Time // wall time after the last frame
	Duration time.Duration
	Gaps     []RecordedSpan // unrecorded stretches inside the range, left out of the file
	Frames   int
	Segments int

	header []byte
	chunks []chunk
	size   int64

	mu    sync.Mutex
	files map[string]*os.File
	pos   int64
}

type chunk struct {
	path   string
	fileAt int64
	outAt  int64
	n      int64
}

// Resolver finds a segment's file.
type Resolver interface {
	SegmentPath(storage, rel string) (string, error)
}

// Build plans the MP4 of camera over [from, to). The first frame is the last
// keyframe at or before from, so the file decodes from its first byte.
func Build(ctx context.Context, q store.Q, res Resolver, cameraID string, from, to time.Time, maxDur time.Duration) (*Plan, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("playback: empty range")
	}
	if maxDur > 0 && to.Sub(from) > maxDur {
		return nil, ErrTooLong
	}
	fromMS, toMS := from.UnixMilli(), to.UnixMilli()
	segs, err := record.Segments(ctx, q, cameraID, media.Main, fromMS, toMS)
	if err != nil {
		return nil, err
	}
	p := &Plan{CameraID: cameraID, files: map[string]*os.File{}}
	var track *pmp4.Track
	var initTS uint32
	var outAt int64 // media bytes so far
	var lastEndMS int64
	for _, g := range segs {
		path, err := res.SegmentPath(g.Storage, g.Path)
		if err != nil {
			return nil, err
		}
		fi, err := record.ScanPath(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // deleted meanwhile: a gap
			}
			return nil, fmt.Errorf("playback: segment %s: %w", g.ID, err)
		}
		if track == nil {
			var init fmp4.Init
			if err := init.Unmarshal(bytes.NewReader(fi.Init)); err != nil {
				return nil, err
			}
			track = &pmp4.Track{ID: 1, TimeScale: fi.TimeScale, Codec: init.Tracks[0].Codec}
			initTS = fi.TimeScale
			p.Codec = fi.Codec
		} else if fi.Codec != p.Codec || fi.TimeScale != initTS {
			// A codec change cannot continue in one file: stop here.
			break
		}
		ts := int64(fi.TimeScale)
		type ref struct {
			ms, endMS, at int64
			s             record.Sample
		}
		var refs []ref
		for fr := range fi.Frags {
			f := &fi.Frags[fr]
			t := int64(f.BaseTime)
			at := f.Data
			for _, s := range f.Samples {
				refs = append(refs, ref{ms: g.StartMS + t*1000/ts, endMS: g.StartMS + (t+int64(s.Duration))*1000/ts, at: at, s: s})
				t += int64(s.Duration)
				at += int64(s.Size)
			}
		}
		first := 0
		if len(track.Samples) == 0 {
			// start at the last keyframe at or before from (or the first one)
			first = -1
			for i, r := range refs {
				if r.s.Sync && (first < 0 || r.ms <= fromMS) {
					first = i
				}
				if r.ms > fromMS && first >= 0 {
					break
				}
			}
			if first < 0 {
				continue
			}
			p.Start = time.UnixMilli(refs[first].ms).UTC()
		}
		added := false
		var run *chunk
		for _, r := range refs[first:] {
			if r.ms >= toMS {
				break
			}
			if !added && lastEndMS > 0 && r.ms-lastEndMS > gapTolerance.Milliseconds() {
				p.Gaps = append(p.Gaps, RecordedSpan{From: time.UnixMilli(lastEndMS).UTC(), To: time.UnixMilli(r.ms).UTC()})
			}
			added = true
			track.Samples = append(track.Samples, &pmp4.Sample{Duration: r.s.Duration, PTSOffset: r.s.CTO, IsNonSyncSample: !r.s.Sync, PayloadSize: r.s.Size})
			if run == nil || run.fileAt+run.n != r.at {
				p.chunks = append(p.chunks, chunk{path: path, fileAt: r.at, outAt: outAt})
				run = &p.chunks[len(p.chunks)-1]
			}
			run.n += int64(r.s.Size)
			outAt += int64(r.s.Size)
			p.Duration += time.Duration(r.s.Duration) * time.Second / time.Duration(ts)
			p.End = time.UnixMilli(r.endMS).UTC()
			lastEndMS = r.endMS
			if outAt > maxMP4Bytes {
				return nil, ErrTooLong
			}
		}
		if added {
			p.Segments++
		}
	}
	if track == nil || len(track.Samples) == 0 {
		return nil, ErrNoFootage
	}
	p.Frames = len(track.Samples)
	if f := time.UnixMilli(fromMS).UTC(); p.Start.Sub(f) > gapTolerance {
		p.Gaps = append([]RecordedSpan{{From: f, To: p.Start}}, p.Gaps...)
	}
	if t := time.UnixMilli(toMS).UTC(); p.End.Before(t) && t.Sub(p.End) > gapTolerance {
		p.Gaps = append(p.Gaps, RecordedSpan{From: p.End, To: t})
	}
	// The header: marshal the presentation and stop at the first payload.
	for _, s := range track.Samples {
		s.GetPayload = func() ([]byte, error) { return nil, errHeaderDone }
	}
	var hb bytes.Buffer
	pres := pmp4.Presentation{Tracks: []*pmp4.Track{track}}
	if err := pres.Marshal(&hb); !errors.Is(err, errHeaderDone) {
		if err == nil {
			err = errors.New("no payload requested")
		}
		return nil, fmt.Errorf("playback: mp4 header: %w", err)
	}
	p.header = hb.Bytes()
	for i := range p.chunks {
		p.chunks[i].outAt += int64(len(p.header))
	}
	p.size = int64(len(p.header)) + outAt
	return p, nil
}

var errHeaderDone = errors.New("header done")

// gapTolerance: stretches shorter than this between frames are jitter, not gaps.
const gapTolerance = 250 * time.Millisecond

// Size is the MP4's length in bytes.
func (p *Plan) Size() int64 { return p.size }

// ReadAt implements io.ReaderAt.
func (p *Plan) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("playback: negative offset")
	}
	n := 0
	for len(b) > 0 {
		if off >= p.size {
			return n, io.EOF
		}
		if off < int64(len(p.header)) {
			c := copy(b, p.header[off:])
			b, off, n = b[c:], off+int64(c), n+c
			continue
		}
		i := sort.Search(len(p.chunks), func(i int) bool { return p.chunks[i].outAt+p.chunks[i].n > off })
		if i == len(p.chunks) {
			return n, io.EOF
		}
		c := p.chunks[i]
		in := off - c.outAt
		want := min(int64(len(b)), c.n-in)
		f, err := p.file(c.path)
		if err != nil {
			return n, err
		}
		got, err := f.ReadAt(b[:want], c.fileAt+in)
		b, off, n = b[got:], off+int64(got), n+got
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	return n, nil
}

func (p *Plan) file(path string) (*os.File, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.files[path]; ok {
		return f, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	p.files[path] = f
	return f, nil
}

// Read implements io.Reader.
func (p *Plan) Read(b []byte) (int, error) {
	n, err := p.ReadAt(b, p.pos)
	p.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek implements io.Seeker.
func (p *Plan) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += p.pos
	case io.SeekEnd:
		off += p.size
	}
	if off < 0 {
		return 0, errors.New("playback: negative position")
	}
	p.pos = off
	return off, nil
}

// Close releases the segment files.
func (p *Plan) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, f := range p.files {
		f.Close()
		delete(p.files, k)
	}
	return nil
}
