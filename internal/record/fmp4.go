package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
)

// A segment file is plain fragmented MP4: ftyp+moov (the init), then one
// moof+mdat pair per fragment (about 1 s each), appended with one write per
// fragment. A crash therefore leaves the init, whole fragments, and at most
// one partial fragment at the tail, which ScanFile ignores and Repair cuts.
//
// Track 1 is the video (H.264/H.265). A camera with audio has track 2: AAC
// as received, or G.711 decoded to 16-bit big-endian LPCM (ISO/IEC 23003-5
// 'ipcm'), since MP4 has no G.711 sample entry that players accept. A
// fragment's moof then has one traf per track, sharing the segment's time
// zero (the first video sample), and one mdat.

// Limits of the scanner: a box larger than this is corruption, not video.
const (
	maxInitSize  = 4 << 20
	maxFragSize  = 256 << 20
	maxFragCount = 1 << 20
	maxSamples   = 1 << 16
)

// ErrNotSegment is returned for a file that does not start like a segment.
var ErrNotSegment = errors.New("record: not a segment file (no ftyp+moov)")

// FileInfo is what a scan of a segment file found. TimeScale, Codec, Ticks
// and Frames are the video track's; Audio describes the audio track, if any.
type FileInfo struct {
	Init      []byte // ftyp+moov, verbatim
	TimeScale uint32
	Codec     string     // H264 or H265
	Audio     *AudioInfo // nil for a video-only segment
	Frags     []Frag
	Valid     int64  // bytes up to the end of the last whole fragment
	Size      int64  // bytes in the file
	Ticks     uint64 // decode duration of every whole fragment, in TimeScale
	Frames    int    // video samples
	// AudioSamples counts the audio samples of the whole fragments.
	AudioSamples int
}

// AudioInfo is a segment's audio track.
type AudioInfo struct {
	TimeScale uint32 // the sample rate
	Codec     string // AAC or LPCM
}

// Track IDs as the recorder writes them.
const (
	videoTrackID = 1
	audioTrackID = 2
)

// Frag is one moof+mdat pair: the video track's run (promoted fields) and
// the audio track's, empty when the fragment has no audio.
type Frag struct {
	Offset int64 // of the moof
	Size   int64 // moof+mdat
	Run
	Audio Run
	mdat  int64 // file offset of the mdat's payload
}

// Run is one track's samples in a fragment.
type Run struct {
	BaseTime uint64 // decode time of the first sample, in the track's time scale
	Data     int64  // file offset of the first sample's bytes
	Samples  []Sample
}

// Sample is one access unit's entry in a trun.
type Sample struct {
	Duration uint32
	Size     uint32
	Sync     bool
	CTO      int32
}

// Ticks is the run's decode duration.
func (r *Run) Ticks() uint64 {
	var t uint64
	for _, s := range r.Samples {
		t += uint64(s.Duration)
	}
	return t
}

func (r *Run) bytes() int64 {
	var n int64
	for _, s := range r.Samples {
		n += int64(s.Size)
	}
	return n
}

type boxHdr struct {
	typ  string
	size int64 // whole box
	hdr  int64 // header length
}

func readBoxHdr(r io.ReaderAt, off, limit int64) (boxHdr, error) {
	var b [16]byte
	if limit-off < 8 {
		return boxHdr{}, io.ErrUnexpectedEOF
	}
	if _, err := r.ReadAt(b[:8], off); err != nil {
		return boxHdr{}, io.ErrUnexpectedEOF
	}
	h := boxHdr{typ: string(b[4:8]), size: int64(binary.BigEndian.Uint32(b[:4])), hdr: 8}
	switch h.size {
	case 1:
		if limit-off < 16 {
			return h, io.ErrUnexpectedEOF
		}
		if _, err := r.ReadAt(b[8:16], off+8); err != nil {
			return h, io.ErrUnexpectedEOF
		}
		u := binary.BigEndian.Uint64(b[8:16])
		if u > 1<<50 {
			return h, fmt.Errorf("record: box %q too large", h.typ)
		}
		h.size, h.hdr = int64(u), 16
	case 0:
		h.size = limit - off
	}
	if h.size < h.hdr {
		return h, fmt.Errorf("record: box %q has a bad size", h.typ)
	}
	if off+h.size > limit {
		return h, io.ErrUnexpectedEOF
	}
	return h, nil
}

