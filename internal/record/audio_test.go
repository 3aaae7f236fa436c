package record_test

import (
	"context"
	"math"
	"testing"

	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/record/recordtest"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// Record a simulated camera with audio through the hub: every segment has
// the video and the audio track (G.711 stored as 16-bit LPCM, AAC as is),
// ffprobe decodes both, and the audio spans the video's time.
func TestRecordAudio(t *testing.T) {
	recordtest.NeedFFprobe(t)
	for _, tc := range []struct{ audio, scan, ffprobe string }{{"g711", "LPCM", "pcm_s16be"}, {"aac", "AAC", "aac"}} {
		t.Run(tc.audio, func(t *testing.T) {
			db := storetest.SQLite(t)
			cam := "cam-" + tc.audio
			rig := recordtest.Start(t, db, []sim.CameraSpec{{ID: cam, Audio: true, AudioCodec: tc.audio}}, fastOpts())
			rig.Rec.Start(context.Background())
			recordtest.WaitFor(t, "three closed segments", func() bool {
				rig.Rec.Flush()
				return closedCount(allSegments(t, db, cam)) >= 3
			})
			rig.Close()
			for i, g := range allSegments(t, db, cam) {
				if g.State != record.StateOK || g.Codec != "H264" {
					t.Fatalf("segment %d: %+v", i, g)
				}
				p, err := rig.Rec.SegmentPath(g.Storage, g.Path)
				if err != nil {
					t.Fatal(err)
				}
				fi, err := record.ScanPath(p)
				if err != nil || fi.Audio == nil || fi.Audio.Codec != tc.scan || int64(fi.Frames) != g.Frames {
					t.Fatalf("segment %d: scan %v %+v", i, err, fi)
				}
				short := g.EndMS-g.StartMS < 200 // the last one, cut at stop: maybe no audio packet yet
				ss, err := recordtest.ProbeStreams(t, p)
				if err != nil {
					t.Fatalf("ffprobe refuses segment %d: %v", i, err)
				}
				if len(ss) != 2 || ss[0].Codec != "h264" || ss[1].Type != "audio" || ss[1].Codec != tc.ffprobe {
					t.Fatalf("segment %d streams: %+v", i, ss)
				}
				if ss[0].Packets != int(g.Frames) || ss[1].Packets != fi.AudioSamples {
					t.Fatalf("segment %d: ffprobe %d/%d packets, scan %d/%d", i, ss[0].Packets, ss[1].Packets, g.Frames, fi.AudioSamples)
				}
				t.Logf("segment %d (%s): video %.3f+%.3f s, audio %.3f+%.3f s", i, g.StartReason, ss[0].Start, ss[0].Dur, ss[1].Start, ss[1].Dur)
				if short {
					continue
				}
				// Audio starts with the video (within one packet: 20 ms of
				// G.711, 64 ms of AAC) and ends with it (within one packet
				// and the arrival jitter).
				if fi.AudioSamples == 0 || math.Abs(ss[1].Start-ss[0].Start) > 0.065 || math.Abs(ss[1].End()-ss[0].End()) > 0.1 {
					t.Fatalf("segment %d: audio %.3f..%.3f, video %.3f..%.3f", i, ss[1].Start, ss[1].End(), ss[0].Start, ss[0].End())
				}
			}
		})
	}
}
