package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/app"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/record/recordtest"
	"github.com/vigil-vms/vigil/internal/secrets"
	"github.com/vigil-vms/vigil/internal/sim"
)

// runRecordCheck runs `vigil record check args...` on the site of c and
// returns what it printed and its error.
func runRecordCheck(t *testing.T, c config.Config, args ...string) (string, error) {
	t.Helper()
	cmd := recordCmd(func() (config.Config, error) { return c, nil })
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	return runCLI(t, cmd, append([]string{"check"}, args...)...)
}

// `vigil record check` on a site whose closed segment was torn in the
// middle (the damage of issue 15): it fails and names the footage lost
// (camera, from–to in Asia/Ho_Chi_Minh); --repair fixes it; a second check
// is clean.
func TestRecordCheckCommand(t *testing.T) {
	dir := t.TempDir()
	c := config.Default()
	c.DataDir = dir
	key, _, err := secrets.LoadKey("", "", dir)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := secrets.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := secrets.SiteKey(sealer, dir); err != nil {
		t.Fatal(err)
	}
	db, err := openStore(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cam := "cam-cli"
	rig := recordtest.Start(t, db, []sim.CameraSpec{{ID: cam}}, record.Options{Folders: app.RecordFolders(dir, nil), Node: c.Site.ID,
		SegmentLength: 4 * time.Second, FragmentLength: 500 * time.Millisecond, IndexEvery: 200 * time.Millisecond, PolicyEvery: 200 * time.Millisecond})
	rig.Rec.Start(context.Background())
	var g record.SegmentRow
	var fi *record.FileInfo
	recordtest.WaitFor(t, "a closed segment of six fragments", func() bool {
		rig.Rec.Flush()
		segs, _ := record.Segments(context.Background(), db.Q(), cam, "main", 0, 1<<62)
		for _, s := range segs {
			p, _ := rig.Rec.SegmentPath(s.Storage, s.Path)
			if f, err := record.ScanPath(p); s.State == record.StateOK && err == nil && len(f.Frags) >= 6 {
				g, fi = s, f
				return true
			}
		}
		return false
	})
	rig.Close()
	if out, err := runRecordCheck(t, c); err != nil {
		t.Fatalf("check of a sound site: %v\n%s", err, out)
	}
	p, _ := rig.Rec.SegmentPath(g.Storage, g.Path)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	fr := fi.Frags[3]
	torn := append(append([]byte{}, data[:fr.Offset+fr.Size/2]...), data[fr.Offset+fr.Size:]...)
	if err := os.WriteFile(p, torn, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Q().Exec(context.Background(), `UPDATE record_segments SET bytes = ? WHERE id = ?`, len(torn), g.ID); err != nil {
		t.Fatal(err)
	}
	from := time.UnixMilli(g.StartMS + int64(fr.BaseTime)*1000/int64(fi.TimeScale)).In(vnZone()).Format("02/01/2006 15:04:05.000")
	out, err := runRecordCheck(t, c)
	if err == nil || !strings.Contains(out, "footage lost: camera "+cam+" "+from) || !strings.Contains(out, "damaged=1 split=1 lost=1") {
		t.Fatalf("check of a torn segment: %v\n%s (want the loss from %s)", err, out, from)
	}
	if out, err := runRecordCheck(t, c, "--repair"); err != nil || !strings.Contains(out, "damaged=1 split=1") {
		t.Fatalf("repair: %v\n%s", err, out)
	}
	if out, err := runRecordCheck(t, c); err != nil || !strings.Contains(out, "Index and disk agree") {
		t.Fatalf("check after the repair: %v\n%s", err, out)
	}
}
