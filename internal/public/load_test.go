package public_test

// A bounded load of many LL-HLS viewers of one public camera, through the
// public listener of a real site (bench/public.sh, VIGIL_BENCH=1). The
// viewers run in a child process so the CPU and memory reported are the
// site's (which here includes the simulated camera's RTSP server).

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/media/mediatest"
)

func TestPublicLoad(t *testing.T) {
	mediatest.SkipUnlessBench(t, "bench/public.sh")
	needTool(t, "ffmpeg")
	viewers := mediatest.EnvInt("VIGIL_PUBLIC_VIEWERS", 1000)
	seconds := mediatest.EnvInt("VIGIL_PUBLIC_SECONDS", 20)
	w := publicWorld(t, func(p *config.Public) {
		// Every viewer comes from 127.0.0.1 here; in production a CDN in
		// front spreads them over X-Forwarded-For addresses.
		p.RatePerSecond, p.Burst, p.GlobalRatePerSecond, p.MaxInflight = 1000000, 1000000, 10000000, 100000
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+120)*time.Second)
	defer cancel()
	if a := raw(t, w.pub, "GET", "/live/"+publicCam+"/sub/index.m3u8", nil); a.status != 200 {
		t.Fatalf("warm-up: %d %s", a.status, a.body)
	}

	maxSessions, maxReaders, minSessions := 0, 0, 1<<30
	m := mediatest.RunLoad(ctx, t, mediatest.Load{
		URL: w.pub + "/live/" + publicCam + "/sub/", Viewers: viewers, Seconds: seconds,
		Client: "TestPublicLoadClient",
		Sample: func() {
			n := w.sim.Sessions(publicCam)
			maxSessions, minSessions = max(maxSessions, n), min(minSessions, n)
			maxReaders = max(maxReaders, mediatest.HubReaders(w.site.App.Hub, publicCam))
		},
	})
	res := m.Clients

	t.Logf("PUBLIC load: %d viewers of %s/sub through the public listener for %.0fs on %d cores", viewers, publicCam, res.Seconds, runtime.NumCPU())
	t.Logf("  server: %s", m.Server())
	t.Logf("  camera sessions (sim, min–max while loaded): %d–%d; hub readers of the camera (max): %d; hls muxers: %d",
		minSessions, maxSessions, maxReaders, w.site.App.HLS.Stats().Muxers)
	t.Logf("  clients (other process, CPU %.1fs): %d playlists, %d parts, %.1f MB, %d errors (%d were 429), %d/%d viewers got parts %s",
		m.ClientCPU.Seconds(), res.Playlists, res.Parts, float64(res.Bytes)/1e6, res.Errors, res.Limited, res.ViewersOK, viewers, res.FirstError)
	if maxSessions != 1 {
		t.Errorf("camera saw %d sessions, want 1", maxSessions)
	}
	if res.ViewersOK < int64(viewers)*9/10 {
		t.Errorf("only %d of %d viewers received parts", res.ViewersOK, viewers)
	}
}

// TestPublicLoadClient is the viewer side, run as a child process.
func TestPublicLoadClient(t *testing.T) { mediatest.RunViewers(t) }
