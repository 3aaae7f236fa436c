package sim

// A simulated ONVIF device (Profile S/T subset): an HTTP SOAP server with the
// device, media, PTZ and event services, and a WS-Discovery responder. It
// checks credentials as a camera does: WS-Security UsernameToken digests
// against ITS clock (which may be skewed on purpose), or HTTP digest only
// (DigestOnly), so tests exercise the real exchange. The server-side code
// here is independent of internal/onvif, so a bug in the client cannot hide
// behind the same bug in the device.

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// OnvifSpec describes a simulated ONVIF device.
type OnvifSpec struct {
	Name         string // announced in the discovery scopes
	Manufacturer string
	Model        string
	Serial       string
	User, Pass   string
	// Skew is the device clock minus the real one: a device whose clock is
	// off refuses WS-Security tokens created on the client's clock.
	Skew time.Duration
	// DigestOnly: the device ignores WS-Security and demands HTTP digest.
	DigestOnly bool
	// MainURL and SubURL are the RTSP URLs the two profiles announce
	// (e.g. a Sim's URL(id, "main")); SnapshotURL is GetSnapshotUri's.
	MainURL, SubURL, SnapshotURL string
	PTZ                          bool
	// Listen is the HTTP address (default 127.0.0.1:0); DiscoveryAddr the
	// UDP address answering WS-Discovery probes (default 127.0.0.1:0;
	// "239.255.255.250:3702" joins the multicast group).
	Listen, DiscoveryAddr string
}

// PTZCommand is a PTZ request the device received.
type PTZCommand struct {
	Op      string // ContinuousMove, Stop, GotoPreset
	Profile string
	Pan     string
	Tilt    string
	Zoom    string
	Preset  string
}

// OnvifDevice is a running simulated device.
type OnvifDevice struct {
	spec  OnvifSpec
	ln    net.Listener
	srv   *http.Server
	udp   *net.UDPConn
	uuid  string
	mu    sync.Mutex
	ptz   []PTZCommand
	subs  map[string]*pullSub
	nsub  int
	nonce map[string]bool // issued HTTP digest nonces
	seen  map[string]bool // WS-Security nonces already used
	stats OnvifStats
	wg    sync.WaitGroup
}

// OnvifStats counts authentication outcomes.
type OnvifStats struct {
	WSSEOK, DigestOK, Refused, Unauthenticated int
}

type pullSub struct {
	queue  []string // NotificationMessage XML
	signal chan struct{}
}

// StartOnvif starts a device.
func StartOnvif(spec OnvifSpec) (*OnvifDevice, error) {
	if spec.Listen == "" {
		spec.Listen = "127.0.0.1:0"
	}
	if spec.DiscoveryAddr == "" {
		spec.DiscoveryAddr = "127.0.0.1:0"
	}
	if spec.Manufacturer == "" {
		spec.Manufacturer = "Vigil Sim"
	}
	if spec.Model == "" {
		spec.Model = "SIM-ONVIF-1"
	}
	d := &OnvifDevice{spec: spec, subs: map[string]*pullSub{}, nonce: map[string]bool{}, seen: map[string]bool{}, uuid: randHex(16)}
	ln, err := net.Listen("tcp", spec.Listen)
	if err != nil {
		return nil, fmt.Errorf("sim onvif: listen: %w", err)
	}
	d.ln = ln
	ua, err := net.ResolveUDPAddr("udp4", spec.DiscoveryAddr)
	if err != nil {
		ln.Close()
		return nil, err
	}
	if ua.IP.IsMulticast() {
		d.udp, err = net.ListenMulticastUDP("udp4", nil, ua)
	} else {
		d.udp, err = net.ListenUDP("udp4", ua)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("sim onvif: discovery: %w", err)
	}
	d.srv = &http.Server{Handler: http.HandlerFunc(d.serveSOAP), ReadHeaderTimeout: 5 * time.Second}
	d.wg.Add(2)
	go func() { defer d.wg.Done(); _ = d.srv.Serve(ln) }()
	go func() { defer d.wg.Done(); d.discoveryLoop() }()
	return d, nil
}

// Close stops the device.
func (d *OnvifDevice) Close() {
	_ = d.srv.Close()
	_ = d.udp.Close()
	d.mu.Lock()
	for _, s := range d.subs {
		close(s.signal)
	}
	d.subs = map[string]*pullSub{}
	d.mu.Unlock()
	d.wg.Wait()
}

