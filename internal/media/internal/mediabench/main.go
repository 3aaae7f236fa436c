// Command mediabench drives bench/media.sh: a simulator process, a hub
// process that measures its own CPU (getrusage) and memory, and a process of
// raw RTSP readers, so that each figure belongs to the hub alone.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/sim"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: mediabench sim|hub|readers|ttff [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "sim":
		err = runSim(ctx, os.Args[2:])
	case "hub":
		err = runHub(ctx, os.Args[2:])
	case "readers":
		err = runReaders(ctx, os.Args[2:])
	case "ttff":
		err = runTTFF(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mediabench:", err)
		os.Exit(1)
	}
}

func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func runSim(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sim", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18554", "listen address")
	cams := fs.Int("cams", 1, "cameras")
	pad := fs.Int("pad", 4_000_000, "main stream bitrate (bit/s)")
	_ = fs.Parse(args)
	cfg := sim.Config{Addr: *addr, Logger: quiet()}
	for i := range *cams {
		cfg.Cameras = append(cfg.Cameras, sim.CameraSpec{ID: fmt.Sprintf("cam%d", i), PadBitrate: *pad})
	}
	return sim.Run(ctx, cfg)
}

type allowAll struct{}

func (allowAll) AuthorizeRead(context.Context, media.ReadRequest) (media.ReadGrant, error) {
	return media.ReadGrant{Subject: "bench"}, nil
}
func (allowAll) AuthorizePublish(context.Context, media.PublishRequest) (media.ReadGrant, error) {
	return media.ReadGrant{Subject: "bench"}, nil
}

type srcs []media.Source

func (s srcs) Sources(context.Context) ([]media.Source, error) { return s, nil }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var v int64
			_, _ = fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:")), "%d", &v)
			return v
		}
	}
	return 0
}

