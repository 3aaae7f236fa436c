package playback_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/record/recordtest"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

func recOpts() record.Options {
	return record.Options{SegmentLength: time.Second, IndexEvery: 200 * time.Millisecond, PolicyEvery: 200 * time.Millisecond, SweepEvery: time.Hour}
}

func segmentsOf(t testing.TB, db *store.DB, cam string) []record.SegmentRow {
	t.Helper()
	segs, err := record.Segments(context.Background(), db.Q(), cam, "main", 0, math.MaxInt64/2)
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

func closedSegments(t testing.TB, db *store.DB, cam string) []record.SegmentRow {
	var out []record.SegmentRow
	for _, g := range segmentsOf(t, db, cam) {
		if g.State == record.StateOK {
			out = append(out, g)
		}
	}
	return out
}

// recordCams records the cameras until each has n closed segments; during
// calls each before the wait.
func recordCams(t *testing.T, db *store.DB, cams []sim.CameraSpec, n int, during ...func(*recordtest.Rig)) *recordtest.Rig {
	t.Helper()
	rig := recordtest.Start(t, db, cams, recOpts())
	rig.Rec.Start(context.Background())
	for _, f := range during {
		f(rig)
	}
	recordtest.WaitFor(t, fmt.Sprintf("%d closed segments", n), func() bool {
		rig.Rec.Flush()
		for _, c := range cams {
			if len(closedSegments(t, db, c.ID)) < n {
				return false
			}
		}
		return true
	})
	rig.Close()
	return rig
}

// serve answers the plan's MP4 over HTTP as the API does (range requests).
func serve(t *testing.T, p *playback.Plan) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		http.ServeContent(w, r, "", p.Start, p)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/playback.mp4"
}

// checkAV checks with ffprobe and ffmpeg that an MP4 has the video and the
// audio stream, that both decode without error, and that the audio spans
// the video (within tolerance seconds at either end).
func checkAV(t *testing.T, url, audioCodec string, wantVideo float64, tolerance float64) []recordtest.Stream {
	t.Helper()
	ss, err := recordtest.ProbeStreams(t, url)
	if err != nil {
		t.Fatalf("ffprobe refuses the playback MP4: %v", err)
	}
	if len(ss) != 2 || ss[0].Type != "video" || ss[0].Codec != "h264" || ss[1].Type != "audio" || ss[1].Codec != audioCodec {
		t.Fatalf("streams: %+v", ss)
	}
	v, a := ss[0], ss[1]
	t.Logf("video %.3f..%.3f (%d frames), audio %s %d Hz %.3f..%.3f (%d packets)", v.Start, v.End(), v.Packets, a.Codec, a.SampleRate, a.Start, a.End(), a.Packets)
	if math.Abs(v.Dur-wantVideo) > 0.041 {
		t.Fatalf("video lasts %.3f s, the plan %.3f s", v.Dur, wantVideo)
	}
	if math.Abs(a.Start-v.Start) > tolerance || math.Abs(a.End()-v.End()) > tolerance {
		t.Fatalf("audio %.3f..%.3f does not span video %.3f..%.3f (±%.3f)", a.Start, a.End(), v.Start, v.End(), tolerance)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-xerror", "-i", url, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("ffmpeg cannot decode the playback MP4: %v %s", err, out)
	}
	return ss
}

// hubSkew is a hub reader that finds, on the hub's own clock, how far the
// G.711 simulator's beep (the first chunk of its clip, sent with a keyframe
// at each whole second of the camera) is from a keyframe: the audio/video
// offset the recording must keep. The hub aligns a camera's tracks by the
// arrival of their first packets, so this is not zero, and it varies from
// run to run.
type hubSkew struct {
	chunk0 []byte
	mu     sync.Mutex
	key    int64
	beep   int64
	have   [2]bool
	done   chan struct{}
}

func (h *hubSkew) OnUnit(u *media.Unit) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch u.Format.(type) {
	case *format.H264:
		if u.RandomAccess && !h.have[0] {
			h.key, h.have[0] = u.PTS, true
		}
	case *format.G711:
		if bytes.Equal(u.Payload, h.chunk0) && !h.have[1] {
			h.beep, h.have[1] = u.PTS, true
		}
	}
	if h.have[0] && h.have[1] && h.done != nil {
		close(h.done)
		h.done = nil
	}
}

