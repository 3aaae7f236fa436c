package events

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigil-vms/vigil/internal/onvif"
)

// FuzzParseEvents: webhook/MQTT payloads. Nothing panics; an event that
// validates is complete and its text bounded.
func FuzzParseEvents(f *testing.F) {
	for _, s := range []string{
		`{"camera_id":"c","kind":"plate_read","at":"2025-01-01T00:00:00Z","plate":{"text":"51A-123.45","vehicle_class":"car","lane":2}}`,
		`[{"kind":"traffic_count","at":"2025-01-01T00:00:00Z","count":{"lane":1,"vehicle_class":"bus","count":3,"interval_seconds":60}}]`,
		`{"events":[{"kind":"face_match","at":"2025-01-01T00:00:00Z","face":{"watchlist_entry":"A","similarity":0.9}}]}`,
		`{"kind":"intrusion","zone":{"rule":"x"},"unknown":1}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2025, 1, 1, 0, 1, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, r := ParseJSON(data)
		if r != nil {
			if r.Reason == "" {
				t.Fatal("rejection without a reason")
			}
			return
		}
		for i := range evs {
			if evs[i].CameraID == "" {
				evs[i].CameraID = "c"
			}
			if rej := evs[i].Validate(now); rej != nil {
				if rej.Reason == "" || !utf8.ValidString(rej.Detail) {
					t.Fatalf("bad rejection %+v", rej)
				}
				continue
			}
			e := evs[i]
			blocks := map[string]bool{KindPlate: e.Plate != nil, KindFace: e.Face != nil, KindCrowd: e.Crowd != nil,
				KindTrafficCount: e.Count != nil, KindIntrusion: e.Zone != nil, KindLineCrossing: e.Zone != nil}
			if !blocks[e.Kind] {
				t.Fatalf("valid event without its block: %+v", e)
			}
			if e.Plate != nil && (len(e.Plate.Text) < 4 || len(e.Plate.Text) > MaxPlateLen || CanonicalPlate(e.Plate.Text) != e.Plate.Text) {
				t.Fatalf("plate %q", e.Plate.Text)
			}
			_ = rowOf(&e, 0)
		}
	})
}

// FuzzPlate: the normaliser's output is A–Z0–9, idempotent, and the fuzzy
// key of a plate equals that of its canonical form.
func FuzzPlate(f *testing.F) {
	for _, s := range []string{"51A-123.45", "29 b1 234.56", "oO0 8B iI1", "", "ZZZ", "đ51A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := CanonicalPlate(s)
		if strings.IndexFunc(c, func(r rune) bool { return !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z') }) >= 0 {
			t.Fatalf("canonical %q has other characters", c)
		}
		if CanonicalPlate(c) != c || FuzzyPlate(c) != FuzzyPlate(s) || FuzzyPlate(FuzzyPlate(s)) != FuzzyPlate(s) {
			t.Fatalf("not idempotent: %q", s)
		}
		if up := prefixUpper(c); up != "" && !(up > c) {
			t.Fatalf("prefixUpper(%q) = %q", c, up)
		}
	})
}

// FuzzFromONVIF: any notification maps to an event or is ignored; never a panic.
func FuzzFromONVIF(f *testing.F) {
	f.Add("tns1:RuleEngine/LicensePlateRecognition/Plate", "PlateNumber", "51A12345", "Likelihood", "87")
	f.Add("tns1:RuleEngine/CountAggregation/Counter", "Count", "-5", "Interval", "1e99")
	f.Add("tns1:RuleEngine/FieldDetector/ObjectsInside", "IsInside", "false", "Rule", "")
	f.Fuzz(func(t *testing.T, topic, k1, v1, k2, v2 string) {
		n := onvif.Notification{Topic: topic, Data: map[string]string{k1: v1}, Source: map[string]string{k2: v2}}
		now := time.Now()
		if e, ok := FromONVIF("c", n, now); ok {
			_ = e.Validate(now)
		}
	})
}
