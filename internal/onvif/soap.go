// Package onvif is a small ONVIF client (Profile S/T, the parts Vigil
// needs): WS-Discovery, device information, capabilities, media profiles
// and stream/snapshot URIs, the camera clock, PTZ (continuous move, stop,
// presets) and event pull points. It speaks SOAP 1.2 over HTTP with
// encoding/xml; requests carry a WS-Security UsernameToken digest signed
// with the camera's clock offset (cameras whose clock is off reject a token
// created by ours), and fall back to HTTP digest authentication for cameras
// that ask for it. Every response parser is fuzzed.
//
// The Service in service.go is the room: it attaches a camera's ONVIF
// device, fills its stream endpoints, runs PTZ through the access decision
// with an audit entry, and keeps one pull-point subscription per device
// feeding the analytics events room.
package onvif

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Namespaces used in requests.
const (
	nsSOAP   = "http://www.w3.org/2003/05/soap-envelope"
	nsWSSE   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsWSU    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	nsDevice = "http://www.onvif.org/ver10/device/wsdl"
	nsMedia  = "http://www.onvif.org/ver10/media/wsdl"
	nsPTZ    = "http://www.onvif.org/ver20/ptz/wsdl"
	nsEvents = "http://www.onvif.org/ver10/events/wsdl"
	nsSchema = "http://www.onvif.org/ver10/schema"
	nsWSNT   = "http://docs.oasis-open.org/wsn/b-2"
	nsWSA    = "http://www.w3.org/2005/08/addressing"

	passwordDigestType = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	base64EncodingType = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)

// MaxResponse bounds what is read of a device's answer.
const MaxResponse = 4 << 20

// Auth is how a client authenticates.
type Auth string

const (
	// AuthAuto tries WS-Security and switches to HTTP digest when the device
	// answers 401 with a Digest challenge (then keeps digest).
	AuthAuto Auth = ""
	// AuthWSSE sends only the WS-Security UsernameToken.
	AuthWSSE Auth = "wsse"
	// AuthDigest sends only HTTP digest.
	AuthDigest Auth = "digest"
)

// Fault is a SOAP fault returned by the device.
type Fault struct {
	HTTPStatus int
	Code       string // e.g. "env:Sender"
	Subcode    string // e.g. "ter:NotAuthorized"
	Reason     string
}

func (f *Fault) Error() string {
	s := "onvif: fault"
	if f.Subcode != "" {
		s += " " + f.Subcode
	} else if f.Code != "" {
		s += " " + f.Code
	}
	if f.Reason != "" {
		s += ": " + f.Reason
	}
	return s
}

// NotAuthorized reports whether the fault is an authentication refusal.
func (f *Fault) NotAuthorized() bool {
	return f.HTTPStatus == http.StatusUnauthorized || strings.Contains(f.Subcode, "NotAuthorized") ||
		strings.Contains(f.Subcode, "FailedAuthentication")
}

// ErrUnauthorized: the device refused the credentials.
var ErrUnauthorized = errors.New("onvif: not authorized")

// Client talks to one ONVIF device.
type Client struct {
	// XAddr is the device service URL, e.g. http://10.0.0.5/onvif/device_service.
	XAddr    string
	Username string
	Password string
	// HTTP is the transport (default: a client with a 10 s timeout).
	HTTP *http.Client
	Auth Auth
	// Now is our clock (tests).
	Now func() time.Time

	mu     sync.Mutex
	offset time.Duration // device clock − ours
	digest bool          // switched to HTTP digest
	chal   *digestChallenge
	nc     int
	caps   Capabilities
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

var defaultHTTP = &http.Client{Timeout: 10 * time.Second}

// ClockOffset is the device clock minus ours, as last measured.
func (c *Client) ClockOffset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}

// SetClockOffset sets the offset used to sign (e.g. a stored measurement).
func (c *Client) SetClockOffset(d time.Duration) {
	c.mu.Lock()
	c.offset = d
	c.mu.Unlock()
}

// UsesDigest reports whether the client authenticates with HTTP digest.
func (c *Client) UsesDigest() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.digest || c.Auth == AuthDigest
}

