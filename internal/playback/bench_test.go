package playback_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

func seedIndex(b *testing.B, db *store.DB, cams int, start time.Time, n int) {
	ctx := context.Background()
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for c := 0; c < cams; c++ {
			for i := 0; i < n; i++ {
				s := start.Add(time.Duration(i) * 5 * time.Minute)
				if i%500 == 499 {
					s = s.Add(time.Minute) // a few gaps
				}
				if err := record.InsertSegment(ctx, tx, record.SegmentRow{ID: fmt.Sprintf("%06d%018d", c, i), CameraID: fmt.Sprintf("cam-%03d", c), Variant: "main",
					StartMS: s.UnixMilli(), EndMS: s.Add(5 * time.Minute).UnixMilli(), Bytes: 150 << 20, Frames: 7500, Storage: "disk1",
					Path: fmt.Sprintf("cam-%03d/main/%d.mp4", c, i), Codec: "H264", State: "ok", StartReason: "roll", Node: "n"}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkTimeline30Days: one camera, 30 days of 5-minute segments
// (8,640 index rows), on both engines.
func BenchmarkTimeline30Days(b *testing.B) {
	for _, eng := range []string{"sqlite", "postgres"} {
		b.Run(eng, func(b *testing.B) {
			db := openBenchDB(b, eng)
			start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
			seedIndex(b, db, 1, start, 8640)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tl, err := playback.TimelineOf(context.Background(), db.Q(), "cam-000", start, start.Add(30*24*time.Hour))
				if err != nil || tl.Segments != 8640 {
					b.Fatal(err, tl.Segments)
				}
			}
		})
	}
}

// BenchmarkTimeline100CamerasDay: 100 cameras over one day (288 rows each).
func BenchmarkTimeline100CamerasDay(b *testing.B) {
	for _, eng := range []string{"sqlite", "postgres"} {
		b.Run(eng, func(b *testing.B) {
			db := openBenchDB(b, eng)
			start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
			seedIndex(b, db, 100, start, 288)
			var ids []string
			for c := 0; c < 100; c++ {
				ids = append(ids, fmt.Sprintf("cam-%03d", c))
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := playback.TimelinesOf(context.Background(), db.Q(), ids, start, start.Add(24*time.Hour)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func openBenchDB(b *testing.B, eng string) *store.DB {
	if eng == "postgres" {
		return storetest.Postgres(b)
	}
	return storetest.SQLite(b)
}

type dirRes string

func (d dirRes) SegmentPath(_, rel string) (string, error) { return record.JoinInside(string(d), rel) }

// BenchmarkPlaybackFirstByte: time to the first byte of an MP4 starting in
// the middle of a 5-minute segment (300 one-second fragments of 25 frames,
// a keyframe each second): index query, fragment-table scan, header, first
// 64 KiB read.
func BenchmarkPlaybackFirstByte(b *testing.B) { benchFirstByte(b, "real-segment", "") }

// benchFirstByte writes a 5-minute segment built from the fuzz seed's init
// (300 one-second fragments of 25 video frames, and with audio 50 samples
// of 20 ms of LPCM each) and times the first 64 KiB of an MP4 from its
// middle; audio names the audio codec the seed carries ("" = none).
func benchFirstByte(b *testing.B, seed, audio string) {
	db := storetest.SQLite(b)
	dir := b.TempDir()
	data, err := os.ReadFile(filepath.Join("..", "record", "testdata", "fuzz", "FuzzScanFile", seed))
	if err != nil {
		b.Fatal(err)
	}
	seg := unquoteSeed(b, data)
	fi, err := record.ScanFile(bytesReader(seg), int64(len(seg)))
	if err != nil {
		b.Fatal(err)
	}
	if audio != "" && (fi.Audio == nil || fi.Audio.Codec != audio) {
		b.Fatalf("seed %s has no %s track: %+v", seed, audio, fi.Audio)
	}
	var buf seekablebuffer.Buffer
	_, _ = buf.Write(fi.Init)
	payload, pcm := make([]byte, 20000), make([]byte, 320) // ~4 Mbit/s at 25 fps; 20 ms of 8 kHz 16-bit
	for f := 0; f < 300; f++ {
		var vs []*fmp4.Sample
		for i := 0; i < 25; i++ {
			vs = append(vs, &fmp4.Sample{Duration: 3600, IsNonSyncSample: i != 0, Payload: payload})
		}
		tracks := []*fmp4.PartTrack{{ID: 1, BaseTime: uint64(f) * 90000, Samples: vs}}
		if audio != "" {
			var as []*fmp4.Sample
			for i := 0; i < 50; i++ {
				as = append(as, &fmp4.Sample{Duration: 160, Payload: pcm})
			}
			tracks = append(tracks, &fmp4.PartTrack{ID: 2, BaseTime: uint64(f) * 8000, Samples: as})
		}
		if err := (fmp4.Part{SequenceNumber: uint32(f + 1), Tracks: tracks}).Marshal(&buf); err != nil {
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
		if err != nil || p.Audio != audio {
			b.Fatal(err, p)
		}
		if _, err := io.ReadFull(p, first); err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func unquoteSeed(b *testing.B, data []byte) []byte {
	lines := strings.SplitN(string(data), "\n", 3)
	v := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
	s, err := strconv.Unquote(v)
	if err != nil {
		b.Fatal(err)
	}
	return []byte(s)
}
