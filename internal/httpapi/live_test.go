package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"math/rand/v2"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/registry"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

type sseEvent struct {
	name string
	data map[string]any
}

// openEvents opens /api/v1/live/events for c and delivers its events.
func openEvents(t testing.TB, ctx context.Context, c *apptest.Client) <-chan sseEvent {
	t.Helper()
	res, err := c.Stream(ctx, "/api/v1/live/events")
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("live events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 100)
	go func() {
		defer res.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data)
			case line == "" && ev.name != "":
				out <- ev
				ev = sseEvent{}
			}
		}
	}()
	return out
}

// next returns the next event named one of names (others, such as ping,
// are skipped), failing at the deadline.
func next(t testing.TB, ch <-chan sseEvent, names ...string) sseEvent {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended waiting for %v", names)
			}
			for _, n := range names {
				if ev.name == n {
					return ev
				}
			}
		case <-deadline:
			t.Fatalf("no %v event", names)
		}
	}
}

// The console's event stream is scoped like the camera list: a camera the
// user may not see is never told to it, not even as "the registry changed";
// one it may see is told within a read of the site.
func TestLiveEventsFollowTheRegistryWithinScope(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newWorld(t, db)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		admin, police := s.Login("admin"), s.Login("police")
		adminEv, policeEv := openEvents(t, ctx, admin), openEvents(t, ctx, police)
		ah, ph := next(t, adminEv, "hello"), next(t, policeEv, "hello")
		if ah.data["registry"] == ph.data["registry"] || ph.data["registry"] == "" || ph.data["heartbeat_ms"].(float64) <= 0 {
			t.Fatalf("hello: admin %v police %v", ah.data, ph.data)
		}
		for id := range ph.data["status"].(map[string]any) {
			if id != "cam-traffic" {
				t.Fatalf("police told the status of %s", id)
			}
		}

		// A classified camera: the administrator hears of it, the police not.
		add := func(in registry.CameraInput) {
			t.Helper()
			if st := admin.Do("POST", "/api/v1/cameras", in, nil); st != 201 {
				t.Fatalf("create %s: %d", in.ID, st)
			}
		}
		add(registry.CameraInput{ID: "cam-mat-2", SystemID: "ioc", Name: "Khu vực mật 2", Kinds: []string{"security"},
			Purposes: []string{"security_order"}, Area: "internal", Lat: 21.39, Lon: 103.02, Classified: true, Push: true})
		next(t, adminEv, "registry")
		// Then one the police may watch: the first registry event the
		// police hear is this one (the feed tells changes in order).
		add(registry.CameraInput{ID: "cam-giao-thong-2", SystemID: "ioc", Name: "Ngã ba Him Lam", Kinds: []string{"traffic_counting"},
			Purposes: []string{"traffic_safety"}, Area: "intersection", Lat: 21.38, Lon: 103.01, Push: true})
		next(t, adminEv, "registry")
		pr := next(t, policeEv, "registry")
		if pr.data["registry"] == ph.data["registry"] {
			t.Fatalf("police registry event without a change: %v", pr.data)
		}
		var page camPage
		if st := police.Do("GET", "/api/v1/cameras?limit=100", nil, &page); st != 200 || !strings.Contains(ids(page), "cam-giao-thong-2") || strings.Contains(ids(page), "cam-mat-2") {
			t.Fatalf("police list after the event: %d %s", st, ids(page))
		}
		// No second registry event for the police: the next change they
		// may see comes after a ping, nothing in between about cam-mat-2.
		select {
		case ev := <-policeEv:
			if ev.name == "registry" {
				t.Fatalf("a second registry event for the police: %v", ev.data)
			}
		default:
		}
	})
}

// BenchmarkLivePush measures how long a camera's status change takes to
// reach 50 open consoles' event streams (p50/p99 over every console and
// change) with 5,000 cameras in the registry, and the process CPU used
// meanwhile (server and the 50 readers; one read of the site per second is
// the server's share). One op is one change delivered to all 50.
func BenchmarkLivePush(b *testing.B) {
	db := storetest.SQLite(b)
	// The benchmark writes the status transitions the health room's sampler
	// would write (camera_status); the sampler itself is kept out of the
	// way, or it would write the hub's view back over them.
	s := apptest.Start(b, db, apptest.Options{Mutate: func(c *config.Config) { c.Ops.SampleInterval = time.Hour }})
	s.SeedWorld(nil)
	seedProvince(b, s, 5000)
	s.User("police", "cong-an", "operator")
	c := s.Login("police")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const consoles = 50
	streams := make([]<-chan sseEvent, consoles)
	for i := range streams {
		streams[i] = openEvents(b, ctx, c)
		next(b, streams[i], "hello")
	}
	set := func(st string) {
		now := time.Now().UnixMilli()
		if _, err := db.Q().Exec(ctx, `INSERT INTO camera_status (camera_id, status, since, last_error, checked_at) VALUES ('cam-traffic', ?, ?, '', ?)
			ON CONFLICT (camera_id) DO UPDATE SET status = excluded.status, since = excluded.since, checked_at = excluded.checked_at`, st, now, now); err != nil {
			b.Fatal(err)
		}
	}
	var lat []time.Duration
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st := []string{"online", "offline"}[i%2]
		// Changes come at any moment, not just after the feed's tick.
		time.Sleep(rand.N(time.Second))
		t0 := time.Now()
		set(st)
		for _, ch := range streams {
			for {
				ev := next(b, ch, "status")
				if _, ok := ev.data["cam-traffic"]; ok {
					lat = append(lat, time.Since(t0))
					break
				}
			}
		}
	}
	b.StopTimer()
	wall := time.Since(start)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()+ru1.Stime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%")
}