// XAddr is the device service URL.
func (d *OnvifDevice) XAddr() string {
	return "http://" + d.ln.Addr().String() + "/onvif/device_service"
}

// DiscoveryAddr is the UDP address that answers probes.
func (d *OnvifDevice) DiscoveryAddr() string { return d.udp.LocalAddr().String() }

// PTZLog returns the PTZ commands received so far.
func (d *OnvifDevice) PTZLog() []PTZCommand {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]PTZCommand(nil), d.ptz...)
}

// Stats returns the authentication counters.
func (d *OnvifDevice) Stats() OnvifStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Subscriptions is the number of live pull points.
func (d *OnvifDevice) Subscriptions() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.subs)
}

// Emit queues an event on every pull point: topic such as
// "tns1:RuleEngine/LineDetector/Crossed", source and data simple items.
func (d *OnvifDevice) Emit(topic string, at time.Time, source, data map[string]string) {
	var b strings.Builder
	b.WriteString(`<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">`)
	b.WriteString(html.EscapeString(topic))
	fmt.Fprintf(&b, `</wsnt:Topic><wsnt:Message><tt:Message UtcTime="%s" PropertyOperation="Changed">`, at.UTC().Format("2006-01-02T15:04:05.000Z"))
	items := func(tag string, m map[string]string) {
		b.WriteString("<tt:" + tag + ">")
		for k, v := range m {
			fmt.Fprintf(&b, `<tt:SimpleItem Name="%s" Value="%s"/>`, html.EscapeString(k), html.EscapeString(v))
		}
		b.WriteString("</tt:" + tag + ">")
	}
	items("Source", source)
	items("Data", data)
	b.WriteString(`</tt:Message></wsnt:Message></wsnt:NotificationMessage>`)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.subs {
		s.queue = append(s.queue, b.String())
		select {
		case s.signal <- struct{}{}:
		default:
		}
	}
}

func (d *OnvifDevice) now() time.Time { return time.Now().Add(d.spec.Skew).UTC() }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// soapReq is what the device reads of a request.
type soapReq struct {
	Header struct {
		Token *struct {
			Username string `xml:"Username"`
			Password string `xml:"Password"`
			Nonce    string `xml:"Nonce"`
			Created  string `xml:"Created"`
		} `xml:"Security>UsernameToken"`
	} `xml:"Header"`
	Body struct {
		Inner []byte `xml:",innerxml"`
	} `xml:"Body"`
}

func (d *OnvifDevice) serveSOAP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	var req soapReq
	if err := xml.Unmarshal(data, &req); err != nil {
		d.fault(w, http.StatusBadRequest, "env:Sender", "ter:WellFormed", "malformed request")
		return
	}
	opName, opXML := firstElement(req.Body.Inner)
	if opName == "" {
		d.fault(w, http.StatusBadRequest, "env:Sender", "ter:WellFormed", "empty body")
		return
	}
	if opName != "GetSystemDateAndTime" && !d.authorize(w, r, &req) {
		return
	}
	d.dispatch(w, r, opName, opXML)
}

func firstElement(inner []byte) (string, []byte) {
	dec := xml.NewDecoder(strings.NewReader(string(inner)))
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return "", nil
		}
		if se, ok := tok.(xml.StartElement); ok {
			if err := dec.Skip(); err != nil {
				return "", nil
			}
			return se.Name.Local, inner[start:dec.InputOffset()]
		}
	}
}

