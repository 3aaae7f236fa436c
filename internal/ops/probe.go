package ops

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"

	"github.com/vigil-vms/vigil/internal/media"
)

// ProbeReport is the compatibility check of a camera with tier 1 (R-INS-3):
// protocols, codecs, resolution, frame rate, sub stream, and security
// baseline findings. It never holds a password.
type ProbeReport struct {
	Target       string        `json:"target" doc:"the camera URL, credentials redacted"`
	At           time.Time     `json:"at"`
	Reachable    bool          `json:"reachable" doc:"the RTSP port accepts TCP connections"`
	RTSP         bool          `json:"rtsp" doc:"the camera answered DESCRIBE with a usable session"`
	AuthRequired bool          `json:"auth_required"`
	Main         *ProbeStream  `json:"main,omitempty"`
	Sub          *ProbeStream  `json:"sub,omitempty"`
	ONVIF        bool          `json:"onvif" doc:"an ONVIF device service answers on port 80"`
	HTTPAdmin    bool          `json:"http_admin" doc:"a plain-HTTP web interface answers on port 80"`
	Compatible   bool          `json:"compatible" doc:"RTSP reachable with an H.264/H.265 main stream"`
	BaselineOK   bool          `json:"baseline_ok" doc:"no high-severity security finding"`
	Findings     []Finding     `json:"findings"`
	Errors       []string      `json:"errors,omitempty"`
	Duration     time.Duration `json:"duration_ns"`
}

// ProbeStream is one stream's facts.
type ProbeStream struct {
	URL    string   `json:"url"`
	Codec  string   `json:"codec"`
	Width  int      `json:"width,omitempty"`
	Height int      `json:"height,omitempty"`
	FPS    float64  `json:"fps,omitempty"`
	Audio  []string `json:"audio,omitempty"`
}

// Finding is one security-baseline or compatibility problem.
type Finding struct {
	Code     string `json:"code"`
	Severity string `json:"severity" doc:"high, medium or low"`
	Message  string `json:"message"`
}

// DefaultCredentials are well-known factory logins tried against a camera
// that requires authentication (a short list: a probe is not a brute force).
var DefaultCredentials = [][2]string{
	{"admin", "admin"}, {"admin", "12345"}, {"admin", "123456"}, {"admin", ""}, {"admin", "password"},
	{"root", "root"}, {"root", "pass"}, {"admin", "1234"}, {"888888", "888888"}, {"666666", "666666"},
	{"supervisor", "supervisor"}, {"ubnt", "ubnt"},
}

// ProbeOptions tune Probe. Zero values take the defaults shown.
type ProbeOptions struct {
	SubURL      string        // default: derived from the main URL (main→sub, 101→102, subtype=0→1)
	Measure     time.Duration // how long to count frames; 2 s
	Timeout     time.Duration // per network step; 5 s
	Credentials [][2]string   // default DefaultCredentials
	HTTPPort    string        // "80"
}