// ScanFile reads a segment's structure without reading its media: the init,
// and every whole fragment's sample table. A partial tail is not an error
// (Valid < Size tells it); anything else malformed is.
func ScanFile(r io.ReaderAt, size int64) (*FileInfo, error) {
	fi, off, err := scanInit(r, size)
	if err != nil {
		return nil, err
	}
	for off < size && len(fi.Frags) < maxFragCount {
		h, err := readBoxHdr(r, off, size)
		if err != nil {
			break // partial tail
		}
		if h.typ != "moof" {
			if skippable(h.typ) {
				off += h.size
				fi.Valid = off
				continue
			}
			return fi, fmt.Errorf("record: unexpected box %q at %d", h.typ, off)
		}
		fr, partial, err := fragAt(r, off, size, fi)
		if partial {
			break
		}
		if err != nil {
			return fi, err
		}
		fi.add(fr)
		off += fr.Size
	}
	return fi, nil
}

func skippable(typ string) bool { return typ == "free" || typ == "skip" || typ == "udta" }

// add appends a whole fragment to the scan.
func (fi *FileInfo) add(fr Frag) {
	fi.Frags = append(fi.Frags, fr)
	fi.Ticks = fr.BaseTime + fr.Ticks()
	fi.Frames += len(fr.Samples)
	fi.AudioSamples += len(fr.Audio.Samples)
	fi.Valid = fr.Offset + fr.Size
}

// scanInit reads the init (ftyp+moov) and returns where fragments start.
func scanInit(r io.ReaderAt, size int64) (*FileInfo, int64, error) {
	fi := &FileInfo{Size: size}
	var off int64
	// ftyp, moov
	for _, want := range []string{"ftyp", "moov"} {
		h, err := readBoxHdr(r, off, size)
		if err != nil || h.typ != want {
			return nil, 0, ErrNotSegment
		}
		off += h.size
	}
	if off > maxInitSize {
		return nil, 0, ErrNotSegment
	}
	fi.Init = make([]byte, off)
	if _, err := r.ReadAt(fi.Init, 0); err != nil {
		return nil, 0, ErrNotSegment
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(fi.Init)); err != nil || len(init.Tracks) < 1 || len(init.Tracks) > 2 {
		return nil, 0, fmt.Errorf("%w: bad moov", ErrNotSegment)
	}
	vt := init.Tracks[0]
	if vt.ID != videoTrackID {
		return nil, 0, fmt.Errorf("%w: track 1 is not first", ErrNotSegment)
	}
	fi.TimeScale = vt.TimeScale
	switch vt.Codec.(type) {
	case *codecs.H264:
		fi.Codec = "H264"
	case *codecs.H265:
		fi.Codec = "H265"
	default:
		return nil, 0, fmt.Errorf("%w: unsupported codec", ErrNotSegment)
	}
	if fi.TimeScale == 0 {
		return nil, 0, fmt.Errorf("%w: zero time scale", ErrNotSegment)
	}
	if len(init.Tracks) == 2 {
		at := init.Tracks[1]
		if at.ID != audioTrackID || at.TimeScale == 0 {
			return nil, 0, fmt.Errorf("%w: bad audio track", ErrNotSegment)
		}
		fi.Audio = &AudioInfo{TimeScale: at.TimeScale}
		switch at.Codec.(type) {
		case *codecs.MPEG4Audio:
			fi.Audio.Codec = "AAC"
		case *codecs.LPCM:
			fi.Audio.Codec = "LPCM"
		default:
			return nil, 0, fmt.Errorf("%w: unsupported audio codec", ErrNotSegment)
		}
	}
	fi.Valid = off
	return fi, off, nil
}

// fragAt reads the moof+mdat at off. partial: it does not fit in the file
// (a torn tail, or a header that is not one); err: it is malformed.
func fragAt(r io.ReaderAt, off, size int64, fi *FileInfo) (fr Frag, partial bool, err error) {
	h, err := readBoxHdr(r, off, size)
	if err != nil {
		return fr, true, nil
	}
	if h.typ != "moof" {
		return fr, false, fmt.Errorf("record: unexpected box %q at %d", h.typ, off)
	}
	if h.size > maxFragSize {
		return fr, false, fmt.Errorf("record: moof too large at %d", off)
	}
	moof := make([]byte, h.size)
	if _, err := r.ReadAt(moof, off); err != nil {
		return fr, true, nil
	}
	md, err := readBoxHdr(r, off+h.size, size)
	if err != nil {
		return fr, true, nil // mdat not (fully) written
	}
	if md.typ != "mdat" {
		return fr, false, fmt.Errorf("record: moof without mdat at %d", off)
	}
	fr, err = ParseMoof(moof[h.hdr:])
	if err != nil {
		return fr, false, fmt.Errorf("record: fragment at %d: %w", off, err)
	}
	fr.Offset = off
	fr.Size = h.size + md.size
	fr.mdat = off + h.size + md.hdr
	if fr.Audio.Samples != nil && fi.Audio == nil {
		return fr, false, fmt.Errorf("record: fragment at %d: audio samples without an audio track", off)
	}
	for _, run := range []*Run{&fr.Run, &fr.Audio} {
		if run.Samples == nil {
			continue
		}
		run.Data += off
		if run.Data < off+h.size+md.hdr || run.Data+run.bytes() > off+fr.Size {
			return fr, false, fmt.Errorf("record: fragment at %d: samples outside mdat", off)
		}
	}
	return fr, false, nil
}

