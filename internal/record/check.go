package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// A segment file the recorder wrote is one unbroken chain: init, then
// fragments whose media exactly fill their mdat and whose decode times follow
// on without a hole. Older recorders (and a disk that tore a write) could
// leave a partial fragment in the middle with whole fragments after it, or a
// hole in decode time where a fragment's write failed. ScanRuns finds the
// whole fragments on both sides of such damage, so a repair keeps every one
// of them and the index shows the loss as a gap.

// Scan is a damage-aware scan of a segment file.
type Scan struct {
	*FileInfo        // Frags: every whole fragment; Valid: the end of the last one
	Runs      []Span // unbroken runs of Frags, in file order
	// DamagedBytes are bytes between runs that belong to no whole fragment.
	DamagedBytes int64
}

// Span is a run of fragments [First, Last] of Scan.Frags with no damage and
// no hole in decode time between them.
type Span struct{ First, Last int }

// Clean reports whether the file is one unbroken chain from time zero with
// nothing after it.
func (sc *Scan) Clean() bool {
	return len(sc.Runs) <= 1 && sc.DamagedBytes == 0 && sc.Valid == sc.Size &&
		(len(sc.Frags) == 0 || sc.Frags[0].BaseTime == 0)
}

// Start and End of a span, in video ticks from the segment's time zero.
func (sc *Scan) spanStart(sp Span) uint64 { return sc.Frags[sp.First].BaseTime }
func (sc *Scan) spanEnd(sp Span) uint64 {
	f := &sc.Frags[sp.Last]
	return f.BaseTime + f.Ticks()
}

// exact reports whether a fragment is laid out as the recorder writes it:
// the samples of both tracks fill its mdat exactly, video first.
func (fr *Frag) exact() bool {
	return fr.Data == fr.mdat && fr.mdat+fr.Run.bytes()+fr.Audio.bytes() == fr.Offset+fr.Size &&
		(fr.Audio.Samples == nil || fr.Audio.Data == fr.mdat+fr.Run.bytes())
}

// ScanRuns scans a segment file like ScanFile, but past damage: where the
// chain breaks it looks for the next whole fragment (a moof box that parses,
// whose media fill its mdat, and that starts no earlier than the last good
// fragment ended), and goes on from there.
func ScanRuns(r io.ReaderAt, size int64) (*Scan, error) {
	fi, off, err := scanInit(r, size)
	if err != nil {
		return nil, err
	}
	sc := &Scan{FileInfo: fi}
	var cur *Span
	endRun := func() {
		if cur != nil {
			sc.Runs = append(sc.Runs, *cur)
			cur = nil
		}
	}
	accept := func(fr Frag) {
		if n := len(sc.Frags); n > 0 && cur != nil && fr.BaseTime != sc.spanEnd(*cur) {
			endRun() // a hole in decode time: what should be there was never written
		}
		fi.add(fr)
		if cur == nil {
			cur = &Span{First: len(sc.Frags) - 1}
		}
		cur.Last = len(sc.Frags) - 1
	}
	resyncs := 0
	for off < size && len(sc.Frags) < maxFragCount {
		if h, err := readBoxHdr(r, off, size); err == nil && skippable(h.typ) {
			off += h.size
			if cur == nil && len(sc.Frags) == 0 {
				fi.Valid = off
			}
			continue
		}
		fr, _, err := fragAt(r, off, size, fi)
		if err == nil && fr.Size > 0 && fr.exact() && (len(sc.Frags) == 0 || fr.BaseTime >= fi.Ticks) {
			accept(fr)
			off += fr.Size
			continue
		}
		// The chain breaks at off. The last fragment accepted may itself be
		// the torn one (its mdat running into the next fragment): look
		// again from just after its start.
		if resyncs++; resyncs > maxResyncs {
			break
		}
		from, floor := off+1, uint64(0)
		if n := len(sc.Frags); n > 0 {
			last := sc.Frags[n-1]
			from = last.Offset + 8
			floor = last.BaseTime + 1
			if n >= 2 {
				floor = sc.Frags[n-2].BaseTime + sc.Frags[n-2].Ticks()
			}
		}
		var p int64
		var next Frag
		ok := false
		for {
			if p, next, ok = resync(r, from, size, fi, floor); !ok {
				break
			}
			n := len(sc.Frags)
			if n == 0 || p < sc.Frags[n-1].Offset+sc.Frags[n-1].Size || next.BaseTime >= fi.Ticks {
				break
			}
			from = p + 1 // after the last fragment, but earlier in time: not ours
		}
		if !ok {
			break // a torn tail: nothing whole after it
		}
		if n := len(sc.Frags); n > 0 && p < sc.Frags[n-1].Offset+sc.Frags[n-1].Size {
			sc.drop()
			if cur != nil && cur.Last >= len(sc.Frags) {
				cur.Last--
				if cur.Last < cur.First {
					cur = nil
				}
			}
		}
		if len(sc.Frags) > 0 {
			sc.DamagedBytes += p - (sc.Frags[len(sc.Frags)-1].Offset + sc.Frags[len(sc.Frags)-1].Size)
		} else {
			sc.DamagedBytes += p - int64(len(fi.Init))
		}
		endRun()
		accept(next)
		off = p + next.Size
	}
	endRun()
	return sc, nil
}

