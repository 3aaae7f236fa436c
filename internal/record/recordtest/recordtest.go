// Package recordtest runs a recorder against simulated cameras through the
// real stream hub, for the record and playback tests and benchmarks.
package recordtest

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/audit"
	"github.com/vigil-vms/vigil/internal/media"
	"github.com/vigil-vms/vigil/internal/record"
	"github.com/vigil-vms/vigil/internal/secrets"
	"github.com/vigil-vms/vigil/internal/sim"
	"github.com/vigil-vms/vigil/internal/store"
)

// Rig is a hub fed by simulated cameras, and a recorder on it.
type Rig struct {
	T      testing.TB
	DB     *store.DB
	Audit  *audit.Log
	Key    ed25519.PrivateKey
	KeyID  string
	Sim    *sim.Sim
	Hub    *media.Hub
	Rec    *record.Service
	Opt    record.Options
	Dir    string
	cancel context.CancelFunc
}

type sources struct {
	s   *sim.Sim
	ids []string
}

func (s sources) Sources(context.Context) ([]media.Source, error) {
	var out []media.Source
	for _, id := range s.ids {
		out = append(out, media.Source{CameraID: id, MainURL: s.s.URL(id, "main"), SubURL: s.s.URL(id, "sub"), Transport: media.TransportTCP})
	}
	return out, nil
}

type noAuth struct{}

func (noAuth) AuthorizeRead(context.Context, media.ReadRequest) (media.ReadGrant, error) {
	return media.ReadGrant{}, media.ErrDenied
}
func (noAuth) AuthorizePublish(context.Context, media.PublishRequest) (media.ReadGrant, error) {
	return media.ReadGrant{}, media.ErrDenied
}

