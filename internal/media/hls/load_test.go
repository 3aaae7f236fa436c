package hls

// A bounded load of many LL-HLS viewers of one camera, for the "public
// sharing" issue. Run with bench/hls-load.sh (VIGIL_BENCH=1). The viewers run
// in a child process so the CPU and memory reported are the server's alone.

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/media/mediatest"
)

func TestHLSLoad(t *testing.T) {
	mediatest.SkipUnlessBench(t, "bench/hls-load.sh")
	viewers := mediatest.EnvInt("VIGIL_HLS_VIEWERS", 1000)
	seconds := mediatest.EnvInt("VIGIL_HLS_SECONDS", 20)
	variant := os.Getenv("VIGIL_HLS_VARIANT")
	if variant == "" {
		variant = "sub"
	}
	tokens := make([]string, viewers)
	for i := range tokens {
		tokens[i] = mediatest.ViewerToken(i)
	}
	r := newRig(t, Options{}, tokens...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+120)*time.Second)
	defer cancel()
	// Warm the muxer so the run measures steady state, not camera start.
	if code, _, b := get(t, r.http.URL+"/hls/cam264/"+variant+"/index.m3u8?token="+mediatest.ViewerToken(0)); code != 200 {
		t.Fatalf("%d %s", code, b)
	}

	maxViewers, hubReaders := 0, 0
	m := mediatest.RunLoad(ctx, t, mediatest.Load{
		URL: r.http.URL + "/hls/cam264/" + variant + "/", Viewers: viewers, Seconds: seconds, Tokens: true,
		Client: "TestHLSLoadClient",
		Sample: func() {
			maxViewers = max(maxViewers, r.hls.Stats().Viewers)
			hubReaders = max(hubReaders, mediatest.HubReaders(r.hub, "cam264"))
		},
	})
	res := m.Clients

	t.Logf("HLS load: %d viewers of cam264/%s for %.0fs on %d cores", viewers, variant, res.Seconds, runtime.NumCPU())
	t.Logf("  server: %s", m.Server())
	t.Logf("  hub readers for the camera (max seen): %d; hls muxers: %d; viewer sessions (max): %d; authorizer calls: %d",
		hubReaders, r.hls.Stats().Muxers, maxViewers, r.authz.Counts().Asks)
	t.Logf("  clients (other process, CPU %.1fs): %d playlists, %d parts, %.1f MB, %d errors, %d/%d viewers got parts %s",
		m.ClientCPU.Seconds(), res.Playlists, res.Parts, float64(res.Bytes)/1e6, res.Errors, res.ViewersOK, viewers, res.FirstError)
	if hubReaders != 1 {
		t.Errorf("hub readers = %d, want 1", hubReaders)
	}
	if res.ViewersOK < int64(viewers)*9/10 {
		t.Errorf("only %d of %d viewers received parts", res.ViewersOK, viewers)
	}
}

// TestHLSLoadClient is the viewer side, run as a child process.
func TestHLSLoadClient(t *testing.T) { mediatest.RunViewers(t) }
