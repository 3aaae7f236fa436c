package public_test

// A bounded load of many LL-HLS viewers of one public camera, through the
// public listener of a real site (bench/public.sh, VIGIL_BENCH=1). The
// viewers run in a child process so the CPU and memory reported are the
// site's (which here includes the simulated camera's RTSP server).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/config"
)

type loadResult struct {
	Viewers    int     `json:"viewers"`
	Seconds    float64 `json:"seconds"`
	Playlists  int64   `json:"playlists"`
	Parts      int64   `json:"parts"`
	Bytes      int64   `json:"bytes"`
	Errors     int64   `json:"errors"`
	Limited    int64   `json:"limited"`
	ViewersOK  int64   `json:"viewers_with_parts"`
	FirstError string  `json:"first_error,omitempty"`
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

func TestPublicLoad(t *testing.T) {
	if os.Getenv("VIGIL_BENCH") != "1" {
		t.Skip("load test: run bench/public.sh (VIGIL_BENCH=1)")
	}
	needTool(t, "ffmpeg")
	viewers := envInt("VIGIL_PUBLIC_VIEWERS", 1000)
	seconds := envInt("VIGIL_PUBLIC_SECONDS", 20)
	w := publicWorld(t, func(p *config.Public) {
		// Every viewer comes from 127.0.0.1 here; in production a CDN in
		// front spreads them over X-Forwarded-For addresses.
		p.RatePerSecond, p.Burst, p.GlobalRatePerSecond, p.MaxInflight = 1000000, 1000000, 10000000, 100000
	})
	base := w.pub + "/live/" + publicCam + "/sub/"
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+120)*time.Second)
	defer cancel()
	if a := raw(t, w.pub, "GET", "/live/"+publicCam+"/sub/index.m3u8", nil); a.status != 200 {
		t.Fatalf("warm-up: %d %s", a.status, a.body)
	}

	runtime.GC()
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestPublicLoadClient$", "-test.v")
	cmd.Env = append(os.Environ(), "VIGIL_PUBLIC_CLIENT_URL="+base,
		fmt.Sprintf("VIGIL_PUBLIC_VIEWERS=%d", viewers), fmt.Sprintf("VIGIL_PUBLIC_SECONDS=%d", seconds))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var peakHeap, peakSys uint64
	maxSessions, maxReaders, minSessions := 0, 0, 1<<30
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		tk := time.NewTicker(500 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peakHeap, peakSys = max(peakHeap, ms.HeapInuse), max(peakSys, ms.Sys)
			n := w.sim.Sessions(publicCam)
			maxSessions, minSessions = max(maxSessions, n), min(minSessions, n)
			if st, ok := w.site.App.Hub.State(publicCam); ok {
				r := 0
				for _, s := range st {
					r += s.Readers
				}
				maxReaders = max(maxReaders, r)
			}
		}
	}()
	var res loadResult
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "LOADRESULT ") {
			_ = json.Unmarshal([]byte(strings.TrimPrefix(l, "LOADRESULT ")), &res)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client: %v", err)
	}
	close(stop)
	<-sampled
	wall := time.Since(start)
	var ru1, ruc syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ruc)
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()) + time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano())
	ccpu := time.Duration(ruc.Utime.Nano() + ruc.Stime.Nano())

	t.Logf("PUBLIC load: %d viewers of %s/sub through the public listener for %.0fs on %d cores", viewers, publicCam, res.Seconds, runtime.NumCPU())
	t.Logf("  server: CPU %.2fs = %.0f%% of one core; peak Go heap in use %.1f MiB, Go runtime sys %.1f MiB; max RSS %.1f MiB",
		cpu.Seconds(), 100*cpu.Seconds()/wall.Seconds(), float64(peakHeap)/(1<<20), float64(peakSys)/(1<<20), float64(ru1.Maxrss)/1024)
	t.Logf("  camera sessions (sim, min–max while loaded): %d–%d; hub readers of the camera (max): %d; hls muxers: %d",
		minSessions, maxSessions, maxReaders, w.site.App.HLS.Stats().Muxers)
	t.Logf("  clients (other process, CPU %.1fs): %d playlists, %d parts, %.1f MB, %d errors (%d were 429), %d/%d viewers got parts %s",
		ccpu.Seconds(), res.Playlists, res.Parts, float64(res.Bytes)/1e6, res.Errors, res.Limited, res.ViewersOK, viewers, res.FirstError)
	if maxSessions != 1 {
		t.Errorf("camera saw %d sessions, want 1", maxSessions)
	}
	if res.ViewersOK < int64(viewers)*9/10 {
		t.Errorf("only %d of %d viewers received parts", res.ViewersOK, viewers)
	}
}