func runHub(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("hub", flag.ExitOnError)
	simAddr := fs.String("sim", "127.0.0.1:18554", "simulator address")
	cams := fs.Int("cams", 1, "cameras to pull (main only)")
	listen := fs.String("listen", "127.0.0.1:18555", "RTSP re-stream address")
	wantReaders := fs.Int("readers", 0, "wait for this many readers before measuring")
	warm := fs.Duration("warm", 3*time.Second, "warm-up after readers are in")
	measure := fs.Duration("measure", 10*time.Second, "measurement interval")
	timeout := fs.Duration("timeout", 60*time.Second, "give up waiting for readers after")
	coalesce := fs.Duration("coalesce", 0, "RTSP write coalescing delay (0 = the hub's default, negative = off)")
	_ = fs.Parse(args)

	var ss srcs
	for i := range *cams {
		ss = append(ss, media.Source{CameraID: fmt.Sprintf("cam%d", i), MainURL: fmt.Sprintf("rtsp://%s/cam%d/main", *simAddr, i)})
	}
	h, err := media.New(media.Config{RTSPAddr: *listen, ReaderQueue: 512, CoalesceWrites: *coalesce}, ss, allowAll{}, quiet(), nil)
	if err != nil {
		return err
	}
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	if err := h.Start(ctx); err != nil {
		return err
	}
	defer h.Close()
	deadline := time.Now().Add(*timeout)
	for {
		on, readers := 0, 0
		for _, s := range h.States() {
			if s.Status == media.StatusOnline && s.FPS > 0 {
				on++
			}
			readers += s.Readers
		}
		if on == *cams && readers >= *wantReaders {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timeout: %d/%d cameras online, %d/%d readers", on, *cams, readers, *wantReaders)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Println("ready")
	sleep := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	if err := sleep(*warm); err != nil {
		return err
	}
	c0, t0 := cpuTime(), time.Now()
	if err := sleep(*measure); err != nil {
		return err
	}
	c1, t1 := cpuTime(), time.Now()
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	readers, bitrate := 0, 0.0
	for _, s := range h.States() {
		readers += s.Readers
		bitrate += s.Bitrate
	}
	cpuPct := 100 * float64(c1-c0) / float64(t1.Sub(t0))
	heapPer := float64(int64(m1.HeapInuse)-int64(m0.HeapInuse)) / float64(*cams) / 1024
	fmt.Printf("cams=%d readers=%d ingest_mbps=%.2f cpu_pct=%.2f heap_inuse_kb=%d heap_per_stream_kb=%.0f rss_kb=%d goroutines=%d\n",
		*cams, readers, bitrate/1e6, cpuPct, m1.HeapInuse/1024, heapPer, rssKB(), runtime.NumGoroutine())
	return nil
}

// rawPlay does DESCRIBE/SETUP/PLAY over TCP and returns the connection
// positioned at the first interleaved frame. A raw client keeps the reader
// process cheap, so it does not starve the hub on a small machine.
func rawPlay(addr, path, token string) (net.Conn, *bufio.Reader, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReaderSize(c, 64<<10)
	base := "rtsp://" + addr + "/" + path
	authz := "Basic " + base64.StdEncoding.EncodeToString([]byte("bench:"+token))
	session := ""
	do := func(method, url, extra string) (string, error) {
		req := fmt.Sprintf("%s %s RTSP/1.0\r\nCSeq: 1\r\nAuthorization: %s\r\n%s\r\n", method, url, authz, extra)
		if _, err := io.WriteString(c, req); err != nil {
			return "", err
		}
		var hdr strings.Builder
		clen := 0
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return "", err
			}
			hdr.WriteString(l)
			if v, ok := strings.CutPrefix(l, "Content-Length: "); ok {
				_, _ = fmt.Sscanf(v, "%d", &clen)
			}
			if v, ok := strings.CutPrefix(l, "Session: "); ok {
				session = strings.TrimSpace(strings.Split(v, ";")[0])
			}
			if l == "\r\n" {
				break
			}
		}
		if _, err := io.CopyN(io.Discard, br, int64(clen)); err != nil {
			return "", err
		}
		h := hdr.String()
		if !strings.HasPrefix(h, "RTSP/1.0 200") {
			return "", fmt.Errorf("%s: %s", method, strings.SplitN(h, "\r\n", 2)[0])
		}
		return h, nil
	}
	if _, err := do("DESCRIBE", base, "Accept: application/sdp\r\n"); err != nil {
		c.Close()
		return nil, nil, err
	}
	if _, err := do("SETUP", base+"/trackID=0", "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"); err != nil {
		c.Close()
		return nil, nil, err
	}
	if _, err := do("PLAY", base, "Session: "+session+"\r\n"); err != nil {
		c.Close()
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, br, nil
}

func runReaders(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("readers", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18555", "hub address")
	path := fs.String("path", "cam0/main", "stream path")
	n := fs.Int("n", 200, "readers")
	dur := fs.Duration("duration", 30*time.Second, "how long to read")
	_ = fs.Parse(args)
	ctx, cancel := context.WithTimeout(ctx, *dur)
	defer cancel()
	var total atomic.Int64
	var counting atomic.Bool // count only once every reader is in
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range *n {
		c, br, err := rawPlay(*addr, *path, fmt.Sprintf("tok%d", i))
		if err != nil {
			failed.Add(1)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			go func() { <-ctx.Done(); c.Close() }()
			buf := make([]byte, 64<<10)
			for {
				k, err := br.Read(buf)
				if counting.Load() {
					total.Add(int64(k))
				}
				if err != nil {
					return
				}
			}
		}()
	}
	start := time.Now()
	counting.Store(true)
	wg.Wait()
	el := time.Since(start).Seconds()
	fmt.Printf("readers=%d failed=%d received_mbps_per_reader=%.2f\n", *n, failed.Load(), float64(total.Load())*8/el/1e6/float64(max(1, *n-int(failed.Load()))))
	return nil
}

// runTTFF measures, for new readers one after the other, the time from TCP
// connect to the end of the first complete video frame, and checks that this
// frame is a keyframe (IDR), i.e. decodable at once.
func runTTFF(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ttff", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18555", "hub address")
	path := fs.String("path", "cam0/main", "stream path")
	n := fs.Int("n", 20, "samples")
	_ = fs.Parse(args)
	var ds []time.Duration
	notKey := 0
	for i := 0; i < *n && ctx.Err() == nil; i++ {
		t0 := time.Now()
		c, br, err := rawPlay(*addr, *path, "ttff")
		if err != nil {
			return err
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		idr := false
		for {
			var hdr [4]byte
			if _, err := io.ReadFull(br, hdr[:]); err != nil {
				c.Close()
				return err
			}
			pkt := make([]byte, int(hdr[2])<<8|int(hdr[3]))
			if _, err := io.ReadFull(br, pkt); err != nil {
				c.Close()
				return err
			}
			if hdr[0] != '$' || hdr[1] != 0 || len(pkt) < 13 {
				continue // RTCP or other channel
			}
			marker := pkt[1]&0x80 != 0
			pl := pkt[12+4*int(pkt[0]&0x0f):]
			switch t := pl[0] & 0x1f; {
			case t == 5:
				idr = true
			case t == 28 && len(pl) > 1 && pl[1]&0x1f == 5:
				idr = true
			case t == 24:
				for p := pl[1:]; len(p) > 2; {
					sz := int(p[0])<<8 | int(p[1])
					if sz > 0 && len(p) > 2 && p[2]&0x1f == 5 {
						idr = true
					}
					if 2+sz > len(p) {
						break
					}
					p = p[2+sz:]
				}
			}
			if marker {
				break
			}
		}
		ds = append(ds, time.Since(t0))
		if !idr {
			notKey++
		}
		c.Close()
		time.Sleep(137 * time.Millisecond) // land at different points of the GOP
	}
	slices.Sort(ds)
	fmt.Printf("samples=%d ttff_ms_median=%.1f ttff_ms_p95=%.1f ttff_ms_max=%.1f first_frame_not_keyframe=%d\n",
		len(ds), ms(ds[len(ds)/2]), ms(ds[len(ds)*95/100]), ms(ds[len(ds)-1]), notKey)
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
