package federation

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/health"
	"github.com/vigil-vms/vigil/internal/registry"
)

// The upward stream of a lower site (UP, subjects up.>) carries envelopes.
// Seq is the lower site's outbox number: strictly increasing by one, so tier
// 1 applies each (site, seq) once and in order, whatever the link did.
const (
	upStream  = "VIGIL_UP"
	upSubject = "vigil.up"
	// tier 1's stream of one site, in that site's account, sourcing UP
	// across the leaf through $JS.<site>.API.
	inStream = "VIGIL_IN"
	// request/reply subject a lower site answers on (tier 1 asks).
	askSubject = "vigil.ask"

	// Message kinds.
	KindCamera       = "camera"
	KindCameraDelete = "camera.delete"
	KindStatus       = "status"
	KindAudit        = "audit"
	KindAuditHead    = "audit.head"
	// KindIncident: an incident about a shared camera, opened by the lower
	// site that saw the fault, in its whole current state.
	KindIncident = "incident"

	envelopeVersion = 1
	maxEnvelope     = 256 << 10
)

// Envelope is one upward message.
type Envelope struct {
	V    int    `json:"v"`
	Site string `json:"site"`
	Seq  int64  `json:"seq"`
	Kind string `json:"kind"`
	// At is when the lower site produced it (unix ms).
	At       int64                   `json:"at"`
	Camera   *CameraRecord           `json:"camera,omitempty"`
	Status   *StatusRecord           `json:"status,omitempty"`
	Audit    *audit.Entry            `json:"audit,omitempty"`
	Incident *health.ShippedIncident `json:"incident,omitempty"`
	Head     *HeadRecord             `json:"head,omitempty"`
}

// HeadRecord is a lower site's witnessed audit head with the public key it
// is signed with (tier 1 pins the key at the first head).
type HeadRecord struct {
	audit.SignedHead
	PublicKey string `json:"public_key"` // base64 Ed25519
}

// CameraRecord is what a lower site shares of a camera: never its stream
// URLs or credentials; never a classified camera.
type CameraRecord struct {
	registry.CameraInput
	ChangedAt int64 `json:"changed_at"`
	Version   int64 `json:"version"`
	// HasSub: the camera has a sub stream, so tier 1 can ask for it
	// (video on demand across tiers) instead of the main stream.
	HasSub bool `json:"has_sub,omitempty"`
}

// StatusRecord is a camera's state as the lower site sees it.
type StatusRecord struct {
	CameraID string `json:"camera_id"`
	Online   bool   `json:"online"`
}

var idRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// DecodeEnvelope parses and checks one upward message. The site field must
// name the sending site: tier 1 passes the site whose account the message
// arrived in, so a site cannot speak for another.
func DecodeEnvelope(data []byte, site string) (Envelope, error) {
	var e Envelope
	if len(data) > maxEnvelope {
		return e, errors.New("federation: message too large")
	}
	// Numbers in audit details stay as their literal (json.Number), so
	// the entry's hash can be recomputed from what arrived.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("federation: message: %w", err)
	}
	if dec.More() {
		return e, errors.New("federation: message: trailing data")
	}
	if e.V != envelopeVersion {
		return e, fmt.Errorf("federation: message version %d not supported", e.V)
	}
	if e.Site != site {
		return e, fmt.Errorf("federation: message claims site %q on the link of %q", e.Site, site)
	}
	if e.Seq < 1 {
		return e, errors.New("federation: message without sequence")
	}
	switch e.Kind {
	case KindCameraDelete:
		if e.Camera == nil || !idRe.MatchString(e.Camera.ID) {
			return e, errors.New("federation: camera delete without a valid camera id")
		}
	case KindCamera:
		if e.Camera == nil || !idRe.MatchString(e.Camera.ID) || !idRe.MatchString(e.Camera.SystemID) {
			return e, errors.New("federation: camera message without a valid camera and system id")
		}
		if e.Camera.Classified {
			return e, errors.New("federation: a classified camera is never federated")
		}
		if e.Camera.MainURL != "" || e.Camera.SubURL != "" || e.Camera.Username != "" || e.Camera.Password != "" {
			return e, errors.New("federation: camera message carries stream endpoints")
		}
	case KindStatus:
		if e.Status == nil || !idRe.MatchString(e.Status.CameraID) {
			return e, errors.New("federation: status message without a valid camera id")
		}
	case KindAudit:
		if e.Audit == nil || e.Audit.Seq < 1 {
			return e, errors.New("federation: audit message without an entry")
		}
	case KindAuditHead:
		if e.Head == nil {
			return e, errors.New("federation: audit head message without a head")
		}
		if err := e.Head.Valid(); err != nil {
			return e, fmt.Errorf("federation: audit head: %w", err)
		}
		if e.Head.Site != site {
			return e, fmt.Errorf("federation: audit head of %q on the link of %q", e.Head.Site, site)
		}
		if k, err := base64.StdEncoding.DecodeString(e.Head.PublicKey); err != nil || len(k) != ed25519.PublicKeySize {
			return e, errors.New("federation: audit head without a valid public key")
		}
	case KindIncident:
		if e.Incident == nil || !idRe.MatchString(e.Incident.CameraID) {
			return e, errors.New("federation: incident message without a valid camera id")
		}
		if err := e.Incident.Check(); err != nil {
			return e, fmt.Errorf("federation: %w", err)
		}
	default:
		return e, fmt.Errorf("federation: unknown message kind %q", e.Kind)
	}
	return e, nil
}

