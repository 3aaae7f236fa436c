package webrtc

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	pwebrtc "github.com/pion/webrtc/v4"

	"github.com/vigil-vms/vigil/internal/media/mediatest"
)

// whepClient is a Go WHEP viewer (pion), used where a browser is not needed.
type whepClient struct {
	pc       *pwebrtc.PeerConnection
	location string
	firstRTP chan time.Time // first complete video access unit (marker bit)
	posted   time.Time      // when the offer was POSTed
	video    chan struct{}
	mu       sync.Mutex
	packets  map[string]int // by mime type
}

func dialWHEP(ctx context.Context, url, token string) (*whepClient, *http.Response, error) {
	me := &pwebrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, nil, err
	}
	se := pwebrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	api := pwebrtc.NewAPI(pwebrtc.WithMediaEngine(me), pwebrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(pwebrtc.Configuration{})
	if err != nil {
		return nil, nil, err
	}
	c := &whepClient{pc: pc, firstRTP: make(chan time.Time, 1), packets: map[string]int{}}
	for _, k := range []pwebrtc.RTPCodecType{pwebrtc.RTPCodecTypeVideo, pwebrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pwebrtc.RTPTransceiverInit{Direction: pwebrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return nil, nil, err
		}
	}
	pc.OnTrack(func(tr *pwebrtc.TrackRemote, _ *pwebrtc.RTPReceiver) {
		mime := tr.Codec().MimeType
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.packets[mime]++
			c.mu.Unlock()
			if tr.Kind() == pwebrtc.RTPCodecTypeVideo && pkt.Marker {
				select {
				case c.firstRTP <- time.Now():
				default:
				}
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return nil, nil, err
	}
	g := pwebrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return nil, nil, err
	}
	<-g
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c.posted = time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		pc.Close()
		res.Body = io.NopCloser(strings.NewReader(string(body)))
		return nil, res, nil
	}
	c.location = res.Header.Get("Location")
	if err := pc.SetRemoteDescription(pwebrtc.SessionDescription{Type: pwebrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		pc.Close()
		return nil, res, err
	}
	return c, res, nil
}

func (c *whepClient) count(mime string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.packets[mime]
}

// newBrowser starts headless Chromium with the flags the brief fixes.
func newBrowser(t testing.TB, ctx context.Context) context.Context {
	path := mediatest.NeedTool(t, "chromium", "chromium-browser", "google-chrome")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancel)
	bctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	return bctx
}
