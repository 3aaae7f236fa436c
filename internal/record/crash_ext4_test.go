package record_test

import (
	"context"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/record/recordtest"
	"github.com/vigil-vms/vigil/internal/store"
)

// startHelper runs TestHelperRecorderProcess in mode (record or reconcile)
// on the database dbPath and the storage folder dir.
func startHelper(t *testing.T, mode, dbPath, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRecorderProcess$")
	cmd.Env = append(os.Environ(), "VIGIL_REC_HELPER_DB="+dbPath, "VIGIL_REC_HELPER_DIR="+dir, "VIGIL_REC_HELPER_MODE="+mode)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// segmentFiles lists the .mp4 files under dir.
func segmentFiles(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".mp4") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func rowCount(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.Q().QueryRow(context.Background(), `SELECT COUNT(*) FROM record_segments`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// kill -9 on ext4 (a loop device), with the database on the same volume:
// during a segment roll (the moment the next segment's file appears), and
// during the start reconcile (while it indexes hundreds of files and splits
// a damaged one). Each time the next reconcile leaves every file indexed
// exactly once, whole, agreeing with its row, and record check clean.
func TestKillDashNineExt4(t *testing.T) {
	recordtest.NeedFFprobe(t)
	mnt := recordtest.MountExt4(t, 128)
	dir, dbPath := filepath.Join(mnt, "rec"), filepath.Join(mnt, "vigil.db")
	db, err := store.Open(context.Background(), store.Options{SQLitePath: dbPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	lg, _, _ := recordtest.NewAudit(db)
	rec, err := record.New(record.Options{Folders: []record.Folder{{Name: "disk1", Path: dir}}}, db, lg, nil, recordtest.Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}

	// 1. During a segment roll.
	cmd := startHelper(t, "record", dbPath, dir)
	recordtest.WaitFor(t, "two closed segments", func() bool { return closedCount(allSegments(t, db, "cam-k")) >= 2 })
	n := len(segmentFiles(dir))
	deadline := time.Now().Add(60 * time.Second)
	for len(segmentFiles(dir)) <= n {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for a segment roll")
		}
		time.Sleep(time.Millisecond)
	}
	_ = cmd.Process.Kill() // SIGKILL as the next segment's file appears
	_ = cmd.Wait()
	if _, err := rec.Reconcile(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	checkAllFootage(t, rec, db, dir)

	// 2. During the start reconcile: the index lost, 300 files to index
	// again, one of them torn in the middle (an old recorder's work).
	files := segmentFiles(dir)
	var torn string
	for i := 0; i < 100; i++ {
		for _, src := range files {
			start, _ := strconv.ParseInt(strings.TrimSuffix(filepath.Base(src), ".mp4"), 10, 64)
			start += int64(i+1) * 3_600_000
			day := time.UnixMilli(start).UTC().Format("2006-01-02")
			dst := filepath.Join(dir, "cam-k", "main", day, strconv.FormatInt(start, 10)+".mp4")
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if fi, _ := record.ScanPath(src); torn == "" && fi != nil && len(fi.Frags) >= 3 {
				data = tearFragment(data, fi, 1)
				torn = dst
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, data, 0o640); err != nil {
				t.Fatal(err)
			}
		}
	}
	if torn == "" {
		t.Fatal("no segment with three fragments to tear")
	}
	if _, err := db.Q().Exec(context.Background(), `DELETE FROM record_segments`); err != nil {
		t.Fatal(err)
	}
	total := len(segmentFiles(dir))
	killed := false
	for attempt := 0; attempt < 5 && !killed; attempt++ {
		cmd := startHelper(t, "reconcile", dbPath, dir)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		before := rowCount(t, db)
	poll:
		for {
			select {
			case <-done:
				break poll // finished before a kill: try again
			default:
			}
			if c := rowCount(t, db); c > before {
				_ = cmd.Process.Kill()
				<-done
				killed = rowCount(t, db) < total
				t.Logf("reconcile killed with %d of %d files indexed", rowCount(t, db), total)
				break
			}
			time.Sleep(time.Millisecond)
		}
		if !killed {
			if _, err := db.Q().Exec(context.Background(), `DELETE FROM record_segments`); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !killed {
		t.Fatal("the reconcile always finished before it could be killed")
	}
	if _, err := rec.Reconcile(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	checkAllFootage(t, rec, db, dir)
	// The torn file's whole fragments are all kept: the first in its file,
	// the one after the tear as a segment of its own.
	if fi, err := record.ScanPath(torn); err != nil || len(fi.Frags) != 1 {
		t.Fatalf("torn file after repair: %v %+v", err, fi)
	}
}

// tearFragment returns data with fragment k cut to half its bytes, the
// fragments after it following at once (what a recorder that appended after
// a failed write left).
func tearFragment(data []byte, fi *record.FileInfo, k int) []byte {
	fr := fi.Frags[k]
	out := append([]byte{}, data[:fr.Offset+fr.Size/2]...)
	return append(out, data[fr.Offset+fr.Size:]...)
}

// checkAllFootage: every segment file indexed exactly once, whole, agreeing
// with its row (ffprobe too), rows in order without overlap, no temporary
// file left, and record check clean.
func checkAllFootage(t *testing.T, rec *record.Service, db *store.DB, dir string) {
	t.Helper()
	rep, err := rec.Check(context.Background(), false)
	if err != nil || !rep.OK() {
		t.Fatalf("record check: %v %s %q", err, rep, rep.Problems)
	}
	segs := allSegments(t, db, "cam-k")
	files := segmentFiles(dir)
	if len(segs) != len(files) {
		t.Fatalf("%d rows for %d files", len(segs), len(files))
	}
	seen := map[string]bool{}
	for i, g := range segs {
		if seen[g.Path] || g.State != record.StateOK {
			t.Fatalf("row %d: %+v (path seen before: %v)", i, g, seen[g.Path])
		}
		seen[g.Path] = true
		if i > 0 && g.StartMS < segs[i-1].EndMS {
			t.Fatalf("row %d starts at %d, before the last one ended (%d)", i, g.StartMS, segs[i-1].EndMS)
		}
		p := filepath.Join(dir, g.Path)
		fi, err := record.ScanPath(p)
		if err != nil || fi.Valid != fi.Size || fi.Size != g.Bytes || int64(fi.Frames) != g.Frames {
			t.Fatalf("row %d: scan %v %+v", i, err, g)
		}
		if i%25 == 0 || g.StartReason == "repaired" { // ffprobe a sample of them: 300 would be slow
			dur, n, err := recordtest.Probe(t, p)
			if err != nil || math.Abs(dur-float64(g.EndMS-g.StartMS)/1000) > 0.041 || int64(n) != g.Frames {
				t.Fatalf("row %d (%s): ffprobe %v %.3f s %d frames; index %+v", i, g.StartReason, err, dur, n, g)
			}
		}
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".tmp") {
			t.Fatalf("temporary file left: %s", p)
		}
		return nil
	})
}