// ParseTarget checks a camera URL: rtsp or rtsps, a host, and returns it
// with the credentials split off and the host:port to dial.
func ParseTarget(raw string) (u *base.URL, user, pass, hostport string, err error) {
	if len(raw) > 2048 {
		return nil, "", "", "", errors.New("URL too long")
	}
	u, err = base.ParseURL(raw)
	if err != nil {
		return nil, "", "", "", fmt.Errorf("not an RTSP URL: %w", err)
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return nil, "", "", "", fmt.Errorf("scheme must be rtsp or rtsps, got %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, "", "", "", errors.New("URL has no host")
	}
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	hostport = u.Host
	if u.Port() == "" {
		port := "554"
		if u.Scheme == "rtsps" {
			port = "322"
		}
		hostport = net.JoinHostPort(u.Hostname(), port)
	}
	return u, user, pass, hostport, nil
}

// DeriveSubURL guesses the sub stream of common camera URL layouts.
func DeriveSubURL(main string) string {
	switch {
	case strings.Contains(main, "/main"):
		return strings.Replace(main, "/main", "/sub", 1)
	case strings.Contains(main, "subtype=0"):
		return strings.Replace(main, "subtype=0", "subtype=1", 1)
	case strings.Contains(main, "/101"):
		return strings.Replace(main, "/101", "/102", 1)
	}
	return ""
}

func withCreds(u *base.URL, user, pass string) *base.URL {
	c := *u
	if user == "" && pass == "" {
		c.User = nil
	} else {
		c.User = url.UserPassword(user, pass)
	}
	return &c
}

func isAuthErr(err error) bool {
	var bs liberrors.ErrClientBadStatusCode
	return errors.As(err, &bs) && bs.Code == base.StatusUnauthorized
}

func (o *ProbeOptions) defaults() {
	if o.Measure <= 0 {
		o.Measure = 2 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Credentials == nil {
		o.Credentials = DefaultCredentials
	}
	if o.HTTPPort == "" {
		o.HTTPPort = "80"
	}
}

// Probe checks a camera. It returns an error only for a URL it cannot use;
// network failures are reported in the report.
func Probe(ctx context.Context, raw string, o ProbeOptions) (*ProbeReport, error) {
	o.defaults()
	u, user, pass, hostport, err := ParseTarget(raw)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	r := &ProbeReport{Target: media.RedactURL(raw), At: start.UTC(), Findings: []Finding{}}
	defer func() { r.Duration = time.Since(start) }()
	add := func(code, sev, msg string) { r.Findings = append(r.Findings, Finding{code, sev, msg}) }

	d := net.Dialer{Timeout: o.Timeout}
	if c, err := d.DialContext(ctx, "tcp", hostport); err != nil {
		r.Errors = append(r.Errors, "rtsp port: "+err.Error())
		r.finish()
		return r, nil
	} else {
		c.Close()
		r.Reachable = true
	}
	if u.Scheme == "rtsp" {
		add("plain_rtsp", "low", "RTSP without TLS: video and digest exchange travel in clear; prefer RTSPS or a private link")
	}

	// Without credentials: does the camera let anyone in?
	anon := withCreds(u, "", "")
	_, derr := describe(ctx, anon, o.Timeout)
	working := (*base.URL)(nil)
	switch {
	case derr == nil:
		add("no_authentication", "high", "the camera serves video without any authentication")
		working = anon
	case isAuthErr(derr):
		r.AuthRequired = true
	default:
		r.Errors = append(r.Errors, "describe: "+media.RedactURL(derr.Error()))
	}
	if r.AuthRequired {
		for _, cr := range o.Credentials {
			if ctx.Err() != nil {
				break
			}
			if _, err := describe(ctx, withCreds(u, cr[0], cr[1]), o.Timeout); err == nil {
				add("default_credentials", "high", fmt.Sprintf("a well-known factory login is accepted (user %q): change it before connecting", cr[0]))
				if user == "" {
					working = withCreds(u, cr[0], cr[1])
				}
				break
			}
		}
		if user != "" || pass != "" {
			if _, err := describe(ctx, withCreds(u, user, pass), o.Timeout); err == nil {
				working = withCreds(u, user, pass)
			} else if isAuthErr(err) {
				r.Errors = append(r.Errors, "the given credentials are rejected")
			} else {
				r.Errors = append(r.Errors, "describe with credentials: "+media.RedactURL(err.Error()))
			}
		} else if working == nil {
			r.Errors = append(r.Errors, "authentication required: give the credentials in the URL")
		}
	}
	if working != nil {
		r.RTSP = true
		ms, err := measure(ctx, working, o.Timeout, o.Measure)
		if err != nil {
			r.Errors = append(r.Errors, "play: "+media.RedactURL(err.Error()))
		}
		if ms != nil {
			ms.URL = r.Target
			r.Main = ms
		}
		sub := o.SubURL
		if sub == "" {
			sub = DeriveSubURL(raw)
		}
		if sub != "" {
			if su, _, _, _, err := ParseTarget(sub); err == nil {
				su.User = working.User
				if desc, err := describe(ctx, su, o.Timeout); err == nil {
					ps := streamOf(desc)
					ps.URL = media.RedactURL(sub)
					r.Sub = ps
				}
			}
		}
		if r.Sub == nil {
			add("no_sub_stream", "low", "no sub stream found: the console's wall and mobile viewers will pull the main stream")
		}
	}
	if r.Main != nil && r.Main.Codec != "H264" && r.Main.Codec != "H265" {
		add("codec_unsupported", "medium", "main stream codec "+r.Main.Codec+" is not H.264/H.265")
	}
	probeHTTP(ctx, r, net.JoinHostPort(u.Hostname(), o.HTTPPort), o.Timeout)
	if r.HTTPAdmin {
		add("plain_http_admin", "medium", "the camera's web administration answers over plain HTTP on port "+o.HTTPPort)
	}
	r.finish()
	return r, nil
}

func (r *ProbeReport) finish() {
	r.Compatible = r.RTSP && r.Main != nil && (r.Main.Codec == "H264" || r.Main.Codec == "H265")
	r.BaselineOK = true
	for _, f := range r.Findings {
		if f.Severity == "high" {
			r.BaselineOK = false
		}
	}
}

func newClient(u *base.URL, timeout time.Duration) *gortsplib.Client {
	proto := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, ReadTimeout: timeout, WriteTimeout: timeout, UserAgent: "vigil-probe", Protocol: &proto}
	if u.Scheme == "rtsps" {
		c.TLSConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // cameras carry self-signed certificates
	}
	return c
}

// runBounded runs fn and gives up after d (gortsplib's own timeouts cover the
// socket; this covers a camera that trickles).
func runBounded(ctx context.Context, d time.Duration, c *gortsplib.Client, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		c.Close()
		<-done
		return ctx.Err()
	case <-t.C:
		c.Close()
		<-done
		return errors.New("timed out")
	}
}