// ParseMoof reads the payload of a moof box (without its header) as the
// recorder writes it: one traf for the video (track 1) and, with audio, one
// for the audio (track 2), each with tfhd, tfdt and one trun. Data is the
// offset of a run's first sample relative to the moof start.
func ParseMoof(b []byte) (Frag, error) {
	var fr Frag
	var seen [3]bool
	err := eachBox(b, func(typ string, p []byte) error {
		if typ != "traf" {
			return nil
		}
		id, run, err := parseTraf(p)
		if err != nil {
			return err
		}
		if id != videoTrackID && id != audioTrackID {
			return fmt.Errorf("unexpected track %d", id)
		}
		if seen[id] {
			return errors.New("track repeated")
		}
		seen[id] = true
		if id == videoTrackID {
			fr.Run = run
		} else {
			fr.Audio = run
		}
		return nil
	})
	if err != nil {
		return fr, err
	}
	if !seen[videoTrackID] || fr.Samples == nil {
		return fr, errors.New("no samples")
	}
	return fr, nil
}

// parseTraf reads one traf payload: its track ID and its run.
func parseTraf(p []byte) (uint32, Run, error) {
	var run Run
	var defDur, defSize, defFlags uint32
	var id uint32
	var gotTfhd, gotTrun bool
	err := eachBox(p, func(typ string, p []byte) error {
		switch typ {
		case "tfhd":
			if gotTfhd {
				return errors.New("more than one tfhd")
			}
			gotTfhd = true
			if len(p) < 8 {
				return errors.New("short tfhd")
			}
			flags := binary.BigEndian.Uint32(p[:4]) & 0xffffff
			id = binary.BigEndian.Uint32(p[4:8])
			q := p[8:]
			take := func() (uint32, error) {
				if len(q) < 4 {
					return 0, errors.New("short tfhd")
				}
				v := binary.BigEndian.Uint32(q)
				q = q[4:]
				return v, nil
			}
			if flags&0x1 != 0 {
				return errors.New("base data offset not supported")
			}
			var err error
			if flags&0x2 != 0 {
				if _, err = take(); err != nil {
					return err
				}
			}
			if flags&0x8 != 0 {
				if defDur, err = take(); err != nil {
					return err
				}
			}
			if flags&0x10 != 0 {
				if defSize, err = take(); err != nil {
					return err
				}
			}
			if flags&0x20 != 0 {
				if defFlags, err = take(); err != nil {
					return err
				}
			}
		case "tfdt":
			if len(p) < 8 {
				return errors.New("short tfdt")
			}
			if p[0] == 1 {
				if len(p) < 12 {
					return errors.New("short tfdt")
				}
				run.BaseTime = binary.BigEndian.Uint64(p[4:12])
			} else {
				run.BaseTime = uint64(binary.BigEndian.Uint32(p[4:8]))
			}
		case "trun":
			if gotTrun {
				return errors.New("more than one trun")
			}
			gotTrun = true
			if len(p) < 8 {
				return errors.New("short trun")
			}
			flags := binary.BigEndian.Uint32(p[:4]) & 0xffffff
			n := binary.BigEndian.Uint32(p[4:8])
			if n > maxSamples {
				return errors.New("too many samples")
			}
			q := p[8:]
			if flags&0x1 != 0 {
				if len(q) < 4 {
					return errors.New("short trun")
				}
				run.Data = int64(int32(binary.BigEndian.Uint32(q)))
				q = q[4:]
			}
			first, hasFirst := uint32(0), false
			if flags&0x4 != 0 {
				if len(q) < 4 {
					return errors.New("short trun")
				}
				first, hasFirst = binary.BigEndian.Uint32(q), true
				q = q[4:]
			}
			per := 0
			for _, f := range []uint32{0x100, 0x200, 0x400, 0x800} {
				if flags&f != 0 {
					per += 4
				}
			}
			if uint64(len(q)) < uint64(n)*uint64(per) {
				return errors.New("short trun")
			}
			run.Samples = make([]Sample, n)
			for i := range run.Samples {
				s := Sample{Duration: defDur, Size: defSize}
				sf := defFlags
				if i == 0 && hasFirst {
					sf = first
				}
				if flags&0x100 != 0 {
					s.Duration = binary.BigEndian.Uint32(q)
					q = q[4:]
				}
				if flags&0x200 != 0 {
					s.Size = binary.BigEndian.Uint32(q)
					q = q[4:]
				}
				if flags&0x400 != 0 {
					sf = binary.BigEndian.Uint32(q)
					q = q[4:]
				}
				if flags&0x800 != 0 {
					s.CTO = int32(binary.BigEndian.Uint32(q))
					q = q[4:]
				}
				s.Sync = sf&0x10000 == 0
				run.Samples[i] = s
			}
		}
		return nil
	})
	if err != nil {
		return 0, run, err
	}
	if !gotTfhd {
		return 0, run, errors.New("traf without tfhd")
	}
	if !gotTrun {
		return 0, run, errors.New("traf without trun")
	}
	return id, run, nil
}

