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
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
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
	// Audio is the audio track's codec (AAC, or LPCM for G.711 cameras), ""
	// when no segment of the range has audio.
	Audio    string
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
	path   string // "" for silence: zero bytes (LPCM)
	fileAt int64
	outAt  int64
	n      int64
}

// src is where one sample's bytes come from.
type src struct {
	path string // "" for silence
	at   int64
	n    int64
}

// Resolver finds a segment's file.
type Resolver interface {
	SegmentPath(storage, rel string) (string, error)
}

// Build plans the MP4 of camera over [from, to). The first frame is the last
// keyframe at or before from, so the file decodes from its first byte.
//
// Segments with audio add an audio track. Gaps between segments are left
// out of both tracks alike: each segment's audio is placed against its video
// (they share the segment's time zero), so they stay in sync across
// segments; a stretch without audio (a video-only segment, a segment with
// another audio format) is silence, written as zero samples for LPCM and as
// a longer last sample for AAC.
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
	var vsrc []src
	var au *audioPlan
	var initTS uint32
	var outBytes int64 // media bytes so far
	var vOut int64     // video ticks so far
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
		var init *fmp4.Init
		if track == nil || fi.Audio != nil {
			init = &fmp4.Init{}
			if err := init.Unmarshal(bytes.NewReader(fi.Init)); err != nil {
				return nil, err
			}
		}
		if track == nil {
			track = &pmp4.Track{ID: 1, TimeScale: fi.TimeScale, Codec: init.Tracks[0].Codec}
			initTS = fi.TimeScale
			p.Codec = fi.Codec
		} else if fi.Codec != p.Codec || fi.TimeScale != initTS {
			// A codec change cannot continue in one file: stop here.
			break
		}
		ts := int64(fi.TimeScale)
		type ref struct {
			t, ms, endMS, at int64
			s                record.Sample
		}
		refs := make([]ref, 0, fi.Frames)
		for fr := range fi.Frags {
			f := &fi.Frags[fr]
			t := int64(f.BaseTime)
			at := f.Data
			for _, s := range f.Samples {
				refs = append(refs, ref{t: t, ms: g.StartMS + t*1000/ts, endMS: g.StartMS + (t+int64(s.Duration))*1000/ts, at: at, s: s})
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
		segOut := vOut // output video time of this segment's first sample
		var relFirst, relEnd int64
		for _, r := range refs[first:] {
			if r.ms >= toMS {
				break
			}
			if !added && lastEndMS > 0 && r.ms-lastEndMS > gapTolerance.Milliseconds() {
				p.Gaps = append(p.Gaps, RecordedSpan{From: time.UnixMilli(lastEndMS).UTC(), To: time.UnixMilli(r.ms).UTC()})
			}
			if !added {
				relFirst = r.t
			}
			added = true
			relEnd = r.t + int64(r.s.Duration)
			track.Samples = append(track.Samples, &pmp4.Sample{Duration: r.s.Duration, PTSOffset: r.s.CTO, IsNonSyncSample: !r.s.Sync, PayloadSize: r.s.Size})
			vsrc = append(vsrc, src{path: path, at: r.at, n: int64(r.s.Size)})
			outBytes += int64(r.s.Size)
			vOut += int64(r.s.Duration)
			p.Duration += time.Duration(r.s.Duration) * time.Second / time.Duration(ts)
			p.End = time.UnixMilli(r.endMS).UTC()
			lastEndMS = r.endMS
			if outBytes > maxMP4Bytes {
				return nil, ErrTooLong
			}
		}
		if !added {
			continue
		}
		p.Segments++
		if fi.Audio == nil {
			continue
		}
		if au == nil {
			au = &audioPlan{track: &pmp4.Track{ID: 2, TimeScale: fi.Audio.TimeScale, Codec: init.Tracks[1].Codec}}
			if l, ok := au.track.Codec.(*codecs.LPCM); ok {
				au.frameBytes = int64(l.BitDepth / 8 * l.ChannelCount)
			}
			p.Audio = fi.Audio.Codec
		}
		if fi.Audio.TimeScale != au.track.TimeScale || !reflect.DeepEqual(init.Tracks[1].Codec, au.track.Codec) {
			continue // another audio format: silence here
		}
		outBytes += au.addSegment(fi, path, ts, segOut, relFirst, relEnd)
		if outBytes > maxMP4Bytes {
			return nil, ErrTooLong
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
	// The header: marshal the presentation without payloads, noting the
	// order in which it lays the samples out in the mdat (it interleaves
	// the tracks by time, each track's samples in order); the media bytes
	// are then read from the files in that order. A video-only MP4 has them
	// in the track's order: the marshal stops at the first payload.
	var hb bytes.Buffer
	pres := pmp4.Presentation{Tracks: []*pmp4.Track{track}}
	order := vsrc
	if au != nil && len(au.track.Samples) > 0 {
		pres.Tracks = append(pres.Tracks, au.track)
		order = make([]src, 0, len(vsrc)+len(au.src))
	} else {
		p.Audio = ""
	}
	inHeader := true
	next := func(srcs []src) func() ([]byte, error) {
		i := 0
		return func() ([]byte, error) {
			if len(pres.Tracks) == 1 {
				return nil, errHeaderDone
			}
			inHeader = false
			if i >= len(srcs) {
				return nil, errors.New("more samples than planned")
			}
			order = append(order, srcs[i])
			i++
			return nil, nil
		}
	}
	vnext := next(vsrc)
	for _, s := range track.Samples {
		s.GetPayload = vnext
	}
	if len(pres.Tracks) > 1 {
		anext := next(au.src)
		for _, s := range au.track.Samples {
			s.GetPayload = anext
		}
	}
	err = pres.Marshal(writerFunc(func(b []byte) (int, error) {
		if inHeader {
			hb.Write(b)
		}
		return len(b), nil
	}))
	switch {
	case len(pres.Tracks) == 1 && errors.Is(err, errHeaderDone):
		err = nil
	case len(pres.Tracks) == 1 && err == nil:
		err = errors.New("no payload requested")
	case err == nil && len(order) != len(vsrc)+len(au.src):
		err = errors.New("samples missing from the layout")
	}
	if err != nil {
		return nil, fmt.Errorf("playback: mp4 header: %w", err)
	}
	p.header = hb.Bytes()
	outAt := int64(len(p.header))
	for _, s := range order {
		if n := len(p.chunks); n > 0 {
			c := &p.chunks[n-1]
			if c.path == s.path && (s.path == "" || c.fileAt+c.n == s.at) {
				c.n += s.n
				outAt += s.n
				continue
			}
		}
		p.chunks = append(p.chunks, chunk{path: s.path, fileAt: s.at, outAt: outAt, n: s.n})
		outAt += s.n
	}
	p.size = outAt
	return p, nil
}

var errHeaderDone = errors.New("header done")

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// audioPlan is the audio track being assembled.
type audioPlan struct {
	track      *pmp4.Track
	src        []src
	end        int64 // output time after the last sample (TimeOffset included), in the track's ticks
	frameBytes int64 // LPCM: bytes per sample frame (silence is zeros); 0 for AAC
}

// addSegment adds a segment's audio samples that start inside its video
// span [relFirst, relEnd) (video ticks, segment time), placed at the output
// time the video gave that span (segOut is where relFirst went). The
// recorder stores a sample in the segment where it starts, so consecutive
// segments continue without a gap. It returns the media bytes added.
func (a *audioPlan) addSegment(fi *record.FileInfo, path string, vts, segOut, relFirst, relEnd int64) int64 {
	ats := int64(a.track.TimeScale)
	shift := floorDiv((segOut-relFirst)*ats, vts) // segment audio time → output audio time
	var added int64
	for fr := range fi.Frags {
		run := &fi.Frags[fr].Audio
		t := int64(run.BaseTime)
		at := run.Data
		for _, s := range run.Samples {
			d := int64(s.Duration)
			st, sat := t, at
			t += d
			at += int64(s.Size)
			if st*vts < relFirst*ats || st*vts >= relEnd*ats {
				continue
			}
			pos := st + shift
			if len(a.track.Samples) == 0 {
				if pos < 0 {
					continue
				}
				a.track.TimeOffset = int32(pos)
				a.end = pos
			}
			switch gap := pos - a.end; {
			case 2*gap < -d:
				continue // overlaps what is there already
			case 2*gap > d:
				added += a.silence(gap)
			}
			a.track.Samples = append(a.track.Samples, &pmp4.Sample{Duration: s.Duration, PayloadSize: s.Size})
			a.src = append(a.src, src{path: path, at: sat, n: int64(s.Size)})
			a.end += d
			added += int64(s.Size)
		}
	}
	return added
}

// silence fills n ticks: zero LPCM samples (up to a second each), or, for
// a coded format, a longer last sample.
func (a *audioPlan) silence(n int64) int64 {
	if a.frameBytes == 0 {
		last := a.track.Samples[len(a.track.Samples)-1]
		last.Duration += uint32(min(n, 1<<31))
		a.end += n
		return 0
	}
	var added int64
	for n > 0 {
		d := min(n, int64(a.track.TimeScale))
		a.track.Samples = append(a.track.Samples, &pmp4.Sample{Duration: uint32(d), PayloadSize: uint32(d * a.frameBytes)})
		a.src = append(a.src, src{n: d * a.frameBytes})
		a.end += d
		n -= d
		added += d * a.frameBytes
	}
	return added
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

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
		if c.path == "" { // silence
			clear(b[:want])
			b, off, n = b[want:], off+want, n+int(want)
			continue
		}
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