// Logger is quiet unless VIGIL_TEST_LOG is set.
func Logger() *slog.Logger {
	lvl := slog.LevelError
	if os.Getenv("VIGIL_TEST_LOG") != "" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// NewAudit makes an audit log with a fresh key.
func NewAudit(db *store.DB) (*audit.Log, ed25519.PrivateKey, string) {
	_, key, _ := ed25519.GenerateKey(nil)
	kid := secrets.KeyID(key.Public().(ed25519.PublicKey))
	return audit.New(audit.Options{Key: key, KeyID: kid, DB: db}), key, kid
}

// Start runs cams simulated cameras and a recorder with opt (Folders
// default to one temporary folder). The recorder is not started: call
// rig.Rec.Start (after Reconcile if the test wants one).
func Start(t testing.TB, db *store.DB, cams []sim.CameraSpec, opt record.Options) *Rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Rig{T: t, DB: db, cancel: cancel}
	r.Audit, r.Key, r.KeyID = NewAudit(db)
	sm, err := sim.Start(ctx, sim.Config{Addr: "127.0.0.1:0", Cameras: cams})
	if err != nil {
		t.Fatal(err)
	}
	r.Sim = sm
	var ids []string
	for _, c := range cams {
		ids = append(ids, c.ID)
	}
	hub, err := media.New(media.Config{}, sources{sm, ids}, noAuth{}, Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r.Hub = hub
	if len(opt.Folders) == 0 {
		r.Dir = t.TempDir()
		opt.Folders = []record.Folder{{Name: "disk1", Path: r.Dir}}
	} else {
		r.Dir = opt.Folders[0].Path
	}
	r.Opt = opt
	r.Rec, err = record.New(opt, db, r.Audit, hub, Logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// Close stops everything (idempotent).
func (r *Rig) Close() {
	if r.cancel == nil {
		return
	}
	r.Rec.Stop()
	r.Hub.Close()
	r.Sim.Close()
	r.cancel()
	r.cancel = nil
}

// WaitFor polls cond (no timing assertion: the deadline only ends a hung test).
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// NeedFFprobe skips (loudly) or fails without ffprobe.
func NeedFFprobe(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		if os.Getenv("VIGIL_REQUIRE_TOOLS") == "1" {
			t.Fatal("ffprobe is required (VIGIL_REQUIRE_TOOLS=1) but not on PATH")
		}
		t.Skip("!!! SKIPPING: ffmpeg/ffprobe not on PATH (apt-get install ffmpeg); CI requires it")
	}
}

// Probe runs ffprobe on a file or URL and returns the container duration,
// the number of video frames (counted by decoding headers) and an error
// with ffprobe's complaint when it refuses the input.
func Probe(t testing.TB, target string, extra ...string) (dur float64, frames int, err error) {
	t.Helper()
	args := append([]string{"-v", "error"}, extra...)
	args = append(args, "-count_packets", "-select_streams", "v:0", "-show_entries", "stream=nb_read_packets:format=duration", "-of", "default=nw=1", target)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", args...).CombinedOutput()
	if err != nil {
		return 0, 0, &ProbeError{string(out), err}
	}
	var durS string
	for _, line := range splitLines(string(out)) {
		if v, ok := cut(line, "duration="); ok {
			durS = v
		}
		if v, ok := cut(line, "nb_read_packets="); ok {
			frames = atoi(v)
		}
	}
	dur = atof(durS)
	if frames == 0 {
		return dur, 0, &ProbeError{string(out), nil}
	}
	return dur, frames, nil
}

// Stream is one stream of an input as ffprobe reports it. Start and
// Duration are in seconds (-1 when ffprobe gives none); Packets is counted
// by reading the whole input.
type Stream struct {
	Type, Codec string
	SampleRate  int
	Start, Dur  float64
	Packets     int
}

// End is when the stream's last sample ends.
func (s Stream) End() float64 { return s.Start + s.Dur }

// ProbeStreams runs ffprobe on a file or URL and returns its streams.
func ProbeStreams(t testing.TB, target string, extra ...string) ([]Stream, error) {
	t.Helper()
	args := append([]string{"-v", "error"}, extra...)
	args = append(args, "-count_packets", "-show_entries", "stream=codec_type,codec_name,sample_rate,start_time,duration,nb_read_packets",
		"-of", "json", target)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", args...).Output()
	if err != nil {
		return nil, &ProbeError{string(out), err}
	}
	var res struct {
		Streams []struct {
			CodecType  string `json:"codec_type"`
			CodecName  string `json:"codec_name"`
			SampleRate string `json:"sample_rate"`
			StartTime  string `json:"start_time"`
			Duration   string `json:"duration"`
			Packets    string `json:"nb_read_packets"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, &ProbeError{string(out), err}
	}
	var ss []Stream
	for _, s := range res.Streams {
		num := func(v string) float64 {
			if v == "" || v == "N/A" {
				return -1
			}
			return atof(v)
		}
		ss = append(ss, Stream{Type: s.CodecType, Codec: s.CodecName, SampleRate: atoi(s.SampleRate),
			Start: num(s.StartTime), Dur: num(s.Duration), Packets: atoi(s.Packets)})
	}
	return ss, nil
}

// MountExt4 makes an ext4 filesystem of sizeMB in a file, mounts it on a
// loop device and returns the mount point; it is unmounted (and the loop
// device freed) when the test ends, whatever happens. It needs root and
// mkfs.ext4: without them it skips loudly, or fails with
// VIGIL_REQUIRE_TOOLS=1 (CI).
func MountExt4(t testing.TB, sizeMB int) string {
	t.Helper()
	need := func(why string) {
		if os.Getenv("VIGIL_REQUIRE_TOOLS") == "1" {
			t.Fatalf("a loop-mounted ext4 is required (VIGIL_REQUIRE_TOOLS=1): %s", why)
		}
		t.Skipf("!!! SKIPPING: needs a loop-mounted ext4 (%s); CI runs it as root", why)
	}
	if os.Geteuid() != 0 {
		need("not root")
	}
	for _, tool := range []string{"mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			need(tool + " not on PATH")
		}
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(sizeMB)<<20); err != nil {
		t.Fatal(err)
	}
	// -m 0: no blocks reserved for root (the test runs as root and must
	// see the disk full when it is).
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
		need(fmt.Sprintf("mkfs.ext4: %v: %s", err, out))
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		need(fmt.Sprintf("mount -o loop: %v: %s", err, out))
	}
	t.Cleanup(func() {
		// Registered before anything that writes there, so it runs last.
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
			_ = exec.Command("umount", "-l", mnt).Run()
		}
	})
	return mnt
}

// FillDisk writes a filler file in dir until the filesystem is full, then
// gives back leave bytes; it returns the filler's path (remove it to free
// the space).
func FillDisk(t testing.TB, dir string, leave int64) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		w, err := f.Write(buf)
		n += int64(w)
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	if leave > 0 {
		if err := f.Truncate(max(n-leave, 0)); err != nil {
			t.Fatal(err)
		}
		_ = f.Sync()
	}
	return p
}

// FreeBytes is what statfs says is free for writing in dir.
func FreeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}