func eachBox(b []byte, fn func(typ string, payload []byte) error) error {
	for len(b) > 0 {
		if len(b) < 8 {
			return errors.New("truncated box")
		}
		size := uint64(binary.BigEndian.Uint32(b))
		hdr := uint64(8)
		if size == 1 {
			if len(b) < 16 {
				return errors.New("truncated box")
			}
			size, hdr = binary.BigEndian.Uint64(b[8:]), 16
		} else if size == 0 {
			size = uint64(len(b))
		}
		if size < hdr || size > uint64(len(b)) {
			return errors.New("bad box size")
		}
		if err := fn(string(b[4:8]), b[hdr:size]); err != nil {
			return err
		}
		b = b[size:]
	}
	return nil
}

// segFile is the file under a segment being written: an *os.File, or in
// tests a writer that fails on purpose.
type segFile interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Seek(offset int64, whence int) (int64, error)
	Close() error
}

func openSegFile(path string) (segFile, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
}

// segmentFile is a segment being written. Its size is always the end of the
// last whole fragment: a write that fails (ENOSPC, EIO, a short write, a
// failed fsync) is cut off again, so a later fragment is never appended
// after a partial one.
type segmentFile struct {
	f      segFile
	path   string
	size   int64
	seq    uint32
	sync   bool
	buf    seekablebuffer.Buffer
	frames int
	// broken: a failed write could not be cut off (the file holds a
	// partial fragment after size); nothing more is written to it, and
	// reconcile cuts the tail.
	broken error
}

func createSegment(path string, init *fmp4.Init, sync bool, open func(string) (segFile, error)) (*segmentFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	if open == nil {
		open = openSegFile
	}
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	s := &segmentFile{f: f, path: path, sync: sync}
	if err := init.Marshal(&s.buf); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if err := s.commit(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	if sync {
		syncDir(filepath.Dir(path))
	}
	return s, nil
}

// commit writes the buffered bytes wholly or not at all: on any failure the
// file is cut back to its last whole fragment.
func (s *segmentFile) commit() error {
	b := s.buf.Bytes()
	defer func() {
		s.buf.Reset()
		_, _ = s.buf.Seek(0, io.SeekStart)
	}()
	if s.broken != nil {
		return s.broken
	}
	n, err := s.f.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err == nil && s.sync {
		err = s.f.Sync()
	}
	if err == nil {
		s.size += int64(n)
		return nil
	}
	// Undo: whatever part of it reached the file goes.
	terr := s.f.Truncate(s.size)
	if terr == nil {
		_, terr = s.f.Seek(s.size, io.SeekStart)
	}
	if terr != nil {
		s.broken = fmt.Errorf("record: %s: a failed write could not be cut off: %w", s.path, terr)
		return errors.Join(err, s.broken)
	}
	return err
}

// writeFragment appends one moof+mdat in a single write: the video samples
// (track 1) and, when there are any, audio samples (track 2). On error
// nothing of it is in the file and nothing is counted.
func (s *segmentFile) writeFragment(baseTime uint64, samples []*fmp4.Sample, audio *fmp4.PartTrack) error {
	p := fmp4.Part{SequenceNumber: s.seq + 1, Tracks: []*fmp4.PartTrack{{ID: videoTrackID, BaseTime: baseTime, Samples: samples}}}
	if audio != nil && len(audio.Samples) > 0 {
		audio.ID = audioTrackID
		p.Tracks = append(p.Tracks, audio)
	}
	if err := p.Marshal(&s.buf); err != nil {
		s.buf.Reset()
		_, _ = s.buf.Seek(0, io.SeekStart)
		return err
	}
	if err := s.commit(); err != nil {
		return err
	}
	s.seq++
	s.frames += len(samples)
	return nil
}

func (s *segmentFile) close() error {
	err := s.f.Sync()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
