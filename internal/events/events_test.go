package events

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/access"
	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

func TestCanonicalAndFuzzyPlate(t *testing.T) {
	for in, want := range map[string]string{"51A-123.45": "51A12345", "29 b1 234.56": "29B123456", "30E-9Z9.99": "30E9Z999", "": ""} {
		if got := CanonicalPlate(in); got != want {
			t.Errorf("CanonicalPlate(%q) = %q, want %q", in, got, want)
		}
	}
	if FuzzyPlate("51A-OB8.I5") != FuzzyPlate("5IA-088.15") || FuzzyPlate("29B-123.45") == FuzzyPlate("29B-123.46") {
		t.Fatal("fuzzy keys")
	}
	for p, want := range map[string]string{"51A": "51B", "51Z": "52", "59": "5A", "ZZ": "", "A9": "AA"} {
		if got := prefixUpper(p); got != want {
			t.Errorf("prefixUpper(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestValidateRejectsWithReason(t *testing.T) {
	now := time.Now()
	ok := Event{CameraID: "cam-0", Kind: KindPlate, At: now, Plate: &Plate{Text: "51A-123.45", VehicleClass: "Car", Lane: 2}}
	if r := ok.Validate(now); r != nil || ok.Plate.Text != "51A12345" || ok.Plate.VehicleClass != "car" {
		t.Fatalf("valid event: %v %+v", r, ok.Plate)
	}
	for name, tc := range map[string]struct {
		e      Event
		reason string
	}{
		"kind":       {Event{CameraID: "c", Kind: "ufo", At: now}, "unknown_kind"},
		"no time":    {Event{CameraID: "c", Kind: KindCrowd, Crowd: &Crowd{}}, "missing_field"},
		"future":     {Event{CameraID: "c", Kind: KindCrowd, At: now.Add(time.Hour), Crowd: &Crowd{}}, "time_out_of_range"},
		"no block":   {Event{CameraID: "c", Kind: KindPlate, At: now}, "missing_field"},
		"two blocks": {Event{CameraID: "c", Kind: KindPlate, At: now, Plate: &Plate{Text: "51A12345"}, Face: &Face{}}, "mixed_kinds"},
		"plate":      {Event{CameraID: "c", Kind: KindPlate, At: now, Plate: &Plate{Text: "--"}}, "invalid_plate"},
		"confidence": {Event{CameraID: "c", Kind: KindCrowd, At: now, Confidence: 2, Crowd: &Crowd{}}, "out_of_range"},
		"class":      {Event{CameraID: "c", Kind: KindTrafficCount, At: now, Count: &Count{VehicleClass: "tank", IntervalSeconds: 60}}, "unknown_value"},
		"interval":   {Event{CameraID: "c", Kind: KindTrafficCount, At: now, Count: &Count{VehicleClass: "car"}}, "out_of_range"},
		"control":    {Event{CameraID: "c", Kind: KindIntrusion, At: now, Zone: &Zone{Rule: "a\x00b"}}, "invalid_text"},
	} {
		if r := tc.e.Validate(now); r == nil || r.Reason != tc.reason {
			t.Errorf("%s: got %v, want reason %s", name, r, tc.reason)
		}
	}
}

func TestIngestWholeOrNothingAndCounted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := world(t, db, 2, nil)
		now := time.Now()
		good := Event{CameraID: "cam-0", Kind: KindCrowd, At: now, Crowd: &Crowd{Count: 120, Threshold: 100}}
		bad := Event{CameraID: "cam-1", Kind: KindPlate, At: now, Plate: &Plate{Text: "x"}}
		_, err := s.Ingest(ctx, "webhook", []Event{good, bad})
		var re *RejectedError
		if !errors.As(err, &re) || len(re.Rejections) != 1 || re.Rejections[0].Index != 1 || re.Rejections[0].Reason != "invalid_plate" {
			t.Fatalf("err %v", err)
		}
		_, err = s.Ingest(ctx, "webhook", []Event{{CameraID: "cam-nope", Kind: KindCrowd, At: now, Crowd: &Crowd{}}})
		if !errors.As(err, &re) || re.Rejections[0].Reason != "unknown_camera" {
			t.Fatalf("unknown camera: %v", err)
		}
		if r, _ := s.Search(ctx, all()); len(r.Events) != 0 {
			t.Fatalf("half a message stored: %+v", r.Events)
		}
		if s.Rejected("webhook", "invalid_plate") != 1 || s.Rejected("webhook", "unknown_camera") != 1 {
			t.Fatal("rejections not counted")
		}
		good.ExternalID = "evt-1"
		if n, err := s.Ingest(ctx, "webhook", []Event{good}); err != nil || n != 1 {
			t.Fatalf("ingest %d %v", n, err)
		}
		good.ID = ""
		if n, err := s.Ingest(ctx, "webhook", []Event{good}); err != nil || n != 0 {
			t.Fatalf("repeat of an external id stored again: %d %v", n, err)
		}
		r, err := s.Search(ctx, all())
		if err != nil || len(r.Events) != 1 || !r.Events[0].Crowd.Crossed || r.Events[0].Video.PlaybackURL == "" {
			t.Fatalf("search %+v %v", r, err)
		}
	})
}

