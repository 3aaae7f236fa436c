package record_test

import (
	"context"
	"math"
	"os"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/record/recordtest"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// The damage, made by hand in a recorded segment: a fragment torn in
// the middle (half of it written, the next fragments appended after it, the
// row closed ok over the whole span as an older recorder left it), and a
// fragment missing altogether (a hole in decode time). record check finds
// it, the repair keeps every whole fragment (those after the damage as a
// segment of their own at their own time), reports exactly the lost
// footage, and a second check is clean.
func TestCheckRepairsDamageInside(t *testing.T) {
	recordtest.NeedFFprobe(t)
	for _, kind := range []string{"torn", "hole"} {
		t.Run(kind, func(t *testing.T) {
			db := storetest.SQLite(t)
			opt := fastOpts()
			opt.SegmentLength = 4 * time.Second
			opt.FragmentLength = 500 * time.Millisecond
			cam := "cam-d"
			rig := recordtest.Start(t, db, []sim.CameraSpec{{ID: cam}}, opt)
			rig.Rec.Start(context.Background())
			var g record.SegmentRow
			recordtest.WaitFor(t, "a closed segment of six fragments or more", func() bool {
				rig.Rec.Flush()
				for _, s := range allSegments(t, db, cam) {
					if s.State != record.StateOK {
						continue
					}
					p, _ := rig.Rec.SegmentPath(s.Storage, s.Path)
					if fi, err := record.ScanPath(p); err == nil && len(fi.Frags) >= 6 {
						g = s
						return true
					}
				}
				return false
			})
			rig.Close()
			p, _ := rig.Rec.SegmentPath(g.Storage, g.Path)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := record.ScanPath(p)
			const k = 3
			var bad []byte
			if kind == "torn" {
				bad = tearFragment(data, fi, k)
			} else {
				bad = append(append([]byte{}, data[:fi.Frags[k].Offset]...), data[fi.Frags[k].Offset+fi.Frags[k].Size:]...)
			}
			if err := os.WriteFile(p, bad, 0o640); err != nil {
				t.Fatal(err)
			}
			// The row as an older recorder closed it: every byte and frame counted.
			if _, err := db.Q().Exec(context.Background(), `UPDATE record_segments SET bytes = ? WHERE id = ?`, len(bad), g.ID); err != nil {
				t.Fatal(err)
			}
			ts := int64(fi.TimeScale)
			at := func(ticks uint64) int64 { return g.StartMS + int64(ticks)*1000/ts }
			lostFrom, lostTo := at(fi.Frags[k].BaseTime), at(fi.Frags[k+1].BaseTime)

			dry, err := rig.Rec.Check(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			if dry.Damaged != 1 || dry.Split != 1 || len(dry.Lost) != 1 || dry.Lost[0].FromMS != lostFrom || dry.Lost[0].ToMS != lostTo || dry.Lost[0].CameraID != cam {
				t.Fatalf("check: %s lost %+v, want %d–%d", dry, dry.Lost, lostFrom, lostTo)
			}
			rep, err := rig.Rec.Check(context.Background(), true)
			if err != nil || rep.Damaged != 1 || rep.Split != 1 || len(rep.Lost) != 1 {
				t.Fatalf("repair: %v %s", err, rep)
			}
			if again, err := rig.Rec.Check(context.Background(), false); err != nil || !again.OK() {
				t.Fatalf("check after the repair: %v %s", err, again)
			}
			// The damaged segment ends where the damage began; the fragments
			// after it are a segment of their own from the first one's time.
			var before, after *record.SegmentRow
			segs := allSegments(t, db, cam)
			for i := range segs {
				switch {
				case segs[i].ID == g.ID:
					before = &segs[i]
				case segs[i].StartReason == "repaired":
					after = &segs[i]
				}
			}
			if before == nil || after == nil || before.EndMS != lostFrom || after.StartMS != lostTo || after.EndMS != g.EndMS {
				t.Fatalf("rows after the repair: %+v / %+v; want ends %d, starts %d, ends %d", before, after, lostFrom, lostTo, g.EndMS)
			}
			var frames int64
			for _, r := range []*record.SegmentRow{before, after} {
				rp, _ := rig.Rec.SegmentPath(r.Storage, r.Path)
				dur, n, err := recordtest.Probe(t, rp)
				if err != nil || math.Abs(dur-float64(r.EndMS-r.StartMS)/1000) > 0.041 || int64(n) != r.Frames {
					t.Fatalf("%s: ffprobe %v %.3f s %d frames; index %+v", r.StartReason, err, dur, n, r)
				}
				frames += r.Frames
			}
			if want := g.Frames - int64(len(fi.Frags[k].Samples)); frames != want {
				t.Fatalf("%d frames kept, want every whole one: %d", frames, want)
			}
		})
	}
}
