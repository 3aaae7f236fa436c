package playback_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/playback"
	"github.com/vigil-vms/vigil/internal/record/recordtest"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// A camera with H.264 + G.711 recorded by the whole site, through the API
// as a user gets it: the MP4 of a range crossing segments, the HLS VOD
// playlist and an export each carry the video and the audio (16-bit LPCM)
// for the same time, as ffprobe sees them.
func TestAudioThroughTheAPI(t *testing.T) {
	recordtest.NeedFFprobe(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sm, err := sim.Start(ctx, sim.Config{Addr: "127.0.0.1:0", Cameras: []sim.CameraSpec{{ID: "cam264", Audio: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	s := apptest.Start(t, storetest.SQLite(t), apptest.Options{Mutate: func(c *config.Config) {
		c.Recording.SegmentLength = 2 * time.Second
	}})
	// the site's cam-traffic is the simulator's cam264
	s.SeedWorld(map[string][2]string{"cam-traffic": {sm.URL("cam264", "main"), sm.URL("cam264", "sub")}})
	s.User("admin", "so-khcn", "admin", "auditor")
	admin := s.Login("admin")

	out := waitRecorded(t, s, admin, "cam-traffic", time.Now().Add(-time.Minute), 5*time.Second)
	span := out.Timelines[0].Spans[0]
	var tok struct{ Token string }
	if st := admin.Do("POST", "/api/v1/cameras/cam-traffic/stream-token", map[string]string{}, &tok); st != 200 {
		t.Fatalf("stream token: %d", st)
	}
	from, to := span.From.Add(1300*time.Millisecond), span.From.Add(4100*time.Millisecond)

	both := func(what string, ss []recordtest.Stream, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("ffprobe refuses the %s: %v", what, err)
		}
		if len(ss) != 2 || ss[0].Codec != "h264" || ss[1].Codec != "pcm_s16be" || ss[1].SampleRate != 8000 || ss[1].Packets == 0 {
			t.Fatalf("%s: streams %+v", what, ss)
		}
		t.Logf("%s: video %.3f+%.3f s (%d frames), audio %.3f+%.3f s (%d packets)", what, ss[0].Start, ss[0].Dur, ss[0].Packets, ss[1].Start, ss[1].Dur, ss[1].Packets)
	}
	span2 := func(what string, ss []recordtest.Stream) {
		t.Helper()
		// one G.711 packet (20 ms) at either end
		if d := ss[1].Start - ss[0].Start; d < -0.021 || d > 0.021 {
			t.Fatalf("%s: audio starts %.3f s from the video", what, d)
		}
		if d := ss[1].End() - ss[0].End(); d < -0.021 || d > 0.021 {
			t.Fatalf("%s: audio ends %.3f s from the video", what, d)
		}
	}

	playURL := fmt.Sprintf("%s/api/v1/cameras/cam-traffic/playback.mp4?from=%s&to=%s&token=%s", s.Base, ms(from), ms(to), url.QueryEscape(tok.Token))
	ss, err := recordtest.ProbeStreams(t, playURL)
	both("playback MP4", ss, err)
	span2("playback MP4", ss)

	hlsURL := fmt.Sprintf("%s/api/v1/cameras/cam-traffic/playback.m3u8?from=%s&to=%s&token=%s", s.Base, ms(span.From), ms(span.To), url.QueryEscape(tok.Token))
	ss, err = recordtest.ProbeStreams(t, hlsURL, "-allowed_extensions", "ALL", "-protocol_whitelist", "http,tcp,file,crypto")
	both("HLS VOD", ss, err)

	exportReq := map[string]any{"from": from.Format(time.RFC3339Nano), "to": to.Format(time.RFC3339Nano), "purpose": "Điều tra",
		"requester": map[string]string{"name": "Nguyễn Văn A", "organisation": "Công an tỉnh", "document": "123/CV-CAT"}}
	var ex playback.EvidenceExport
	if st := admin.Do("POST", "/api/v1/cameras/cam-traffic/exports", exportReq, &ex); st != 201 {
		t.Fatalf("export: %d", st)
	}
	dir := t.TempDir()
	file, man := filepath.Join(dir, "clip.mp4"), filepath.Join(dir, "clip.manifest.json")
	for part, dst := range map[string]string{"file": file, "manifest": man} {
		st, body, _ := admin.Raw("GET", "/api/v1/exports/"+ex.ID+"/"+part, "", nil)
		if st != 200 {
			t.Fatalf("download %s: %d", part, st)
		}
		if err := os.WriteFile(dst, body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if v := playback.VerifyFiles(file, man, s.App.KeyID); !v.OK {
		t.Fatalf("verify: %+v", v)
	}
	ss, err = recordtest.ProbeStreams(t, file)
	both("export", ss, err)
	span2("export", ss)
}
