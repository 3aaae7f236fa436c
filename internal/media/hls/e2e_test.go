package hls

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/media/httpread"
	"github.com/vigil-vms/vigil/internal/media/mediatest"
)

type rig struct {
	authz *mediatest.Authz
	hub   *media.Hub
	hls   *Server
	http  *httptest.Server
}

func newRig(t testing.TB, opts Options, tokens ...string) *rig {
	t.Helper()
	m := mediatest.NewRig(t, tokens...)
	r := &rig{authz: m.Authz, hub: m.Hub}
	opts.Authorizer = r.authz
	opts.Logger = mediatest.Logger(t)
	r.hls = New(r.hub, opts)
	t.Cleanup(r.hls.Close)
	mux := http.NewServeMux()
	mux.Handle("/hls/", r.hls)
	// The public room's mount: same muxers, its own policy (here: camera
	// cam264 is public, nothing else).
	mux.Handle("/public/hls/", r.hls.Handler(func(_ *http.Request, camera string, _ media.Variant) error {
		if camera != "cam264" {
			return media.ErrDenied
		}
		return nil
	}))
	r.http = httptest.NewServer(mux)
	t.Cleanup(r.http.Close)
	return r
}

func get(t testing.TB, u string) (int, http.Header, []byte) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b
}

type probe struct {
	Streams []struct {
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		Frames    string `json:"nb_read_frames"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Size       string `json:"size"`
	} `json:"format"`
}

func ffprobe(t testing.TB, ctx context.Context, target string, count bool) probe {
	t.Helper()
	bin := mediatest.NeedTool(t, "ffprobe")
	args := []string{"-v", "error", "-of", "json", "-show_entries", "stream=codec_name,width,height,nb_read_frames:format=format_name,size"}
	if count {
		args = append(args, "-count_frames")
	}
	out, err := exec.CommandContext(ctx, bin, append(args, target)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("ffprobe %s: %v: %s", target, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe output %q: %v", out, err)
	}
	return p
}

// mediaPlaylist fetches the multivariant playlist, then the video media
// playlist, and returns the init URI and the first complete segment URI.
func mediaPlaylist(ctx context.Context, t testing.TB, base, token string) (initURI, segURI string) {
	t.Helper()
	code, _, body := get(t, base+"index.m3u8?token="+url.QueryEscape(token))
	if code != 200 {
		t.Fatalf("index.m3u8: %d %s", code, body)
	}
	var media string
	for _, l := range strings.Split(string(body), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			media = l
			break
		}
	}
	if !strings.Contains(media, "token=") {
		t.Fatalf("token not propagated into %q", media)
	}
	mediatest.Eventually(ctx, t, "a complete segment", func() bool {
		_, _, pl := get(t, base+media)
		gap := false
		for _, l := range strings.Split(string(pl), "\n") {
			switch {
			case strings.HasPrefix(l, "#EXT-X-MAP:URI="):
				initURI = strings.Trim(strings.TrimPrefix(l, "#EXT-X-MAP:URI="), `"`)
			case l == "#EXT-X-GAP":
				gap = true
			case l != "" && !strings.HasPrefix(l, "#"):
				if !gap && strings.Contains(l, "_seg") {
					segURI = l
					return initURI != ""
				}
				gap = false
			}
		}
		return false
	})
	return initURI, segURI
}

func TestFFprobeAcceptsLLHLS(t *testing.T) {
	mediatest.NeedTool(t, "ffprobe")
	r := newRig(t, Options{}, "good")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	for _, tc := range []struct{ cam, codec string }{{"cam264", "h264"}, {"cam265", "hevc"}} {
		base := r.http.URL + "/hls/" + tc.cam + "/main/"
		initURI, segURI := mediaPlaylist(ctx, t, base, "good")

		// The whole playlist, as a player would read it.
		p := ffprobe(t, ctx, base+"index.m3u8?token=good", false)
		if len(p.Streams) == 0 || p.Streams[0].CodecName != tc.codec || p.Streams[0].Width != 1280 || p.Streams[0].Height != 720 {
			t.Fatalf("%s playlist probe: %+v", tc.cam, p)
		}

		// One segment with its init section, decoded frame by frame.
		_, _, ini := get(t, base+initURI)
		_, _, seg := get(t, base+segURI)
		f := filepath.Join(t.TempDir(), tc.cam+".mp4")
		if err := os.WriteFile(f, append(ini, seg...), 0o600); err != nil {
			t.Fatal(err)
		}
		p = ffprobe(t, ctx, f, true)
		if len(p.Streams) == 0 || p.Streams[0].CodecName != tc.codec || p.Streams[0].Frames == "" || p.Streams[0].Frames == "0" {
			t.Fatalf("%s segment probe: %+v", tc.cam, p)
		}
		t.Logf("%s: playlist %s %dx%d; segment %s (%d B init + %d B) %s frames",
			tc.cam, p.Streams[0].CodecName, p.Streams[0].Width, p.Streams[0].Height, segURI, len(ini), len(seg), p.Streams[0].Frames)
	}
}

