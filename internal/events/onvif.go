package events

import (
	"strconv"
	"strings"
	"time"

	"github.com/vigil-vms/vigil/internal/onvif"
)

// FromONVIF maps an ONVIF notification to an event. ok is false for topics
// that are not analytics events (motion, tampering, I/O…), which are
// ignored rather than rejected; a recognised topic with bad data gives a
// Rejection from Validate later (the caller validates).
//
// Topics (ONVIF core and Profile M, with the names Hikvision and Dahua use):
//
//	…/LineDetector/Crossed                  → line_crossing
//	…/FieldDetector/ObjectsInside (true)    → intrusion
//	…LicensePlate… / …Plate…                → plate_read
//	…FaceRecognition… / …Face…Match…        → face_match
//	…CrowdDensity… / …Crowd…                → crowd_density
//	…ObjectCounting… / …CountAggregation…   → traffic_count
func FromONVIF(cameraID string, n onvif.Notification, now time.Time) (Event, bool) {
	t := strings.ToLower(n.Topic)
	get := func(names ...string) string {
		for _, k := range names {
			for _, m := range []map[string]string{n.Data, n.Source} {
				for mk, v := range m {
					if strings.EqualFold(mk, k) {
						return v
					}
				}
			}
		}
		return ""
	}
	num := func(names ...string) float64 {
		f, _ := strconv.ParseFloat(strings.TrimSpace(get(names...)), 64)
		return f
	}
	at := n.UtcTime
	if at.IsZero() {
		at = now
	}
	e := Event{CameraID: cameraID, At: at, Source: "onvif", Snapshot: get("Snapshot", "SnapshotUri", "Image")}
	conf := num("Likelihood", "Confidence")
	if conf > 1 && conf <= 100 {
		conf /= 100
	}
	e.Confidence = conf
	if id := get("EventId", "ObjectId", "Id"); id != "" {
		e.ExternalID = "onvif:" + strings.ReplaceAll(n.Topic, " ", "") + ":" + id + ":" + strconv.FormatInt(at.UnixMilli(), 10)
	}
	switch {
	case strings.Contains(t, "linedetector/crossed") || strings.Contains(t, "linecross"):
		e.Kind = KindLineCrossing
		e.Zone = &Zone{Rule: firstNonEmpty(get("Rule", "RuleName"), "line"), ObjectClass: get("ObjectClass", "Class"), Direction: get("Direction")}
	case strings.Contains(t, "fielddetector") || strings.Contains(t, "intrusion"):
		if v := strings.ToLower(get("IsInside", "State")); v != "" && v != "true" && v != "1" {
			return e, false // leaving the field is not an intrusion
		}
		e.Kind = KindIntrusion
		e.Zone = &Zone{Rule: firstNonEmpty(get("Rule", "RuleName"), "field"), ObjectClass: get("ObjectClass", "Class"), Direction: get("Direction")}
	case strings.Contains(t, "plate"):
		e.Kind = KindPlate
		lane, _ := strconv.Atoi(get("Lane", "LaneNo"))
		e.Plate = &Plate{Text: get("PlateNumber", "LicensePlate", "Plate", "PlateText"), VehicleClass: get("VehicleType", "VehicleClass", "Class"),
			Colour: get("VehicleColor", "VehicleColour", "Color", "Colour"), Direction: get("Direction"), Lane: lane}
	case strings.Contains(t, "face"):
		if !strings.Contains(t, "recogn") && !strings.Contains(t, "match") {
			return e, false // face detection without identification is not a match
		}
		e.Kind = KindFace
		sim := num("Similarity", "Likelihood", "Score")
		if sim > 1 && sim <= 100 {
			sim /= 100
		}
		e.Face = &Face{WatchlistEntry: get("WatchlistEntry", "Name", "PersonName", "PersonId"), Watchlist: get("Watchlist", "Group"), Similarity: sim}
		e.Confidence = 0
	case strings.Contains(t, "crowd"):
		e.Kind = KindCrowd
		e.Crowd = &Crowd{Count: int(num("Count", "Number", "People")), Threshold: int(num("Threshold"))}
	case strings.Contains(t, "counting") || strings.Contains(t, "countaggregation"):
		e.Kind = KindTrafficCount
		lane, _ := strconv.Atoi(get("Lane", "LaneNo"))
		e.Count = &Count{Lane: lane, VehicleClass: firstNonEmpty(get("VehicleType", "VehicleClass", "Class", "ObjectClass"), "other"),
			Count: int(num("Count", "Value")), IntervalSeconds: int(num("Interval", "IntervalSeconds"))}
		if e.Count.IntervalSeconds == 0 {
			e.Count.IntervalSeconds = 60
		}
	default:
		return e, false
	}
	return e, true
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// IngestONVIF converts a device's notifications and stores the analytics
// ones: each notification is one message (a malformed one is rejected and
// counted, the others are kept).
func (s *Service) IngestONVIF(ns []onvif.Notification, cameraID string, b *Batcher) {
	now := s.o.Now()
	for _, n := range ns {
		e, ok := FromONVIF(cameraID, n, now)
		if !ok {
			continue
		}
		b.Add([]Event{e})
	}
}
