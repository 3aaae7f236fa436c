package record_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/record/recordtest"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

func fastOpts() record.Options {
	return record.Options{SegmentLength: time.Second, IndexEvery: 200 * time.Millisecond, PolicyEvery: 200 * time.Millisecond, SweepEvery: time.Hour}
}

func allSegments(t testing.TB, db *store.DB, cam string) []record.SegmentRow {
	t.Helper()
	segs, err := record.Segments(context.Background(), db.Q(), cam, media.Main, 0, math.MaxInt64/2)
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

func closedCount(segs []record.SegmentRow) int {
	n := 0
	for _, g := range segs {
		if g.State == record.StateOK {
			n++
		}
	}
	return n
}

// Record a simulated camera: every segment is indexed, contiguous, accepted
// by ffprobe with the indexed duration (within one frame) and frame count.
func TestRecordSimCamera(t *testing.T) {
	recordtest.NeedFFprobe(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, codec := range []string{"h264", "h265"} {
			t.Run(codec, func(t *testing.T) {
				cam := "cam-" + codec
				rig := recordtest.Start(t, db, []sim.CameraSpec{{ID: cam, Codec: codec}}, fastOpts())
				before := time.Now()
				rig.Rec.Start(context.Background())
				recordtest.WaitFor(t, "three closed segments", func() bool {
					rig.Rec.Flush()
					return closedCount(allSegments(t, db, cam)) >= 3
				})
				rig.Close()
				after := time.Now()
				segs := allSegments(t, db, cam)
				if len(segs) < 3 {
					t.Fatalf("segments: %d", len(segs))
				}
				var frames int64
				for i, g := range segs {
					if g.State != record.StateOK || g.Codec != map[string]string{"h264": "H264", "h265": "H265"}[codec] {
						t.Fatalf("segment %d: %+v", i, g)
					}
					if i > 0 && g.StartReason == "roll" && g.StartMS != segs[i-1].EndMS {
						t.Fatalf("segment %d starts at %d, previous ended at %d", i, g.StartMS, segs[i-1].EndMS)
					}
					p, err := rig.Rec.SegmentPath(g.Storage, g.Path)
					if err != nil {
						t.Fatal(err)
					}
					dur, n, err := recordtest.Probe(t, p)
					if err != nil {
						t.Fatalf("ffprobe refuses segment %d: %v", i, err)
					}
					want := float64(g.EndMS-g.StartMS) / 1000
					if math.Abs(dur-want) > 0.041 {
						t.Fatalf("segment %d: ffprobe duration %.3f, index %.3f", i, dur, want)
					}
					if int64(n) != g.Frames {
						t.Fatalf("segment %d: ffprobe %d frames, index %d", i, n, g.Frames)
					}
					frames += g.Frames
				}
				first, last := segs[0], segs[len(segs)-1]
				if first.StartMS < before.UnixMilli()-1000 || last.EndMS > after.UnixMilli()+1000 {
					t.Fatalf("segments outside the recording window: %d..%d vs %d..%d", first.StartMS, last.EndMS, before.UnixMilli(), after.UnixMilli())
				}
				// 25 fps were sent: the index holds 25 frames a second.
				span := float64(last.EndMS-first.StartMS) / 1000
				if got := float64(frames) / span; math.Abs(got-25) > 1 {
					t.Fatalf("recorded %.2f fps over %.1f s", got, span)
				}
				if filepath.IsAbs(first.Path) {
					t.Fatalf("stored path must be relative: %s", first.Path)
				}
			})
		}
	})
}