// usernameToken builds the WS-Security header: Digest = base64(SHA-1(nonce
// + created + password)), created on the device's clock.
func usernameToken(user, pass string, created time.Time, nonce []byte) string {
	cr := created.UTC().Format("2006-01-02T15:04:05.000Z")
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(cr))
	h.Write([]byte(pass))
	var b strings.Builder
	b.WriteString(`<wsse:Security s:mustUnderstand="1" xmlns:wsse="` + nsWSSE + `" xmlns:wsu="` + nsWSU + `"><wsse:UsernameToken><wsse:Username>`)
	xmlEscape(&b, user)
	b.WriteString(`</wsse:Username><wsse:Password Type="` + passwordDigestType + `">`)
	b.WriteString(base64.StdEncoding.EncodeToString(h.Sum(nil)))
	b.WriteString(`</wsse:Password><wsse:Nonce EncodingType="` + base64EncodingType + `">`)
	b.WriteString(base64.StdEncoding.EncodeToString(nonce))
	b.WriteString(`</wsse:Nonce><wsu:Created>` + cr + `</wsu:Created></wsse:UsernameToken></wsse:Security>`)
	return b.String()
}

// PasswordDigest computes the WS-Security digest (for devices and tests).
func PasswordDigest(nonce []byte, created, password string) string {
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(created))
	h.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func xmlEscape(b *strings.Builder, s string) {
	_ = xml.EscapeText(b, []byte(s))
}

func envelope(header, body string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="` + nsSOAP + `" xmlns:tds="` + nsDevice +
		`" xmlns:trt="` + nsMedia + `" xmlns:tptz="` + nsPTZ + `" xmlns:tev="` + nsEvents + `" xmlns:tt="` + nsSchema +
		`" xmlns:wsnt="` + nsWSNT + `" xmlns:wsa="` + nsWSA + `"><s:Header>` + header + `</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`)
}

// call posts body (the inner XML of s:Body) to url and returns the inner
// XML of the response's Body. auth=false sends no credentials at all (for
// GetSystemDateAndTime, which devices answer unauthenticated).
func (c *Client) call(ctx context.Context, url, action, body string, auth bool) ([]byte, error) {
	for attempt := 0; attempt < 3; attempt++ {
		c.mu.Lock()
		useDigest := auth && (c.digest || c.Auth == AuthDigest)
		chal := c.chal
		offset := c.offset
		c.mu.Unlock()

		header := ""
		if auth && !useDigest && c.Username != "" {
			nonce := make([]byte, 16)
			_, _ = rand.Read(nonce)
			header = usernameToken(c.Username, c.Password, c.now().Add(offset), nonce)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(envelope(header, body)))
		if err != nil {
			return nil, fmt.Errorf("onvif: request: %w", err)
		}
		req.Header.Set("Content-Type", `application/soap+xml; charset=utf-8; action="`+action+`"`)
		if useDigest && chal != nil {
			req.Header.Set("Authorization", c.digestHeader(chal, req.URL.RequestURI()))
		}
		resp, err := c.http().Do(req)
		if err != nil {
			return nil, fmt.Errorf("onvif: %s: %w", action[strings.LastIndexByte(action, '/')+1:], err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("onvif: read response: %w", err)
		}
		if resp.StatusCode == http.StatusUnauthorized && auth && c.Auth != AuthWSSE {
			if ch, ok := parseDigestChallenge(resp.Header.Values("WWW-Authenticate")); ok {
				c.mu.Lock()
				retry := !c.digest || c.chal == nil || ch.nonce != c.chal.nonce || ch.stale
				c.digest, c.chal, c.nc = true, &ch, 0
				c.mu.Unlock()
				if retry {
					continue
				}
			}
			return nil, ErrUnauthorized
		}
		inner, fault, err := ParseEnvelope(data)
		if err != nil {
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("onvif: HTTP %d", resp.StatusCode)
			}
			return nil, err
		}
		if fault != nil {
			fault.HTTPStatus = resp.StatusCode
			if fault.NotAuthorized() {
				return nil, fmt.Errorf("%w (%s)", ErrUnauthorized, fault.Reason)
			}
			return nil, fault
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("onvif: HTTP %d", resp.StatusCode)
		}
		return inner, nil
	}
	return nil, ErrUnauthorized
}

