package onvif

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DeviceInfo is GetDeviceInformation's answer.
type DeviceInfo struct {
	Manufacturer    string `json:"manufacturer" xml:"Manufacturer"`
	Model           string `json:"model" xml:"Model"`
	FirmwareVersion string `json:"firmware_version" xml:"FirmwareVersion"`
	SerialNumber    string `json:"serial_number" xml:"SerialNumber"`
	HardwareID      string `json:"hardware_id" xml:"HardwareId"`
}

// Capabilities are the service addresses a device announces.
type Capabilities struct {
	Media  string `json:"media,omitempty"`
	PTZ    string `json:"ptz,omitempty"`
	Events string `json:"events,omitempty"`
	// PullPoint: the device supports WS-PullPoint subscriptions.
	PullPoint bool `json:"pull_point"`
}

// Profile is a media profile.
type Profile struct {
	Token      string `json:"token"`
	Name       string `json:"name"`
	Encoding   string `json:"encoding"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	PTZ        bool   `json:"ptz"`
	VideoToken string `json:"video_source_token,omitempty"`
}

// Preset is a PTZ preset.
type Preset struct {
	Token string `json:"token"`
	Name  string `json:"name"`
}

func action(ns, op string) string { return ns + "/" + op }

// SystemTime reads the device clock WITHOUT credentials (devices answer it
// unauthenticated precisely so that clients can sign with the right time)
// and records the offset to ours, measured at the middle of the exchange.
func (c *Client) SyncClock(ctx context.Context) (time.Time, error) {
	t0 := c.now()
	body, err := c.call(ctx, c.XAddr, action(nsDevice, "GetSystemDateAndTime"), `<tds:GetSystemDateAndTime/>`, false)
	if err != nil {
		return time.Time{}, err
	}
	t1 := c.now()
	dev, err := ParseSystemDateAndTime(body)
	if err != nil {
		return time.Time{}, err
	}
	mid := t0.Add(t1.Sub(t0) / 2)
	c.SetClockOffset(dev.Sub(mid).Truncate(time.Second))
	return dev, nil
}

// ParseSystemDateAndTime reads the UTC time of a GetSystemDateAndTime answer.
func ParseSystemDateAndTime(body []byte) (time.Time, error) {
	var r struct {
		S struct {
			UTC *struct {
				Date struct {
					Year  int `xml:"Year"`
					Month int `xml:"Month"`
					Day   int `xml:"Day"`
				} `xml:"Date"`
				Time struct {
					Hour   int `xml:"Hour"`
					Minute int `xml:"Minute"`
					Second int `xml:"Second"`
				} `xml:"Time"`
			} `xml:"UTCDateTime"`
		} `xml:"SystemDateAndTime"`
	}
	if err := unmarshalOne(body, "GetSystemDateAndTimeResponse", &r); err != nil {
		return time.Time{}, err
	}
	u := r.S.UTC
	if u == nil {
		return time.Time{}, errors.New("onvif: GetSystemDateAndTime: no UTCDateTime")
	}
	d, t := u.Date, u.Time
	if d.Year < 1970 || d.Year > 9999 || d.Month < 1 || d.Month > 12 || d.Day < 1 || d.Day > 31 ||
		t.Hour < 0 || t.Hour > 23 || t.Minute < 0 || t.Minute > 59 || t.Second < 0 || t.Second > 60 {
		return time.Time{}, errors.New("onvif: GetSystemDateAndTime: date out of range")
	}
	return time.Date(d.Year, time.Month(d.Month), d.Day, t.Hour, t.Minute, t.Second, 0, time.UTC), nil
}

// unmarshalOne decodes the first element of a Body's inner XML, checking
// its local name.
func unmarshalOne(body []byte, want string, v any) error {
	dec := xml.NewDecoder(strings.NewReader(string(body)))
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("onvif: %s: missing or malformed response: %w", want, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != want {
				return fmt.Errorf("onvif: expected %s, got %s", want, se.Name.Local)
			}
			if err := dec.DecodeElement(v, &se); err != nil {
				return fmt.Errorf("onvif: %s: %w", want, err)
			}
			return nil
		}
	}
}

// DeviceInformation calls GetDeviceInformation.
func (c *Client) DeviceInformation(ctx context.Context) (DeviceInfo, error) {
	body, err := c.call(ctx, c.XAddr, action(nsDevice, "GetDeviceInformation"), `<tds:GetDeviceInformation/>`, true)
	if err != nil {
		return DeviceInfo{}, err
	}
	return ParseDeviceInformation(body)
}

// ParseDeviceInformation reads a GetDeviceInformation answer.
func ParseDeviceInformation(body []byte) (DeviceInfo, error) {
	var d DeviceInfo
	err := unmarshalOne(body, "GetDeviceInformationResponse", &d)
	d.Manufacturer, d.Model = clean(d.Manufacturer, 128), clean(d.Model, 128)
	d.FirmwareVersion, d.SerialNumber, d.HardwareID = clean(d.FirmwareVersion, 128), clean(d.SerialNumber, 128), clean(d.HardwareID, 128)
	return d, err
}

func clean(s string, max int) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, ""))
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "")
	}
	return s
}

// Capabilities calls GetCapabilities and remembers the service addresses.
func (c *Client) Capabilities(ctx context.Context) (Capabilities, error) {
	body, err := c.call(ctx, c.XAddr, action(nsDevice, "GetCapabilities"),
		`<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>`, true)
	if err != nil {
		return Capabilities{}, err
	}
	caps, err := ParseCapabilities(body)
	if err != nil {
		return caps, err
	}
	c.mu.Lock()
	c.caps = caps
	c.mu.Unlock()
	return caps, nil
}

// ParseCapabilities reads a GetCapabilities answer; addresses must be http(s) URLs.
func ParseCapabilities(body []byte) (Capabilities, error) {
	var r struct {
		C struct {
			Media struct {
				XAddr string `xml:"XAddr"`
			} `xml:"Media"`
			PTZ struct {
				XAddr string `xml:"XAddr"`
			} `xml:"PTZ"`
			Events struct {
				XAddr                 string `xml:"XAddr"`
				WSPullPointSupport    string `xml:"WSPullPointSupport"`
				WSSubscriptionSupport string `xml:"WSSubscriptionPolicySupport"`
			} `xml:"Events"`
		} `xml:"Capabilities"`
	}
	if err := unmarshalOne(body, "GetCapabilitiesResponse", &r); err != nil {
		return Capabilities{}, err
	}
	out := Capabilities{Media: httpURL(r.C.Media.XAddr), PTZ: httpURL(r.C.PTZ.XAddr), Events: httpURL(r.C.Events.XAddr),
		PullPoint: strings.TrimSpace(r.C.Events.WSPullPointSupport) == "true"}
	return out, nil
}

func httpURL(s string) string {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(s) > 2048 {
		return ""
	}
	return s
}

func (c *Client) svc(which func(Capabilities) string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := which(c.caps); a != "" {
		return a
	}
	return c.XAddr
}

func (c *Client) media() string  { return c.svc(func(k Capabilities) string { return k.Media }) }
func (c *Client) ptz() string    { return c.svc(func(k Capabilities) string { return k.PTZ }) }
func (c *Client) events() string { return c.svc(func(k Capabilities) string { return k.Events }) }

// Profiles calls GetProfiles.
func (c *Client) Profiles(ctx context.Context) ([]Profile, error) {
	body, err := c.call(ctx, c.media(), action(nsMedia, "GetProfiles"), `<trt:GetProfiles/>`, true)
	if err != nil {
		return nil, err
	}
	return ParseProfiles(body)
}

// ParseProfiles reads a GetProfiles answer.
func ParseProfiles(body []byte) ([]Profile, error) {
	var r struct {
		P []struct {
			Token string `xml:"token,attr"`
			Name  string `xml:"Name"`
			VSC   struct {
				SourceToken string `xml:"SourceToken"`
			} `xml:"VideoSourceConfiguration"`
			VEC *struct {
				Encoding   string `xml:"Encoding"`
				Resolution struct {
					Width  int `xml:"Width"`
					Height int `xml:"Height"`
				} `xml:"Resolution"`
			} `xml:"VideoEncoderConfiguration"`
			PTZ *struct{} `xml:"PTZConfiguration"`
		} `xml:"Profiles"`
	}
	if err := unmarshalOne(body, "GetProfilesResponse", &r); err != nil {
		return nil, err
	}
	var out []Profile
	for _, p := range r.P {
		tok := clean(p.Token, 64)
		if tok == "" {
			continue
		}
		pr := Profile{Token: tok, Name: clean(p.Name, 64), PTZ: p.PTZ != nil, VideoToken: clean(p.VSC.SourceToken, 64)}
		if p.VEC != nil {
			pr.Encoding = clean(p.VEC.Encoding, 16)
			if w, h := p.VEC.Resolution.Width, p.VEC.Resolution.Height; w > 0 && h > 0 && w <= 16384 && h <= 16384 {
				pr.Width, pr.Height = w, h
			}
		}
		out = append(out, pr)
		if len(out) == 32 {
			break
		}
	}
	return out, nil
}

// MainAndSub picks the profile with the largest video as the main stream
// and the smallest other one as the sub stream (empty when only one).
func MainAndSub(ps []Profile) (main, sub Profile, ok bool) {
	var vids []Profile
	for _, p := range ps {
		if p.Width > 0 {
			vids = append(vids, p)
		}
	}
	if len(vids) == 0 {
		if len(ps) == 0 {
			return main, sub, false
		}
		vids = ps
	}
	main = vids[0]
	for _, p := range vids[1:] {
		if p.Width*p.Height > main.Width*main.Height {
			main = p
		}
	}
	for _, p := range vids {
		if p.Token == main.Token {
			continue
		}
		if sub.Token == "" || p.Width*p.Height < sub.Width*sub.Height {
			sub = p
		}
	}
	return main, sub, true
}

// StreamURI calls GetStreamUri for RTSP over RTP/TCP-capable unicast.
func (c *Client) StreamURI(ctx context.Context, profile string) (string, error) {
	var b strings.Builder
	b.WriteString(`<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>`)
	xmlEscape(&b, profile)
	b.WriteString(`</trt:ProfileToken></trt:GetStreamUri>`)
	body, err := c.call(ctx, c.media(), action(nsMedia, "GetStreamUri"), b.String(), true)
	if err != nil {
		return "", err
	}
	return ParseMediaURI(body, "GetStreamUriResponse", "rtsp", "rtsps")
}

// SnapshotURI calls GetSnapshotUri.
func (c *Client) SnapshotURI(ctx context.Context, profile string) (string, error) {
	var b strings.Builder
	b.WriteString(`<trt:GetSnapshotUri><trt:ProfileToken>`)
	xmlEscape(&b, profile)
	b.WriteString(`</trt:ProfileToken></trt:GetSnapshotUri>`)
	body, err := c.call(ctx, c.media(), action(nsMedia, "GetSnapshotUri"), b.String(), true)
	if err != nil {
		return "", err
	}
	return ParseMediaURI(body, "GetSnapshotUriResponse", "http", "https")
}

// ParseMediaURI reads the MediaUri/Uri of a GetStreamUri or GetSnapshotUri
// answer and checks its scheme.
func ParseMediaURI(body []byte, want string, schemes ...string) (string, error) {
	var r struct {
		URI string `xml:"MediaUri>Uri"`
	}
	if err := unmarshalOne(body, want, &r); err != nil {
		return "", err
	}
	s := strings.TrimSpace(r.URI)
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || len(s) > 2048 {
		return "", fmt.Errorf("onvif: %s: invalid URI", want)
	}
	for _, sc := range schemes {
		if u.Scheme == sc {
			return s, nil
		}
	}
	return "", fmt.Errorf("onvif: %s: unexpected scheme %q", want, u.Scheme)
}

// ContinuousMove starts a PTZ move at the given velocities (−1..1); the
// device stops after timeout (0: until Stop).
func (c *Client) ContinuousMove(ctx context.Context, profile string, pan, tilt, zoom float64, timeout time.Duration) error {
	var b strings.Builder
	b.WriteString(`<tptz:ContinuousMove><tptz:ProfileToken>`)
	xmlEscape(&b, profile)
	fmt.Fprintf(&b, `</tptz:ProfileToken><tptz:Velocity><tt:PanTilt x="%s" y="%s"/><tt:Zoom x="%s"/></tptz:Velocity>`,
		fnum(pan), fnum(tilt), fnum(zoom))
	if timeout > 0 {
		fmt.Fprintf(&b, `<tptz:Timeout>PT%sS</tptz:Timeout>`, strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64))
	}
	b.WriteString(`</tptz:ContinuousMove>`)
	body, err := c.call(ctx, c.ptz(), action(nsPTZ, "ContinuousMove"), b.String(), true)
	if err != nil {
		return err
	}
	return unmarshalOne(body, "ContinuousMoveResponse", &struct{}{})
}

func fnum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// Stop stops pan/tilt and zoom.
func (c *Client) Stop(ctx context.Context, profile string) error {
	var b strings.Builder
	b.WriteString(`<tptz:Stop><tptz:ProfileToken>`)
	xmlEscape(&b, profile)
	b.WriteString(`</tptz:ProfileToken><tptz:PanTilt>true</tptz:PanTilt><tptz:Zoom>true</tptz:Zoom></tptz:Stop>`)
	body, err := c.call(ctx, c.ptz(), action(nsPTZ, "Stop"), b.String(), true)
	if err != nil {
		return err
	}
	return unmarshalOne(body, "StopResponse", &struct{}{})
}

// Presets calls GetPresets.
func (c *Client) Presets(ctx context.Context, profile string) ([]Preset, error) {
	var b strings.Builder
	b.WriteString(`<tptz:GetPresets><tptz:ProfileToken>`)
	xmlEscape(&b, profile)
	b.WriteString(`</tptz:ProfileToken></tptz:GetPresets>`)
	body, err := c.call(ctx, c.ptz(), action(nsPTZ, "GetPresets"), b.String(), true)
	if err != nil {
		return nil, err
	}
	return ParsePresets(body)
}

// ParsePresets reads a GetPresets answer.
func ParsePresets(body []byte) ([]Preset, error) {
	var r struct {
		P []struct {
			Token string `xml:"token,attr"`
			Name  string `xml:"Name"`
		} `xml:"Preset"`
	}
	if err := unmarshalOne(body, "GetPresetsResponse", &r); err != nil {
		return nil, err
	}
	out := []Preset{}
	for _, p := range r.P {
		if t := clean(p.Token, 64); t != "" {
			out = append(out, Preset{Token: t, Name: clean(p.Name, 64)})
		}
		if len(out) == 256 {
			break
		}
	}
	return out, nil
}

// GotoPreset moves to a preset.
func (c *Client) GotoPreset(ctx context.Context, profile, preset string) error {
	var b strings.Builder
	b.WriteString(`<tptz:GotoPreset><tptz:ProfileToken>`)
	xmlEscape(&b, profile)
	b.WriteString(`</tptz:ProfileToken><tptz:PresetToken>`)
	xmlEscape(&b, preset)
	b.WriteString(`</tptz:PresetToken></tptz:GotoPreset>`)
	body, err := c.call(ctx, c.ptz(), action(nsPTZ, "GotoPreset"), b.String(), true)
	if err != nil {
		return err
	}
	return unmarshalOne(body, "GotoPresetResponse", &struct{}{})
}