// TestPublicLoadClient is the viewer side, run as a child process.
func TestPublicLoadClient(t *testing.T) {
	base := os.Getenv("VIGIL_PUBLIC_CLIENT_URL")
	if base == "" {
		t.Skip("child process of TestPublicLoad")
	}
	viewers := envInt("VIGIL_PUBLIC_VIEWERS", 1000)
	seconds := envInt("VIGIL_PUBLIC_SECONDS", 20)
	tr := &http.Transport{MaxIdleConnsPerHost: viewers * 2, IdleConnTimeout: time.Minute}
	cl := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	var res loadResult
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := 0; i < viewers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 2 * time.Second / time.Duration(viewers)) // a crowd arriving over 2 s
			if viewLoop(cl, base, deadline, &res, &firstErr) > 0 {
				atomic.AddInt64(&res.ViewersOK, 1)
			}
		}()
	}
	wg.Wait()
	res.Viewers, res.Seconds = viewers, float64(seconds)
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	b, _ := json.Marshal(res)
	fmt.Println("LOADRESULT " + string(b))
}

// viewLoop behaves like an LL-HLS player: blocking playlist reloads
// (_HLS_msn/_HLS_part) and a fetch of each new part.
func viewLoop(cl *http.Client, base string, deadline time.Time, res *loadResult, firstErr *atomic.Value) int {
	fail := func(code int, what string) {
		atomic.AddInt64(&res.Errors, 1)
		if code == http.StatusTooManyRequests {
			atomic.AddInt64(&res.Limited, 1)
		}
		firstErr.CompareAndSwap(nil, what)
		time.Sleep(500 * time.Millisecond)
	}
	fetch := func(u string) ([]byte, int, error) {
		resp, err := cl.Get(u)
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return b, resp.StatusCode, err
	}
	var mediaURI string
	for mediaURI == "" && time.Now().Before(deadline) {
		b, code, err := fetch(base + "index.m3u8")
		if err != nil || code != 200 {
			fail(code, fmt.Sprintf("index: %d %v", code, err))
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				mediaURI = l
				break
			}
		}
	}
	parts, nextMSN, nextPart, lastPart := 0, 0, 0, ""
	for time.Now().Before(deadline) {
		u := base + mediaURI
		if nextMSN > 0 {
			sep := "?"
			if strings.Contains(u, "?") {
				sep = "&"
			}
			u += fmt.Sprintf("%s_HLS_msn=%d&_HLS_part=%d", sep, nextMSN, nextPart)
		}
		b, code, err := fetch(u)
		if err != nil || code != 200 {
			fail(code, fmt.Sprintf("playlist: %d %v", code, err))
			nextMSN = 0
			continue
		}
		atomic.AddInt64(&res.Playlists, 1)
		msn, segs, partsAfter, last := parseMediaPlaylist(string(b))
		nextMSN, nextPart = msn+segs, partsAfter
		if last != "" && last != lastPart {
			lastPart = last
			pb, code, err := fetch(base + last)
			if err != nil || code != 200 {
				fail(code, fmt.Sprintf("part: %d %v", code, err))
				continue
			}
			parts++
			atomic.AddInt64(&res.Parts, 1)
			atomic.AddInt64(&res.Bytes, int64(len(pb)))
		}
	}
	return parts
}

func parseMediaPlaylist(pl string) (msn, segs, partsAfter int, lastPart string) {
	for _, l := range strings.Split(pl, "\n") {
		switch {
		case strings.HasPrefix(l, "#EXT-X-MEDIA-SEQUENCE:"):
			msn, _ = strconv.Atoi(strings.TrimPrefix(l, "#EXT-X-MEDIA-SEQUENCE:"))
		case strings.HasPrefix(l, "#EXT-X-PART:"):
			partsAfter++
			if i := strings.Index(l, `URI="`); i >= 0 {
				lastPart = l[i+5:]
				lastPart = lastPart[:strings.IndexByte(lastPart, '"')]
			}
		case l != "" && !strings.HasPrefix(l, "#"):
			segs++
			partsAfter = 0
		}
	}
	return
}
