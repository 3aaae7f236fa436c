package federation

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/playback"
)

// Messages of footage across tiers (see footage.go). Requests are JSON;
// the answers to reads are the raw bytes (header Vigil-Code on a refusal),
// everything else a JSON FootageReply.

const (
	footageSubject = "vigil.footage"
	// footageChunk is the most one read returns: under NATS's 1 MiB payload.
	footageChunk  = 512 << 10
	maxFootageReq = 8 << 10
)

// Footage operations.
const (
	OpTimeline    = "timeline"
	OpClipOpen    = "clip_open"
	OpClipRead    = "clip_read"
	OpClipClose   = "clip_close"
	OpExport      = "export"
	OpExportRead  = "export_read"
	OpExportFree  = "export_release"
	OpHLS         = "hls"
	OpSegmentStat = "segment_stat"
	OpSegmentRead = "segment_read"
	// segRef stands for a recorded segment's URL in a playlist a lower
	// site makes for tier 1, which puts its own URL in its place.
	segRef        = "vigil-segment:"
	codeHeader    = "Vigil-Code"
	messageHeader = "Vigil-Message"
)

// Viewer is the tier-1 user on whose behalf tier 1 asks: the lower site
// names them in its own audit entries.
type Viewer struct {
	Site     string `json:"site"` // tier 1's site id
	UserID   string `json:"user_id"`
	Username string `json:"username"`
	Org      string `json:"org"`
	Remote   string `json:"remote,omitempty"` // the user's address at tier 1
}

// ref is how the lower site writes the tier-1 user's id: "<site>/<id>",
// which no local user id has (see playback.PerformedFor).
func (v Viewer) ref() string { return v.Site + "/" + v.UserID }

// FootageRequest is tier 1 asking a lower site for recorded footage.
type FootageRequest struct {
	V      int    `json:"v"`
	Op     string `json:"op"`
	Camera string `json:"camera,omitempty"`
	From   int64  `json:"from,omitempty"` // unix ms
	To     int64  `json:"to,omitempty"`
	// ID is the clip (clip_read, clip_close) or export (export_read,
	// export_release).
	ID  string  `json:"id,omitempty"`
	Off int64   `json:"off,omitempty"`
	N   int     `json:"n,omitempty"`
	By  *Viewer `json:"by,omitempty"`
	// export: what the extraction states (R-SEC-2).
	Purpose   string                      `json:"purpose,omitempty"`
	Requester *playback.EvidenceRequester `json:"requester,omitempty"`
}

// ClipInfo describes an MP4 a lower site opened for tier 1.
type ClipInfo struct {
	ID    string                  `json:"id"`
	Size  int64                   `json:"size"`
	Start time.Time               `json:"start"`
	End   time.Time               `json:"end"`
	Gaps  []playback.RecordedSpan `json:"gaps,omitempty"`
	Codec string                  `json:"codec"`
}

// FootageReply is a lower site's JSON answer.
type FootageReply struct {
	OK     bool   `json:"ok"`
	SiteID string `json:"site_id"`
	// Code is a machine-readable refusal: no_footage, too_long,
	// rate_limited, invalid (with Field), not_found, not_shared, failed.
	Code     string                      `json:"code,omitempty"`
	Field    string                      `json:"field,omitempty"`
	Error    string                      `json:"error,omitempty"`
	Timeline *playback.RecordingTimeline `json:"timeline,omitempty"`
	// Playlist is an HLS VOD playlist whose segment URIs are segRef + id.
	Playlist string `json:"playlist,omitempty"`
	// Size is a segment file's length (segment_stat).
	Size   int64                    `json:"size,omitempty"`
	Clip   *ClipInfo                `json:"clip,omitempty"`
	Export *playback.EvidenceExport `json:"export,omitempty"`
}

func validClipID(id string) bool {
	if len(id) != 27 || !strings.HasPrefix(id, "cl-") {
		return false
	}
	for _, c := range id[3:] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// validSegmentID accepts a recorded segment's id (24 lowercase hex).
func validSegmentID(id string) bool {
	if len(id) != 24 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func checkViewer(v *Viewer) error {
	switch {
	case v == nil:
		return errors.New("federation: footage: the tier-1 user is required")
	case !idRe.MatchString(v.Site):
		return errors.New("federation: footage: bad site id")
	case v.UserID == "" || len(v.UserID) > 64 || strings.ContainsAny(v.UserID, "/\r\n"):
		return errors.New("federation: footage: bad user id")
	case v.Username == "" || len(v.Username) > 200 || len(v.Org) > 64 || len(v.Remote) > 100:
		return errors.New("federation: footage: bad user")
	}
	return nil
}

// DecodeFootageRequest parses and checks a footage request from tier 1.
func DecodeFootageRequest(data []byte) (FootageRequest, error) {
	var r FootageRequest
	if len(data) > maxFootageReq {
		return r, errors.New("federation: footage request too large")
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("federation: footage request: %w", err)
	}
	if r.V != envelopeVersion {
		return r, fmt.Errorf("federation: footage request version %d not supported", r.V)
	}
	rangeOK := func() error {
		if !relayCameraID(r.Camera) {
			return errors.New("federation: footage: bad camera id")
		}
		if r.From <= 0 || r.To <= r.From {
			return errors.New("federation: footage: bad range")
		}
		return nil
	}
	switch r.Op {
	case OpTimeline:
		if err := rangeOK(); err != nil {
			return r, err
		}
		if r.To-r.From > playback.MaxTimelineRange.Milliseconds() {
			return r, errors.New("federation: footage: range too long")
		}
	case OpClipOpen:
		if err := rangeOK(); err != nil {
			return r, err
		}
		if err := checkViewer(r.By); err != nil {
			return r, err
		}
	case OpHLS:
		if err := rangeOK(); err != nil {
			return r, err
		}
		if r.To-r.From > playback.MaxHLSRange.Milliseconds() {
			return r, errors.New("federation: footage: range too long")
		}
		if err := checkViewer(r.By); err != nil {
			return r, err
		}
	case OpSegmentStat, OpSegmentRead:
		if !relayCameraID(r.Camera) || !validSegmentID(r.ID) {
			return r, errors.New("federation: footage: bad segment")
		}
		if r.Op == OpSegmentRead && (r.Off < 0 || r.N <= 0 || r.N > footageChunk) {
			return r, errors.New("federation: footage: bad read")
		}
	case OpExport:
		if err := rangeOK(); err != nil {
			return r, err
		}
		if err := checkViewer(r.By); err != nil {
			return r, err
		}
		if r.Requester == nil || strings.TrimSpace(r.Purpose) == "" || len(r.Purpose) > 500 {
			return r, errors.New("federation: footage: an export states its purpose and requester")
		}
	case OpClipRead, OpExportRead:
		okID := validClipID(r.ID)
		if r.Op == OpExportRead {
			okID = playback.ValidExportID(r.ID)
		}
		if !okID || r.Off < 0 || r.N <= 0 || r.N > footageChunk {
			return r, errors.New("federation: footage: bad read")
		}
		if r.Op == OpExportRead {
			if err := checkViewer(r.By); err != nil {
				return r, err
			}
		}
	case OpClipClose:
		if !validClipID(r.ID) {
			return r, errors.New("federation: footage: bad clip id")
		}
	case OpExportFree:
		if !playback.ValidExportID(r.ID) {
			return r, errors.New("federation: footage: bad export id")
		}
		if err := checkViewer(r.By); err != nil {
			return r, err
		}
	default:
		return r, fmt.Errorf("federation: unknown footage request %q", r.Op)
	}
	return r, nil
}
