package record_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/record/recordtest"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// FuzzScanFile: the segment scanner (run by reconcile on whatever a crash
// or a disk left behind) never panics, never claims bytes beyond the file,
// its fragments lie inside it and their video and audio samples inside
// them.
func FuzzScanFile(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00\x00\x00\x08ftyp\x00\x00\x00\x08moov"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fi, err := record.ScanFile(bytes.NewReader(data), int64(len(data)))
		if err != nil || fi == nil {
			return
		}
		if fi.Valid > int64(len(data)) || fi.Valid < int64(len(fi.Init)) {
			t.Fatalf("valid %d of %d", fi.Valid, len(data))
		}
		for _, fr := range fi.Frags {
			if fr.Offset < 0 || fr.Offset+fr.Size > fi.Valid {
				t.Fatalf("fragment outside the file: %+v", fr)
			}
			for _, run := range []record.Run{fr.Run, fr.Audio} {
				var n int64
				for _, s := range run.Samples {
					n += int64(s.Size)
				}
				if len(run.Samples) > 0 && (run.Data < fr.Offset || run.Data+n > fr.Offset+fr.Size) {
					t.Fatalf("samples outside their fragment: %+v", fr)
				}
			}
			if fi.Audio == nil && len(fr.Audio.Samples) > 0 {
				t.Fatalf("audio samples without an audio track: %+v", fr)
			}
		}
	})
}

// FuzzParseMoof: the moof parser alone.
func FuzzParseMoof(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x10mfhd\x00\x00\x00\x00\x00\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := record.ParseMoof(data)
		if err == nil && len(fr.Samples) > 1<<16 {
			t.Fatal("too many samples accepted")
		}
	})
}

// FuzzParseSchedule: schedules round-trip through their canonical form.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"mon-fri 07:00-19:00; sat,sun 08:00-12:00", "* 00:00-24:00", "sat-mon 22:00-23:59", "", "mon 25:00-26:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := record.ParseSchedule(s)
		if err != nil {
			return
		}
		again, err := record.ParseSchedule(sc.String())
		if err != nil || again.String() != sc.String() {
			t.Fatalf("%q → %q → %v %q", s, sc.String(), err, again.String())
		}
		tm := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
		for i := 0; i < 7*24; i++ {
			if sc.On(tm) != again.On(tm) {
				t.Fatalf("%q differs at %s", s, tm)
			}
			tm = tm.Add(time.Hour)
		}
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzScanFile/real-segment
// (a real segment cut after its first fragments), its partial tail and
// FuzzParseMoof/real-moof, and the same with audio (-av: two tracks, two
// trafs a moof): VIGIL_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("VIGIL_WRITE_SEEDS") == "" {
		t.Skip("set VIGIL_WRITE_SEEDS=1 to regenerate the seed corpus")
	}
	for _, audio := range []bool{false, true} {
		suffix := map[bool]string{false: "", true: "-av"}[audio]
		db := storetest.SQLite(t)
		rig := recordtest.Start(t, db, []sim.CameraSpec{{ID: "cam-seed", Audio: audio}}, fastOpts())
		rig.Rec.Start(context.Background())
		recordtest.WaitFor(t, "a closed segment", func() bool { rig.Rec.Flush(); return closedCount(allSegments(t, db, "cam-seed")) >= 1 })
		rig.Close()
		g := allSegments(t, db, "cam-seed")[0]
		data, err := os.ReadFile(filepath.Join(rig.Dir, g.Path))
		if err != nil {
			t.Fatal(err)
		}
		fi, err := record.ScanFile(bytes.NewReader(data), int64(len(data)))
		if err != nil || (fi.Audio != nil) != audio {
			t.Fatal(err)
		}
		// the real init, then two small fragments (tiny payloads keep the seed small)
		var buf seekablebuffer.Buffer
		_, _ = buf.Write(fi.Init)
		for i := 0; i < 2; i++ {
			p := fmp4.Part{SequenceNumber: uint32(i + 1), Tracks: []*fmp4.PartTrack{{ID: 1, BaseTime: uint64(i) * 10800, Samples: []*fmp4.Sample{
				{Duration: 3600, Payload: []byte("\x00\x00\x00\x02\x65\x88")},
				{Duration: 3600, IsNonSyncSample: true, Payload: []byte("\x00\x00\x00\x02\x41\x9a")},
				{Duration: 3600, IsNonSyncSample: true, PTSOffset: 3600, Payload: []byte("\x00\x00\x00\x02\x41\x9b")}}}}}
			if audio {
				p.Tracks = append(p.Tracks, &fmp4.PartTrack{ID: 2, BaseTime: uint64(i)*960 + 8, Samples: []*fmp4.Sample{
					{Duration: 160, Payload: []byte{0, 1, 0, 2, 0, 3, 0, 4}}, {Duration: 800, Payload: []byte{0xff, 0xfe}}}})
			}
			if err := p.Marshal(&buf); err != nil {
				t.Fatal(err)
			}
		}
		cut := buf.Bytes()
		if fi, err = record.ScanFile(bytes.NewReader(cut), int64(len(cut))); err != nil || len(fi.Frags) != 2 || (fi.AudioSamples == 4) != audio {
			t.Fatalf("seed does not scan: %v", err)
		}
		dir := filepath.Join("testdata", "fuzz", "FuzzScanFile")
		_ = os.MkdirAll(dir, 0o755)
		for name, b := range map[string][]byte{"real-segment" + suffix: cut, "partial-tail" + suffix: cut[:len(cut)-7]} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		moof := cut[fi.Frags[0].Offset+8 : fi.Frags[0].Offset+fi.Frags[0].Size]
		dir = filepath.Join("testdata", "fuzz", "FuzzParseMoof")
		_ = os.MkdirAll(dir, 0o755)
		_ = os.WriteFile(filepath.Join(dir, "real-moof"+suffix), []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", moof)), 0o644)
	}
}