func TestBadTokenNoMedia(t *testing.T) {
	r := newRig(t, Options{}, "good")
	base := r.http.URL + "/hls/cam264/main/"
	for i := 0; i < 5; i++ {
		code, h, body := get(t, base+"index.m3u8?token=wrong")
		var e httpread.Error
		_ = json.Unmarshal(body, &e)
		if code != http.StatusForbidden || e.Code != "forbidden" || strings.Contains(h.Get("Content-Type"), "mpegurl") {
			t.Fatalf("bad token: %d %q %s", code, h.Get("Content-Type"), body)
		}
	}
	// Refusals are cached: a retrying player does not hammer the authorizer.
	if asks := r.authz.Counts().Asks; asks != 1 {
		t.Fatalf("authorizer asked %d times for one bad token", asks)
	}
	if code, _, _ := get(t, base+"index.m3u8"); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	// A refused request never opened a muxer (no hub reader).
	if st := r.hls.Stats(); st.Muxers != 0 {
		t.Fatalf("muxers = %d after refusals", st.Muxers)
	}
}

func TestViewerSessionsAndSharedMuxer(t *testing.T) {
	r := newRig(t, Options{ViewerIdle: 2 * time.Second}, "alice", "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := r.http.URL + "/hls/cam264/main/"
	_, segA := mediaPlaylist(ctx, t, base, "alice")
	_, _ = mediaPlaylist(ctx, t, base, "bob")
	// The public mount shares the same muxer.
	if code, _, body := get(t, r.http.URL+"/public/hls/cam264/main/index.m3u8"); code != 200 {
		t.Fatalf("public: %d %s", code, body)
	}
	if code, _, _ := get(t, r.http.URL+"/public/hls/cam265/main/index.m3u8"); code != http.StatusForbidden {
		t.Fatalf("public non-public camera: %d", code)
	}
	if code, _, _ := get(t, base+segA); code != 200 {
		t.Fatalf("segment: %d", code)
	}
	st := r.hls.Stats()
	if st.Muxers != 1 || st.Viewers != 2 {
		t.Fatalf("stats %+v, want 1 muxer 2 viewers", st)
	}
	if readers := mediatest.HubReaders(r.hub, "cam264"); readers != 1 {
		t.Fatalf("hub readers = %d, want 1", readers)
	}
	// Dozens of requests, one authorization per viewer.
	if asks := r.authz.Counts().Asks; asks != 2 {
		t.Fatalf("authorizer asked %d times, want 2", asks)
	}
	// Revoking alice: her next request is refused and her grant ends; bob
	// is unaffected.
	r.authz.Revoke("alice")
	if code, _, _ := get(t, base+"index.m3u8?token=alice"); code != http.StatusForbidden {
		t.Fatalf("revoked viewer got %d", code)
	}
	if code, _, _ := get(t, base+"index.m3u8?token=bob"); code != 200 {
		t.Fatalf("bob got %d", code)
	}
	// Silence ends bob's session too (ViewerIdle), once.
	mediatest.Eventually(ctx, t, "both viewer sessions to end", func() bool { return len(r.authz.Counts().Ends) == 2 })
	ends := r.authz.Counts().Ends
	t.Logf("grant ends: %v", ends)
	if ends[0] != "access revoked" || ends[1] != "viewer idle" {
		t.Fatalf("ends %v", ends)
	}
}

func TestConcurrentFirstRequestsShareOneOpen(t *testing.T) {
	r := newRig(t, Options{}, "good")
	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := http.Get(r.http.URL + "/hls/cam264/sub/index.m3u8?token=good")
			if err == nil {
				codes[i] = res.StatusCode
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("request %d: %d", i, c)
		}
	}
	if asks := r.authz.Counts().Asks; asks != 1 {
		t.Fatalf("authorizer asked %d times", asks)
	}
	if st := r.hls.Stats(); st.Muxers != 1 {
		t.Fatalf("muxers %d", st.Muxers)
	}
}

func TestIdleMuxerReleasesHubReader(t *testing.T) {
	r := newRig(t, Options{MuxerIdle: 300 * time.Millisecond, ViewerIdle: 300 * time.Millisecond}, "good")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if code, _, b := get(t, r.http.URL+"/hls/cam264/main/index.m3u8?token=good"); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	mediatest.Eventually(ctx, t, "muxer to close when idle", func() bool { return r.hls.Stats().Muxers == 0 })
	mediatest.Eventually(ctx, t, "hub reader to go", func() bool { return mediatest.HubReaders(r.hub, "cam264") == 0 })
	// And it comes back on demand.
	if code, _, b := get(t, r.http.URL+"/hls/cam264/main/index.m3u8?token=good"); code != 200 || !bytes.Contains(b, []byte("#EXTM3U")) {
		t.Fatalf("%d %s", code, b)
	}
}
