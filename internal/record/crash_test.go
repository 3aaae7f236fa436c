package record_test

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/record/recordtest"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// The recorder in a child process, killed with SIGKILL by the parent.
func TestHelperRecorderProcess(t *testing.T) {
	if os.Getenv("VIGIL_REC_HELPER_DB") == "" {
		t.Skip("helper process for TestKillDashNine")
	}
	db, err := store.Open(context.Background(), store.Options{SQLitePath: os.Getenv("VIGIL_REC_HELPER_DB")})
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("VIGIL_REC_HELPER_MODE") == "reconcile" {
		// The start reconcile alone, as `vigil serve` runs it first.
		lg, _, _ := recordtest.NewAudit(db)
		rec, err := record.New(record.Options{Folders: []record.Folder{{Name: "disk1", Path: os.Getenv("VIGIL_REC_HELPER_DIR")}}}, db, lg, nil, recordtest.Logger(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rec.Reconcile(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		return
	}
	opt := fastOpts()
	// 3 s segments of 1 s fragments: an open segment has whole fragments
	// on disk most of the time, which the parent waits for.
	opt.SegmentLength = 3 * time.Second
	opt.Folders = []record.Folder{{Name: "disk1", Path: os.Getenv("VIGIL_REC_HELPER_DIR")}}
	rig := recordtest.Start(t, db, []sim.CameraSpec{{ID: "cam-k", Audio: os.Getenv("VIGIL_REC_HELPER_AUDIO") == "1"}}, opt)
	if _, err := rig.Rec.Reconcile(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	rig.Rec.Start(context.Background())
	select {}
}

func openRows(segs []record.SegmentRow) []record.SegmentRow {
	var out []record.SegmentRow
	for _, g := range segs {
		if g.State == record.StateOpen {
			out = append(out, g)
		}
	}
	return out
}

// kill -9 during recording, restart: the index is repaired (the open
// segment closed at its last whole fragment, a partial fragment cut off,
// lost files marked missing, unindexed files recovered) and recording
// resumes; for a camera without and with audio.
func TestKillDashNine(t *testing.T) {
	recordtest.NeedFFprobe(t)
	t.Run("video", func(t *testing.T) { killDashNine(t, false) })
	t.Run("audio", func(t *testing.T) { killDashNine(t, true) })
}

func killDashNine(t *testing.T, audio bool) {
	dir := t.TempDir()
	dbPath := filepath.Join(t.TempDir(), "vigil.db")
	db, err := store.Open(context.Background(), store.Options{SQLitePath: dbPath})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRecorderProcess$")
	cmd.Env = append(os.Environ(), "VIGIL_REC_HELPER_DB="+dbPath, "VIGIL_REC_HELPER_DIR="+dir)
	if audio {
		cmd.Env = append(cmd.Env, "VIGIL_REC_HELPER_AUDIO=1")
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A failed wait below must not leave the recorder running.
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var open record.SegmentRow
	recordtest.WaitFor(t, "two closed segments and an open one with fragments", func() bool {
		segs := allSegments(t, db, "cam-k")
		o := openRows(segs)
		if closedCount(segs) < 2 || len(o) != 1 {
			return false
		}
		st, err := os.Stat(filepath.Join(dir, o[0].Path))
		open = o[0]
		return err == nil && st.Size() > 2000
	})
	_ = cmd.Process.Kill() // SIGKILL
	_ = cmd.Wait()

	// A power cut would also leave half a fragment: append one.
	openPath := filepath.Join(dir, open.Path)
	f, err := os.OpenFile(openPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	partial := []byte{0, 0, 0x10, 0, 'm', 'o', 'o', 'f', 0, 0, 0, 16, 'm', 'f', 'h', 'd', 0, 0}
	_, _ = f.Write(partial)
	f.Close()
	// A closed segment's file lost, another's row lost.
	segs := allSegments(t, db, "cam-k")
	var closed []record.SegmentRow
	for _, g := range segs {
		if g.State == record.StateOK {
			closed = append(closed, g)
		}
	}
	if err := os.Remove(filepath.Join(dir, closed[0].Path)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Q().Exec(context.Background(), `DELETE FROM record_segments WHERE id = ?`, closed[1].ID); err != nil {
		t.Fatal(err)
	}

	opt := fastOpts()
	opt.Folders = []record.Folder{{Name: "disk1", Path: dir}}
	rig := recordtest.Start(t, db, []sim.CameraSpec{{ID: "cam-k", Audio: audio}}, opt)
	dry, err := rig.Rec.Reconcile(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := rig.Rec.Reconcile(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Closed != 1 || rep.TruncatedBytes != int64(len(partial)) || rep.Missing != 1 || rep.Recovered != 1 || len(rep.Problems) != 0 {
		t.Fatalf("reconcile: %+v (problems: %q)", rep, rep.Problems)
	}
	if dry.Closed != rep.Closed || dry.Missing != rep.Missing || dry.Recovered != rep.Recovered {
		t.Fatalf("dry run %+v differs from repair %+v", dry, rep)
	}
	if again, _ := rig.Rec.Reconcile(context.Background(), false); !again.OK() {
		t.Fatalf("second reconcile still finds work: %+v", again)
	}
	// Every surviving segment is whole: ffprobe agrees with the index (and,
	// with audio, reads as many audio packets as the scan finds).
	for _, g := range allSegments(t, db, "cam-k") {
		p := filepath.Join(dir, g.Path)
		dur, n, err := recordtest.Probe(t, p)
		if err != nil || math.Abs(dur-float64(g.EndMS-g.StartMS)/1000) > 0.041 || int64(n) != g.Frames {
			t.Fatalf("segment %s (%s): ffprobe %v %.3f s %d frames; index %d ms %d frames", g.ID, g.StartReason, err, dur, n, g.EndMS-g.StartMS, g.Frames)
		}
		fi, err := record.ScanPath(p)
		if err != nil || (fi.Audio != nil) != audio {
			t.Fatalf("segment %s: scan %v, audio %+v", g.ID, err, fi.Audio)
		}
		if audio {
			ss, err := recordtest.ProbeStreams(t, p)
			if err != nil || len(ss) != 2 || ss[1].Codec != "pcm_s16be" || ss[1].Packets != fi.AudioSamples || fi.AudioSamples == 0 {
				t.Fatalf("segment %s (%s): ffprobe %v %+v; scan %d audio samples", g.ID, g.StartReason, err, ss, fi.AudioSamples)
			}
		}
	}
	// Recording resumes.
	before := len(allSegments(t, db, "cam-k"))
	rig.Rec.Start(context.Background())
	recordtest.WaitFor(t, "a new segment after restart", func() bool {
		rig.Rec.Flush()
		return closedCount(allSegments(t, db, "cam-k")) > before
	})
}

// A crash as a segment is being opened leaves a file with no fragment: an
// empty file, or half an init. Reconcile removes those (they hold no
// footage) and keeps, as a problem for a person, a broken header that has
// fragments after it.
func TestReconcileHeaderOnlyLeftovers(t *testing.T) {
	dir := t.TempDir()
	db := storetest.SQLite(t)
	opt := fastOpts()
	opt.Folders = []record.Folder{{Name: "disk1", Path: dir}}
	day := filepath.Join(dir, "cam-h", "main", "2026-11-27")
	if err := os.MkdirAll(day, 0o750); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(day, name)
		if err := os.WriteFile(p, data, 0o640); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := write("1795760000000.mp4", nil)
	halfInit := write("1795760001000.mp4", []byte{0, 0, 0, 24, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm'})
	broken := write("1795760002000.mp4", append(bytes.Repeat([]byte{0xAB}, 64), []byte("....moof....mdat")...))
	rig := recordtest.Start(t, db, []sim.CameraSpec{{ID: "cam-h"}}, opt)
	rep, err := rig.Rec.Reconcile(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Removed < 2 || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "1795760002000") {
		t.Fatalf("reconcile: %+v (problems %q)", rep, rep.Problems)
	}
	for _, p := range []string{empty, halfInit} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s should be removed: %v", p, err)
		}
	}
	if _, err := os.Stat(broken); err != nil {
		t.Fatalf("a broken header with fragments must be kept: %v", err)
	}
}