// confuse applies OCR confusions to a plate.
func confuse(rng *rand.Rand, p string) string {
	swap := map[byte]string{'0': "OD", '8': "B", '1': "I", '5': "S", '2': "Z", 'B': "8", 'S': "5"}
	b := []byte(p)
	for i := range b {
		if alt, ok := swap[b[i]]; ok && rng.IntN(2) == 0 {
			b[i] = alt[rng.IntN(len(alt))]
		}
	}
	return string(b)
}

func TestPlateSearchWithOCRConfusions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := world(t, db, 3, nil)
		rng := rand.New(rand.NewPCG(1, 2))
		now := time.Now().Add(-time.Hour)
		series := "ABCDEFGHKLMNPSTUVXYZ"
		var plates []string
		var evs []Event
		reads := map[string]int{} // true plate → reads stored
		for i := 0; i < 300; i++ {
			p := fmt.Sprintf("%02d%c%05d", 11+rng.IntN(88), series[rng.IntN(len(series))], rng.IntN(100000))
			plates = append(plates, p)
			for j := 0; j < 1+rng.IntN(3); j++ {
				read := confuse(rng, p)
				evs = append(evs, Event{CameraID: fmt.Sprintf("cam-%d", rng.IntN(3)), Kind: KindPlate, At: now.Add(time.Duration(len(evs)) * time.Second),
					Plate: &Plate{Text: read[:3] + "-" + read[3:6] + "." + read[6:], VehicleClass: "car"}})
				reads[p]++
			}
		}
		if _, err := s.Ingest(ctx, "mqtt", evs); err != nil {
			t.Fatal(err)
		}
		for _, p := range plates[:40] {
			q := all()
			q.Plate, q.PlateMode = p, PlateFuzzy
			r, err := s.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			// every read of p is found; anything else found is a plate
			// equal to p up to confusions (a true collision)
			got := 0
			for _, e := range r.Events {
				if FuzzyPlate(e.Plate.Text) != FuzzyPlate(p) {
					t.Fatalf("fuzzy %s found %s", p, e.Plate.Text)
				}
				got++
			}
			if got < reads[p] {
				t.Fatalf("fuzzy search %s: %d of %d reads", p, got, reads[p])
			}
			q.PlateMode = PlateExact
			r, _ = s.Search(ctx, q)
			for _, e := range r.Events {
				if e.Plate.Text != p {
					t.Fatalf("exact %s found %s", p, e.Plate.Text)
				}
			}
			q.Plate, q.PlateMode = strings.ToLower(p[:4]), PlateFuzzyPrefix
			r, _ = s.Search(ctx, q)
			if len(r.Events) < reads[p] {
				t.Fatalf("fuzzy prefix %s: %d < %d", q.Plate, len(r.Events), reads[p])
			}
			for _, e := range r.Events {
				if !strings.HasPrefix(FuzzyPlate(e.Plate.Text), FuzzyPlate(p[:4])) {
					t.Fatalf("prefix %s found %s", q.Plate, e.Plate.Text)
				}
			}
		}
		// exact prefix: compare with a scan
		q := all()
		q.Plate, q.PlateMode = plates[0][:3], PlatePrefix
		r, _ := s.Search(ctx, q)
		want := 0
		for _, e := range evs {
			if strings.HasPrefix(e.Plate.Text, plates[0][:3]) {
				want++
			}
		}
		if len(r.Events) != want {
			t.Fatalf("prefix %s: %d, scan says %d", q.Plate, len(r.Events), want)
		}
		// no plates permission: plate search refused, plates redacted
		q = all()
		q.Personal = 0
		q.Plate = plates[0]
		if _, err := s.Search(ctx, q); !errors.Is(err, ErrPersonalForbidden) {
			t.Fatalf("plate search without permission: %v", err)
		}
		q.Plate, q.Limit = "", 5
		r, _ = s.Search(ctx, q)
		if len(r.Events) != 5 || r.Next == "" || !r.Events[0].Redacted || r.Events[0].Plate.Text != "" {
			t.Fatalf("redaction %+v", r.Events[0])
		}
		q.Before = r.Next
		r2, _ := s.Search(ctx, q)
		if len(r2.Events) != 5 || !r2.Events[0].At.Before(r.Events[4].At) {
			t.Fatal("cursor page")
		}
	})
}