// seconds is the beep's offset from the keyframes, in (-0.5, 0.5].
func (h *hubSkew) seconds() float64 {
	d := float64(h.beep)/8000 - float64(h.key)/90000
	d -= math.Round(d)
	return d
}

func measureSkew(t *testing.T, rig *recordtest.Rig, cam string) *hubSkew {
	t.Helper()
	clip, err := os.ReadFile(filepath.Join("..", "sim", "clips", "g711u_8000.ulaw"))
	if err != nil {
		t.Fatal(err)
	}
	h := &hubSkew{chunk0: clip[:160], done: make(chan struct{})}
	done := h.done
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rd, err := rig.Hub.OpenInternalReader(ctx, cam, media.Main, media.ProtoRecord, h)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("no keyframe and beep from the hub")
	}
	return h
}

// Record simulated cameras with H.264 + G.711 (cam264) and H.264 + AAC
// through the hub, and play a range crossing segments back through the
// playback plan over HTTP: ffprobe sees the video and the audio stream
// (G.711 stored as 16-bit LPCM), ffmpeg decodes both, the audio lasts as
// long as the video, and the G.711 camera's beeps (one a second, sent with
// the keyframes) are as far from the keyframes in the MP4 as they were on
// the hub's clock: recording and playback keep audio and video in sync.
func TestPlaybackAudio(t *testing.T) {
	recordtest.NeedFFprobe(t)
	db := storetest.SQLite(t)
	var skew *hubSkew
	rig := recordCams(t, db, []sim.CameraSpec{{ID: "cam264", Audio: true}, {ID: "cam-aac", Audio: true, AudioCodec: "aac"}}, 4,
		func(rig *recordtest.Rig) { skew = measureSkew(t, rig, "cam264") })
	for _, tc := range []struct{ cam, plan, ffprobe string }{{"cam264", "LPCM", "pcm_s16be"}, {"cam-aac", "AAC", "aac"}} {
		t.Run(tc.cam, func(t *testing.T) {
			segs := closedSegments(t, db, tc.cam)
			from := time.UnixMilli(segs[0].StartMS + 300)
			to := time.UnixMilli(segs[3].StartMS + 500)
			p, err := playback.Build(context.Background(), db.Q(), rig.Rec, tc.cam, from, to, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if p.Audio != tc.plan || p.Segments < 4 {
				t.Fatalf("plan: audio %q, %d segments", p.Audio, p.Segments)
			}
			// G.711: one 20 ms packet of tolerance at either end; AAC: 64 ms.
			tol := map[string]float64{"LPCM": 0.021, "AAC": 0.065}[tc.plan]
			url := serve(t, p)
			checkAV(t, url, tc.ffprobe, p.Duration.Seconds(), tol)
			if tc.plan == "LPCM" {
				checkBeeps(t, url, skew.seconds())
			}
		})
	}
}

// Old video-only footage and footage with audio in one range: a camera's
// segments from before audio was recorded, then with audio, then without,
// then with again. The MP4 plays through, its audio track starts where the
// audio footage starts and covers the video-only stretch in the middle with
// silence (LPCM) or a longer sample (AAC), so the later audio is still in
// sync and ends with the video.
func TestPlaybackMixedAudioAndVideoOnly(t *testing.T) {
	recordtest.NeedFFprobe(t)
	db := storetest.SQLite(t)
	rig := recordCams(t, db, []sim.CameraSpec{{ID: "cam-v"}, {ID: "cam-g711", Audio: true}, {ID: "cam-aac", Audio: true, AudioCodec: "aac"}}, 4)
	for _, tc := range []struct{ cam, plan, ffprobe string }{{"cam-g711", "LPCM", "pcm_s16be"}, {"cam-aac", "AAC", "aac"}} {
		t.Run(tc.cam, func(t *testing.T) {
			// One camera's index: video-only, audio, audio, video-only,
			// audio, laid end to end (the files are the cameras' own).
			vid, aud := closedSegments(t, db, "cam-v"), closedSegments(t, db, tc.cam)
			seq := []record.SegmentRow{vid[0], aud[0], aud[1], vid[1], aud[2]}
			mix := "mix-" + tc.cam
			at := int64(1_795_000_000_000)
			var audioFrom float64
			for i, g := range seq {
				if i == 1 {
					audioFrom = float64(at-1_795_000_000_000) / 1000
				}
				d := g.EndMS - g.StartMS
				g.ID, g.CameraID, g.StartMS, g.EndMS = fmt.Sprintf("%s-%d", mix, i), mix, at, at+d
				if err := record.InsertSegment(context.Background(), db.Q(), g); err != nil {
					t.Fatal(err)
				}
				at += d
			}
			p, err := playback.Build(context.Background(), db.Q(), rig.Rec, mix, time.UnixMilli(1_795_000_000_000), time.UnixMilli(at), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if p.Audio != tc.plan || p.Segments != 5 || len(p.Gaps) != 0 {
				t.Fatalf("plan: audio %q, %d segments, gaps %v", p.Audio, p.Segments, p.Gaps)
			}
			ss, err := recordtest.ProbeStreams(t, serve(t, p))
			if err != nil {
				t.Fatal(err)
			}
			if len(ss) != 2 || ss[0].Codec != "h264" || ss[1].Codec != tc.ffprobe {
				t.Fatalf("streams: %+v", ss)
			}
			v, a := ss[0], ss[1]
			t.Logf("video %.3f..%.3f, audio %.3f..%.3f (audio footage from %.3f)", v.Start, v.End(), a.Start, a.End(), audioFrom)
			tol := map[string]float64{"LPCM": 0.021, "AAC": 0.065}[tc.plan]
			if math.Abs(a.Start-audioFrom) > tol || math.Abs(a.End()-v.End()) > tol {
				t.Fatalf("audio %.3f..%.3f, want %.3f..%.3f", a.Start, a.End(), audioFrom, v.End())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-xerror", "-i", serve(t, p), "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
				t.Fatalf("ffmpeg cannot decode the MP4: %v %s", err, out)
			}
		})
	}
}

// checkBeeps decodes the MP4's audio (8 kHz, from the file's time zero)
// and finds the simulator's beeps (a 3,520 Hz tone added to the 880 Hz one
// for 40 ms at each whole second of the camera): each must start skew
// seconds from a keyframe's presentation time, within 3 ms (the onset is
// found to 1 ms).
func checkBeeps(t *testing.T, url string, skew float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags", "-of", "json", url).Output()
	if err != nil {
		t.Fatal(err)
	}
	var pk struct {
		Packets []struct {
			PTS   string `json:"pts_time"`
			Flags string `json:"flags"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &pk); err != nil {
		t.Fatal(err)
	}
	var keys []float64
	for _, p := range pk.Packets {
		if len(p.Flags) > 0 && p.Flags[0] == 'K' {
			v, _ := strconv.ParseFloat(p.PTS, 64)
			keys = append(keys, v)
		}
	}
	pcm, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-i", url, "-map", "0:a:0", "-af", "aresample=async=1:first_pts=0", "-f", "s16le", "-ac", "1", "-ar", "8000", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float64, len(pcm)/2)
	for i := range x {
		x[i] = float64(int16(binary.LittleEndian.Uint16(pcm[2*i:])))
	}
	// The beep is where the signal's slope jumps: the mean |x[n]-x[n-1]|
	// over 8 samples (1 ms) is about 1,900 on the 880 Hz tone alone, about
	// 10,000 with the beep, and 0 in silence (before the first sample), so
	// an onset is a jump from the tone alone.
	const rate, win = 8000, 8
	slope := func(i int) float64 { // over x[i-win:i]
		var s float64
		for j := i - win; j < i; j++ {
			s += math.Abs(x[j] - x[j-1])
		}
		return s / win
	}
	var beeps []float64
	in := false
	for i := 2*win + 1; i < len(x); i++ {
		on := slope(i) > 6000
		if before := slope(i - win); on && !in && before > 1000 && before < 3000 {
			beeps = append(beeps, float64(i-win)/rate)
		}
		in = on
	}
	if len(keys) < 2 || len(beeps) < 2 {
		t.Fatalf("keyframes at %v, beeps at %v: want at least two of each", keys, beeps)
	}
	for _, b := range beeps {
		best := math.Inf(1)
		for _, k := range keys {
			if d := b - k - skew; math.Abs(d) < math.Abs(best) {
				best = d
			}
		}
		if math.Abs(best) > 0.003 {
			t.Fatalf("a beep at %.4f s is %.1f ms off its keyframe + the hub's %.1f ms (keyframes %v, beeps %v)", b, best*1000, skew*1000, keys, beeps)
		}
	}
	t.Logf("%d beeps, each %.1f ms from a keyframe as on the hub's clock: %v / %v", len(beeps), skew*1000, beeps, keys)
}
