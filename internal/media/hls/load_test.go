package hls

// A bounded load of many LL-HLS viewers of one camera, for the "public
// sharing" issue. Run with bench/hls-load.sh (VIGIL_BENCH=1). The viewers run
// in a child process so the CPU and memory reported are the server's alone.

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
)

type loadResult struct {
	Viewers     int     `json:"viewers"`
	Seconds     float64 `json:"seconds"`
	Playlists   int64   `json:"playlists"`
	Parts       int64   `json:"parts"`
	Bytes       int64   `json:"bytes"`
	Errors      int64   `json:"errors"`
	ViewersOK   int64   `json:"viewers_with_parts"`
	FirstErrors string  `json:"first_error,omitempty"`
}

func TestHLSLoad(t *testing.T) {
	if os.Getenv("VIGIL_BENCH") != "1" {
		t.Skip("load test: run bench/hls-load.sh (VIGIL_BENCH=1)")
	}
	viewers := envInt("VIGIL_HLS_VIEWERS", 1000)
	seconds := envInt("VIGIL_HLS_SECONDS", 20)
	variant := os.Getenv("VIGIL_HLS_VARIANT")
	if variant == "" {
		variant = "sub"
	}
	tokens := make([]string, viewers)
	for i := range tokens {
		tokens[i] = "viewer-" + strconv.Itoa(i)
	}
	r := newRig(t, Options{}, tokens...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+120)*time.Second)
	defer cancel()
	// Warm the muxer so the run measures steady state, not camera start.
	if code, _, b := get(t, r.http.URL+"/hls/cam264/"+variant+"/index.m3u8?token=viewer-0"); code != 200 {
		t.Fatalf("%d %s", code, b)
	}

	runtime.GC()
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHLSLoadClient$", "-test.v")
	cmd.Env = append(os.Environ(), "VIGIL_HLS_CLIENT_URL="+r.http.URL+"/hls/cam264/"+variant+"/",
		fmt.Sprintf("VIGIL_HLS_VIEWERS=%d", viewers), fmt.Sprintf("VIGIL_HLS_SECONDS=%d", seconds))
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
	maxViewers, hubReaders := 0, 0
	stopSample := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tk := time.NewTicker(500 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopSample:
				return
			case <-tk.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapInuse)
			peakSys = max(peakSys, ms.Sys)
			maxViewers = max(maxViewers, r.hls.Stats().Viewers)
			states, _ := r.hub.State("cam264")
			n := 0
			for _, s := range states {
				n += s.Readers
			}
			hubReaders = max(hubReaders, n)
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
	close(stopSample)
	<-sampled
	wall := time.Since(start)
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()) + time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano())
	var ruc syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ruc)
	ccpu := time.Duration(ruc.Utime.Nano() + ruc.Stime.Nano())
	asks, _ := r.authz.counts()

	t.Logf("HLS load: %d viewers of cam264/%s for %.0fs on %d cores", viewers, variant, res.Seconds, runtime.NumCPU())
	t.Logf("  server: CPU %.2fs = %.0f%% of one core; peak Go heap in use %.1f MiB, Go runtime sys %.1f MiB; max RSS %.1f MiB",
		cpu.Seconds(), 100*cpu.Seconds()/wall.Seconds(), float64(peakHeap)/(1<<20), float64(peakSys)/(1<<20), float64(ru1.Maxrss)/1024)
	t.Logf("  hub readers for the camera (max seen): %d; hls muxers: %d; viewer sessions (max): %d; authorizer calls: %d",
		hubReaders, r.hls.Stats().Muxers, maxViewers, asks)
	t.Logf("  clients (other process, CPU %.1fs): %d playlists, %d parts, %.1f MB, %d errors, %d/%d viewers got parts %s",
		ccpu.Seconds(), res.Playlists, res.Parts, float64(res.Bytes)/1e6, res.Errors, res.ViewersOK, viewers, res.FirstErrors)
	if hubReaders != 1 {
		t.Errorf("hub readers = %d, want 1", hubReaders)
	}
	if res.ViewersOK < int64(viewers)*9/10 {
		t.Errorf("only %d of %d viewers received parts", res.ViewersOK, viewers)
	}
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestHLSLoadClient is the viewer side, run as a child process.
func TestHLSLoadClient(t *testing.T) {
	base := os.Getenv("VIGIL_HLS_CLIENT_URL")
	if base == "" {
		t.Skip("child process of TestHLSLoad")
	}
	viewers := envInt("VIGIL_HLS_VIEWERS", 1000)
	seconds := envInt("VIGIL_HLS_SECONDS", 20)
	tr := &http.Transport{MaxIdleConnsPerHost: viewers * 2, MaxConnsPerHost: 0, IdleConnTimeout: time.Minute}
	cl := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	var res loadResult
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := 0; i < viewers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the joins over 2 s, as a crowd would arrive.
			time.Sleep(time.Duration(i) * 2 * time.Second / time.Duration(viewers))
			n := viewLoop(cl, base, "viewer-"+strconv.Itoa(i), deadline, &res, &firstErr)
			if n > 0 {
				atomic.AddInt64(&res.ViewersOK, 1)
			}
		}()
	}
	wg.Wait()
	res.Viewers, res.Seconds = viewers, float64(seconds)
	if e, ok := firstErr.Load().(string); ok {
		res.FirstErrors = e
	}
	b, _ := json.Marshal(res)
	fmt.Println("LOADRESULT " + string(b))
}

// viewLoop behaves like an LL-HLS player: blocking playlist reloads
// (_HLS_msn/_HLS_part) and a fetch of each new part.
func viewLoop(cl *http.Client, base, token string, deadline time.Time, res *loadResult, firstErr *atomic.Value) int {
	fail := func(err string) {
		atomic.AddInt64(&res.Errors, 1)
		firstErr.CompareAndSwap(nil, err)
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
	q := "?token=" + token
	var mediaURI string
	for mediaURI == "" && time.Now().Before(deadline) {
		b, code, err := fetch(base + "index.m3u8" + q)
		if err != nil || code != 200 {
			fail(fmt.Sprintf("index: %d %v", code, err))
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				mediaURI = l
				break
			}
		}
	}
	parts := 0
	var nextMSN, nextPart int
	lastPart := ""
	for time.Now().Before(deadline) {
		u := base + mediaURI
		if nextMSN > 0 {
			u += fmt.Sprintf("&_HLS_msn=%d&_HLS_part=%d", nextMSN, nextPart)
		}
		b, code, err := fetch(u)
		if err != nil || code != 200 {
			fail(fmt.Sprintf("playlist: %d %v", code, err))
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
				fail(fmt.Sprintf("part: %d %v", code, err))
				continue
			}
			parts++
			atomic.AddInt64(&res.Parts, 1)
			atomic.AddInt64(&res.Bytes, int64(len(pb)))
		}
	}
	return parts
}

// parseMediaPlaylist returns the media sequence, the number of segments,
// the parts listed after the last segment and the URI of the last part.
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