func describe(ctx context.Context, u *base.URL, timeout time.Duration) (*description.Session, error) {
	c := newClient(u, timeout)
	if err := c.Start(); err != nil {
		return nil, err
	}
	defer c.Close()
	var desc *description.Session
	err := runBounded(ctx, timeout+time.Second, c, func() error {
		var err error
		desc, _, err = c.Describe(u)
		return err
	})
	return desc, err
}

func streamOf(desc *description.Session) *ProbeStream {
	ps := &ProbeStream{}
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			switch ff := f.(type) {
			case *format.H264:
				if ps.Codec == "" {
					ps.Codec = "H264"
					var s h264.SPS
					if ff.SPS != nil && s.Unmarshal(ff.SPS) == nil {
						ps.Width, ps.Height = s.Width(), s.Height()
					}
				}
			case *format.H265:
				if ps.Codec == "" {
					ps.Codec = "H265"
					var s h265.SPS
					if ff.SPS != nil && s.Unmarshal(ff.SPS) == nil {
						ps.Width, ps.Height = s.Width(), s.Height()
					}
				}
			default:
				if m.Type == description.MediaTypeVideo && ps.Codec == "" {
					ps.Codec = f.Codec()
				} else if m.Type == description.MediaTypeAudio {
					ps.Audio = append(ps.Audio, f.Codec())
				}
			}
		}
	}
	return ps
}

// measure plays the stream for d and counts video frames (distinct RTP
// timestamps) to estimate the frame rate.
func measure(ctx context.Context, u *base.URL, timeout, d time.Duration) (*ProbeStream, error) {
	c := newClient(u, timeout)
	if err := c.Start(); err != nil {
		return nil, err
	}
	defer c.Close()
	var desc *description.Session
	if err := runBounded(ctx, timeout+time.Second, c, func() error {
		var err error
		if desc, _, err = c.Describe(u); err != nil {
			return err
		}
		return c.SetupAll(desc.BaseURL, desc.Medias)
	}); err != nil {
		return nil, err
	}
	ps := streamOf(desc)
	var mu sync.Mutex
	var frames int
	var lastTS uint32
	var first, last time.Time
	var video *description.Media
	for _, m := range desc.Medias {
		if m.Type == description.MediaTypeVideo {
			video = m
			break
		}
	}
	if video == nil {
		return ps, errors.New("no video track")
	}
	c.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		if m != video {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if frames == 0 || pkt.Timestamp != lastTS {
			now := time.Now()
			if frames == 0 {
				first = now
			}
			frames++
			lastTS, last = pkt.Timestamp, now
		}
	})
	if _, err := c.Play(nil); err != nil {
		return ps, err
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	mu.Lock()
	defer mu.Unlock()
	if frames > 1 && last.After(first) {
		ps.FPS = float64(int64(float64(frames-1)/last.Sub(first).Seconds()*10+0.5)) / 10
	}
	if frames == 0 {
		return ps, errors.New("no video frame arrived")
	}
	return ps, nil
}

// probeHTTP looks for an ONVIF device service and a plain-HTTP admin page.
func probeHTTP(ctx context.Context, r *ProbeReport, hostport string, timeout time.Duration) {
	hc := &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	const soap = `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>` +
		`<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+hostport+"/onvif/device_service", strings.NewReader(soap))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
	resp, err := hc.Do(req)
	if err != nil {
		return // nothing on the HTTP port
	}
	ct := resp.Header.Get("Content-Type")
	resp.Body.Close()
	r.ONVIF = resp.StatusCode < 500 && strings.Contains(ct, "xml")
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, "http://"+hostport+"/", nil)
	if err != nil {
		return
	}
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		// Anything but a redirect to HTTPS is an admin interface over HTTP.
		loc := resp.Header.Get("Location")
		r.HTTPAdmin = !(resp.StatusCode >= 300 && resp.StatusCode < 400 && strings.HasPrefix(loc, "https://"))
	}
}
