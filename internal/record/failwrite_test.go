package record_test

import (
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/record/recordtest"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// Ways a segment write fails.
const (
	writeOK      = iota
	writeENOSPC  // half the bytes reach the file, then ENOSPC
	writeShort   // a third of the bytes, and no error
	writeSyncEIO // every byte written, then fsync says EIO
	writeNoCut   // as writeENOSPC, and the cut back fails too (EIO)
)

// flakyFile is a segment file whose writes fail on demand.
type flakyFile struct {
	*os.File
	mode *atomic.Int32
}

func (f *flakyFile) Write(b []byte) (int, error) {
	switch f.mode.Load() {
	case writeENOSPC, writeNoCut:
		n, _ := f.File.Write(b[:len(b)/2])
		return n, syscall.ENOSPC
	case writeShort:
		return f.File.Write(b[:len(b)/3])
	}
	return f.File.Write(b)
}

func (f *flakyFile) Truncate(size int64) error {
	if f.mode.Load() == writeNoCut {
		return syscall.EIO
	}
	return f.File.Truncate(size)
}

func (f *flakyFile) Sync() error {
	if f.mode.Load() == writeSyncEIO {
		return syscall.EIO
	}
	return f.File.Sync()
}

// The recorder with a writer that fails for several fragments in the middle
// of a segment, each way a write can fail: nothing of a failed fragment is
// in the file or the index, the camera is "not recording" while writes
// fail, the segment ends at its last whole fragment, the next one starts
// at its own first frame after the writes succeed again, every file is
// whole (ffprobe, the playback MP4) and record check finds nothing.
func TestFailedWrites(t *testing.T) {
	recordtest.NeedFFprobe(t)
	for name, mode := range map[string]int32{"enospc": writeENOSPC, "short": writeShort, "sync_eio": writeSyncEIO, "no_cut": writeNoCut} {
		t.Run(name, func(t *testing.T) {
			db := storetest.SQLite(t)
			var m atomic.Int32
			opt := fastOpts()
			opt.SegmentLength = 4 * time.Second
			opt.FragmentLength = 500 * time.Millisecond
			record.SetOpenFile(&opt, func(p string) (record.SegFile, error) {
				f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
				if err != nil {
					return nil, err
				}
				return &flakyFile{File: f, mode: &m}, nil
			})
			cam := "cam-f"
			rig := recordtest.Start(t, db, []sim.CameraSpec{{ID: cam}}, opt)
			rig.Rec.Start(context.Background())
			outage := diskOutage(t, rig, cam, func() { m.Store(mode) }, func() { m.Store(writeOK) }, 4)
			rig.Close()
			if mode == writeNoCut {
				// The file that could not be cut was left alone after its
				// failed write; its row holds only the whole fragments, and
				// the start reconcile cuts the torn tail.
				rep, err := rig.Rec.Reconcile(context.Background(), true)
				if err != nil || rep.TruncatedBytes == 0 || len(rep.Lost) != 0 {
					t.Fatalf("reconcile after a failed cut: %v %s", err, rep)
				}
			}
			checkOutage(t, rig, cam, outage)
		})
	}
}

// outage is when writes started and stopped failing; lateEnd, how long
// after from footage may go on (one second unless set).
type outage struct {
	from, to time.Time
	lateEnd  time.Duration
}

func status(rig *recordtest.Rig, cam string) record.RecorderStatus {
	for _, st := range rig.Rec.Recording() {
		if st.CameraID == cam {
			return st
		}
	}
	return record.RecorderStatus{}
}

// diskOutage waits for footage, breaks the writes (fail), waits until the
// recorder has failed n times and says it is not recording, mends them
// (mend), and waits for footage after it.
func diskOutage(t *testing.T, rig *recordtest.Rig, cam string, fail, mend func(), n int64) outage {
	t.Helper()
	recordtest.WaitFor(t, "a second of footage", func() bool {
		rig.Rec.Flush()
		for _, g := range allSegments(t, rig.DB, cam) {
			if g.Frames >= 25 {
				return true
			}
		}
		return false
	})
	if !status(rig, cam).Recording {
		t.Fatalf("not recording before the outage: %+v", status(rig, cam))
	}
	var o outage
	o.from = time.Now()
	fail()
	recordtest.WaitFor(t, "the recorder to fail its writes and say so", func() bool {
		st := status(rig, cam)
		return !st.Recording && st.WriteErrors >= n && st.LastError != ""
	})
	o.to = time.Now()
	mend()
	recordtest.WaitFor(t, "recording again, with a second of footage after the outage", func() bool {
		rig.Rec.Flush()
		if !status(rig, cam).Recording {
			return false
		}
		for _, g := range allSegments(t, rig.DB, cam) {
			if g.StartMS >= o.to.UnixMilli()-1000 && g.Frames >= 25 {
				return true
			}
		}
		return false
	})
	return o
}

// Tolerances of the gap against the outage: the fragment being gathered
// when writes fail is lost with them, and the next segment waits for a
// keyframe (the simulator sends one every 2 s at most).
const (
	fragSlack     = 500*time.Millisecond + time.Second
	keyframeSlack = 2*time.Second + time.Second
)

// checkOutage verifies the footage around an outage: every segment whole
// and agreeing with its row, one gap where the writes failed, the next
// segment at its own time, the playback MP4 of the whole range whole, and
// record check clean.
func checkOutage(t *testing.T, rig *recordtest.Rig, cam string, o outage) {
	t.Helper()
	segs := allSegments(t, rig.DB, cam)
	var frames int64
	var before, after *record.SegmentRow
	for i, g := range segs {
		if g.State != record.StateOK {
			t.Fatalf("segment %d: %+v", i, g)
		}
		p, err := rig.Rec.SegmentPath(g.Storage, g.Path)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := record.ScanPath(p)
		if err != nil || sc.Valid != sc.Size || int64(sc.Frames) != g.Frames || sc.Size != g.Bytes {
			t.Fatalf("segment %d (%s): scan %v valid %d size %d frames %d; index %+v", i, g.StartReason, err, sc.Valid, sc.Size, sc.Frames, g)
		}
		dur, n, err := recordtest.Probe(t, p)
		if err != nil || math.Abs(dur-float64(g.EndMS-g.StartMS)/1000) > 0.041 || int64(n) != g.Frames {
			t.Fatalf("segment %d (%s): ffprobe %v %.3f s %d frames; index %d ms %d frames", i, g.StartReason, err, dur, n, g.EndMS-g.StartMS, g.Frames)
		}
		frames += g.Frames
		if i > 0 {
			gap := g.StartMS - segs[i-1].EndMS
			switch {
			case gap < 0:
				t.Fatalf("segment %d overlaps the one before by %d ms", i, -gap)
			case g.StartReason == "roll" && gap != 0:
				t.Fatalf("segment %d: a roll %d ms after the one before", i, gap)
			case gap > 0:
				if before != nil {
					t.Fatalf("a second gap, %d ms before segment %d (%s)", gap, i, g.StartReason)
				}
				before, after = &segs[i-1], &segs[i]
			}
		}
	}
	if before == nil {
		t.Fatalf("no gap in the index for the outage %v–%v: %+v", o.from, o.to, segs)
	}
	t.Logf("writes failed %s → %s; footage ends %s, resumes %s (%d segments)", o.from.Format("15:04:05.000"), o.to.Format("15:04:05.000"),
		time.UnixMilli(before.EndMS).Format("15:04:05.000"), time.UnixMilli(after.StartMS).Format("15:04:05.000"), len(segs))
	// The gap is where nothing was written.
	if end := time.UnixMilli(before.EndMS); end.Before(o.from.Add(-fragSlack)) || end.After(o.from.Add(max(o.lateEnd, time.Second))) {
		t.Fatalf("footage ends at %v, writes failed from %v", end, o.from)
	}
	if start := time.UnixMilli(after.StartMS); start.Before(o.to.Add(-time.Second)) || start.After(o.to.Add(keyframeSlack)) {
		t.Fatalf("footage resumes at %v, writes succeeded again at %v", start, o.to)
	}
	if after.StartReason != "write_error" {
		t.Fatalf("the segment after the outage starts for %q", after.StartReason)
	}
	// The playback MP4 of the whole range holds every indexed frame.
	plan, err := playback.Build(context.Background(), rig.DB.Q(), rig.Rec, cam, time.UnixMilli(segs[0].StartMS), time.UnixMilli(segs[len(segs)-1].EndMS), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "range.mp4")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(f, plan)
	plan.Close()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, n, err := recordtest.Probe(t, out); err != nil || int64(n) != frames {
		t.Fatalf("playback MP4: ffprobe %v, %d frames of %d", err, n, frames)
	}
	rep, err := rig.Rec.Check(context.Background(), false)
	if err != nil || !rep.OK() {
		t.Fatalf("record check after the outage: %v %s %q %+v", err, rep, rep.Problems, rep.Lost)
	}
}