func TestSeriesFacesPurgeAndPermission(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
		s, al := world(t, db, 1, func() time.Time { return clock })
		var evs []Event
		// 2025-03-09 16:30 UTC = 23:30 in Hà Nội; 17:30 UTC = 00:30 next day
		for i, at := range []time.Time{time.Date(2025, 3, 9, 16, 30, 0, 0, time.UTC), time.Date(2025, 3, 9, 16, 45, 0, 0, time.UTC), time.Date(2025, 3, 9, 17, 30, 0, 0, time.UTC)} {
			evs = append(evs, Event{CameraID: "cam-0", Kind: KindTrafficCount, At: at, Count: &Count{Lane: 1, VehicleClass: "motorbike", Count: 10 * (i + 1), IntervalSeconds: 900}})
		}
		evs = append(evs, Event{CameraID: "cam-0", Kind: KindFace, At: clock.Add(-time.Hour), Face: &Face{WatchlistEntry: "Đối tượng A", Similarity: 0.93}},
			Event{CameraID: "cam-0", Kind: KindPlate, At: clock.Add(-29 * 24 * time.Hour), Plate: &Plate{Text: "27A-000.01"}},
			Event{CameraID: "cam-0", Kind: KindIntrusion, At: clock.Add(-29 * 24 * time.Hour), Zone: &Zone{Rule: "Khu cấm"}})
		if _, err := s.Ingest(ctx, "onvif", evs); err != nil {
			t.Fatal(err)
		}
		q := all()
		q.From, q.To = time.Date(2025, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 11, 0, 0, 0, 0, time.UTC)
		days, err := s.Series(ctx, q, "day")
		if err != nil || len(days) != 2 || days[0].Count != 30 || days[1].Count != 30 || days[1].Start.Day() != 10 || days[1].Start.Hour() != 0 {
			t.Fatalf("days %+v %v", days, err)
		}
		hours, _ := s.Series(ctx, q, "hour")
		if len(hours) != 2 || hours[0].Count != 30 {
			t.Fatalf("hours %+v", hours)
		}
		// faces are not returned without the faces permission
		q = all()
		q.Personal = access.PersonalPlates
		r, _ := s.Search(ctx, q)
		for _, e := range r.Events {
			if e.Kind == KindFace {
				t.Fatal("face returned without permission")
			}
		}
		// purge: personal data after 30 days (config), the rest after 90
		clock = clock.Add(2 * 24 * time.Hour)
		p, o, err := s.Purge(ctx)
		if err != nil || p != 1 || o != 0 {
			t.Fatalf("purge %d %d %v", p, o, err)
		}
		es, _, _ := audit.List(ctx, db.Q(), audit.Filter{ActionPrefix: "events.purge"})
		if len(es) != 1 {
			t.Fatalf("purge not audited: %+v", es)
		}
		_ = al
	})
}
