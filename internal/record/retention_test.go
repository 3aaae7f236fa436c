package record_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/record/recordtest"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

type seeded struct {
	rec    *record.Service
	dir    string
	folder string       // its storage folder's name: one per service, as they share a database
	used   atomic.Int64 // percent reported by the fake disk
	usage  func() int64 // when set, computes it

	mu      sync.Mutex
	storage []string          // OnStorage calls, "folder:full"
	early   []record.Deletion // OnEarlyDelete calls
}

func seedService(t *testing.T, db *store.DB, policy string) *seeded {
	t.Helper()
	sd := &seeded{dir: t.TempDir(), folder: "disk-" + policy}
	sd.used.Store(10)
	lg, _, _ := recordtest.NewAudit(db)
	rec, err := record.New(record.Options{Folders: []record.Folder{{Name: sd.folder, Path: sd.dir}}, DiskFullPolicy: policy,
		OnStorage: func(folder string, full bool, _ string) {
			sd.mu.Lock()
			sd.storage = append(sd.storage, fmt.Sprintf("%s:%v", folder, full))
			sd.mu.Unlock()
		},
		OnEarlyDelete: func(d record.Deletion, days int) {
			sd.mu.Lock()
			sd.early = append(sd.early, d)
			sd.mu.Unlock()
		},
		DiskUsage: func(string) (uint64, uint64, error) {
			if sd.usage != nil {
				return uint64(sd.usage()), 100, nil
			}
			return uint64(sd.used.Load()), 100, nil
		}}, db, lg, nil, recordtest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sd.rec = rec
	return sd
}

// day-long fake segments (retention never reads the files)
func (sd *seeded) add(t *testing.T, db *store.DB, cam string, start time.Time) record.SegmentRow {
	t.Helper()
	rel := filepath.Join(cam, "main", start.Format("2006-01-02"), time.Now().Format("150405.000000000")+".mp4")
	p := filepath.Join(sd.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, make([]byte, 1000), 0o640); err != nil {
		t.Fatal(err)
	}
	g := record.SegmentRow{ID: record.NewIDForTest(), CameraID: cam, Variant: "main", StartMS: start.UnixMilli(), EndMS: start.Add(5 * time.Minute).UnixMilli(),
		Bytes: 1000, Frames: 7500, Storage: sd.folder, Path: filepath.ToSlash(rel), Codec: "H264", State: record.StateOK, StartReason: "roll", Node: "node"}
	if err := record.InsertSegmentForTest(context.Background(), db.Q(), g); err != nil {
		t.Fatal(err)
	}
	return g
}

func remaining(t *testing.T, db *store.DB, cam string) []int64 {
	var out []int64
	for _, g := range allSegments(t, db, cam) {
		out = append(out, g.StartMS)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Retention deletes exactly the expired segments and nothing locked; the
// deletion is audited per camera with its range and bytes; a camera's own
// longer retention is honoured.
func TestRetentionDeletesExactlyExpired(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		sd := seedService(t, db, "stop")
		now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		day := 24 * time.Hour
		var segs []record.SegmentRow
		for d := 40; d >= 1; d -= 3 { // 40, 37, …, 31 expired; 28…1 kept
			segs = append(segs, sd.add(t, db, "cam-a", now.Add(-time.Duration(d)*day)))
			sd.add(t, db, "cam-b", now.Add(-time.Duration(d)*day))
		}
		// cam-b keeps 60 days by policy; a lock protects one old range of cam-a.
		if _, err := sd.rec.SetPolicy(ctx, record.Actor{ID: "u1", Name: "admin"}, record.RecordingPolicy{Scope: "camera:cam-b", RetentionDays: 60}); err != nil {
			t.Fatal(err)
		}
		if _, err := sd.rec.SetPolicy(ctx, record.Actor{ID: "u1", Name: "admin"}, record.RecordingPolicy{Scope: "camera:cam-b", RetentionDays: 7}); err == nil {
			t.Fatal("retention below 30 days without a legal override was accepted")
		}
		locked := segs[1] // 37 days old
		if _, err := record.AddLock(ctx, db.Q(), "cam-a", locked.StartMS+1000, locked.StartMS+2000, "export x", "admin"); err != nil {
			t.Fatal(err)
		}
		before := remaining(t, db, "cam-a")
		rep, err := sd.rec.Sweep(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		var want []int64
		for _, s := range before {
			if s >= now.Add(-30*day).UnixMilli() || s == locked.StartMS {
				want = append(want, s)
			}
		}
		got := remaining(t, db, "cam-a")
		if len(got) != len(want) || len(got) != len(before)-3 {
			t.Fatalf("after retention: %v, want %v (before %v)", got, want, before)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("after retention: %v, want %v", got, want)
			}
		}
		if n := len(remaining(t, db, "cam-b")); n != 14 {
			t.Fatalf("cam-b (60 days) lost footage: %d left", n)
		}
		if rep.Locked != 1 || len(rep.Deleted) != 1 || rep.Deleted[0].Segments != 3 || rep.Deleted[0].Bytes != 3000 {
			t.Fatalf("report: %+v", rep)
		}
		for _, g := range segs[:4] {
			_, err := os.Stat(filepath.Join(sd.dir, g.Path))
			if exists := err == nil; exists != (g.ID == locked.ID || g.StartMS >= now.Add(-30*day).UnixMilli()) {
				t.Fatalf("file of %s: exists=%v", g.ID, exists)
			}
		}
		es, _, _ := audit.List(ctx, db.Q(), audit.Filter{ActionPrefix: "record.delete", Limit: 10})
		if len(es) != 1 || es[0].Object != "camera/cam-a" || es[0].Reason != "retention" || fmt.Sprint(es[0].Details["segments"]) != "3" || fmt.Sprint(es[0].Details["bytes"]) != "3000" {
			t.Fatalf("audit: %+v", es)
		}
		// Nothing more to do the second time.
		if rep, _ := sd.rec.Sweep(ctx, now); len(rep.Deleted) != 0 {
			t.Fatalf("second sweep deleted %+v", rep.Deleted)
		}
	})
}

// Above the high-water mark with nothing expired: policy stop deletes
// nothing and raises the alarm once; delete_oldest deletes the oldest
// unlocked footage until below the mark, never a locked segment.
func TestDiskGuard(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now()
		for _, policy := range []string{"stop", "delete_oldest"} {
			sd := seedService(t, db, policy)
			cam := "cam-" + policy[:4]
			var segs []record.SegmentRow
			for i := 0; i < 10; i++ {
				segs = append(segs, sd.add(t, db, cam, now.Add(-time.Duration(10-i)*time.Hour)))
			}
			if _, err := record.AddLock(ctx, db.Q(), cam, segs[0].StartMS, segs[0].EndMS, "export", "admin"); err != nil {
				t.Fatal(err)
			}
			sd.used.Store(95)
			// the fake disk frees 2 % per deleted segment file
			sd.usage = func() int64 {
				n := 0
				_ = filepath.WalkDir(sd.dir, func(_ string, d os.DirEntry, _ error) error {
					if d != nil && !d.IsDir() {
						n++
					}
					return nil
				})
				return int64(75 + 2*n)
			}
			rep, err := sd.rec.Sweep(ctx, now)
			if err != nil {
				t.Fatal(err)
			}
			left := remaining(t, db, cam)
			switch policy {
			case "stop":
				if len(left) != 10 || len(rep.Full) != 1 {
					t.Fatalf("stop: %d left, report %+v", len(left), rep)
				}
				es, _, _ := audit.List(ctx, db.Q(), audit.Filter{ActionPrefix: "record.disk_full", Limit: 10})
				if len(es) != 1 {
					t.Fatalf("disk_full audit: %d", len(es))
				}
				// Full once (a second sweep does not repeat it), then recovered.
				if _, err := sd.rec.Sweep(ctx, now); err != nil {
					t.Fatal(err)
				}
				sd.usage = nil
				sd.used.Store(50)
				if _, err := sd.rec.Sweep(ctx, now); err != nil {
					t.Fatal(err)
				}
				sd.mu.Lock()
				got := strings.Join(sd.storage, " ")
				sd.mu.Unlock()
				if got != sd.folder+":true "+sd.folder+":false" {
					t.Fatalf("storage transitions: %q", got)
				}
			case "delete_oldest":
				// 95 % with a mark of 90: three segments (2 % each) bring it
				// to 89 %; the locked oldest one stays, the next three go,
				// one at a time, not a batch.
				want := []int64{segs[0].StartMS, segs[4].StartMS, segs[5].StartMS, segs[6].StartMS, segs[7].StartMS, segs[8].StartMS, segs[9].StartMS}
				if fmt.Sprint(left) != fmt.Sprint(want) {
					t.Fatalf("delete_oldest: left %v, want %v (locked %d)", left, want, segs[0].StartMS)
				}
				// All of it was younger than the 30-day retention: deleted
				// under its own reason, audited, and reported for an incident.
				n := 0
				for _, d := range rep.Deleted {
					if d.Reason != "disk_guard_early" || d.CameraID != cam {
						t.Fatalf("deletion %+v", d)
					}
					n += d.Segments
				}
				sd.mu.Lock()
				early := len(sd.early)
				sd.mu.Unlock()
				if n != 3 || early != 3 {
					t.Fatalf("deleted %d segments, %d early reports", n, early)
				}
				es, _, _ := audit.List(ctx, db.Q(), audit.Filter{ActionPrefix: "record.delete", Limit: 10})
				got := 0
				for _, e := range es {
					if e.Reason == "disk_guard_early" && e.Object == "camera/"+cam {
						got++
					}
				}
				if got != 3 {
					t.Fatalf("record.delete audit entries for the early deletions: %d", got)
				}
			}
		}
	})
}