func (e Envelope) encode() []byte {
	b, _ := json.Marshal(e)
	return b
}

func nowMS() int64 { return time.Now().UnixMilli() }

func parseDetails(s string) (map[string]any, error) {
	if s == "" || s == "{}" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// AskRequest is tier 1 asking a lower site something over the link
// (request/reply on vigil.ask.<site>; tier 1 never dials in).
type AskRequest struct {
	V  int    `json:"v"`
	Op string `json:"op"` // "status", "relay", "relay_stop"
	// relay: push Camera's stream Variant to URL (tier 1's RTSP push-in)
	// with User/Password, a short-lived secret tier 1 made for this camera
	// and variant (never logged). relay_stop: stop pushing Camera's
	// Variant.
	Camera string `json:"camera,omitempty"`
	// Variant is "main" or "sub"; empty (the request of a tier 1 that
	// knows no variants) is main.
	Variant  string `json:"variant,omitempty"`
	URL      string `json:"url,omitempty"`
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
}

// AskReply is the lower site's answer.
type AskReply struct {
	OK     bool       `json:"ok"`
	Error  string     `json:"error,omitempty"`
	SiteID string     `json:"site_id"`
	Stats  *ShipStats `json:"stats,omitempty"`
	// Cameras is how many cameras the site shares upward.
	Cameras int `json:"cameras"`
}

// DecodeAskRequest parses and checks a request from tier 1.
func DecodeAskRequest(data []byte) (AskRequest, error) {
	var r AskRequest
	if len(data) > 4096 {
		return r, errors.New("federation: request too large")
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("federation: request: %w", err)
	}
	if r.V != envelopeVersion {
		return r, fmt.Errorf("federation: request version %d not supported", r.V)
	}
	if _, ok := relayVariant(r.Variant); !ok {
		return r, fmt.Errorf("federation: request: bad variant %q", r.Variant)
	}
	switch r.Op {
	case "status":
	case "relay":
		if !relayCameraID(r.Camera) || r.Password == "" || r.User == "" {
			return r, errors.New("federation: relay: camera, user and password are required")
		}
		if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" || u.User != nil {
			return r, errors.New("federation: relay: bad push URL")
		}
	case "relay_stop":
		if !relayCameraID(r.Camera) {
			return r, errors.New("federation: relay_stop: bad camera id")
		}
	default:
		return r, fmt.Errorf("federation: unknown request %q", r.Op)
	}
	return r, nil
}

// relayCameraID accepts a camera id that fits in a push path.
func relayCameraID(id string) bool {
	return id != "" && len(id) <= 128 && !strings.ContainsAny(id, "/?#% \t\r\n")
}
