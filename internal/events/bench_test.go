package events

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

func benchDB(b *testing.B, engine string) *store.DB {
	if engine == "postgres" {
		return storetest.Postgres(b)
	}
	return storetest.SQLite(b)
}

func plateEvents(rng *rand.Rand, n int, at time.Time) []Event {
	evs := make([]Event, n)
	series := "ABCDEFGHKLMNPSTUVXYZ"
	for i := range evs {
		p := fmt.Sprintf("%02d%c%05d", 11+rng.IntN(88), series[rng.IntN(len(series))], rng.IntN(100000))
		evs[i] = Event{CameraID: "cam-" + strconv.Itoa(rng.IntN(20)), Kind: KindPlate, At: at.Add(time.Duration(rng.IntN(86400000)) * time.Millisecond),
			Confidence: 0.9, Plate: &Plate{Text: p, VehicleClass: "car", Lane: 1 + rng.IntN(4)}}
	}
	return evs
}

// BenchmarkIngest: events stored per second in batches of 500 (the MQTT and
// ONVIF batcher's size).
func BenchmarkIngest(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			db := benchDB(b, engine)
			s, _ := world(b, db, 20, nil)
			rng := rand.New(rand.NewPCG(1, 1))
			evs := plateEvents(rng, 500, time.Now().Add(-24*time.Hour))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range evs {
					evs[j].ID = ""
				}
				if _, err := s.Ingest(context.Background(), "bench", evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkPlateSearch fills VIGIL_BENCH_EVENTS (default 1,000,000) plate
// reads, then measures exact, prefix and fuzzy searches (p50/p99 reported).
func BenchmarkPlateSearch(b *testing.B) {
	total := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("VIGIL_BENCH_EVENTS")); err == nil && v > 0 {
		total = v
	}
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			db := benchDB(b, engine)
			s, _ := world(b, db, 20, nil)
			rng := rand.New(rand.NewPCG(2, 2))
			// Spread the reads over 25 days whatever their number (ingest
			// refuses events more than 30 days old), each batch a day wide.
			start := time.Now().Add(-27 * 24 * time.Hour)
			step := 25 * 24 * time.Hour / time.Duration(max(1, total/5000))
			var sample []string
			for done := 0; done < total; done += 5000 {
				evs := plateEvents(rng, min(5000, total-done), start.Add(time.Duration(done/5000)*step))
				sample = append(sample, evs[0].Plate.Text)
				if _, err := s.Ingest(context.Background(), "bench", evs); err != nil {
					b.Fatal(err)
				}
			}
			if engine == "postgres" {
				_, _ = db.SQL.Exec("ANALYZE events")
			}
			for _, mode := range []string{PlateExact, PlatePrefix, PlateFuzzy} {
				b.Run(mode, func(b *testing.B) {
					var lat []time.Duration
					for i := 0; i < b.N; i++ {
						q := all()
						q.Limit = 100
						q.Plate, q.PlateMode = sample[i%len(sample)], mode
						if mode == PlatePrefix {
							q.Plate = q.Plate[:5]
						}
						t0 := time.Now()
						if _, err := s.Search(context.Background(), q); err != nil {
							b.Fatal(err)
						}
						lat = append(lat, time.Since(t0))
					}
					sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
				})
			}
		})
	}
}
