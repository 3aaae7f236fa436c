package sim

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// needTool finds an external tool; without it the test fails when
// VIGIL_REQUIRE_TOOLS=1 (CI) and is skipped loudly otherwise.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("VIGIL_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s not found on PATH and VIGIL_REQUIRE_TOOLS=1", name)
		}
		t.Skipf("!!! SKIPPED: %s not found on PATH (install ffmpeg; set VIGIL_REQUIRE_TOOLS=1 to make this fatal) !!!", name)
	}
	return p
}

func startSim(t *testing.T, cfg Config) *Sim {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

type probe struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
		CodecType string `json:"codec_type"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	} `json:"streams"`
}

func ffprobe(t *testing.T, url string) probe {
	t.Helper()
	bin := needTool(t, "ffprobe")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-v", "error", "-rtsp_transport", "tcp",
		"-show_entries", "stream=codec_name,codec_type,width,height", "-of", "json", url).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", url, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClipsParse(t *testing.T) {
	if err := loadClips(); err != nil {
		t.Fatal(err)
	}
	for k, c := range clips {
		if len(c.aus) != 2*clipFPS {
			t.Errorf("%s: %d access units, want %d", k, len(c.aus), 2*clipFPS)
		}
	}
}

func TestFFprobeSeesCameras(t *testing.T) {
	s := startSim(t, Config{
		User: "admin", Pass: "s3cret",
		Cameras: []CameraSpec{{ID: "cam1", Audio: true}, {ID: "cam2", Codec: "h265"}},
	})
	for _, c := range []struct {
		cam, variant, codec string
		w, h, n             int
	}{
		{"cam1", "main", "h264", 1280, 720, 2},
		{"cam1", "sub", "h264", 640, 360, 2},
		{"cam2", "main", "hevc", 1280, 720, 1},
		{"cam2", "sub", "hevc", 640, 360, 1},
	} {
		p := ffprobe(t, s.URL(c.cam, c.variant))
		if len(p.Streams) != c.n {
			t.Fatalf("%s/%s: %d streams, want %d", c.cam, c.variant, len(p.Streams), c.n)
		}
		v := p.Streams[0]
		if v.CodecName != c.codec || v.Width != c.w || v.Height != c.h {
			t.Errorf("%s/%s: got %s %dx%d, want %s %dx%d", c.cam, c.variant, v.CodecName, v.Width, v.Height, c.codec, c.w, c.h)
		}
		if c.n == 2 && p.Streams[1].CodecName != "pcm_mulaw" {
			t.Errorf("%s/%s: audio %s, want pcm_mulaw", c.cam, c.variant, p.Streams[1].CodecName)
		}
	}
}

// readPackets plays url with gortsplib and returns RTP timestamps of video
// packets until n frames (marker bits) have been seen or the client dies.
func readFrames(t *testing.T, url string, n int, onPlay func()) ([]uint32, error) {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := gortsplib.Client{Scheme: u.Scheme, Host: u.Host, ReadTimeout: 5 * time.Second}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		return nil, err
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return nil, err
	}
	ch := make(chan uint32, 1024)
	c.OnPacketRTPAny(func(m *description.Media, _ format.Format, p *rtp.Packet) {
		if m.Type == description.MediaTypeVideo && p.Marker {
			select {
			case ch <- p.Timestamp:
			default:
			}
		}
	})
	if _, err := c.Play(nil); err != nil {
		return nil, err
	}
	if onPlay != nil {
		onPlay()
	}
	var ts []uint32
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	deadline := time.After(30 * time.Second)
	for len(ts) < n {
		select {
		case v := <-ch:
			ts = append(ts, v)
		case err := <-done:
			return ts, err
		case <-deadline:
			t.Fatal("timeout reading frames")
		}
	}
	return ts, nil
}

func TestTimestampsContinueAcrossLoops(t *testing.T) {
	s := startSim(t, Config{Cameras: []CameraSpec{{ID: "c"}}})
	// 60 frames > one 50-frame loop.
	ts, err := readFrames(t, s.URL("c", "sub"), 60, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(ts); i++ {
		if d := ts[i] - ts[i-1]; d != frameTicks {
			t.Fatalf("frame %d: timestamp step %d, want %d", i, d, frameTicks)
		}
	}
}

func TestFaults(t *testing.T) {
	s := startSim(t, Config{Cameras: []CameraSpec{{ID: "c"}}})

	// Drop: the session ends by itself.
	_, err := readFrames(t, s.URL("c", "main"), 1<<30, func() { _ = s.DropNow("c") })
	if err == nil {
		t.Fatal("expected the session to be dropped")
	}

	// Broken SDP: DESCRIBE fails to parse.
	_ = s.SetBrokenSDP("c", true)
	if _, err := readFrames(t, s.URL("c", "main"), 1, nil); err == nil {
		t.Fatal("expected broken SDP to fail")
	}
	_ = s.SetBrokenSDP("c", false)

	// Stall: connected but no packet, so the client's read timeout fires.
	_ = s.SetStall("c", true)
	if _, err := readFrames(t, s.URL("c", "sub"), 1<<30, nil); err == nil {
		t.Fatal("expected a stalled camera to time out")
	}
	_ = s.SetStall("c", false)

	// Resolution change.
	if err := s.SetResolution("c", "main", 640, 360); err != nil {
		t.Fatal(err)
	}
	if p := ffprobe(t, s.URL("c", "main")); p.Streams[0].Width != 640 {
		t.Fatalf("width %d after change, want 640", p.Streams[0].Width)
	}
	if err := s.SetResolution("c", "main", 1, 1); err == nil {
		t.Fatal("expected an error for an unknown size")
	}

	// Drop every N: a new session is dropped again.
	_ = s.SetDropEvery("c", 300*time.Millisecond)
	if _, err := readFrames(t, s.URL("c", "sub"), 1<<30, nil); err == nil {
		t.Fatal("expected periodic drop")
	}
}