// authorize checks the credentials the way the device is configured to;
// it writes the refusal itself.
func (d *OnvifDevice) authorize(w http.ResponseWriter, r *http.Request, req *soapReq) bool {
	if d.spec.User == "" {
		return true
	}
	if d.spec.DigestOnly {
		if d.checkDigest(r) {
			d.count(func(s *OnvifStats) { s.DigestOK++ })
			return true
		}
		nonce := randHex(16)
		d.mu.Lock()
		d.nonce[nonce] = true
		d.mu.Unlock()
		d.count(func(s *OnvifStats) { s.Unauthenticated++ })
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Digest realm="vigil-sim", qop="auth", nonce="%s", algorithm=MD5`, nonce))
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return false
	}
	t := req.Header.Token
	if t == nil {
		d.count(func(s *OnvifStats) { s.Unauthenticated++ })
		d.fault(w, http.StatusBadRequest, "env:Sender", "ter:NotAuthorized", "sender not authorized")
		return false
	}
	nonce, err := base64.StdEncoding.DecodeString(strings.TrimSpace(t.Nonce))
	created, cerr := time.Parse(time.RFC3339Nano, strings.TrimSpace(t.Created))
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(strings.TrimSpace(t.Created)))
	h.Write([]byte(d.spec.Pass))
	want := base64.StdEncoding.EncodeToString(h.Sum(nil))
	skew := d.now().Sub(created)
	d.mu.Lock()
	replay := d.seen[t.Nonce]
	d.seen[t.Nonce] = true
	d.mu.Unlock()
	if err != nil || cerr != nil || replay || strings.TrimSpace(t.Username) != d.spec.User || strings.TrimSpace(t.Password) != want ||
		skew > 5*time.Second || skew < -5*time.Second {
		d.count(func(s *OnvifStats) { s.Refused++ })
		d.fault(w, http.StatusBadRequest, "env:Sender", "ter:NotAuthorized", "sender not authorized")
		return false
	}
	d.count(func(s *OnvifStats) { s.WSSEOK++ })
	return true
}

func (d *OnvifDevice) count(f func(*OnvifStats)) {
	d.mu.Lock()
	f(&d.stats)
	d.mu.Unlock()
}

func (d *OnvifDevice) checkDigest(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Digest ") {
		return false
	}
	p := map[string]string{}
	for _, part := range splitParams(h[len("Digest "):]) {
		k, v, ok := strings.Cut(part, "=")
		if ok {
			p[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	d.mu.Lock()
	known := d.nonce[p["nonce"]]
	d.mu.Unlock()
	if !known || p["username"] != d.spec.User || p["uri"] != r.URL.RequestURI() {
		return false
	}
	m := func(s string) string { x := md5.Sum([]byte(s)); return hex.EncodeToString(x[:]) }
	ha1 := m(d.spec.User + ":" + p["realm"] + ":" + d.spec.Pass)
	ha2 := m(r.Method + ":" + p["uri"])
	want := m(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":" + p["qop"] + ":" + ha2)
	return p["qop"] == "auth" && p["response"] == want
}

// splitParams splits on commas outside quotes.
func splitParams(s string) []string {
	var out []string
	q, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			q = !q
		case ',':
			if !q {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func (d *OnvifDevice) fault(w http.ResponseWriter, status int, code, sub, reason string) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error"><env:Body><env:Fault><env:Code><env:Value>%s</env:Value><env:Subcode><env:Value>%s</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">%s</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`,
		code, sub, html.EscapeString(reason))
}

func (d *OnvifDevice) reply(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" `+
		`xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" `+
		`xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" `+
		`xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" `+
		`xmlns:wsa="http://www.w3.org/2005/08/addressing"><env:Body>`+body+`</env:Body></env:Envelope>`)
}

// field reads the text of the first element with this local name.
func field(opXML []byte, name string) (string, map[string]string) {
	dec := xml.NewDecoder(strings.NewReader(string(opXML)))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", nil
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == name {
			attrs := map[string]string{}
			for _, a := range se.Attr {
				attrs[a.Name.Local] = a.Value
			}
			var s string
			_ = dec.DecodeElement(&s, &se)
			return strings.TrimSpace(s), attrs
		}
	}
}

