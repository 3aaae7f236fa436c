// Package events is the analytics events room (R-CAM-1): one model for what
// AI cameras report — plate reads, face matches, crowd density, traffic
// counts, intrusion and line crossing — ingested from ONVIF pull points,
// MQTT and an HMAC-signed webhook; searched by camera, kind, time and plate
// (exact, prefix, and tolerant of OCR confusions); traffic-count series per
// hour and day; and personal data (plates, faces) behind a separate
// permission, every search audited with its purpose, kept for a retention
// period of its own.
//
// An event is validated whole before it is stored: a malformed one is
// rejected with a reason and counted (vigil_events_rejected_total), never
// stored half.
package events

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Kinds of events.
const (
	KindPlate        = "plate_read"
	KindFace         = "face_match"
	KindCrowd        = "crowd_density"
	KindTrafficCount = "traffic_count"
	KindIntrusion    = "intrusion"
	KindLineCrossing = "line_crossing"
)

// Kinds lists every kind.
var Kinds = []string{KindPlate, KindFace, KindCrowd, KindTrafficCount, KindIntrusion, KindLineCrossing}

// Personal reports whether events of kind carry personal data (plates, and
// faces, which are sensitive personal data).
func Personal(kind string) bool { return kind == KindPlate || kind == KindFace }

// Vehicle classes, colours and directions accepted (others are rejected,
// so reports group cleanly).
var (
	VehicleClasses = []string{"car", "motorbike", "truck", "bus", "van", "bicycle", "pedestrian", "other"}
	Directions     = []string{"in", "out", "north", "south", "east", "west", "up", "down", ""}
)

// Event is one analytics event. Exactly the block of its kind is set.
type Event struct {
	ID         string    `json:"id,omitempty"`
	CameraID   string    `json:"camera_id"`
	Kind       string    `json:"kind" enum:"plate_read,face_match,crowd_density,traffic_count,intrusion,line_crossing"`
	At         time.Time `json:"at"`
	Source     string    `json:"source,omitempty" doc:"onvif, mqtt, webhook (set by the ingest path)"`
	ExternalID string    `json:"external_id,omitempty" doc:"the sender's id: an event sent twice is stored once"`
	Snapshot   string    `json:"snapshot,omitempty" doc:"reference to the snapshot image (URL or storage key)"`
	Confidence float64   `json:"confidence,omitempty" doc:"0..1"`

	Plate *Plate `json:"plate,omitempty"`
	Face  *Face  `json:"face,omitempty"`
	Crowd *Crowd `json:"crowd,omitempty"`
	Count *Count `json:"count,omitempty"`
	Zone  *Zone  `json:"zone,omitempty"`
}

// Plate is a plate read.
type Plate struct {
	Text         string `json:"text"`
	VehicleClass string `json:"vehicle_class,omitempty"`
	Colour       string `json:"colour,omitempty"`
	Direction    string `json:"direction,omitempty"`
	Lane         int    `json:"lane,omitempty"`
}

// Face is a watch-list match.
type Face struct {
	WatchlistEntry string  `json:"watchlist_entry"`
	Watchlist      string  `json:"watchlist,omitempty"`
	Similarity     float64 `json:"similarity"`
}

// Crowd is a crowd density reading.
type Crowd struct {
	Count     int  `json:"count"`
	Threshold int  `json:"threshold,omitempty"`
	Crossed   bool `json:"crossed"`
}

// Count is a traffic count for one lane and vehicle class over an interval
// ending at the event's time.
type Count struct {
	Lane            int    `json:"lane"`
	VehicleClass    string `json:"vehicle_class"`
	Count           int    `json:"count"`
	IntervalSeconds int    `json:"interval_seconds"`
}

// Zone is an intrusion or line crossing.
type Zone struct {
	Rule        string `json:"rule"`
	ObjectClass string `json:"object_class,omitempty"`
	Direction   string `json:"direction,omitempty"`
}

// Rejection is why an event was refused. Reason is a stable code for the
// metric; Field names the field.
type Rejection struct {
	Reason string `json:"reason"`
	Field  string `json:"field,omitempty"`
	Detail string `json:"detail,omitempty"`
}

