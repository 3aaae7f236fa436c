package playback_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// BenchmarkPlaybackFirstByteAudio is BenchmarkPlaybackFirstByte on a
// segment with G.711 audio stored as LPCM: 300 one-second fragments of 25
// video frames and 50 audio samples of 20 ms (320 bytes); the MP4 of 30 s
// from mid-segment has both tracks, interleaved.
func BenchmarkPlaybackFirstByteAudio(b *testing.B) {
	db := storetest.SQLite(b)
	dir := b.TempDir()
	data, err := os.ReadFile(filepath.Join("..", "record", "testdata", "fuzz", "FuzzScanFile", "real-segment-av"))
	if err != nil {
		b.Fatal(err)
	}
	seg := unquoteSeed(b, data)
	fi, err := record.ScanFile(bytesReader(seg), int64(len(seg)))
	if err != nil || fi.Audio == nil || fi.Audio.Codec != "LPCM" {
		b.Fatal(err, fi.Audio)
	}
	var buf seekablebuffer.Buffer
	_, _ = buf.Write(fi.Init)
	payload, pcm := make([]byte, 20000), make([]byte, 320)
	for f := 0; f < 300; f++ {
		var vs, as []*fmp4.Sample
		for i := 0; i < 25; i++ {
			vs = append(vs, &fmp4.Sample{Duration: 3600, IsNonSyncSample: i != 0, Payload: payload})
		}
		for i := 0; i < 50; i++ {
			as = append(as, &fmp4.Sample{Duration: 160, Payload: pcm})
		}
		if err := (fmp4.Part{SequenceNumber: uint32(f + 1), Tracks: []*fmp4.PartTrack{{ID: 1, BaseTime: uint64(f) * 90000, Samples: vs},
			{ID: 2, BaseTime: uint64(f) * 8000, Samples: as}}}).Marshal(&buf); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rel := "cam-000/main/2026-11-01/x.mp4"
	_ = os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o750)
	if err := os.WriteFile(filepath.Join(dir, rel), buf.Bytes(), 0o640); err != nil {
		b.Fatal(err)
	}
	if err := record.InsertSegment(context.Background(), db.Q(), record.SegmentRow{ID: "s1", CameraID: "cam-000", Variant: "main", StartMS: start.UnixMilli(),
		EndMS: start.Add(5 * time.Minute).UnixMilli(), Bytes: int64(buf.Len()), Frames: 7500, Storage: "disk1", Path: rel, Codec: "H264", State: "ok", StartReason: "roll"}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(64 << 10)
	first := make([]byte, 64<<10)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := playback.Build(context.Background(), db.Q(), dirRes(dir), "cam-000", start.Add(150500*time.Millisecond), start.Add(180*time.Second), time.Hour)
		if err != nil || p.Audio != "LPCM" {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(p, first); err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}