func (d *OnvifDevice) dispatch(w http.ResponseWriter, r *http.Request, op string, opXML []byte) {
	base := "http://" + d.ln.Addr().String() + "/onvif/"
	switch op {
	case "GetSystemDateAndTime":
		t := d.now()
		d.reply(w, fmt.Sprintf(`<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>`+
			`<tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>ICT-7</tt:TZ></tt:TimeZone><tt:UTCDateTime>`+
			`<tt:Time><tt:Hour>%d</tt:Hour><tt:Minute>%d</tt:Minute><tt:Second>%d</tt:Second></tt:Time>`+
			`<tt:Date><tt:Year>%d</tt:Year><tt:Month>%d</tt:Month><tt:Day>%d</tt:Day></tt:Date></tt:UTCDateTime>`+
			`</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`, t.Hour(), t.Minute(), t.Second(), t.Year(), int(t.Month()), t.Day()))
	case "GetDeviceInformation":
		d.reply(w, fmt.Sprintf(`<tds:GetDeviceInformationResponse><tds:Manufacturer>%s</tds:Manufacturer><tds:Model>%s</tds:Model>`+
			`<tds:FirmwareVersion>1.0.0</tds:FirmwareVersion><tds:SerialNumber>%s</tds:SerialNumber><tds:HardwareId>sim</tds:HardwareId></tds:GetDeviceInformationResponse>`,
			html.EscapeString(d.spec.Manufacturer), html.EscapeString(d.spec.Model), html.EscapeString(d.spec.Serial)))
	case "GetCapabilities":
		ptz := ""
		if d.spec.PTZ {
			ptz = `<tt:PTZ><tt:XAddr>` + base + `ptz_service</tt:XAddr></tt:PTZ>`
		}
		d.reply(w, `<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device><tt:XAddr>`+base+`device_service</tt:XAddr></tt:Device>`+
			`<tt:Events><tt:XAddr>`+base+`events_service</tt:XAddr><tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>`+
			`<tt:WSPullPointSupport>true</tt:WSPullPointSupport></tt:Events>`+
			`<tt:Media><tt:XAddr>`+base+`media_service</tt:XAddr></tt:Media>`+ptz+`</tds:Capabilities></tds:GetCapabilitiesResponse>`)
	case "GetProfiles":
		ptz := ""
		if d.spec.PTZ {
			ptz = `<tt:PTZConfiguration token="ptz0"><tt:Name>PTZ</tt:Name><tt:NodeToken>node0</tt:NodeToken></tt:PTZConfiguration>`
		}
		prof := func(tok, name string, w, h int) string {
			return fmt.Sprintf(`<trt:Profiles token="%s" fixed="true"><tt:Name>%s</tt:Name><tt:VideoSourceConfiguration token="vsc0"><tt:Name>VS</tt:Name><tt:SourceToken>vs0</tt:SourceToken></tt:VideoSourceConfiguration>`+
				`<tt:VideoEncoderConfiguration token="vec_%s"><tt:Name>%s</tt:Name><tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>%d</tt:Width><tt:Height>%d</tt:Height></tt:Resolution></tt:VideoEncoderConfiguration>%s</trt:Profiles>`,
				tok, name, tok, name, w, h, ptz)
		}
		// sub first, as some cameras list them: the client must pick by size
		d.reply(w, `<trt:GetProfilesResponse>`+prof("prof_sub", "SubStream", 640, 360)+prof("prof_main", "MainStream", 1280, 720)+`</trt:GetProfilesResponse>`)
	case "GetStreamUri":
		tok, _ := field(opXML, "ProfileToken")
		uri := d.spec.MainURL
		if tok == "prof_sub" {
			uri = d.spec.SubURL
		} else if tok != "prof_main" {
			d.fault(w, http.StatusBadRequest, "env:Sender", "ter:NoProfile", "no such profile")
			return
		}
		d.reply(w, `<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>`+html.EscapeString(uri)+`</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>`+
			`<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>`)
	case "GetSnapshotUri":
		uri := d.spec.SnapshotURL
		if uri == "" {
			uri = base + "snapshot.jpg"
		}
		d.reply(w, `<trt:GetSnapshotUriResponse><trt:MediaUri><tt:Uri>`+html.EscapeString(uri)+`</tt:Uri></trt:MediaUri></trt:GetSnapshotUriResponse>`)
	case "ContinuousMove", "Stop", "GotoPreset", "GetPresets":
		if !d.spec.PTZ {
			d.fault(w, http.StatusBadRequest, "env:Receiver", "ter:ActionNotSupported", "no PTZ")
			return
		}
		prof, _ := field(opXML, "ProfileToken")
		if op == "GetPresets" {
			d.reply(w, `<tptz:GetPresetsResponse><tptz:Preset token="1"><tt:Name>Cổng chính</tt:Name></tptz:Preset><tptz:Preset token="2"><tt:Name>Ngã tư</tt:Name></tptz:Preset></tptz:GetPresetsResponse>`)
			return
		}
		c := PTZCommand{Op: op, Profile: prof}
		_, pt := field(opXML, "PanTilt")
		_, z := field(opXML, "Zoom")
		c.Pan, c.Tilt, c.Zoom = pt["x"], pt["y"], z["x"]
		c.Preset, _ = field(opXML, "PresetToken")
		if op == "GotoPreset" && c.Preset != "1" && c.Preset != "2" {
			d.fault(w, http.StatusBadRequest, "env:Sender", "ter:NoToken", "no such preset")
			return
		}
		d.mu.Lock()
		d.ptz = append(d.ptz, c)
		d.mu.Unlock()
		d.reply(w, `<tptz:`+op+`Response/>`)
	case "CreatePullPointSubscription":
		d.mu.Lock()
		d.nsub++
		id := fmt.Sprintf("sub%d", d.nsub)
		d.subs[id] = &pullSub{signal: make(chan struct{}, 1)}
		d.mu.Unlock()
		t := d.now()
		d.reply(w, fmt.Sprintf(`<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>%s</wsa:Address></tev:SubscriptionReference>`+
			`<wsnt:CurrentTime>%s</wsnt:CurrentTime><wsnt:TerminationTime>%s</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>`,
			base+"subscription/"+id, t.Format(time.RFC3339), t.Add(time.Minute).Format(time.RFC3339)))
	case "PullMessages", "Renew", "Unsubscribe":
		id := strings.TrimPrefix(r.URL.Path, "/onvif/subscription/")
		d.mu.Lock()
		s := d.subs[id]
		if op == "Unsubscribe" {
			delete(d.subs, id)
		}
		d.mu.Unlock()
		if s == nil {
			d.fault(w, http.StatusBadRequest, "env:Sender", "ter:InvalidArgVal", "no such subscription")
			return
		}
		switch op {
		case "Unsubscribe":
			d.reply(w, `<wsnt:UnsubscribeResponse/>`)
			return
		case "Renew":
			d.reply(w, `<wsnt:RenewResponse><wsnt:TerminationTime>`+d.now().Add(time.Minute).Format(time.RFC3339)+`</wsnt:TerminationTime></wsnt:RenewResponse>`)
			return
		}
		wait := 2 * time.Second
		if ts, _ := field(opXML, "Timeout"); ts != "" {
			var n int
			if _, err := fmt.Sscanf(ts, "PT%dS", &n); err == nil && n > 0 && n < 2 {
				wait = time.Duration(n) * time.Second
			}
		}
		timer := time.NewTimer(wait)
		defer timer.Stop()
		for {
			d.mu.Lock()
			msgs := s.queue
			s.queue = nil
			d.mu.Unlock()
			if len(msgs) > 0 {
				t := d.now().Format(time.RFC3339)
				d.reply(w, `<tev:PullMessagesResponse><tev:CurrentTime>`+t+`</tev:CurrentTime><tev:TerminationTime>`+t+`</tev:TerminationTime>`+strings.Join(msgs, "")+`</tev:PullMessagesResponse>`)
				return
			}
			select {
			case _, ok := <-s.signal:
				if !ok {
					return
				}
			case <-timer.C:
				t := d.now().Format(time.RFC3339)
				d.reply(w, `<tev:PullMessagesResponse><tev:CurrentTime>`+t+`</tev:CurrentTime><tev:TerminationTime>`+t+`</tev:TerminationTime></tev:PullMessagesResponse>`)
				return
			case <-r.Context().Done():
				return
			}
		}
	default:
		d.fault(w, http.StatusBadRequest, "env:Receiver", "ter:ActionNotSupported", "not supported: "+op)
	}
}

func (d *OnvifDevice) discoveryLoop() {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := d.udp.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		var probe struct {
			MessageID string `xml:"Header>MessageID"`
			Probe     *struct {
				Types string `xml:"Types"`
			} `xml:"Body>Probe"`
		}
		if xml.Unmarshal(buf[:n], &probe) != nil || probe.Probe == nil {
			continue
		}
		name := strings.ReplaceAll(d.spec.Name, " ", "%20")
		resp := `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ` +
			`xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" ` +
			`xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header><a:MessageID>urn:uuid:` + randHex(16) + `</a:MessageID>` +
			`<a:RelatesTo>` + html.EscapeString(probe.MessageID) + `</a:RelatesTo>` +
			`<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</a:Action></s:Header><s:Body><d:ProbeMatches><d:ProbeMatch>` +
			`<a:EndpointReference><a:Address>urn:uuid:` + d.uuid + `</a:Address></a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>` +
			`<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/name/` + html.EscapeString(name) +
			` onvif://www.onvif.org/hardware/` + html.EscapeString(d.spec.Model) + `</d:Scopes><d:XAddrs>` + d.XAddr() + `</d:XAddrs>` +
			`<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>`
		_, _ = d.udp.WriteToUDP([]byte(resp), from)
	}
}