// drop removes the last fragment from the scan (it overlapped a later one).
func (sc *Scan) drop() {
	n := len(sc.Frags)
	fr := sc.Frags[n-1]
	sc.Frags = sc.Frags[:n-1]
	sc.Frames -= len(fr.Samples)
	sc.AudioSamples -= len(fr.Audio.Samples)
	sc.Valid, sc.Ticks = int64(len(sc.Init)), 0
	if n > 1 {
		prev := sc.Frags[n-2]
		sc.Valid, sc.Ticks = prev.Offset+prev.Size, prev.BaseTime+prev.Ticks()
	}
}

// resync finds the first whole fragment at or after from that starts no
// earlier than floor (video ticks).
func resync(r io.ReaderAt, from, size int64, fi *FileInfo, floor uint64) (int64, Frag, bool) {
	const chunk = 1 << 20
	buf := make([]byte, chunk+8)
	// Each chunk looks at the box starts p in [at, at+chunk); the 8 bytes
	// more hold the type of the last ones.
	for at := max(from, 0); at < size; at += chunk {
		n, _ := r.ReadAt(buf[:min(int64(len(buf)), size-at)], at)
		b := buf[:n]
		for k := 4; k+4 <= len(b) && k-4 < chunk; k++ {
			j := bytes.Index(b[k:], []byte("moof"))
			if j < 0 || k+j-4 >= chunk {
				break
			}
			k += j
			p := at + int64(k) - 4
			if !mdatFollows(r, p, size) {
				continue
			}
			fr, _, err := fragAt(r, p, size, fi)
			if err == nil && fr.Size > 0 && fr.exact() && fr.BaseTime >= floor {
				return p, fr, true
			}
		}
	}
	return 0, Frag{}, false
}

// mdatFollows is the quick test of a candidate moof at p: its size fits,
// and an mdat header follows it.
func mdatFollows(r io.ReaderAt, p, size int64) bool {
	h, err := readBoxHdr(r, p, size)
	if err != nil || h.size > maxFragSize {
		return false
	}
	md, err := readBoxHdr(r, p+h.size, size)
	return err == nil && md.typ == "mdat"
}

// maxResyncs bounds the damaged places one file is searched past; a file
// with more is garbage after them, kept for a person to look at.
const maxResyncs = 256

// writeSpanFile writes the fragments of sp as a segment file of their own at
// path: the init, then the fragments with their decode times moved so the
// first starts at zero (audio by the same time, in its own clock). It writes
// a temporary file and renames it, so a crash leaves the old or the new.
func writeSpanFile(src *os.File, sc *Scan, sp Span, path string) (int64, error) {
	shift := sc.spanStart(sp)
	var ashift uint64
	if sc.Audio != nil {
		ashift = shift * uint64(sc.Audio.TimeScale) / uint64(sc.TimeScale)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return 0, err
	}
	tmp := path + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return 0, err
	}
	fail := func(err error) (int64, error) {
		out.Close()
		os.Remove(tmp)
		return 0, err
	}
	n := int64(len(sc.Init))
	if _, err := out.Write(sc.Init); err != nil {
		return fail(err)
	}
	for i := sp.First; i <= sp.Last; i++ {
		fr := sc.Frags[i]
		b := make([]byte, fr.Size)
		if _, err := src.ReadAt(b, fr.Offset); err != nil {
			return fail(err)
		}
		if err := shiftMoof(b, shift, ashift); err != nil {
			return fail(fmt.Errorf("record: fragment at %d: %w", fr.Offset, err))
		}
		if _, err := out.Write(b); err != nil {
			return fail(err)
		}
		n += fr.Size
	}
	if err := out.Sync(); err != nil {
		return fail(err)
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	syncDir(filepath.Dir(path))
	return n, nil
}

// shiftMoof subtracts shift (video) and ashift (audio) from the tfdt of each
// traf of the moof at the start of b, in place.
func shiftMoof(b []byte, shift, ashift uint64) error {
	h := binary.BigEndian.Uint32(b)
	if h < 8 || int(h) > len(b) || string(b[4:8]) != "moof" {
		return errors.New("not a moof")
	}
	moof := b[8:h]
	return eachBoxAt(moof, func(typ string, traf []byte) error {
		if typ != "traf" {
			return nil
		}
		var track uint32
		return eachBoxAt(traf, func(typ string, p []byte) error {
			switch typ {
			case "tfhd":
				if len(p) >= 8 {
					track = binary.BigEndian.Uint32(p[4:8])
				}
			case "tfdt":
				d := shift
				if track == audioTrackID {
					d = ashift
				}
				if len(p) >= 12 && p[0] == 1 {
					v := binary.BigEndian.Uint64(p[4:12])
					binary.BigEndian.PutUint64(p[4:12], v-min(v, d))
				} else if len(p) >= 8 {
					v := uint64(binary.BigEndian.Uint32(p[4:8]))
					binary.BigEndian.PutUint32(p[4:8], uint32(v-min(v, d)))
				} else {
					return errors.New("short tfdt")
				}
			}
			return nil
		})
	})
}

// eachBoxAt is eachBox over plain 32-bit sized boxes, giving each payload as
// a slice of b (so it can be patched in place).
func eachBoxAt(b []byte, fn func(typ string, payload []byte) error) error {
	for len(b) > 0 {
		if len(b) < 8 {
			return errors.New("truncated box")
		}
		size := int(binary.BigEndian.Uint32(b))
		if size < 8 || size > len(b) {
			return errors.New("bad box size")
		}
		if err := fn(string(b[4:8]), b[8:size]); err != nil {
			return err
		}
		b = b[size:]
	}
	return nil
}
