package demo_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/vigil-vms/vigil/internal/auth"
	"github.com/vigil-vms/vigil/internal/demo"
)

// TestDemoTier2 runs the demo with its tier-2 site: the police's cameras
// reach tier 1 over the leaf link, twice (a restart re-enrolls).
func TestDemoTier2(t *testing.T) {
	dir := t.TempDir()
	opt := demo.Options{DataDir: dir, HTTPAddr: "127.0.0.1:0", RTSPAddr: "127.0.0.1:0", SimAddr: "127.0.0.1:0",
		Argon2: auth.TestArgon2, Tier2: true}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for run := range 2 {
		a, s, info, err := demo.Run(ctx, opt, log)
		if err != nil {
			t.Fatal(err)
		}
		if info.Tier2 == nil || info.Tier2URL == "" {
			t.Fatal("no tier-2 site")
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			cams, total, err := a.Federation.FederatedCameras(ctx, "dien-bien-ca", 10, 0)
			if err == nil && total == 2 && len(cams) == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d: tier-2 cameras at tier 1: %d, %v", run, total, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		info.Tier2.Close()
		a.Close()
		s.Close()
	}
}