func (r *Rejection) Error() string {
	s := "event rejected: " + r.Reason
	if r.Field != "" {
		s += " (" + r.Field + ")"
	}
	if r.Detail != "" {
		s += ": " + r.Detail
	}
	return s
}

func reject(reason, field, format string, args ...any) *Rejection {
	return &Rejection{Reason: reason, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// Limits.
const (
	MaxTextLen   = 128
	MaxPlateLen  = 16
	MaxSnapshot  = 1024
	MaxFuture    = 5 * time.Minute
	MaxPast      = 30 * 24 * time.Hour
	MaxLane      = 64
	MaxCount     = 1_000_000
	MaxInterval  = 24 * 3600
	MaxEventJSON = 16 << 10
)

func in(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func checkText(field, s string, max int, required bool) (string, *Rejection) {
	s = strings.TrimSpace(s)
	switch {
	case required && s == "":
		return s, reject("missing_field", field, "is required")
	case !utf8.ValidString(s):
		return s, reject("invalid_text", field, "is not UTF-8")
	case len(s) > max:
		return s, reject("too_long", field, "longer than %d bytes", max)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return s, reject("invalid_text", field, "contains control characters")
		}
	}
	return s, nil
}

func checkUnit(field string, v float64) *Rejection {
	if math.IsNaN(v) || v < 0 || v > 1 {
		return reject("out_of_range", field, "must be between 0 and 1")
	}
	return nil
}

// Validate checks e and normalises it in place (trimmed text, lower-case
// classes, UTC time, plate text in canonical form). now bounds the time.
func (e *Event) Validate(now time.Time) *Rejection {
	var r *Rejection
	if e.CameraID, r = checkText("camera_id", e.CameraID, 64, true); r != nil {
		return r
	}
	if !in(Kinds, e.Kind) {
		return reject("unknown_kind", "kind", "unknown kind %q", clip(e.Kind))
	}
	if e.At.IsZero() {
		return reject("missing_field", "at", "is required")
	}
	if e.At.After(now.Add(MaxFuture)) || e.At.Before(now.Add(-MaxPast)) {
		return reject("time_out_of_range", "at", "more than 5 minutes ahead or 30 days behind the site clock")
	}
	e.At = e.At.UTC().Truncate(time.Millisecond)
	if e.ExternalID, r = checkText("external_id", e.ExternalID, MaxTextLen, false); r != nil {
		return r
	}
	if e.Snapshot, r = checkText("snapshot", e.Snapshot, MaxSnapshot, false); r != nil {
		return r
	}
	if r = checkUnit("confidence", e.Confidence); r != nil {
		return r
	}
	blocks := 0
	for _, b := range []bool{e.Plate != nil, e.Face != nil, e.Crowd != nil, e.Count != nil, e.Zone != nil} {
		if b {
			blocks++
		}
	}
	if blocks > 1 {
		return reject("mixed_kinds", "kind", "exactly the block of the event's kind may be set")
	}
	switch e.Kind {
	case KindPlate:
		p := e.Plate
		if p == nil {
			return reject("missing_field", "plate", "a plate read needs its plate block")
		}
		if p.Text, r = checkText("plate.text", p.Text, MaxTextLen, true); r != nil {
			return r
		}
		canon := CanonicalPlate(p.Text)
		if len(canon) < 4 || len(canon) > MaxPlateLen {
			return reject("invalid_plate", "plate.text", "a plate has 4 to %d letters and digits", MaxPlateLen)
		}
		p.Text = canon
		p.VehicleClass = strings.ToLower(strings.TrimSpace(p.VehicleClass))
		if p.VehicleClass != "" && !in(VehicleClasses, p.VehicleClass) {
			return reject("unknown_value", "plate.vehicle_class", "unknown vehicle class %q", clip(p.VehicleClass))
		}
		if p.Colour, r = checkText("plate.colour", strings.ToLower(p.Colour), 32, false); r != nil {
			return r
		}
		p.Direction = strings.ToLower(strings.TrimSpace(p.Direction))
		if !in(Directions, p.Direction) {
			return reject("unknown_value", "plate.direction", "unknown direction %q", clip(p.Direction))
		}
		if p.Lane < 0 || p.Lane > MaxLane {
			return reject("out_of_range", "plate.lane", "must be 0..%d", MaxLane)
		}
	case KindFace:
		f := e.Face
		if f == nil {
			return reject("missing_field", "face", "a face match needs its face block")
		}
		if f.WatchlistEntry, r = checkText("face.watchlist_entry", f.WatchlistEntry, MaxTextLen, true); r != nil {
			return r
		}
		if f.Watchlist, r = checkText("face.watchlist", f.Watchlist, MaxTextLen, false); r != nil {
			return r
		}
		if r = checkUnit("face.similarity", f.Similarity); r != nil {
			return r
		}
	case KindCrowd:
		c := e.Crowd
		if c == nil {
			return reject("missing_field", "crowd", "a crowd reading needs its crowd block")
		}
		if c.Count < 0 || c.Count > MaxCount || c.Threshold < 0 || c.Threshold > MaxCount {
			return reject("out_of_range", "crowd.count", "must be 0..%d", MaxCount)
		}
		if c.Threshold > 0 {
			c.Crossed = c.Count >= c.Threshold
		}
	case KindTrafficCount:
		c := e.Count
		if c == nil {
			return reject("missing_field", "count", "a traffic count needs its count block")
		}
		c.VehicleClass = strings.ToLower(strings.TrimSpace(c.VehicleClass))
		if !in(VehicleClasses, c.VehicleClass) {
			return reject("unknown_value", "count.vehicle_class", "unknown vehicle class %q", clip(c.VehicleClass))
		}
		if c.Lane < 0 || c.Lane > MaxLane {
			return reject("out_of_range", "count.lane", "must be 0..%d", MaxLane)
		}
		if c.Count < 0 || c.Count > MaxCount {
			return reject("out_of_range", "count.count", "must be 0..%d", MaxCount)
		}
		if c.IntervalSeconds < 1 || c.IntervalSeconds > MaxInterval {
			return reject("out_of_range", "count.interval_seconds", "must be 1..%d", MaxInterval)
		}
	case KindIntrusion, KindLineCrossing:
		z := e.Zone
		if z == nil {
			return reject("missing_field", "zone", "an intrusion or line crossing needs its zone block")
		}
		if z.Rule, r = checkText("zone.rule", z.Rule, MaxTextLen, true); r != nil {
			return r
		}
		if z.ObjectClass, r = checkText("zone.object_class", strings.ToLower(z.ObjectClass), 32, false); r != nil {
			return r
		}
		z.Direction = strings.ToLower(strings.TrimSpace(z.Direction))
		if !in(Directions, z.Direction) {
			return reject("unknown_value", "zone.direction", "unknown direction %q", clip(z.Direction))
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.ToValidUTF8(s, "")
}

// ParseJSON decodes one event or a batch ({"events": [...]} or [...]) as
// sent by the webhook and MQTT; unknown fields are refused, so a sender's
// typo is an error rather than a silently missing value.
func ParseJSON(data []byte) ([]Event, *Rejection) {
	if len(data) > 1<<20 {
		return nil, reject("too_large", "", "body larger than 1 MiB")
	}
	t := strings.TrimLeft(string(data), " \t\r\n")
	if t == "" {
		return nil, reject("malformed", "", "empty body")
	}
	dec := json.NewDecoder(strings.NewReader(t))
	dec.DisallowUnknownFields()
	var evs []Event
	switch {
	case t[0] == '[':
		if err := dec.Decode(&evs); err != nil {
			return nil, reject("malformed", "", "%s", jsonErr(err))
		}
	case strings.HasPrefix(strings.TrimLeft(t[1:], " \t\r\n"), `"events"`):
		var b struct {
			Events []Event `json:"events"`
		}
		if err := dec.Decode(&b); err != nil {
			return nil, reject("malformed", "", "%s", jsonErr(err))
		}
		evs = b.Events
	default:
		var e Event
		if err := dec.Decode(&e); err != nil {
			return nil, reject("malformed", "", "%s", jsonErr(err))
		}
		evs = []Event{e}
	}
	if dec.More() {
		return nil, reject("malformed", "", "trailing data after the JSON value")
	}
	if len(evs) == 0 {
		return nil, reject("malformed", "", "no event")
	}
	if len(evs) > 1000 {
		return nil, reject("too_large", "", "at most 1000 events per message")
	}
	return evs, nil
}

func jsonErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.ToValidUTF8(s, "")
}
