package app_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/apptest"
	"github.com/vigil-vms/vigil/internal/config"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store/storetest"
)

// A recorder that cannot write while its camera streams opens a
// recording_stopped incident; when it writes again the incident resolves.
// The fault is real: the camera's folder is replaced by a file, so the next
// segment cannot be created. The periodic pass is an hour away: the incident
// follows the recorder's own signal (Changes), at once.
func TestRecordingStoppedIncident(t *testing.T) {
	needFFmpeg(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sm, err := sim.Start(ctx, sim.Config{Addr: "127.0.0.1:0", Cameras: []sim.CameraSpec{{ID: "cam-traffic"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sm.Close)
	db := storetest.SQLite(t)
	s := apptest.Start(t, db, apptest.Options{Mutate: func(c *config.Config) {
		c.Recording.SegmentLength = time.Second
		c.Ops.SampleInterval = time.Hour
	}})
	s.SeedWorld(map[string][2]string{"cam-traffic": {sm.URL("cam-traffic", "main"), sm.URL("cam-traffic", "sub")}})
	camDir := filepath.Join(s.App.Cfg.DataDir, "recordings", "cam-traffic")
	state := func() string {
		var st string
		err := db.Q().QueryRow(context.Background(),
			`SELECT state FROM incidents WHERE category = 'recording_stopped' AND object = 'camera/cam-traffic' ORDER BY detected_at DESC LIMIT 1`).Scan(&st)
		if err != nil {
			return ""
		}
		return st
	}
	waitFor(t, "recording to start", func() bool { _, err := os.Stat(camDir); return err == nil })
	if err := os.RemoveAll(camDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(camDir, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a recording_stopped incident", func() bool { return state() == "open" })
	if err := os.Remove(camDir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the incident to resolve when recording resumes", func() bool { return state() == "resolved" })
}