// readSeed reads one []byte seed of the corpus.
func readSeed(f *testing.F, fuzz, name string) []byte {
	raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", fuzz, name))
	if err != nil {
		f.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	q := strings.TrimSuffix(strings.TrimPrefix(lines[len(lines)-1], "[]byte("), ")")
	b, err := strconv.Unquote(q)
	if err != nil {
		f.Fatal(err)
	}
	return []byte(b)
}

// FuzzScanRuns: the damage-aware scanner (run by record check on whatever a
// disk left) never panics; its fragments lie in the file in order without
// overlapping, its runs cover them in order, unbroken in decode time inside
// a run and never going back in time between runs.
func FuzzScanRuns(f *testing.F) {
	for _, name := range []string{"real-segment", "real-segment-av"} {
		b := readSeed(f, "FuzzScanFile", name)
		f.Add(b)
		fi, err := record.ScanFile(bytes.NewReader(b), int64(len(b)))
		if err != nil || len(fi.Frags) < 2 {
			f.Fatalf("seed %s: %v", name, err)
		}
		f.Add(tearFragment(b, fi, 0)) // a torn fragment with a whole one after it
		f.Add(append(append([]byte{}, b[:fi.Frags[1].Offset]...), b[fi.Frags[0].Offset:]...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := record.ScanRuns(bytes.NewReader(data), int64(len(data)))
		if err != nil || sc == nil {
			return
		}
		if sc.Valid > int64(len(data)) || sc.DamagedBytes < 0 {
			t.Fatalf("valid %d damaged %d of %d", sc.Valid, sc.DamagedBytes, len(data))
		}
		end, frames := int64(len(sc.Init)), 0
		for _, fr := range sc.Frags {
			if fr.Offset < end || fr.Offset+fr.Size > int64(len(data)) {
				t.Fatalf("fragment out of order or outside the file: %+v", fr)
			}
			end = fr.Offset + fr.Size
			frames += len(fr.Samples)
		}
		if frames != sc.Frames {
			t.Fatalf("frames %d, counted %d", sc.Frames, frames)
		}
		next := 0
		var prevEnd uint64
		for i, sp := range sc.Runs {
			if sp.First != next || sp.Last < sp.First || sp.Last >= len(sc.Frags) {
				t.Fatalf("run %d %+v of %d fragments", i, sp, len(sc.Frags))
			}
			if i > 0 && sc.Frags[sp.First].BaseTime < prevEnd {
				t.Fatalf("run %d goes back in time", i)
			}
			for k := sp.First + 1; k <= sp.Last; k++ {
				if p := sc.Frags[k-1]; sc.Frags[k].BaseTime != p.BaseTime+p.Ticks() {
					t.Fatalf("run %d has a hole at fragment %d", i, k)
				}
			}
			prevEnd = sc.Frags[sp.Last].BaseTime + sc.Frags[sp.Last].Ticks()
			next = sp.Last + 1
		}
		if next != len(sc.Frags) {
			t.Fatalf("runs cover %d of %d fragments", next, len(sc.Frags))
		}
	})
}