// ParseEnvelope reads a SOAP envelope: the inner XML of its Body, or the
// fault it carries.
func ParseEnvelope(data []byte) (body []byte, fault *Fault, err error) {
	var env struct {
		XMLName xml.Name `xml:"Envelope"`
		Body    struct {
			Inner []byte `xml:",innerxml"`
			Fault *struct {
				Code struct {
					Value   string `xml:"Value"`
					Subcode struct {
						Value string `xml:"Value"`
					} `xml:"Subcode"`
				} `xml:"Code"`
				Reason struct {
					Text []string `xml:"Text"`
				} `xml:"Reason"`
			} `xml:"Fault"`
		} `xml:"Body"`
	}
	if err := xml.Unmarshal(data, &env); err != nil {
		return nil, nil, fmt.Errorf("onvif: malformed SOAP response: %w", err)
	}
	if env.XMLName.Local != "Envelope" {
		return nil, nil, errors.New("onvif: malformed SOAP response: no Envelope")
	}
	if f := env.Body.Fault; f != nil {
		out := &Fault{Code: strings.TrimSpace(f.Code.Value), Subcode: strings.TrimSpace(f.Code.Subcode.Value)}
		if len(f.Reason.Text) > 0 {
			out.Reason = strings.TrimSpace(f.Reason.Text[0])
		}
		return nil, out, nil
	}
	return env.Body.Inner, nil, nil
}

// digestChallenge is an RFC 7616 WWW-Authenticate: Digest challenge.
type digestChallenge struct {
	realm, nonce, opaque, qop, algorithm string
	stale                                bool
}

func parseDigestChallenge(values []string) (digestChallenge, bool) {
	for _, v := range values {
		if len(v) < 7 || !strings.EqualFold(v[:7], "digest ") {
			continue
		}
		p := ParseAuthParams(v[7:])
		ch := digestChallenge{realm: p["realm"], nonce: p["nonce"], opaque: p["opaque"], algorithm: p["algorithm"],
			stale: strings.EqualFold(p["stale"], "true")}
		for _, q := range strings.Split(p["qop"], ",") {
			if strings.TrimSpace(q) == "auth" {
				ch.qop = "auth"
			}
		}
		if ch.nonce == "" || (ch.algorithm != "" && !strings.EqualFold(ch.algorithm, "MD5")) {
			continue
		}
		return ch, true
	}
	return digestChallenge{}, false
}

// ParseAuthParams reads `k=v, k2="v 2"` (HTTP auth parameters).
func ParseAuthParams(s string) map[string]string {
	out := map[string]string{}
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \t,")
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		k := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var v string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			v = b.String()
			if i < len(s) {
				i++
			}
			s = s[i:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			v, s = strings.TrimSpace(s[:end]), s[end:]
		}
		out[k] = v
	}
	return out
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func (c *Client) digestHeader(ch *digestChallenge, uri string) string {
	c.mu.Lock()
	c.nc++
	nc := fmt.Sprintf("%08x", c.nc)
	c.mu.Unlock()
	cb := make([]byte, 8)
	_, _ = rand.Read(cb)
	cnonce := hex.EncodeToString(cb)
	ha1 := md5hex(c.Username + ":" + ch.realm + ":" + c.Password)
	ha2 := md5hex("POST:" + uri)
	var resp string
	if ch.qop == "auth" {
		resp = md5hex(ha1 + ":" + ch.nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2)
	} else {
		resp = md5hex(ha1 + ":" + ch.nonce + ":" + ha2)
	}
	q := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), `"`, `\"`) }
	h := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5`,
		q(c.Username), q(ch.realm), q(ch.nonce), q(uri), resp)
	if ch.qop == "auth" {
		h += fmt.Sprintf(`, qop=auth, nc=%s, cnonce="%s"`, nc, cnonce)
	}
	if ch.opaque != "" {
		h += fmt.Sprintf(`, opaque="%s"`, q(ch.opaque))
	}
	return h
}
