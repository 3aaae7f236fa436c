// Package recordtest runs a recorder against simulated cameras through the
// real stream hub, for the record and playback tests and benchmarks.
package recordtest

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
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
