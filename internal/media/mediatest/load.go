package mediatest

// The LL-HLS viewer load generator. The viewers run in a child process (the
// test binary again, running only Load.Client) so that the CPU and memory
// measured in the test's own process are the server's alone.

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

// The parent tells the viewer process what to do through its environment.
const (
	envURL     = "VIGIL_LOAD_URL"
	envViewers = "VIGIL_LOAD_VIEWERS"
	envSeconds = "VIGIL_LOAD_SECONDS"
	envTokens  = "VIGIL_LOAD_TOKENS"
)

// resultPrefix marks the viewer process's one line of totals on its stdout,
// among whatever else the test binary prints.
const resultPrefix = "LOADRESULT "

// Load is a run of LL-HLS viewers of one media playlist.
type Load struct {
	// URL is the playlist's directory, ending in "/": each viewer starts at
	// URL+"index.m3u8" and follows the first media playlist listed there.
	URL     string
	Viewers int
	Seconds int
	// Tokens makes viewer i present ?token=ViewerToken(i) on its first
	// request; the server must grant ViewerToken(0) … ViewerToken(Viewers-1).
	Tokens bool
	// Client is the test in the calling package that calls RunViewers; the
	// child process runs only it.
	Client string
	// Sample, if set, is called every 500 ms while the viewers run, to
	// record the peaks of the caller's own gauges. RunLoad returns after its
	// last call, so the caller may read what it recorded without locking.
	Sample func()
}

// LoadResult is the viewers' totals, as the viewer process reports them.
type LoadResult struct {
	Viewers    int     `json:"viewers"`
	Seconds    float64 `json:"seconds"`
	Playlists  int64   `json:"playlists"`
	Parts      int64   `json:"parts"`
	Bytes      int64   `json:"bytes"`
	Errors     int64   `json:"errors"`
	Limited    int64   `json:"limited"` // errors that were 429 Too Many Requests
	ViewersOK  int64   `json:"viewers_with_parts"`
	FirstError string  `json:"first_error,omitempty"`
}

// Measured is what RunLoad saw: the viewers' totals and the cost of serving
// them in this process.
type Measured struct {
	Clients   LoadResult
	Wall      time.Duration
	CPU       time.Duration // user+system of this process over the run
	ClientCPU time.Duration // user+system of the viewer process
	PeakHeap  uint64        // bytes of Go heap in use, sampled
	PeakSys   uint64        // bytes the Go runtime obtained from the OS, sampled
	MaxRSS    int64         // KiB, as getrusage reports it on Linux
}

// Server formats the server's cost as the bench scripts print it.
func (m Measured) Server() string {
	return fmt.Sprintf("CPU %.2fs = %.0f%% of one core; peak Go heap in use %.1f MiB, Go runtime sys %.1f MiB; max RSS %.1f MiB",
		m.CPU.Seconds(), 100*m.CPU.Seconds()/m.Wall.Seconds(), float64(m.PeakHeap)/(1<<20), float64(m.PeakSys)/(1<<20), float64(m.MaxRSS)/1024)
}

// ViewerToken is the token viewer i presents when Load.Tokens is set.
func ViewerToken(i int) string { return "viewer-" + strconv.Itoa(i) }

// EnvInt is the positive integer in environment variable k, or def.
func EnvInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

// SkipUnlessBench skips a load test unless VIGIL_BENCH=1, which its bench
// script sets: a load runs for long and takes the machine's CPU, so the
// ordinary test run leaves it out.
func SkipUnlessBench(t testing.TB, script string) {
	t.Helper()
	if os.Getenv("VIGIL_BENCH") != "1" {
		t.Skip("load test: run " + script + " (VIGIL_BENCH=1)")
	}
}

// RunLoad runs l's viewers in a child process until they finish (or ctx
// ends) and measures this process meanwhile. Warm the server up first: the
// run should measure the steady state, not a camera starting.
func RunLoad(ctx context.Context, t testing.TB, l Load) Measured {
	t.Helper()
	runtime.GC()
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+l.Client+"$", "-test.v")
	cmd.Env = append(os.Environ(), envURL+"="+l.URL,
		fmt.Sprintf("%s=%d", envViewers, l.Viewers), fmt.Sprintf("%s=%d", envSeconds, l.Seconds))
	if l.Tokens {
		cmd.Env = append(cmd.Env, envTokens+"=1")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var m Measured
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
			m.PeakHeap, m.PeakSys = max(m.PeakHeap, ms.HeapInuse), max(m.PeakSys, ms.Sys)
			if l.Sample != nil {
				l.Sample()
			}
		}
	}()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), resultPrefix); ok {
			_ = json.Unmarshal([]byte(line), &m.Clients)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client: %v", err)
	}
	close(stop)
	<-sampled
	m.Wall = time.Since(start)
	var ru1, ruc syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ruc)
	m.CPU = time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()) + time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano())
	m.ClientCPU = time.Duration(ruc.Utime.Nano() + ruc.Stime.Nano())
	m.MaxRSS = ru1.Maxrss
	return m
}

// RunViewers is the body of a Load.Client test: in the child process that
// RunLoad starts it runs the viewers and prints their totals for the
// parent; anywhere else it skips.
func RunViewers(t *testing.T) {
	base := os.Getenv(envURL)
	if base == "" {
		t.Skip("the viewer process of a load test (mediatest.RunLoad)")
	}
	viewers := EnvInt(envViewers, 1000)
	seconds := EnvInt(envSeconds, 20)
	tokens := os.Getenv(envTokens) == "1"
	tr := &http.Transport{MaxIdleConnsPerHost: viewers * 2, IdleConnTimeout: time.Minute}
	cl := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	var res LoadResult
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := range viewers {
		index := base + "index.m3u8"
		if tokens {
			index += "?token=" + ViewerToken(i)
		}
		wg.Go(func() {
			// Spread the joins over 2 s, as a crowd would arrive.
			time.Sleep(time.Duration(i) * 2 * time.Second / time.Duration(viewers))
			if viewLoop(cl, base, index, deadline, &res, &firstErr) > 0 {
				atomic.AddInt64(&res.ViewersOK, 1)
			}
		})
	}
	wg.Wait()
	res.Viewers, res.Seconds = viewers, float64(seconds)
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	b, _ := json.Marshal(res)
	fmt.Println(resultPrefix + string(b))
}

// viewLoop behaves like an LL-HLS player until deadline: blocking playlist
// reloads (_HLS_msn/_HLS_part) and a fetch of each new part. It returns the
// number of parts it received.
func viewLoop(cl *http.Client, base, index string, deadline time.Time, res *LoadResult, firstErr *atomic.Value) int {
	fail := func(code int, what string) {
		atomic.AddInt64(&res.Errors, 1)
		if code == http.StatusTooManyRequests {
			atomic.AddInt64(&res.Limited, 1)
		}
		firstErr.CompareAndSwap(nil, what)
		time.Sleep(500 * time.Millisecond) // a player backs off too
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
		b, code, err := fetch(index)
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
			if strings.Contains(u, "?") { // the server carries the token along
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

// parseMediaPlaylist returns the media sequence, the number of segments,
// the parts listed after the last segment and the URI of the last part:
// what the next blocking reload asks for and whether a part is new.
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
