package onvif

import (
	"context"
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"net"
	"strings"
	"time"
)

// MulticastAddr is the WS-Discovery group.
const MulticastAddr = "239.255.255.250:3702"

// Discovered is a device that answered a probe.
type Discovered struct {
	Endpoint string   `json:"endpoint"` // wsa:EndpointReference address (urn:uuid:…)
	XAddrs   []string `json:"xaddrs"`   // device service URLs
	Types    []string `json:"types"`
	Scopes   []string `json:"scopes"`
	// Name and Hardware come from the onvif://www.onvif.org/name/ and
	// /hardware/ scopes, when present.
	Name     string `json:"name,omitempty"`
	Hardware string `json:"hardware,omitempty"`
	From     string `json:"from"` // address the answer came from
}

func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// ProbeMessage is a WS-Discovery Probe for NetworkVideoTransmitter devices.
func ProbeMessage(id string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ` +
		`xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" ` +
		`xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header>` +
		`<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>` +
		`<a:MessageID>urn:uuid:` + id + `</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>` +
		`<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>` +
		`<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>`)
}

// Discover sends a Probe to target (MulticastAddr when empty; a unicast
// address works too, e.g. a known device or the simulator) and collects the
// answers until timeout. Duplicate endpoints are merged.
func Discover(ctx context.Context, target string, timeout time.Duration) ([]Discovered, error) {
	if target == "" {
		target = MulticastAddr
	}
	dst, err := net.ResolveUDPAddr("udp4", target)
	if err != nil {
		return nil, fmt.Errorf("onvif: discovery target: %w", err)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		return nil, fmt.Errorf("onvif: discovery socket: %w", err)
	}
	defer conn.Close()
	id := uuid4()
	msg := ProbeMessage(id)
	// UDP may drop a datagram: send twice, as WS-Discovery suggests.
	for i := 0; i < 2; i++ {
		if _, err := conn.WriteToUDP(msg, dst); err != nil {
			return nil, fmt.Errorf("onvif: send probe: %w", err)
		}
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	seen := map[string]int{}
	var out []Discovered
	buf := make([]byte, 64<<10)
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			break // deadline
		}
		ds, relates, err := ParseProbeMatches(buf[:n])
		if err != nil || (relates != "" && !strings.HasSuffix(relates, id)) {
			continue
		}
		for _, d := range ds {
			d.From = from.String()
			key := d.Endpoint
			if key == "" {
				key = strings.Join(d.XAddrs, " ")
			}
			if i, ok := seen[key]; ok {
				out[i] = d
				continue
			}
			seen[key] = len(out)
			out = append(out, d)
		}
	}
	return out, ctx.Err()
}

// ParseProbeMatches reads a ProbeMatches message and the MessageID it
// relates to.
func ParseProbeMatches(data []byte) ([]Discovered, string, error) {
	var env struct {
		XMLName xml.Name `xml:"Envelope"`
		Relates string   `xml:"Header>RelatesTo"`
		M       []struct {
			EPR    string `xml:"EndpointReference>Address"`
			Types  string `xml:"Types"`
			Scopes string `xml:"Scopes"`
			XAddrs string `xml:"XAddrs"`
		} `xml:"Body>ProbeMatches>ProbeMatch"`
	}
	if err := xml.Unmarshal(data, &env); err != nil {
		return nil, "", fmt.Errorf("onvif: malformed ProbeMatches: %w", err)
	}
	var out []Discovered
	for _, m := range env.M {
		d := Discovered{Endpoint: clean(m.EPR, 256), Types: fieldsN(m.Types, 16), Scopes: fieldsN(m.Scopes, 64)}
		for _, x := range fieldsN(m.XAddrs, 8) {
			if u := httpURL(x); u != "" {
				d.XAddrs = append(d.XAddrs, u)
			}
		}
		if len(d.XAddrs) == 0 {
			continue
		}
		for _, s := range d.Scopes {
			if v, ok := strings.CutPrefix(s, "onvif://www.onvif.org/name/"); ok {
				d.Name = clean(unescapeScope(v), 128)
			}
			if v, ok := strings.CutPrefix(s, "onvif://www.onvif.org/hardware/"); ok {
				d.Hardware = clean(unescapeScope(v), 128)
			}
		}
		out = append(out, d)
		if len(out) == 16 {
			break
		}
	}
	return out, clean(env.Relates, 256), nil
}

func unescapeScope(s string) string { return strings.ReplaceAll(s, "%20", " ") }

func fieldsN(s string, n int) []string {
	f := strings.Fields(s)
	if len(f) > n {
		f = f[:n]
	}
	for i := range f {
		f[i] = clean(f[i], 512)
	}
	return f
}
