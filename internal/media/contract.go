// Package media is the stream hub: one upstream session per camera, shared by
// every reader (RTSP re-stream, WebRTC, LL-HLS, the recorder, federation relays).
//
// This file is the contract between the hub and the rest of the binary. The app
// (cmd/vigil) supplies an Authorizer backed by the access room and the audit log,
// and a SourceResolver backed by the registry and the secrets room; media never
// reads the database itself.
package media

import (
	"context"
	"errors"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
)

// Protocol names the way a reader or publisher speaks to the hub; it is written
// into the audit log, so the values are stable.
type Protocol string

const (
	ProtoRTSP   Protocol = "rtsp"
	ProtoWebRTC Protocol = "webrtc"
	ProtoHLS    Protocol = "hls"
	ProtoRecord Protocol = "record" // the recorder
	ProtoRelay  Protocol = "relay"  // federation relay
)

// Variant selects a camera's main or sub stream.
type Variant string

const (
	Main Variant = "main"
	Sub  Variant = "sub"
)

// ReadRequest is what a reader presents before it receives a single packet.
type ReadRequest struct {
	CameraID string
	Variant  Variant
	Protocol Protocol
	// Token is an API token or a short-lived signed stream token; the RTSP
	// server takes it from the password of Basic/Digest auth or the `token`
	// query parameter, HTTP readers from `Authorization: Bearer` or `?token=`.
	Token  string
	Remote string // client address, for the audit log
}

// ReadGrant is the Authorizer's yes. The reader must stop when Revoked is
// closed (user disabled, grant revoked, token expired) and call End exactly
// once when it stops for any reason, so the audit log records the session end.
type ReadGrant struct {
	Subject string          // who, for logs (a user name, never a secret)
	Revoked <-chan struct{} // closed when the right to watch ends
	End     func(reason string)
}

// PublishRequest is what an RTSP push-in client presents (NVRs, federation).
type PublishRequest struct {
	CameraID string
	Variant  Variant // Main for /push/<camera>
	User     string
	Password string
	Remote   string
}

// ErrDenied is returned (wrapped) by an Authorizer that refuses; the hub then
// answers 401/403 and sends no packet.
var ErrDenied = errors.New("media: access denied")

// ErrNotAudited is returned (wrapped) by an Authorizer that would let a
// reader in but cannot write the audit entry of its start: the reader is
// refused, since a live view without its entry must not happen (fail
// closed), and told why (HTTP 503 audit_unavailable, RTSP 503). When the
// cause is a full disk the error also wraps ErrDiskFull (HTTP 507
// disk_full).
var (
	ErrNotAudited = errors.New("media: the audit entry could not be written")
	ErrDiskFull   = errors.New("media: disk full")
)

// Authorizer decides every reader start and every publish.
type Authorizer interface {
	AuthorizeRead(ctx context.Context, req ReadRequest) (ReadGrant, error)
	AuthorizePublish(ctx context.Context, req PublishRequest) (ReadGrant, error)
}

// Transport is how the hub pulls from a camera.
type Transport string

const (
	TransportTCP   Transport = "tcp"
	TransportUDP   Transport = "udp"
	TransportRTSPS Transport = "rtsps"
)

// Source describes how to reach one camera. URLs carry credentials in clear,
// so a Source is never logged: use RedactURL for anything printed.
type Source struct {
	CameraID  string
	MainURL   string
	SubURL    string // may be empty: readers of Sub get Main
	Transport Transport
	// OnDemand: connect only while a reader or the recorder needs it. With
	// Push, the hub tells Config.OnDemand when to ask for the push.
	OnDemand bool
	Push     bool // the camera pushes to us (RTSP push-in); no pull
	// PushSub: with Push, the camera also pushes a sub stream (to
	// /push/<camera>/sub); without it readers of Sub get Main.
	PushSub bool
}

// SourceResolver tells the hub which cameras exist; the hub calls it at start
// and whenever Reload is called (after a registry change).
type SourceResolver interface {
	Sources(ctx context.Context) ([]Source, error)
}

// State is a camera stream's health, exposed in the API and metrics.
type State struct {
	CameraID  string    `json:"camera_id"`
	Variant   Variant   `json:"variant"`
	Status    string    `json:"status"` // idle, connecting, online, offline
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since"`
	Bitrate   float64   `json:"bitrate_bps"`
	FPS       float64   `json:"fps"`
	Codecs    []string  `json:"codecs,omitempty"`
	Width     int       `json:"width,omitempty"`
	Height    int       `json:"height,omitempty"`
	Readers   int       `json:"readers"`
}

// Unit is one access unit as received from the camera, after RTP
// depacketisation (H.264/H.265: a list of NAL units; AAC: access units; G.711:
// samples). Payloads are shared between readers and must not be modified.
type Unit struct {
	Media        *description.Media
	Format       format.Format
	PTS          int64     // in the format's clock rate, continuous across reconnects
	NTP          time.Time // wall-clock time the unit was received, UTC
	RandomAccess bool      // a keyframe (IDR/IRAP) for video; always true for audio
	AU           [][]byte  // H.264/H.265 NAL units, or AAC access units
	Payload      []byte    // G.711 and other single-payload formats
}

// UnitReader receives decoded units from a stream. OnUnit is called from the
// hub's goroutine for that reader and must not block for long: a reader whose
// queue is full loses units and is told so by OnOverflow.
type UnitReader interface {
	OnUnit(u *Unit)
}

// ReaderOpener is the hub's face to the HTTP readers (WebRTC, LL-HLS) and the
// recorder. OpenReader authorizes req through the Authorizer (unless the
// protocol is ProtoRecord or ProtoRelay opened by the node itself through
// OpenInternalReader), starts the camera if it is on demand, waits for its
// description, replays the GOP cache from the latest keyframe so the reader
// starts at once, then feeds live units. The handle's Done is closed when the
// grant is revoked, the stream goes away or Close is called.
type ReaderOpener interface {
	OpenReader(ctx context.Context, req ReadRequest, r UnitReader) (ReaderHandle, error)
	OpenInternalReader(ctx context.Context, cameraID string, v Variant, p Protocol, r UnitReader) (ReaderHandle, error)
}

// ReaderHandle is one attached reader.
type ReaderHandle interface {
	Session() *description.Session
	Done() <-chan struct{}
	Close()
}
